import type { NodeRing } from '../cluster/node-ring.js'
import type { NodeClient } from '../memcached/node-client.js'
import { type KeyScheme, memcachedLifetime } from '../memcached/keys.js'
import type { DecodedSession, SealedWith, SessionCodec } from '../serialization/codec-format.js'
import type { SchemaRegistry } from './schema-registry.js'
import type { Timings } from '../stats/timings.js'
import type { StoreEvents } from '../events/store-events.js'

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
  /** rewrite() only: neither node still held the session, and nothing was kept. */
  gone: boolean
  /** Copies stored: 2 whenever two nodes took the write, 1 when only one node was left. */
  copies: number
}

/** What a touch found on each copy. */
export interface TouchResult {
  /** The primary still held the session. */
  primary: boolean
  /**
   * touched: the backup node held its copy; missing: it did not (restarted
   * empty, or the backup had moved); failed: the node failed; none: no node
   * is available for a backup.
   */
  backup: 'touched' | 'missing' | 'failed' | 'none'
}

/**
 * Reads and writes sessions on their primary node and backup node.
 * Knows keys, lifetimes and the value format; knows nothing about HTTP.
 */
export class SessionStore {
  constructor (
    private readonly ring: NodeRing,
    private readonly keys: KeyScheme,
    private readonly events: StoreEvents,
    private readonly codec: SessionCodec,
    private readonly registry: SchemaRegistry | null,
    private readonly timings: Timings
  ) {}

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
  async decode (raw: unknown, sessionId: string): Promise<{ ok: true, session: DecodedSession } | { ok: false, reason: string, tampered?: boolean }> {
    const started = this.timings.start()
    let decoded = this.codec.decodeValue(raw, sessionId)
    this.timings.since('deserialize', started)
    if (decoded.ok === false && decoded.tampered === true) this.events.tamperedValue()
    if (decoded.ok !== false) this.#countSealing(decoded.sealedWith)
    if (decoded.ok === 'unknown-schema') {
      decoded = this.registry === null
        ? { ok: false, reason: `writer schema ${decoded.fingerprint} is not known` }
        : await this.registry.decodeWithWriter(decoded.fingerprint, decoded.bytes)
      this.events.schemaResolution(decoded.ok === true)
    }
    if (decoded.ok !== true) return decoded as { ok: false, reason: string, tampered?: boolean }
    if (decoded.session.meta.id !== sessionId) return { ok: false, reason: 'the stored id differs from the key' }
    return decoded
  }

  #countSealing (sealedWith: SealedWith | undefined): void {
    if (sealedWith !== undefined) this.events.sealedWith(sealedWith)
  }

  /**
   * Writes the primary and the backup in parallel with `set`, the backup on
   * the next available node. A backup write that fails is retried, before resolving, on
   * the following available nodes in the same order that relocation searches
   * (ring.successors), until two copies are stored or no node is left; so is
   * a second backup copy when the primary write failed. Resolves with what
   * was stored; rejects only when no copy was stored.
   *
   */
  async write (sessionId: string, nodeId: string, value: string, lifetimeSeconds: number): Promise<SaveResult> {
    return await this.#save(sessionId, nodeId, value, lifetimeSeconds, setCopy)
  }

  /**
   * Writes a loaded session as write() does, but both copies with `replace`,
   * so that a session destroyed or regenerated meanwhile is not brought back:
   * it is gone only when neither node still held it. A copy missing on one
   * node alone was lost by that node (it restarted empty, or evicted it), and
   * is written again there.
   */
  async rewrite (sessionId: string, nodeId: string, value: string, lifetimeSeconds: number): Promise<SaveResult> {
    return await this.#save(sessionId, nodeId, value, lifetimeSeconds, replaceCopy)
  }

  async #save (sessionId: string, nodeId: string, value: string, lifetimeSeconds: number, writeCopy: CopyWrite): Promise<SaveResult> {
    const lifetime = memcachedLifetime(lifetimeSeconds)
    const candidates = this.ring.successors(nodeId)
    const primary = this.ring.get(nodeId)
    const primaryKey = this.keys.primary(sessionId)
    const backupKey = this.keys.backup(sessionId)
    let [primaryResult, firstBackup] = await Promise.allSettled([
      primary === undefined
        ? Promise.reject(new Error(`node ${nodeId} is not configured`))
        : writeCopy(primary, primaryKey, value, lifetime),
      candidates[0] === undefined ? Promise.reject(new Error('no node for the backup')) : writeCopy(candidates[0], backupKey, value, lifetime)
    ])
    if (absent(primaryResult) && firstBackup.status === 'fulfilled' && firstBackup.value) {
      // The backup still held it: the primary lost its copy (restarted empty), the session was not destroyed
      primaryResult = await settle((primary as NodeClient).set(primaryKey, value, lifetime).then(() => true))
      this.events.primaryRestored()
    } else if (absent(primaryResult)) {
      // Destroyed or regenerated by a concurrent request (or expired): do not bring it back
      return { primary: false, gone: true, copies: 0 }
    } else if (absent(firstBackup)) {
      // The primary held it, the backup node did not (restarted empty, or the backup moved): add it there
      // (false from add: a concurrent write put one there first, which is a copy too)
      firstBackup = await settle((candidates[0] as NodeClient).add(backupKey, value, lifetime).then(() => true))
    }
    const primaryStored = primaryResult.status === 'fulfilled'
    let backups = 0
    if (firstBackup.status === 'fulfilled' && firstBackup.value) backups++
    else if (candidates[0] !== undefined) this.events.backupFailed()
    // Two copies before the response, while nodes are left to hold them
    for (const node of candidates.slice(1)) {
      if ((primaryStored ? 1 : 0) + backups >= 2) break
      if (!node.isUp) continue
      try {
        await node.set(backupKey, value, lifetime)
        backups++
      } catch {
        this.events.backupFailed()
      }
    }
    const copies = (primaryStored ? 1 : 0) + backups
    this.events.copiesWritten(backups, candidates.length === 0, copies)
    if (copies === 0) throw (primaryResult as PromiseRejectedResult).reason
    return { primary: primaryStored, gone: false, copies }
  }

  /**
   * Extends the lifetime of both copies and reports what it found. Rejects
   * only when the primary failed.
   */
  async touch (sessionId: string, nodeId: string, lifetimeSeconds: number): Promise<TouchResult> {
    const lifetime = memcachedLifetime(lifetimeSeconds)
    const backup = this.ring.backupOf(nodeId)
    const [primary, backupState] = await Promise.all([
      (this.ring.get(nodeId) as NodeClient).touch(this.keys.primary(sessionId), lifetime),
      backup === undefined
        ? 'none' as const
        : backup.touch(this.keys.backup(sessionId), lifetime).then((touched) => touched ? 'touched' as const : 'missing' as const, () => 'failed' as const)
    ])
    return { primary, backup: backupState }
  }

  /**
   * Writes a backup copy that a touch found missing, with `add` so that it
   * never overwrites a newer copy, on the backup node or, when that fails, the
   * next available node after it. Resolves with the id of the node that holds
   * a copy now, or null when none could.
   */
  async recreateBackup (sessionId: string, nodeId: string, value: string, lifetimeSeconds: number): Promise<string | null> {
    const lifetime = memcachedLifetime(lifetimeSeconds)
    const key = this.keys.backup(sessionId)
    for (const node of this.ring.successors(nodeId)) {
      if (!node.isUp) continue
      try {
        // false: a newer copy got there first, which is just as good
        if (await node.add(key, value, lifetime)) this.events.backupRecreated()
        return node.id
      } catch {
        this.events.backupFailed()
      }
    }
    return null
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

/** Writes one copy; resolves false when the node did not hold the key and nothing was written. */
type CopyWrite = (node: NodeClient, key: string, value: string, lifetime: number) => Promise<boolean>

const setCopy: CopyWrite = (node, key, value, lifetime) => node.set(key, value, lifetime).then(() => true)
const replaceCopy: CopyWrite = (node, key, value, lifetime) => node.replace(key, value, lifetime)

/** The node answered that it did not hold the key. */
function absent (result: PromiseSettledResult<boolean>): boolean {
  return result.status === 'fulfilled' && !result.value
}

/** A promise's outcome, as Promise.allSettled gives it. */
async function settle<T> (promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  return await Promise.allSettled([promise]).then(([result]) => result as PromiseSettledResult<T>)
}
