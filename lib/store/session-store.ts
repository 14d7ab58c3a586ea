import type { NodeRing } from '../cluster/node-ring.js'
import type { NodeClient } from '../memcached/node-client.js'
import type { MsmCounters } from '../stats.js'
import { KeyScheme, memcachedLifetime } from '../memcached/keys.js'
import type { DecodedSession, SessionCodec } from '../serialization/session-codec.js'
import { AvroSessionCodec } from '../serialization/session-codec.js'
import type { SchemaRegistry } from '../serialization/schema-registry.js'
import type { Timings } from '../monitoring/histogram.js'

/** What one read of one key returned. */
export type ReadResult =
  | { status: 'value', raw: unknown }
  | { status: 'miss' }
  | { status: 'failed', error: Error }

export interface BackupCopy {
  raw: unknown
  /** The node that held the `bak:` copy. */
  node: NodeClient
}

/** Which copies a save stored. */
export interface SaveResult {
  primary: boolean
  /** false when the backup write failed, or when there was no node for it. */
  backup: boolean
  /** With `onlyIfPresent`: the primary no longer held the session, and nothing was kept. */
  gone: boolean
}

/**
 * Reads and writes sessions on their primary node and backup node.
 * Knows keys, lifetimes and the value format; knows nothing about HTTP.
 */
export class SessionStore {
  readonly keys: KeyScheme

  constructor (
    readonly ring: NodeRing,
    prefix: string,
    private readonly counters: MsmCounters,
    readonly codec: SessionCodec,
    private readonly registry: SchemaRegistry | null,
    private readonly timings: Timings
  ) {
    this.keys = new KeyScheme(prefix)
  }

  /** Reads the session from its primary node. */
  async readPrimary (sessionId: string, nodeId: string): Promise<ReadResult> {
    const node = this.ring.get(nodeId)
    if (node === undefined) return { status: 'miss' }
    try {
      const raw = await node.get(this.keys.primary(sessionId))
      return raw === undefined ? { status: 'miss' } : { status: 'value', raw }
    } catch (error) {
      return { status: 'failed', error: error as Error }
    }
  }

  /** The `bak:` copy on the session's usual backup node, if it is there. */
  async findBackup (sessionId: string, nodeId: string): Promise<BackupCopy | undefined> {
    const node = this.ring.backupOf(nodeId)
    if (node === undefined) return undefined
    try {
      const raw = await node.get(this.keys.backup(sessionId))
      return raw === undefined ? undefined : { raw, node }
    } catch {
      return undefined
    }
  }

  /**
   * Every `bak:` copy on the available nodes after the primary (one get each,
   * in parallel): a backup may have moved while a node was down.
   */
  async findBackups (sessionId: string, nodeId: string): Promise<BackupCopy[]> {
    const key = this.keys.backup(sessionId)
    const reads: Array<BackupCopy | null> = await Promise.all(this.ring.successors(nodeId).map(async (node): Promise<BackupCopy | null> => {
      try {
        const raw = await node.get(key)
        return raw === undefined ? null : { raw, node }
      } catch {
        return null
      }
    }))
    return reads.filter((copy): copy is BackupCopy => copy !== null)
  }

  /**
   * Decodes a stored value, which must belong to `sessionId`. A value written
   * with another Avro schema is resolved with the writer schema from the
   * registry. Never rejects.
   */
  async decode (raw: unknown, sessionId: string): Promise<{ ok: true, session: DecodedSession } | { ok: false, reason: string }> {
    const started = this.timings.start()
    let decoded = this.codec.decodeValue(raw)
    this.timings.since('deserialize', started)
    if (decoded.ok === 'unknown-schema') {
      const writer = this.registry === null ? null : await this.registry.writerType(decoded.fingerprint)
      if (writer === null) {
        this.counters.schemaFailures++
        return { ok: false, reason: `writer schema ${decoded.fingerprint} is not known and not published on any node` }
      }
      decoded = (this.codec as AvroSessionCodec).decodeWithWriter(decoded.bytes, writer)
      if (decoded.ok === true) this.counters.schemaResolved++
      else this.counters.schemaFailures++
    }
    if (decoded.ok !== true) return decoded as { ok: false, reason: string }
    if (decoded.session.meta.id !== sessionId) return { ok: false, reason: 'the stored id differs from the key' }
    return decoded
  }

  /**
   * Writes the primary and the backup in parallel, the backup on the next
   * available node. Resolves with what was stored; rejects only when neither
   * copy was stored, because one copy is enough to find the session again.
   */
  async save (sessionId: string, nodeId: string, value: string, lifetimeSeconds: number, onlyIfPresent = false): Promise<SaveResult> {
    const lifetime = memcachedLifetime(lifetimeSeconds)
    const backup = this.ring.backupOf(nodeId)
    const primary = this.ring.get(nodeId)
    const primaryKey = this.keys.primary(sessionId)
    const [primaryResult, backupResult] = await Promise.allSettled([
      primary === undefined
        ? Promise.reject(new Error(`node ${nodeId} is not configured`))
        : onlyIfPresent ? primary.replace(primaryKey, value, lifetime) : primary.set(primaryKey, value, lifetime).then(() => true),
      backup === undefined ? Promise.reject(new Error('no node for the backup')) : backup.set(this.keys.backup(sessionId), value, lifetime)
    ])
    if (primaryResult.status === 'fulfilled' && !primaryResult.value) {
      // Destroyed or regenerated by a concurrent request: do not bring it back
      await backup?.delete(this.keys.backup(sessionId)).catch(() => false)
      return { primary: false, backup: false, gone: true }
    }
    const result = { primary: primaryResult.status === 'fulfilled', backup: backupResult.status === 'fulfilled', gone: false }
    if (result.backup) this.counters.backupWrites++
    else if (backup === undefined) this.counters.backupSkipped++
    else this.counters.backupFailures++
    if (!result.primary && !result.backup) throw (primaryResult as PromiseRejectedResult).reason
    return result
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
    const primary = this.ring.get(nodeId)
    const results = await Promise.allSettled([
      primary?.delete(this.keys.primary(sessionId)),
      backup?.delete(this.keys.backup(sessionId))
    ])
    const failed = results.find((result) => result.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
  }

  /** Removes the backup copy a relocated session was read from. Never rejects. */
  async deleteBackupCopy (sessionId: string, node: NodeClient): Promise<void> {
    await node.delete(this.keys.backup(sessionId)).catch(() => {})
  }
}
