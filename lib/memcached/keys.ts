/**
 * Memcached keys and lifetimes. Keys are built only from a validated session
 * id (see session-id.ts) and the validated prefix, so they always match the
 * node client's safe alphabet.
 */
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

/** Converts a lifetime in seconds to what memcached expects. */
export function memcachedLifetime (seconds: number, nowMs: number = Date.now()): number {
  const whole = Math.ceil(seconds)
  if (whole <= MAX_RELATIVE_LIFETIME) return whole
  return Math.floor(nowMs / 1000) + whole
}
