import type { FastifyBaseLogger } from 'fastify'
import type { MsmCounters } from '../types/index.js'
import type { NodeRing } from '../cluster/node-ring.js'
import type { SaveResult, SessionStore, TouchResult } from '../store/session-store.js'
import type { Expiry } from './expiry.js'
import type { Timings } from '../stats/timings.js'

export interface CopyKeeperParts {
  store: SessionStore
  ring: NodeRing
  expiry: Expiry
  counters: MsmCounters
  timings: Timings
  hashId: (id: string) => string
  /** Sticky mode: the process holds the session, so it can write a lost primary back too. */
  sticky: boolean
}

/**
 * Keeps both copies of an unchanged session alive: touches them, writes a
 * copy that the touch found missing again, and reports a write that ended
 * with a single copy. (Writes themselves go to a successor node when the
 * backup node fails: see SessionStore.save.)
 */
export class CopyKeeper {
  readonly #parts: CopyKeeperParts

  constructor (parts: CopyKeeperParts) {
    this.#parts = parts
  }

  /**
   * Touches both copies; a copy the touch finds missing is written again (see
   * #restore). Resolves false when the primary failed.
   */
  async touch (id: string, nodeId: string, storedValue: () => string, log: FastifyBaseLogger): Promise<boolean> {
    const { store, expiry, timings, counters, hashId } = this.#parts
    let touched: TouchResult
    try {
      const started = timings.start()
      touched = await store.touch(id, nodeId, expiry.lifetime)
      timings.since('touch', started)
      counters.touched++
    } catch (error) {
      counters.touchFailures++
      log.warn({ session: hashId(id), err: error }, 'fastify-msm: could not extend the session lifetime')
      return false
    }
    await this.#restore(id, nodeId, touched, storedValue, log)
    return true
  }

  /**
   * A backup copy that a touch found missing (its node restarted empty, or is
   * down) is written again with `add`, on the backup node or the next one.
   * In sticky mode the process holds the session, so a missing primary is
   * written back too. The value is the one stored: same lastAccessedAt, same
   * attribute bytes. Healthy sessions cost nothing here.
   */
  async #restore (id: string, nodeId: string, touched: TouchResult, storedValue: () => string, log: FastifyBaseLogger): Promise<void> {
    const { store, expiry, counters, hashId } = this.#parts
    const primaryMissing = !touched.primary && this.#parts.sticky
    const backupMissing = touched.backup === 'missing' || touched.backup === 'failed'
    if (!primaryMissing && !backupMissing) return
    try {
      const value = storedValue()
      if (primaryMissing) {
        const stored = await store.save(id, nodeId, value, expiry.lifetime)
        counters.restored++
        log.warn({ session: hashId(id), node: nodeId }, 'fastify-msm: session missing on its primary node; written back from this process')
        this.warnIfSingleCopy(stored, id, log)
        return
      }
      const holder = await store.recreateBackup(id, nodeId, value, expiry.lifetime)
      if (holder === null) log.warn({ session: hashId(id), node: nodeId }, 'fastify-msm: backup copy missing and no node could take it; the session has one copy')
    } catch (error) {
      log.warn({ session: hashId(id), err: error }, 'fastify-msm: could not write a missing copy of the session again')
    }
  }

  /**
   * A write acknowledged with one copy is counted by the store and logged
   * here, unless a single node is configured (then every write has one copy).
   */
  warnIfSingleCopy (stored: SaveResult, id: string, log: FastifyBaseLogger): void {
    if (stored.copies !== 1 || this.#parts.ring.nodes.length < 2) return
    log.warn({ session: this.#parts.hashId(id) }, 'fastify-msm: session stored with a single copy; no second node could take its backup')
  }
}
