import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { NodeRing } from '../cluster/node-ring.js'
import type { KeyScheme } from '../memcached/keys.js'
import type { NodeClient } from '../memcached/node-client.js'
import { KeyedMutex } from './keyed-mutex.js'
import type { LockEvents } from '../events/store-events.js'

export interface LockSettings {
  /** Seconds the memcached lock lives if its holder never releases it. */
  expiration: number
  /** Milliseconds a request may wait for the lock. */
  timeout: number
  /** First and largest pause between two `add` attempts, in ms. */
  retryMin: number
  retryMax: number
}

/** A held lock. Pass it back to release(). */
export interface Lease {
  sessionId: string
  nodeId: string
}

export type LockOutcome =
  | { status: 'acquired', lease: Lease, waitedMs: number }
  | { status: 'timeout', waitedMs: number }
  | { status: 'unavailable', error: Error }

/** memcached expires items on whole seconds: a lock younger than its expiration minus this is certainly still ours. */
const SAFETY_SECONDS = 1

interface MemcachedLock {
  token: string
  /** When `add` succeeded; hand-overs stop after half of the expiration. */
  since: number
}

/**
 * The distributed session lock: `add lock:<prefix><id>` on the primary node,
 * holding a token unique to this process and acquisition.
 *
 * Inside one process, requests for one session queue in a FIFO mutex and the
 * memcached lock is handed from one to the next without a delete and an add,
 * for at most half of the lock's expiration, so that other processes get
 * their turn. A process holds at most one memcached lock per session.
 */
export class SessionLocks {
  readonly #mutex = new KeyedMutex()
  readonly #held = new Map<string, MemcachedLock>()

  constructor (
    private readonly ring: NodeRing,
    private readonly keys: KeyScheme,
    private readonly settings: LockSettings,
    private readonly events: LockEvents
  ) {}

  async acquire (sessionId: string, nodeId: string): Promise<LockOutcome> {
    const started = Date.now()
    const deadline = started + this.settings.timeout
    const queued = this.#mutex.hasWaiters(sessionId) || this.#held.has(sessionId)
    if (!await this.#mutex.lock(sessionId, this.settings.timeout)) {
      return this.#timedOut(started)
    }
    if (this.#held.has(sessionId)) return this.#acquired(sessionId, nodeId, started, queued, true)
    const node = this.ring.get(nodeId) as NodeClient
    const token = randomBytes(12).toString('hex')
    let delay = this.settings.retryMin
    let attempts = 0
    for (;;) {
      attempts++
      let added: boolean
      try {
        added = await node.add(this.keys.lock(sessionId), token, this.settings.expiration)
      } catch (error) {
        this.#mutex.unlock(sessionId)
        this.events.failed()
        return { status: 'unavailable', error: error as Error }
      }
      if (added) {
        this.#held.set(sessionId, { token, since: Date.now() })
        return this.#acquired(sessionId, nodeId, started, queued || attempts > 1, false)
      }
      const remaining = deadline - Date.now()
      if (remaining <= 0) {
        this.#mutex.unlock(sessionId)
        return this.#timedOut(started)
      }
      await sleep(Math.min(delay, remaining))
      delay = Math.min(delay * 2, this.settings.retryMax)
    }
  }

  /**
   * Hands the lock to the next request of this process, or deletes it from
   * memcached if it is still ours. Never rejects.
   */
  async release (lease: Lease): Promise<void> {
    const { sessionId, nodeId } = lease
    const lock = this.#held.get(sessionId)
    if (lock === undefined) return
    const youngEnough = Date.now() - lock.since < this.settings.expiration * 500
    if (this.#mutex.hasWaiters(sessionId) && youngEnough) {
      this.#mutex.unlock(sessionId)
      return
    }
    this.#held.delete(sessionId)
    try {
      if (Date.now() - lock.since < (this.settings.expiration - SAFETY_SECONDS) * 1000) await this.#delete(sessionId, nodeId)
      else await this.#deleteIfOurs(sessionId, nodeId, lock.token)
    } finally {
      this.#mutex.unlock(sessionId)
    }
  }

  /**
   * A lock released well before its expiration cannot have expired, so no one
   * else can have taken it: it is deleted without reading its token first.
   */
  async #delete (sessionId: string, nodeId: string): Promise<void> {
    try {
      await (this.ring.get(nodeId) as NodeClient).delete(this.keys.lock(sessionId))
      this.events.released(true)
    } catch {
      // The lock expires after lockExpiration on its own
      this.events.failed()
    }
  }

  /**
   * Past that point, memcached's text protocol has no compare-and-delete: between the get and
   * the delete the lock may expire and be taken by another request, whose
   * lock this delete then removes. The window is one round trip, and only
   * opens for a holder that overran lockExpiration.
   */
  async #deleteIfOurs (sessionId: string, nodeId: string, token: string): Promise<void> {
    const node = this.ring.get(nodeId) as NodeClient
    const key = this.keys.lock(sessionId)
    try {
      const current = await node.get(key)
      const ours = current === token
      if (ours) await node.delete(key)
      this.events.released(ours)
    } catch {
      // The lock expires after lockExpiration on its own
      this.events.failed()
    }
  }

  #acquired (sessionId: string, nodeId: string, started: number, waited: boolean, handedOver: boolean): LockOutcome {
    const waitedMs = Date.now() - started
    this.events.acquired(waitedMs, waited, handedOver)
    return { status: 'acquired', lease: { sessionId, nodeId }, waitedMs }
  }

  #timedOut (started: number): LockOutcome {
    this.events.timedOut()
    return { status: 'timeout', waitedMs: Date.now() - started }
  }
}
