import { createHash, randomBytes } from 'node:crypto'

/**
 * A session id is `<random>-<nodeId>[.<route>]`: 32 lowercase hex characters
 * (128 bits from the CSPRNG), a dash, the id of the session's primary memcached
 * node and, in sticky mode, a dot and the app instance's route (Tomcat's
 * jvmRoute). Hex cannot contain the separators, and the whole id matches a
 * fixed safe alphabet, so it can be used in memcached keys once parsed.
 */
const RANDOM_BYTES = 16
const ID_PATTERN = /^([0-9a-f]{32})-(\w{1,32})(?:\.(\w{1,32}))?$/
/** Longest id this module ever issues; anything longer is rejected unparsed. */
export const MAX_SESSION_ID_LENGTH = 32 + 1 + 32 + 1 + 32

export interface ParsedSessionId {
  id: string
  random: string
  nodeId: string
  /** The app instance that created it, in sticky mode with a route. */
  route: string | null
}

export function generateRandomPart (): string {
  return randomBytes(RANDOM_BYTES).toString('hex')
}

/**
 * The random part of a session moved off its node (relocation, takeover):
 * derived from the old id, so every process that moves the same session
 * picks the same new id, and never one the session had before, where a node
 * that was hung could still hold an old copy.
 */
export function movedRandomPart (oldId: string): string {
  return createHash('sha256').update(oldId).digest('hex').slice(0, RANDOM_BYTES * 2)
}

export function formatSessionId (random: string, nodeId: string, route: string | null = null): string {
  return route === null ? `${random}-${nodeId}` : `${random}-${nodeId}.${route}`
}

/** The id of a session moved to `nodeId` (relocation, sticky takeover or node move). */
export function movedSessionId (oldId: string, nodeId: string, route: string | null): string {
  return formatSessionId(movedRandomPart(oldId), nodeId, route)
}

/**
 * Parses an untrusted value strictly. Returns null for anything that is not an
 * id this plugin could have issued for a node that `isKnownNode` accepts.
 */
export function parseSessionId (value: unknown, isKnownNode: (nodeId: string) => boolean): ParsedSessionId | null {
  if (typeof value !== 'string' || value.length > MAX_SESSION_ID_LENGTH) return null
  const match = ID_PATTERN.exec(value)
  if (match === null) return null
  const nodeId = match[2] as string
  if (!isKnownNode(nodeId)) return null
  return { id: value, random: match[1] as string, nodeId, route: match[3] ?? null }
}
