import type { MsmConfig } from '../options/index.js'
import { sessionLifetime } from '../memcached/keys.js'
import { defaultTouchInterval } from '../options/lifetimes.js'
import type { OwnCookieMaxAge } from '../serialization/codec-format.js'

/**
 * The idle-timeout rules of one maxInactiveInterval, and their exact bounds
 * (docs/how-it-works.md#idle-expiry): a session is never gone before
 * maxInactiveInterval seconds without a request, and is gone at most
 * touchInterval + 1 s after that.
 */
export class IdleRules {
  /** Seconds. */
  readonly maxInactiveInterval: number
  /** Seconds: an unchanged session is extended at most once per touchInterval. */
  readonly touchInterval: number
  /** Seconds: the memcached lifetime that every write and touch sets. */
  readonly lifetime: number
  readonly #idleMs: number
  readonly #touchMs: number

  constructor (maxInactiveInterval: number, touchInterval: number) {
    this.maxInactiveInterval = maxInactiveInterval
    this.touchInterval = touchInterval
    this.lifetime = sessionLifetime(maxInactiveInterval, touchInterval)
    this.#idleMs = maxInactiveInterval * 1000
    this.#touchMs = touchInterval * 1000
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
    return forced || now - lastExtension >= this.#touchMs || predatesNodeChange(lastExtension, healthChangedAt)
  }
}

/**
 * A session's lifetimes: its own values, set by the application and stored
 * with it, or null where it follows the plugin's options. Immutable, and
 * shared by every session that has no values of its own.
 */
export interface Lifetimes {
  /** Seconds; null: the plugin's maxInactiveInterval. */
  readonly ownMaxInactiveInterval: number | null
  /** Milliseconds or a browser-session cookie; null: the plugin's cookie.maxAge. */
  readonly ownCookieMaxAge: OwnCookieMaxAge
  /** The rules of the idle timeout in effect. */
  readonly idle: IdleRules
}

/** Idle rules kept for this many distinct per-session timeouts; others are built when needed. */
const KNOWN_INTERVALS = 64

/**
 * Every rule about when a session expires or must be extended, in one place:
 * the plugin's values, and each session's own (Lifetimes). touchInterval
 * follows a session's own maxInactiveInterval by the default rule, unless the
 * option was given.
 */
export class Expiry {
  /** The lifetimes of a session without values of its own. */
  readonly defaults: Lifetimes
  readonly #configuredTouchInterval: number | null
  readonly #maxAgeMs: number | null
  readonly #rules = new Map<number, IdleRules>()

  constructor (config: Pick<MsmConfig, 'maxInactiveInterval' | 'touchInterval' | 'touchIntervalConfigured' | 'maxAge'>) {
    this.#configuredTouchInterval = config.touchIntervalConfigured ? config.touchInterval : null
    this.#maxAgeMs = config.maxAge === null ? null : config.maxAge * 1000
    const idle = new IdleRules(config.maxInactiveInterval, config.touchInterval)
    this.#rules.set(config.maxInactiveInterval, idle)
    this.defaults = Object.freeze({ ownMaxInactiveInterval: null, ownCookieMaxAge: null, idle })
  }

  /** The lifetimes of a session with these values of its own (null: the plugin's). */
  lifetimes (ownMaxInactiveInterval: number | null, ownCookieMaxAge: OwnCookieMaxAge): Lifetimes {
    if (ownMaxInactiveInterval === null && ownCookieMaxAge === null) return this.defaults
    return Object.freeze({ ownMaxInactiveInterval, ownCookieMaxAge, idle: this.idleRules(ownMaxInactiveInterval) })
  }

  /** The idle rules of a session with this maxInactiveInterval of its own (null: the plugin's). */
  idleRules (ownMaxInactiveInterval: number | null): IdleRules {
    if (ownMaxInactiveInterval === null) return this.defaults.idle
    let rules = this.#rules.get(ownMaxInactiveInterval)
    if (rules === undefined) {
      rules = new IdleRules(ownMaxInactiveInterval, this.touchIntervalOf(ownMaxInactiveInterval))
      if (this.#rules.size < KNOWN_INTERVALS) this.#rules.set(ownMaxInactiveInterval, rules)
    }
    return rules
  }

  /**
   * The touchInterval of a session's own maxInactiveInterval: the configured
   * one, else the default rule. A session's own value must exceed a
   * configured touchInterval, as the option must (see lifetimeChecks).
   */
  touchIntervalOf (maxInactiveInterval: number): number {
    return this.#configuredTouchInterval ?? defaultTouchInterval(maxInactiveInterval)
  }

  /** The configured touchInterval, or null when it follows maxInactiveInterval. */
  get configuredTouchInterval (): number | null {
    return this.#configuredTouchInterval
  }

  /** The absolute timeout (`maxAge`), counted from the session's creation. */
  isPastMaxAge (createdAt: number, now: number): boolean {
    return this.#maxAgeMs !== null && now - createdAt > this.#maxAgeMs
  }

  /** See predatesNodeChange. */
  predatesNodeChange (lastExtension: number, healthChangedAt: number): boolean {
    return predatesNodeChange(lastExtension, healthChangedAt)
  }
}

/**
 * A session last extended before the latest node change (a node went down,
 * came back or restarted) may have lost a copy: it is repaired on its next
 * request, before the response.
 */
function predatesNodeChange (lastExtension: number, healthChangedAt: number): boolean {
  return lastExtension < healthChangedAt
}
