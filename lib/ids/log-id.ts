import type { FastifyBaseLogger } from 'fastify'
import { createHmac, randomBytes } from 'node:crypto'
import { BoundedLru } from '../util/lru.js'

/** Hashed ids kept, so that a session's log lines and tracing events cost one HMAC, not one each. */
const HASHED_IDS = 10_000

/**
 * Session ids never reach the logs (OWASP): logs carry a short keyed hash,
 * stable within one process, so one session's lines can still be followed.
 */
export function createIdHasher (): (sessionId: string) => string {
  const key = randomBytes(32)
  const hashed = new BoundedLru<string, string>(HASHED_IDS)
  return (sessionId) => {
    let logId = hashed.peek(sessionId)
    if (logId === undefined) {
      logId = createHmac('sha256', key).update(sessionId).digest('base64url').slice(0, 12)
      hashed.set(sessionId, logId)
    }
    return logId
  }
}

/** Routine traffic is logged at debug level, and only hashed when that level is on. */
export function debug (log: FastifyBaseLogger, hashId: (id: string) => string, id: string, message: string): void {
  const withLevel = log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean }
  if (withLevel.isLevelEnabled?.('debug') === true) log.debug({ session: hashId(id) }, message)
}
