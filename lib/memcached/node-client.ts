import Memcached from 'memcached'
import type { NodeOperationCounts, NodeSpec } from '../types.js'
import { FST_MSM_CLIENT_CLOSED, FST_MSM_NODE_DOWN, FST_MSM_NODE_ERROR, FST_MSM_OPERATION_TIMEOUT } from '../errors.js'

/** Last line of defence: only keys of this alphabet and length ever reach the client. */
const SAFE_KEY = /^[A-Za-z0-9_.:-]{1,250}$/

type Operation = keyof Omit<NodeOperationCounts, 'errors' | 'timeouts'>

/** The key a probe reads; any answer, hit or miss, means the node is back. */
const PROBE_KEY = 'msm:probe'

export interface NodeHealth {
  state: 'up' | 'down'
  /** When the node entered its state, ms since the epoch. */
  since: number
  lastError: string | null
}

export type HealthListener = (node: NodeClient, previous: NodeHealth) => void

/**
 * @internal The published types never name the `memcached` package, whose
 * types are only a devDependency.
 *
 * `memcached` client (2.2.2) options chosen around its measured traps; each
 * trap and the test that guards it are listed in docs/dependencies.md:
 * - a single server per client, so its hashing, failover and `remove` never act;
 * - pool pulls are retried briefly, so a cold burst never fails with
 *   "connection pool is full";
 * - its issue log is replaced (see disableIssueLog), so it never marks a node
 *   dead on its own and never spawns `ping`; `failures`, `retry` and
 *   `failuresTimeout` are set defensively in case that changes;
 * - `failuresTimeout` is short because its timer is not unref'd and would hold
 *   the process open after `end()`.
 */
export function clientOptions (operationTimeout: number): Memcached.options {
  // @types/memcached omits the pool-pull retry tuning and failuresTimeout
  const options: Memcached.options & { minTimeout: number, maxTimeout: number, factor: number, randomize: boolean, failuresTimeout: number } = {
    poolSize: 16,
    retries: 2,
    minTimeout: 10,
    maxTimeout: 10,
    factor: 1,
    randomize: false,
    timeout: operationTimeout,
    retry: 0,
    failures: Number.MAX_SAFE_INTEGER,
    failuresTimeout: 500,
    reconnect: 1000,
    remove: false,
    idle: 30_000,
    keyCompression: false
  }
  return options
}

/**
 * One memcached node. Every operation settles exactly once: with the server's
 * answer, or with FST_MSM_OPERATION_TIMEOUT after `operationTimeout` ms,
 * because the client never calls back for requests to a dead or hung server.
 *
 * This class, not the `memcached` client, is the source of truth for the
 * node's health: an operation that errors or times out marks the node down at
 * once, and while it is down every operation fails immediately with
 * FST_MSM_NODE_DOWN, so no request waits on it. probe() brings it back.
 */
export class NodeClient {
  readonly id: string
  readonly address: string
  readonly counts: NodeOperationCounts = { get: 0, set: 0, add: 0, touch: 0, delete: 0, errors: 0, timeouts: 0 }
  readonly #client: Memcached
  readonly #timeout: number
  readonly #onHealthChange: HealthListener
  #health: NodeHealth = { state: 'up', since: Date.now(), lastError: null }
  #closed = false

  constructor (spec: NodeSpec, operationTimeout: number, onHealthChange: HealthListener = () => {}) {
    this.id = spec.id
    this.address = `${spec.host}:${spec.port}`
    this.#timeout = operationTimeout
    this.#onHealthChange = onHealthChange
    this.#client = new Memcached(this.address, clientOptions(operationTimeout))
    disableIssueLog(this.#client)
  }

  get health (): Readonly<NodeHealth> {
    return this.#health
  }

  get isUp (): boolean {
    return this.#health.state === 'up'
  }

  /** Asks a down node whether it answers again; marks it up if it does. */
  async probe (): Promise<boolean> {
    try {
      await this.#send('get', PROBE_KEY, (done) => this.#client.get(PROBE_KEY, done))
    } catch {
      return false
    }
    this.#setHealth({ state: 'up', since: Date.now(), lastError: this.#health.lastError })
    return true
  }

  #markDown (error: Error): void {
    if (this.#health.state === 'down') {
      this.#health.lastError = error.message
      return
    }
    this.#setHealth({ state: 'down', since: Date.now(), lastError: error.message })
  }

  #setHealth (next: NodeHealth): void {
    const previous = this.#health
    if (previous.state === next.state) return
    this.#health = next
    this.#onHealthChange(this, previous)
  }

  /** Resolves with the stored value, or undefined on a miss. */
  get (key: string): Promise<unknown> {
    return this.#run('get', key, (done) => this.#client.get(key, done))
  }

  /** Stores `value`; rejects when the server does not confirm. */
  async set (key: string, value: string, lifetime: number): Promise<void> {
    const stored = await this.#run('set', key, (done) => this.#client.set(key, value, lifetime, done))
    if (stored !== true) throw new FST_MSM_NODE_ERROR(this.id, 'set', 'the server did not store the value')
  }

  /**
   * Stores `value` only if the key exists. Resolves false when it does not:
   * the session was destroyed, regenerated or expired since it was loaded.
   */
  replace (key: string, value: string, lifetime: number): Promise<boolean> {
    return this.#run('set', key, (done) => this.#client.replace(key, value, lifetime, (error: unknown, result: unknown) => {
      if (isNotStored(error)) done(undefined, false)
      else done(error, result)
    })).then((stored) => stored === true)
  }

  /** Resolves false when the key already exists. */
  add (key: string, value: string, lifetime: number): Promise<boolean> {
    return this.#run('add', key, (done) => this.#client.add(key, value, lifetime, (error: unknown, result: unknown) => {
      if (isNotStored(error)) done(undefined, false)
      else done(error, result)
    })).then((added) => added === true)
  }

  /** Resolves false when the key does not exist. */
  touch (key: string, lifetime: number): Promise<boolean> {
    return this.#run('touch', key, (done) => this.#client.touch(key, lifetime, done as (error: unknown) => void))
      .then((touched) => touched === true)
  }

  /** Resolves false when the key did not exist. */
  delete (key: string): Promise<boolean> {
    return this.#run('delete', key, (done) => this.#client.del(key, done)).then((deleted) => deleted === true)
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#client.end()
  }

  #run (operation: Operation, key: string, invoke: (done: (error: unknown, result?: unknown) => void) => void): Promise<unknown> {
    if (this.#health.state === 'down') return Promise.reject(new FST_MSM_NODE_DOWN(this.id))
    return this.#send(operation, key, invoke).catch((error: Error) => {
      if (isNodeFailure(error)) this.#markDown(error)
      throw error
    })
  }

  #send (operation: Operation, key: string, invoke: (done: (error: unknown, result?: unknown) => void) => void): Promise<unknown> {
    if (!SAFE_KEY.test(key)) return Promise.reject(new TypeError('fastify-msm refused an unsafe memcached key'))
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

/**
 * The client's own failure tracking (its IssueLog) marks servers dead, and a
 * second failure while it is "locked" schedules a reconnect that spawns the
 * system `ping`, whatever `failures` says: an uncaught ENOENT on machines
 * without ping. This class tracks health itself, so each connection issue only
 * closes the socket, as the client's own handler does first.
 */
function disableIssueLog (client: Memcached): void {
  (client as unknown as { connectionIssue: (error: string, socket?: { end?: () => void }) => void }).connectionIssue =
    (_error, socket) => { socket?.end?.() }
}

function isNodeFailure (error: Error): boolean {
  const code = (error as { code?: string }).code
  return code === 'FST_MSM_OPERATION_TIMEOUT' || code === 'FST_MSM_NODE_ERROR'
}

function isNotStored (error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { notStored?: unknown }).notStored === true
}

function describeError (error: unknown): string {
  if (error instanceof Error) return error.message
  if (typeof error === 'string') return error
  return 'unknown error'
}
