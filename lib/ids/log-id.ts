import { createHmac, randomBytes } from 'node:crypto'

/**
 * Session ids never reach the logs (OWASP): logs carry a short keyed hash,
 * stable within one process, so one session's lines can still be followed.
 */
export function createIdHasher (): (sessionId: string) => string {
  const key = randomBytes(32)
  return (sessionId) => createHmac('sha256', key).update(sessionId).digest('base64url').slice(0, 12)
}
