import type { FastifyInstance } from 'fastify'
import type { MsmOptions, RouteSessionConfig } from './types.js'
import type { Session } from './session/session.js'
import { normalizeOptions } from './options.js'
import { NodeRing } from './cluster/node-ring.js'
import { SessionStore } from './store/session-store.js'
import { SessionManager } from './session/session-manager.js'
import { createCounters, type MsmStats, snapshot } from './stats.js'
import { LockPolicy } from './locking/lock-policy.js'
import { SessionLocks } from './locking/session-lock.js'

/** `app.msm`: management and monitoring. */
export interface MsmDecorator {
  /** A plain JSON snapshot of the counters and of every node's operation counts. */
  stats (): MsmStats
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's session. On ignored requests, using it throws FST_MSM_SESSION_DISABLED. */
    session: Session
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
  const counters = createCounters()
  const ring = new NodeRing(config.nodes, config.operationTimeout)
  const store = new SessionStore(ring, config.prefix, counters)
  // @fastify/cookie adds signCookie only when it was given a secret
  const signing = fastify.hasDecorator('signCookie')
  const locks = new SessionLocks(ring, store.keys, {
    expiration: config.lockExpiration,
    timeout: config.lockTimeout,
    retryMin: config.lockRetryMin,
    retryMax: config.lockRetryMax
  }, counters)
  const manager = new SessionManager({
    config, store, counters, signing, log: fastify.log, lockPolicy: new LockPolicy(config.lockingMode), locks
  })

  fastify.decorateRequest('session', null as unknown as Session)
  fastify.decorate('msm', { stats: () => snapshot(counters, ring) })
  fastify.addHook('onRequest', manager.onRequest)
  fastify.addHook('onSend', manager.onSend)
  fastify.addHook('onClose', async () => ring.close())
}
