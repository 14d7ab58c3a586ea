import type { FastifyInstance } from 'fastify'
import type { MsmDecorator, MsmOptions, NodeSpec, PromRegistryLike, RegisterMetricsOptions, RouteSessionConfig } from './types/index.js'
import type { MsmSession } from './session/session.js'
import { normalizeOptions } from './options/index.js'
import { parseFailoverNodes, parseNodes } from './options/nodes.js'
import { SessionLocator } from './store/session-locator.js'
import { AvroSessionCodec } from './serialization/session-codec.js'
import { SerializerSessionCodec } from './serialization/serializer-codec.js'
import { EncryptedSessionCodec } from './crypto/encrypted-codec.js'
import { FST_MSM_ENCRYPTION_NEEDS_SIGNED_COOKIES } from './errors.js'
import { SchemaRegistry } from './store/schema-registry.js'
import { NodeRing } from './cluster/node-ring.js'
import { kTransport, type TransportFactory } from './memcached/transport.js'
import { KeyScheme } from './memcached/keys.js'
import { SessionStore } from './store/session-store.js'
import { SessionManager } from './session/session-manager.js'
import { newSessionId } from './session/session-services.js'
import { movedSessionId } from './ids/session-id.js'
import { SessionCookie } from './session/cookie.js'
import { Expiry } from './session/expiry.js'
import { SessionPersistence } from './session/persistence.js'
import { TouchMemory } from './session/touch-memory.js'
import { SessionRemover } from './session/session-remover.js'
import { StickySessions } from './sticky/sticky-sessions.js'
import { createIdHasher } from './ids/log-id.js'
import { createCounters } from './stats/counters.js'
import { snapshot } from './monitoring/snapshot.js'
import { Timings } from './stats/timings.js'
import { prometheusText } from './monitoring/prometheus.js'
import { metricFamilies } from './monitoring/metric-families.js'
import { registerPromMetrics } from './monitoring/prom-client-collector.js'
import { health } from './monitoring/health.js'
import { startTracing } from './monitoring/tracing.js'
import { LockPolicy } from './locking/lock-policy.js'
import { SessionLocks } from './locking/session-lock.js'
import { LocalSessions } from './sticky/local-sessions.js'
import { WriteQueue } from './store/write-queue.js'
import { Events } from './events/events.js'
import { CHANNELS, type NodeStateEvent } from './events/channels.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's session. On ignored requests, using it throws FST_MSM_SESSION_DISABLED. */
    session: MsmSession
  }
  interface FastifyInstance {
    msm: MsmDecorator
  }
  interface FastifyContextConfig {
    /** `false`: this route's requests never load or save sessions (zero memcached operations). */
    session?: RouteSessionConfig
  }
}

/** The plugin body; index.ts wraps it with fastify-plugin. */
export async function msmPluginBody (fastify: FastifyInstance, options: MsmOptions): Promise<void> {
  const config = normalizeOptions(options)
  // @fastify/cookie adds signCookie only when it was given a secret
  const signer = fastify.hasDecorator('signCookie') ? (value: string): string => fastify.signCookie(value) : null
  // memcached keys are session ids: with encryption on, only a signature makes an id read there useless as a cookie
  if (config.encryption !== null && signer === null) throw new FST_MSM_ENCRYPTION_NEEDS_SIGNED_COOKIES()
  const counters = createCounters()
  const timings = new Timings(config.stats)
  const hashId = createIdHasher()
  // Every module reports what it does here: counted, timed, logged, published on diagnostics channels
  const events = new Events({ counters, timings, log: fastify.log, hashId })
  let failoverNodes = config.failoverNodes
  let registry: SchemaRegistry | null = null
  const ring = new NodeRing(config.nodes, {
    createTransport: testTransport(options),
    operationTimeout: config.operationTimeout,
    nodeRetryInterval: config.nodeRetryInterval,
    healthCheckInterval: config.healthCheckInterval,
    failoverNodes,
    onHealthChange: (node) => {
      const { lastError, lastChange } = node.health
      const details = { node: node.id, address: node.address, lastError, detectedBy: lastChange?.detectedBy }
      if (CHANNELS.nodeState.hasSubscribers && lastChange !== null && lastChange !== undefined) {
        const colon = node.address.lastIndexOf(':')
        const event: NodeStateEvent = { nodeId: node.id, host: node.address.slice(0, colon), port: Number(node.address.slice(colon + 1)), change: lastChange.kind, detectedBy: lastChange.detectedBy ?? null, error: lastError ?? null }
        CHANNELS.nodeState.publish(event)
      }
      if (lastChange?.kind === 'down') {
        fastify.log.error(details, 'fastify-msm: memcached node marked down; it is probed every nodeRetryInterval')
        return
      }
      // A restarted node lost every item: its sessions' copies are written again on their next request
      if (lastChange?.kind === 'restarted') fastify.log.warn(details, 'fastify-msm: memcached node restarted; the session copies it held are written again on each session\'s next request')
      else fastify.log.warn(details, 'fastify-msm: memcached node is back in service')
      registry?.publish(node).catch(() => {})
    }
  })
  const format = config.serializer === null ? new AvroSessionCodec(config.schema) : new SerializerSessionCodec(config.serializer)
  if (format instanceof AvroSessionCodec) registry = new SchemaRegistry(ring, format, events.store, fastify.log, config.nodeRetryInterval)
  const codec = config.encryption === null ? format : new EncryptedSessionCodec(format, config.encryption)
  const keys = new KeyScheme(config.prefix)
  const store = new SessionStore(ring, keys, events.store, codec, registry, timings)
  const locks = new SessionLocks(ring, keys, {
    expiration: config.lockExpiration,
    timeout: config.lockTimeout,
    retryMin: config.lockRetryMin,
    retryMax: config.lockRetryMax
  }, events.locks)
  const local = config.sticky ? new LocalSessions(config.localSessions) : null
  const queue = config.backupAsync ? new WriteQueue(config.backupQueueSize, events.store) : null
  const expiry = new Expiry(config)
  const touches = new TouchMemory()
  const remover = new SessionRemover({ store, touches, events })
  const sticky = local === null
    ? null
    : new StickySessions({
      local,
      ring,
      store,
      route: config.route,
      expiry,
      events,
      remover,
      decodeAttributes: (bytes) => codec.decodeAttributes(bytes)
    })
  const persistence = new SessionPersistence({
    config,
    store,
    ring,
    codec,
    expiry,
    events,
    queue,
    sticky,
    touches,
    hashId,
    log: fastify.log,
    newId: () => newSessionId(ring, config.route),
    movedId: (id, nodeId) => movedSessionId(id, nodeId, config.route)
  })
  const manager = new SessionManager({
    config,
    ring,
    store,
    codec,
    locator: new SessionLocator(store, ring, events.store),
    cookie: new SessionCookie(config, signer, (nodeId) => ring.knows(nodeId), events.store),
    expiry,
    persistence,
    remover,
    events,
    lockPolicy: new LockPolicy(config.lockingMode),
    locks,
    sticky,
    timings,
    log: fastify.log
  })

  fastify.decorateRequest('session', null as unknown as MsmSession)
  const setNodes = (nodes: string | NodeSpec[], failover?: string | string[]): void => {
    const specs = parseNodes(nodes)
    const nextFailover = parseFailoverNodes(failover ?? failoverNodes.filter((id) => specs.some((spec) => spec.id === id)), specs)
    ring.setNodes(specs, nextFailover)
    failoverNodes = nextFailover
    fastify.log.warn({ nodes: specs.map((spec) => spec.id), failoverNodes }, 'fastify-msm: node list replaced')
  }
  // Unregistered on close, so that a new app can register into the same (often global) registry
  const registrations = new Set<() => void>()
  const gauges = (): { localSessions: number, backupQueue: number } => ({ localSessions: local?.size ?? 0, backupQueue: queue?.size ?? 0 })
  const decorator: MsmDecorator = {
    stats: () => snapshot(counters, ring, gauges(), timings),
    metrics: () => prometheusText(counters, gauges(), timings, ring),
    registerMetrics: <Registry extends PromRegistryLike>(promRegistry: Registry, registerOptions?: RegisterMetricsOptions<Registry>) => {
      const unregister = registerPromMetrics(decorator, metricFamilies({ counters, gauges, timings, ring }), promRegistry, registerOptions)
      registrations.add(unregister)
      return () => {
        registrations.delete(unregister)
        unregister()
      }
    },
    tracing: (tracingOptions) => {
      const stop = startTracing(tracingOptions)
      registrations.add(stop)
      return () => {
        registrations.delete(stop)
        stop()
      }
    },
    health: () => health(ring),
    setNodes,
    get enabled () {
      return manager.enabled
    },
    set enabled (value: boolean) {
      if (typeof value !== 'boolean') throw new TypeError('app.msm.enabled takes true or false')
      if (value !== manager.enabled) fastify.log.warn({ enabled: value }, 'fastify-msm: kill switch changed')
      manager.enabled = value
    }
  }
  fastify.decorate('msm', decorator)
  fastify.addHook('onRequest', manager.onRequest)
  fastify.addHook('onSend', manager.onSend)
  // Publishing the writer schema must not hold up start-up when a node is down
  fastify.addHook('onReady', async () => { await registry?.publish() })
  fastify.addHook('onClose', async () => {
    registry?.close()
    for (const unregister of registrations) unregister()
    registrations.clear()
    // Queued backups are acknowledged sessions: write them before closing
    await queue?.flush()
    ring.close()
  })
}

/** The in-memory memcached of the unit tests, when they passed one (see kTransport). */
function testTransport (options: MsmOptions): TransportFactory | undefined {
  const factory = (options as { [kTransport]?: unknown })[kTransport]
  return typeof factory === 'function' ? factory as TransportFactory : undefined
}
