// The checks of idle timeouts and cookie lifetimes, shared by the options
// (once, at registration) and by a session's own values (request.session.
// maxInactiveInterval, request.session.cookie.maxAge): the same coded errors.
import { FST_MSM_OPTION_INVALID } from '../errors.js'
import { MAX_COOKIE_MAX_AGE_MS, MAX_STORED_INTERVAL } from '../serialization/codec-format.js'
import { describe } from './checks.js'

/** touchInterval's default: half of maxInactiveInterval, between 1 and 60 seconds. */
export function defaultTouchInterval (maxInactiveInterval: number): number {
  return Math.max(1, Math.min(60, Math.floor(maxInactiveInterval / 2)))
}

/**
 * A maxInactiveInterval in seconds: a positive integer that a stored session
 * can carry (an Avro int). With a configured touchInterval, a session's own
 * value must exceed it, as the option must.
 */
export function checkMaxInactiveInterval (value: unknown, name: string, configuredTouchInterval: number | null = null): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0 || value > MAX_STORED_INTERVAL) {
    throw new FST_MSM_OPTION_INVALID(name, `a positive integer of seconds, at most ${MAX_STORED_INTERVAL}`, describe(value))
  }
  if (configuredTouchInterval !== null && value > 1 && configuredTouchInterval >= value) {
    throw new FST_MSM_OPTION_INVALID(name, `greater than the configured touchInterval (${configuredTouchInterval} s)`, String(value))
  }
  return value
}

/**
 * A session's own cookie lifetime, in milliseconds as @fastify/session takes
 * it (rounded to whole ones), or null for a browser-session cookie.
 */
export function checkCookieMaxAgeMs (value: unknown, name: string): number | null {
  if (value === null) return null
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_COOKIE_MAX_AGE_MS) {
    throw new FST_MSM_OPTION_INVALID(name, `milliseconds from 0 to ${MAX_COOKIE_MAX_AGE_MS} (400 days; browsers keep cookies no longer), or null for a browser-session cookie`, describe(value))
  }
  return Math.round(value)
}
