import type { MsmConfig } from '../options/index.js'
import { sessionLifetime } from '../memcached/keys.js'

/**
 * Every rule about when a session expires or must be extended, in one place.
 * docs/how-it-works.md#idle-expiry explains them and their exact bounds:
 * a session is never gone before maxInactiveInterval seconds without a
 * request, and is gone at most touchInterval + 1 s after that.
 */
export class Expiry {
  /** Seconds: the memcached lifetime that every write and touch sets. */
  readonly lifetime: number
  readonly #idleMs: number
  readonly #touchMs: number
  readonly #maxAgeMs: number | null

  constructor (config: Pick<MsmConfig, 'maxInactiveInterval' | 'touchInterval' | 'maxAge'>) {
    this.lifetime = sessionLifetime(config.maxInactiveInterval, config.touchInterval)
    this.#idleMs = config.maxInactiveInterval * 1000
    this.#touchMs = config.touchInterval * 1000
    this.#maxAgeMs = config.maxAge === null ? null : config.maxAge * 1000
  }

  /**
   * A stored session whose lastAccessedAt is this old cannot have had a
   * request in the last maxInactiveInterval, even if memcached still holds
   * it: lastAccessedAt of a session in use is refreshed (see refreshDue) at
   * the first extension due after it is maxInactiveInterval old, so it lags
   * the last request by less than maxInactiveInterval + touchInterval.
   */
  isStoredPastIdleLimit (lastAccessedAt: number, now: number): boolean {
    return now - lastAccessedAt > 2 * this.#idleMs + this.#touchMs
  }

  /** Sticky mode: the process saw no request of the session for maxInactiveInterval. */
  isIdle (lastRequestAt: number, now: number): boolean {
    return now - lastRequestAt > this.#idleMs
  }

  /** The absolute timeout (`maxAge`), counted from the session's creation. */
  isPastMaxAge (createdAt: number, now: number): boolean {
    return this.#maxAgeMs !== null && now - createdAt > this.#maxAgeMs
  }

  /** An unchanged session due for an extension is rewritten instead of touched, to move its stored lastAccessedAt. */
  refreshDue (lastAccessedAt: number, now: number): boolean {
    return now - lastAccessedAt >= this.#idleMs
  }

  /**
   * An unchanged session is extended once touchInterval has passed since its
   * last extension, when session.touch() asks for it, and once after any
   * change of node health since its last extension: one of its copies may be
   * missing, or on a node that is now down, and the touch finds out.
   */
  extensionDue (lastExtension: number, now: number, forced: boolean, healthChangedAt: number): boolean {
    return forced || now - lastExtension >= this.#touchMs || this.predatesNodeChange(lastExtension, healthChangedAt)
  }

  /**
   * A session last extended before the latest node change (a node went down,
   * came back or restarted) may have lost a copy: it is repaired on its next
   * request, before the response.
   */
  predatesNodeChange (lastExtension: number, healthChangedAt: number): boolean {
    return lastExtension < healthChangedAt
  }
}
