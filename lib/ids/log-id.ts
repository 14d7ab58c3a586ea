import type { FastifyBaseLogger } from 'fastify'
import { createHmac, randomBytes } from 'node:crypto'

/**
 * Session ids never reach the logs (OWASP): logs carry a short keyed hash,
 * stable within one process, so one session's lines can still be followed.
 */
export function createIdHasher (): (sessionId: string) => string {
  const key = randomBytes(32)
  return (sessionId) => createHmac('sha256', key).update(sessionId).digest('base64url').slice(0, 12)
}

/** Routine traffic is logged at debug level, and only hashed when that level is on. */
export function debug (log: FastifyBaseLogger, hashId: (id: string) => string, id: string, message: string): void {
  const withLevel = log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean }
  if (withLevel.isLevelEnabled?.('debug') === true) log.debug({ session: hashId(id) }, message)
}
