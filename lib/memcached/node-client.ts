import type { NodeOperationCounts, NodeSpec } from '../types/index.js'
import type { MemcachedTransport } from './transport.js'
import { createMemcachedTransport } from './memcached-transport.js'
import { PROBE_KEY } from './keys.js'
import { FST_MSM_CLIENT_CLOSED, FST_MSM_NODE_DOWN, FST_MSM_NODE_ERROR, FST_MSM_OPERATION_TIMEOUT } from '../errors.js'

/** Last line of defence: only keys of this alphabet and length ever reach the client. */
const SAFE_KEY = /^[A-Za-z0-9_.:-]{1,250}$/

type Operation = keyof Omit<NodeOperationCounts, 'errors' | 'timeouts'>

/** The key a probe reads; any answer, hit or miss, means the node is back. */

export interface NodeHealth {
  state: 'up' | 'down'
  /** When the node entered its state, ms since the epoch. */
  since: number
  lastError: string | null
}

export type HealthListener = (node: NodeClient, previous: NodeHealth) => void

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
  readonly #client: MemcachedTransport
  readonly #timeout: number
  readonly #onHealthChange: HealthListener
  #health: NodeHealth = { state: 'up', since: Date.now(), lastError: null }
  #closed = false

  /** `transport`: the memcached client by default; tests pass an in-memory server's. */
  constructor (spec: NodeSpec, operationTimeout: number, onHealthChange: HealthListener = () => {}, transport?: MemcachedTransport) {
    this.id = spec.id
    this.address = `${spec.host}:${spec.port}`
    this.#timeout = operationTimeout
    this.#onHealthChange = onHealthChange
    this.#client = transport ?? createMemcachedTransport(this.address, operationTimeout)
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
    return this.#run('set', key, (done) => this.#client.replace(key, value, lifetime, done)).then((stored) => stored === true)
  }

  /** Resolves false when the key already exists. */
  add (key: string, value: string, lifetime: number): Promise<boolean> {
    return this.#run('add', key, (done) => this.#client.add(key, value, lifetime, done)).then((added) => added === true)
  }

  /** Resolves false when the key does not exist. */
  touch (key: string, lifetime: number): Promise<boolean> {
    return this.#run('touch', key, (done) => this.#client.touch(key, lifetime, done)).then((touched) => touched === true)
  }

  /** Resolves false when the key did not exist. */
  delete (key: string): Promise<boolean> {
    return this.#run('delete', key, (done) => this.#client.delete(key, done)).then((deleted) => deleted === true)
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

function isNodeFailure (error: Error): boolean {
  const code = (error as { code?: string }).code
  return code === 'FST_MSM_OPERATION_TIMEOUT' || code === 'FST_MSM_NODE_ERROR'
}

function describeError (error: unknown): string {
  if (error instanceof Error) return error.message
  if (typeof error === 'string') return error
  return 'unknown error'
}
