import type { NodeRing } from '../cluster/node-ring.js'
import type { NodeClient } from '../memcached/node-client.js'
import type { MsmCounters } from '../stats.js'
import { KeyScheme, memcachedLifetime } from '../memcached/keys.js'
import { type DecodedSession, SessionCodec } from '../serialization/session-codec.js'

export type LoadResult =
  | { status: 'found', session: DecodedSession, fromBackup: boolean }
  | { status: 'missing' }
  | { status: 'corrupt', reason: string }
  | { status: 'unavailable', error: Error }

export interface StoreLogger {
  warn (details: object, message: string): void
  error (details: object, message: string): void
}

/**
 * Reads and writes sessions on their primary node and backup node.
 * Knows keys, lifetimes and the value format; knows nothing about HTTP.
 */
export class SessionStore {
  readonly keys: KeyScheme
  readonly codec = new SessionCodec()

  constructor (
    readonly ring: NodeRing,
    prefix: string,
    private readonly counters: MsmCounters
  ) {
    this.keys = new KeyScheme(prefix)
  }

  /** Reads from the primary; reads the backup only when the primary fails. */
  async load (sessionId: string, nodeId: string): Promise<LoadResult> {
    const primary = this.ring.get(nodeId) as NodeClient
    let raw: unknown
    let fromBackup = false
    try {
      raw = await primary.get(this.keys.primary(sessionId))
    } catch (primaryError) {
      const backup = this.ring.backupOf(nodeId)
      if (backup === undefined) return { status: 'unavailable', error: primaryError as Error }
      try {
        raw = await backup.get(this.keys.backup(sessionId))
        fromBackup = true
      } catch {
        return { status: 'unavailable', error: primaryError as Error }
      }
    }
    if (raw === undefined) return { status: 'missing' }
    const decoded = this.codec.decodeValue(raw)
    if (!decoded.ok) return { status: 'corrupt', reason: decoded.reason }
    if (decoded.session.meta.id !== sessionId) return { status: 'corrupt', reason: 'the stored id differs from the key' }
    return { status: 'found', session: decoded.session, fromBackup }
  }

  /**
   * Writes the primary and the backup in parallel. Resolves once the primary
   * confirmed; a failed backup write is counted, not thrown.
   */
  async save (sessionId: string, nodeId: string, value: string, lifetimeSeconds: number): Promise<void> {
    const lifetime = memcachedLifetime(lifetimeSeconds)
    const primary = this.ring.get(nodeId) as NodeClient
    const backup = this.ring.backupOf(nodeId)
    const backupWrite = backup === undefined
      ? Promise.resolve(true)
      : backup.set(this.keys.backup(sessionId), value, lifetime).then(() => true, () => false)
    const [primaryResult, backupStored] = await Promise.allSettled([
      primary.set(this.keys.primary(sessionId), value, lifetime),
      backupWrite
    ])
    if (backup !== undefined) {
      if (backupStored.status === 'fulfilled' && backupStored.value) this.counters.backupWrites++
      else this.counters.backupFailures++
    }
    if (primaryResult.status === 'rejected') throw primaryResult.reason
  }

  /** Extends the lifetime of both copies. Resolves true when the primary still held it. */
  async touch (sessionId: string, nodeId: string, lifetimeSeconds: number): Promise<boolean> {
    const lifetime = memcachedLifetime(lifetimeSeconds)
    const backup = this.ring.backupOf(nodeId)
    const [primaryTouched] = await Promise.all([
      (this.ring.get(nodeId) as NodeClient).touch(this.keys.primary(sessionId), lifetime),
      backup?.touch(this.keys.backup(sessionId), lifetime).catch(() => false)
    ])
    return primaryTouched
  }

  /** Deletes both copies; a node that fails is reported after both were tried. */
  async delete (sessionId: string, nodeId: string): Promise<void> {
    const backup = this.ring.backupOf(nodeId)
    const results = await Promise.allSettled([
      (this.ring.get(nodeId) as NodeClient).delete(this.keys.primary(sessionId)),
      backup?.delete(this.keys.backup(sessionId))
    ])
    const failed = results.find((result) => result.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
  }
}
