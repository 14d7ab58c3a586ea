import type { NodeDetection, NodeOperationCounts, NodeSpec } from '../types/index.js'
import type { MemcachedTransport, ServerInstance } from './transport.js'
import { createMemcachedTransport } from './memcached-transport.js'
import { CHANNELS, traceOperation } from '../events/channels.js'
import { FST_MSM_CLIENT_CLOSED, FST_MSM_NODE_DOWN, FST_MSM_NODE_ERROR, FST_MSM_OPERATION_TIMEOUT } from '../errors.js'

/** Last line of defence: only keys of this alphabet and length ever reach the client. */
const SAFE_KEY = /^[A-Za-z0-9_.:-]{1,250}$/

type Operation = keyof Omit<NodeOperationCounts, 'errors' | 'timeouts'>
/** A memcached command with a key (counted as its Operation: replace as set). */
type Command = Exclude<Operation, 'stats'> | 'replace'

/**
 * A server that dies closes all its connections at once, but their closes may
 * reach the client over a few event-loop turns: the check waits this long, so
 * that it is not sent on a connection whose close has not been seen yet (it
 * would wait out operationTimeout for an answer that cannot come).
 */
const CONNECTION_CHECK_DELAY_MS = 20

/** Why a check is sent: a probe of a down node, the periodic check, or a connection the server dropped. */
export type CheckReason = 'probe' | 'health-check' | 'connection'

export interface NodeChange {
  kind: 'down' | 'up' | 'restarted'
  /** ms since the epoch */
  at: number
  detectedBy: NodeDetection
}

export interface NodeHealth {
  state: 'up' | 'down'
  /** When the node entered its state, ms since the epoch. */
  since: number
  lastError: string | null
  /** The last change of state, or restart seen while up; null before any. */
  lastChange: NodeChange | null
  /** Restarts noticed: a new pid or start time. */
  restarts: number
}

/** Called when the node goes down, comes back, or is found restarted. */
export type HealthListener = (node: NodeClient, previous: NodeHealth) => void

/**
 * One memcached node. Every operation settles exactly once: with the server's
 * answer, or with FST_MSM_OPERATION_TIMEOUT after `operationTimeout` ms,
 * because the client never calls back for requests to a dead or hung server.
 *
 * This class, not the `memcached` client, is the source of truth for the
 * node's health (docs/failover.md#node-states):
 * - an operation that errors or times out marks the node down at once, and
 *   while it is down every operation fails immediately with
 *   FST_MSM_NODE_DOWN, so no request waits on it;
 * - check() (the health check, and the probe of a down node) sends one
 *   `stats`: no answer marks the node down, an answer brings it back, and an
 *   answer from a new server instance is a restart;
 * - a connection the server closed or refused is checked at once.
 */
export class NodeClient {
  readonly id: string
  readonly address: string
  /** For tracing events (OpenTelemetry's server.address and server.port). */
  readonly host: string
  readonly port: number
  readonly counts: NodeOperationCounts = { get: 0, set: 0, add: 0, touch: 0, delete: 0, stats: 0, errors: 0, timeouts: 0 }
  readonly #client: MemcachedTransport
  readonly #timeout: number
  readonly #onHealthChange: HealthListener
  #health: NodeHealth = { state: 'up', since: Date.now(), lastError: null, lastChange: null, restarts: 0 }
  #closed = false
  /** When the server last answered a command (ms); 0 before its first answer. */
  #answeredAt = 0
  /** The server instance last seen; undefined until a check answers. */
  #instance: ServerInstance | null | undefined = undefined
  #checking: Promise<boolean> | null = null
  /** When a restart was last noticed (ms); 0 if never. */
  #restartSeenAt = 0
  #connectionCheck: NodeJS.Timeout | null = null

  /** `transport`: the memcached client by default; tests pass an in-memory server's. */
  constructor (spec: NodeSpec, operationTimeout: number, onHealthChange: HealthListener = () => {}, transport?: MemcachedTransport) {
    this.id = spec.id
    this.address = `${spec.host}:${spec.port}`
    this.host = spec.host
    this.port = spec.port
    this.#timeout = operationTimeout
    this.#onHealthChange = onHealthChange
    this.#client = transport ?? createMemcachedTransport(this.address, operationTimeout)
    this.#client.onConnectionLost((reason) => { this.#connectionLost(reason) })
  }

  get health (): Readonly<NodeHealth> {
    return this.#health
  }

  get isUp (): boolean {
    return this.#health.state === 'up'
  }

  /** Milliseconds since the server last answered anything (Infinity before its first answer). */
  quietFor (now: number): number {
    return this.#answeredAt === 0 ? Infinity : now - this.#answeredAt
  }

  /** Asks a down node whether it answers again; marks it up if it does. */
  async probe (): Promise<boolean> {
    return await this.check('probe')
  }

  /**
   * The health check: one `stats`, within operationTimeout. Resolves true when
   * the node answered. No answer marks an up node down; an answer marks a
   * down node up; an answer from another server instance than the last one
   * seen is a restart: every item the node held is gone. Concurrent calls
   * share one check.
   */
  check (reason: CheckReason = 'health-check'): Promise<boolean> {
    this.#checking ??= this.#check(reason).finally(() => { this.#checking = null })
    return this.#checking
  }

  async #check (reason: CheckReason): Promise<boolean> {
    let instance: ServerInstance | null
    try {
      instance = await this.#send('stats', null, (done) => this.#client.instance(done)) as ServerInstance | null
    } catch (error) {
      if (isNodeFailure(error as Error)) this.#markDown(error as Error, reason === 'connection' ? 'connection' : 'health-check')
      return false
    }
    const restarted = this.#isNewInstance(instance)
    this.#instance = instance
    if (restarted) this.#restartSeenAt = Date.now()
    if (!this.isUp) {
      this.#setHealth({ ...this.#health, state: 'up', since: Date.now() }, restarted ? 'restart' : 'probe')
    } else if (restarted) {
      this.#setHealth({ ...this.#health }, 'restart')
    }
    return true
  }

  /** The server answers as another process than the last one seen; unknown until both are known. */
  #isNewInstance (instance: ServerInstance | null): boolean {
    const known = this.#instance
    if (known === undefined || known === null || instance === null) return false
    return known.pid !== instance.pid || known.startedAt !== instance.startedAt
  }

  /**
   * The server closed, reset or refused a connection: it may be gone, or only
   * have dropped an idle connection. A check, sent once the other closed
   * sockets have been dropped from the pool too (CONNECTION_CHECK_DELAY_MS),
   * tells which.
   */
  #connectionLost (reason: string): void {
    if (this.#closed || !this.isUp || this.#checking !== null || this.#connectionCheck !== null) return
    this.#connectionCheck = setTimeout(() => {
      this.#connectionCheck = null
      if (this.#closed || !this.isUp) return
      this.check('connection').catch(() => {})
    }, CONNECTION_CHECK_DELAY_MS)
    this.#connectionCheck.unref()
    this.#health.lastError = reason
  }

  #markDown (error: Error, detectedBy: NodeDetection): void {
    if (this.#health.state === 'down') {
      this.#health.lastError = error.message
      return
    }
    this.#setHealth({ ...this.#health, state: 'down', since: Date.now(), lastError: error.message }, detectedBy)
  }

  /** Records a change (a new state, or a restart while up) and tells the listener. */
  #setHealth (next: NodeHealth, detectedBy: NodeDetection): void {
    const previous = this.#health
    const at = Date.now()
    const kind = next.state !== previous.state ? next.state : 'restarted'
    this.#health = {
      ...next,
      lastChange: { kind, at, detectedBy },
      restarts: previous.restarts + (detectedBy === 'restart' ? 1 : 0)
    }
    this.#onHealthChange(this, previous)
  }

  /** Resolves with the stored value, or undefined on a miss. */
  get (key: string): Promise<unknown> {
    return this.#run('get', key, null, (done) => this.#client.get(key, done))
  }

  /** Stores `value`; rejects when the server does not confirm. */
  async set (key: string, value: string, lifetime: number): Promise<void> {
    const stored = await this.#run('set', key, value, (done) => this.#client.set(key, value, lifetime, done))
    if (stored !== true) throw new FST_MSM_NODE_ERROR(this.id, 'set', 'the server did not store the value')
  }

  /**
   * Stores `value` only if the key exists. Resolves false when it does not:
   * the session was destroyed, regenerated or expired since it was loaded.
   */
  replace (key: string, value: string, lifetime: number): Promise<boolean> {
    return this.#run('replace', key, value, (done) => this.#client.replace(key, value, lifetime, done)).then((stored) => stored === true)
  }

  /** Resolves false when the key already exists. */
  add (key: string, value: string, lifetime: number): Promise<boolean> {
    return this.#run('add', key, value, (done) => this.#client.add(key, value, lifetime, done)).then((added) => added === true)
  }

  /** Resolves false when the key does not exist. */
  touch (key: string, lifetime: number): Promise<boolean> {
    return this.#run('touch', key, null, (done) => this.#client.touch(key, lifetime, done)).then((touched) => touched === true)
  }

  /** Resolves false when the key did not exist. */
  delete (key: string): Promise<boolean> {
    return this.#run('delete', key, null, (done) => this.#client.delete(key, done)).then((deleted) => deleted === true)
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#connectionCheck !== null) clearTimeout(this.#connectionCheck)
    this.#client.end()
  }

  /** A command, traced on `fastify-msm.node.operation` when someone subscribed. `value`: what a write sends, for its size. */
  #run (command: Command, key: string, value: string | null, invoke: (done: (error: unknown, result?: unknown) => void) => void): Promise<unknown> {
    if (!CHANNELS.operation.hasSubscribers) return this.#runUntraced(command, key, invoke)
    return traceOperation(this, command, value, async () => await this.#runUntraced(command, key, invoke))
  }

  #runUntraced (command: Command, key: string, invoke: (done: (error: unknown, result?: unknown) => void) => void): Promise<unknown> {
    if (this.#health.state === 'down') return Promise.reject(new FST_MSM_NODE_DOWN(this.id))
    const sentAt = Date.now()
    return this.#send(command === 'replace' ? 'set' : command, key, invoke).catch((error: Error) => {
      // A restart noticed since this command was sent: it went to the old process, whose answers
      // never come; the new one is fine
      if (isNodeFailure(error) && this.#restartSeenAt <= sentAt) this.#markDown(error, 'operation')
      throw error
    })
  }

  /** `key`: null for a command without one (stats). */
  #send (operation: Operation, key: string | null, invoke: (done: (error: unknown, result?: unknown) => void) => void): Promise<unknown> {
    if (key !== null && !SAFE_KEY.test(key)) return Promise.reject(new TypeError('fastify-msm refused an unsafe memcached key'))
    if (this.#closed) return Promise.reject(new FST_MSM_CLIENT_CLOSED(this.id))
    this.counts[operation]++
    return new Promise((resolve, reject) => {
      let settled = false
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        this.counts.timeouts++
        reject(new FST_MSM_OPERATION_TIMEOUT(this.id, operation, this.#timeout))
      }, this.#timeout)
      try {
        invoke((error, result) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          if (error) {
            this.counts.errors++
            reject(new FST_MSM_NODE_ERROR(this.id, operation, describeError(error)))
          } else {
            this.#answeredAt = Date.now()
            resolve(result)
          }
        })
      } catch (error) {
        settled = true
        clearTimeout(timer)
        this.counts.errors++
        reject(new FST_MSM_NODE_ERROR(this.id, operation, describeError(error)))
      }
    })
  }
}

function isNodeFailure (error: Error): boolean {
  const code = (error as { code?: string }).code
  return code === 'FST_MSM_OPERATION_TIMEOUT' || code === 'FST_MSM_NODE_ERROR'
}

function describeError (error: unknown): string {
  if (error instanceof Error) return error.message
  if (typeof error === 'string') return error
  return 'unknown error'
}
