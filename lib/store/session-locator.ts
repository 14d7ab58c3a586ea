import type { NodeRing } from '../cluster/node-ring.js'
import type { NodeClient } from '../memcached/node-client.js'
import type { DecodedSession } from '../serialization/codec-format.js'
import type { SessionStore } from './session-store.js'
import { movedSessionId, type ParsedSessionId } from '../ids/session-id.js'
import { BoundedLru } from '../util/lru.js'
import type { StoreEvents } from '../events/store-events.js'

/** Ids that missed on primary and backup, remembered briefly so that repeating them costs nothing. */
const RECENT_MISSES = 10_000
const RECENT_MISS_MS = 5000

/** Where a session is read and written in this request. */
export interface Location {
  id: string
  nodeId: string
  /** Set when the session moves off its down or removed primary to a new id. */
  movedFrom: ParsedSessionId | null
}

export type ReadOutcome =
  | {
    status: 'found'
    session: DecodedSession
    location: Location
    /**
     * primary: read where the location says; restored: the primary was empty,
     * read from the backup; relocated: read from the old id's backup.
     */
    how: 'primary' | 'restored' | 'relocated'
    /** The node whose `bak:` copy was read, for restored and relocated sessions. */
    backupNode: NodeClient | null
  }
  | { status: 'missing' }
  /** tampered: a value failed the integrity check of option `encryption`. */
  | { status: 'corrupt', reason: string, tampered: boolean }
  | { status: 'unavailable', error: Error }
  /** The primary failed during this read and is now marked down: locate again and relocate. */
  | { status: 'primary-failed', error: Error }

/**
 * Finds a session among the nodes: on its primary; on its backup when the
 * primary is up but lost it (memcached restarted); or, when the primary is
 * down or removed, under a new id on the relocation target, from the backup.
 */
export class SessionLocator {
  readonly #recentMisses = new BoundedLru<string, number>(RECENT_MISSES)

  constructor (
    private readonly store: SessionStore,
    private readonly ring: NodeRing,
    private readonly events: StoreEvents
  ) {}

  /**
   * The location of a session now. A session whose primary is down or removed
   * moves to the relocation target under an id derived from its old one, so
   * every request and every server that sees the same node states moves it to
   * the same new id: concurrent requests converge instead of diverging.
   */
  locate (parsed: ParsedSessionId): Location | null {
    if (this.ring.isAvailable(parsed.nodeId)) return { id: parsed.id, nodeId: parsed.nodeId, movedFrom: null }
    const target = this.ring.relocationTarget(parsed.nodeId)
    if (target === undefined) return null
    return { id: movedSessionId(parsed.id, target.id, parsed.route), nodeId: target.id, movedFrom: parsed }
  }

  async read (location: Location): Promise<ReadOutcome> {
    const from = location.movedFrom ?? { id: location.id, nodeId: location.nodeId }
    if (this.#missedRecently(from.id)) return { status: 'missing' }
    const primary = await this.store.readPrimary(location.id, location.nodeId)
    if (primary.status === 'value') return await this.#decode(primary.raw, location, 'primary', null)
    if (primary.status === 'failed') {
      return location.movedFrom === null
        ? { status: 'primary-failed', error: primary.error }
        : { status: 'unavailable', error: primary.error }
    }
    if (location.movedFrom !== null) return await this.#newestBackup(location, from)
    const copy = await this.store.findBackup(from.id, from.nodeId)
    if (copy === undefined) {
      this.#recentMisses.set(from.id, Date.now() + RECENT_MISS_MS)
      return { status: 'missing' }
    }
    return await this.#decode(copy.raw, location, 'restored', copy.node)
  }

  /**
   * A relocation reads the `bak:` copy on every available node after the old
   * primary and keeps the newest by its stored lastAccessedAt: a node that
   * was hung may deliver a backup write late, after newer ones went elsewhere.
   */
  async #newestBackup (location: Location, from: { id: string, nodeId: string }): Promise<ReadOutcome> {
    const copies = await this.store.findBackups(from.id, from.nodeId)
    let newest: ReadOutcome | null = null
    let tamperedCopies = 0
    for (const copy of copies) {
      const outcome = await this.#decode(copy.raw, location, 'relocated', copy.node)
      if (outcome.status === 'corrupt' && outcome.tampered) tamperedCopies++
      if (outcome.status !== 'found') continue
      if (newest === null || newest.status !== 'found' || outcome.session.meta.lastAccessedAt > newest.session.meta.lastAccessedAt) newest = outcome
    }
    if (newest !== null) return newest
    return copies.length > 0 ? { status: 'corrupt', reason: 'no backup copy could be decoded', tampered: tamperedCopies > 0 } : { status: 'missing' }
  }

  async #decode (raw: unknown, location: Location, how: 'primary' | 'restored' | 'relocated', backupNode: NodeClient | null): Promise<ReadOutcome> {
    const storedId = how === 'relocated' ? (location.movedFrom as ParsedSessionId).id : location.id
    const decoded = await this.store.decode(raw, storedId)
    if (!decoded.ok) return { status: 'corrupt', reason: decoded.reason, tampered: decoded.tampered === true }
    return { status: 'found', session: decoded.session, location, how, backupNode }
  }

  #missedRecently (id: string): boolean {
    const until = this.#recentMisses.get(id)
    if (until === undefined) return false
    if (until < Date.now()) {
      this.#recentMisses.delete(id)
      return false
    }
    this.events.recentMiss()
    return true
  }
}
