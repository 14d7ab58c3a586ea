import type { NodeRing } from '../cluster/node-ring.js'

/** The session vanished between load and save (destroyed, regenerated or expired): it is not revived. */
export const GONE = Symbol('gone')

/** How a write ended: stored (null), GONE, or the error when no copy was stored. */
export type StoreOutcome = null | typeof GONE | Error

/** One write, as it is counted once it succeeded. */
export interface Write {
  id: string
  nodeId: string
  value: string
  onlyIfPresent: boolean
  isNew: boolean
  regenerated: boolean
  refresh: boolean
  /** The primary write failed: only backup copies hold this value. */
  primaryFailed: boolean
  afterSave: Array<() => Promise<void>>
}

export interface WriteFailoverParts {
  ring: Pick<NodeRing, 'isAvailable' | 'relocationTarget'>
  /** A fresh id on an available node. */
  newId: () => { id: string, nodeId: string }
  /** The id of a session moved to `nodeId`: the one SessionLocator.locate gives its next request. */
  movedId: (id: string, nodeId: string) => string
}

/**
 * Where a write goes again when its primary failed during it (the node is
 * marked down now), or null to leave it as it ended:
 * - a new session that no node stored, whose id nobody knows yet: a fresh id
 *   on a node that is up;
 * - a stored session whose write reached only backup copies: the id its next
 *   request would move it to. The response carries that id, so the old
 *   primary, should it come back with its older copy (it was only hung, or
 *   its failure was brief), is never read under the new cookie.
 */
export function failoverLocation (parts: WriteFailoverParts, write: Write, outcome: StoreOutcome): { id: string, nodeId: string } | null {
  if (outcome === GONE) return null
  if (write.isNew) {
    if (outcome === null) return null
    const retry = parts.newId()
    return retry.nodeId === write.nodeId ? null : retry
  }
  if (outcome !== null || !write.primaryFailed || parts.ring.isAvailable(write.nodeId)) return null
  const target = parts.ring.relocationTarget(write.nodeId)
  return target === undefined ? null : { id: parts.movedId(write.id, target.id), nodeId: target.id }
}
