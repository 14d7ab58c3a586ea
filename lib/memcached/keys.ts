/**
 * Every memcached key fastify-msm uses, and the lifetimes it stores them
 * with. Keys are built only from a validated session id (see
 * ids/session-id.ts), the validated prefix and hex fingerprints, so they
 * always match the node client's safe alphabet.
 */

/** A published Avro writer schema, shared by every app (no prefix), stored without expiry. */
export function schemaKey (fingerprintHex: string): string {
  return `schema:${fingerprintHex}`
}

export class KeyScheme {
  constructor (readonly prefix: string) {}

  /** The session on its primary node. */
  primary (sessionId: string): string {
    return this.prefix + sessionId
  }

  /** The copy on the backup node. */
  backup (sessionId: string): string {
    return 'bak:' + this.prefix + sessionId
  }

  /** The distributed lock, on the primary node. */
  lock (sessionId: string): string {
    return 'lock:' + this.prefix + sessionId
  }
}

/** memcached reads a relative lifetime above 30 days as a unix timestamp. */
export const MAX_RELATIVE_LIFETIME = 60 * 60 * 24 * 30

/**
 * memcached counts expiry in whole seconds of its own clock: an item stored
 * with a lifetime of N seconds lives between N - 1 and N seconds.
 */
export const EXPIRY_GRANULARITY = 1

/**
 * The memcached lifetime of a session, in seconds, set by every write and
 * touch. An unchanged session is extended at most once per touchInterval, so
 * a request may come up to touchInterval after the last extension; the idle
 * timeout then still needs maxInactiveInterval whole seconds, plus one for the
 * clock granularity. The server-side check (session-manager.ts) is the exact
 * limit; this lifetime only ever errs on the long side.
 */
export function sessionLifetime (maxInactiveInterval: number, touchInterval: number): number {
  return maxInactiveInterval + touchInterval + EXPIRY_GRANULARITY
}

/** Converts a lifetime in seconds to what memcached expects. */
export function memcachedLifetime (seconds: number, nowMs: number = Date.now()): number {
  const whole = Math.ceil(seconds)
  if (whole <= MAX_RELATIVE_LIFETIME) return whole
  return Math.floor(nowMs / 1000) + whole
}
