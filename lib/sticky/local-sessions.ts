import type { Attributes } from '../types/index.js'
import { BoundedLru } from '../util/lru.js'
import type { Lifetimes } from '../session/expiry.js'

/** A session held in this process (sticky mode). */
export interface LocalEntry {
  nodeId: string
  /**
   * The attributes object of the requests in flight, shared by them like a
   * servlet session's. Held weakly: between requests the session is kept as
   * its bytes alone (storedBytes), about a tenth of its decoded size.
   */
  live: WeakRef<Attributes> | null
  createdAt: number
  /** The session's own lifetimes, as stored (shared and immutable). */
  lifetimes: Lifetimes
  /** The last request: the local idle clock. */
  accessedAt: number
  /** The attribute bytes and time of the last write sent to memcached: the session, between requests. */
  storedBytes: Buffer
  storedAt: number
  /** The last write or touch sent to memcached, which set its TTL. */
  extendedAt: number
}

/**
 * The sticky-mode session cache, bounded by a number of sessions; the least
 * recently used is evicted (its backup in memcached remains, and it is
 * reloaded from there when it comes back).
 */
export class LocalSessions {
  readonly #cache: BoundedLru<string, LocalEntry>

  constructor (capacity: number) {
    this.#cache = new BoundedLru(capacity)
  }

  get size (): number {
    return this.#cache.size
  }

  get (id: string): LocalEntry | undefined {
    return this.#cache.get(id)
  }

  set (id: string, entry: LocalEntry): void {
    this.#cache.set(id, entry)
  }

  delete (id: string): void {
    this.#cache.delete(id)
  }
}
