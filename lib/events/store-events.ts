// Named events of the memcached work below the request (store, locator,
// schema registry, write queue, locks, cookie check): counted only. Events
// (events.ts) holds one of each, over the same counters.
import type { MsmCounters } from '../types/index.js'

/** The store's events: values read, copies written. */
export class StoreEvents {
  readonly #counters: MsmCounters

  constructor (counters: MsmCounters) {
    this.#counters = counters
  }

  /** A value that failed the integrity check of option `encryption`. */
  tamperedValue (): void {
    this.#counters.tamperedValues++
  }

  /** A value of another writer schema: resolved, or not. */
  schemaResolution (resolved: boolean): void {
    if (resolved) this.#counters.schemaResolved++
    else this.#counters.schemaFailures++
  }

  /** A value accepted though not sealed with the current key: an older one, or none. */
  sealedWith (kind: 'older-key' | 'plaintext'): void {
    if (kind === 'older-key') this.#counters.olderKeyValues++
    else this.#counters.plaintextValues++
  }

  /** A primary copy lost by its node, written back from the backup during a write. */
  primaryRestored (): void {
    this.#counters.restored++
  }

  backupFailed (): void {
    this.#counters.backupFailures++
  }

  /** A write's outcome for the copies: backups stored, none possible, a single copy in all. */
  copiesWritten (backups: number, noBackupNode: boolean, copies: number): void {
    this.#counters.backupWrites += backups
    if (noBackupNode) this.#counters.backupSkipped++
    if (copies === 1) this.#counters.singleCopyWrites++
  }

  /** A backup copy a touch found missing, written again with add. */
  backupRecreated (): void {
    this.#counters.backupsRecreated++
  }

  /** A lookup skipped: the id missed on both nodes a moment ago. */
  recentMiss (): void {
    this.#counters.recentMisses++
  }

  schemaPublished (): void {
    this.#counters.schemasPublished++
  }

  schemaFetched (): void {
    this.#counters.schemasFetched++
  }

  /** backupAsync: a write or touch queued, or a waiting one replaced by a newer one. */
  queued (coalesced: boolean): void {
    if (coalesced) this.#counters.backupsCoalesced++
    else this.#counters.backupsQueued++
  }

  /** A session cookie that is not a valid id of a known node. */
  invalidCookie (): void {
    this.#counters.invalidCookies++
  }
}

/** The lock's events (docs/locking.md#statistics). */
export class LockEvents {
  readonly #counters: MsmCounters

  constructor (counters: MsmCounters) {
    this.#counters = counters
  }

  acquired (waitedMs: number, waited: boolean, handedOver: boolean): void {
    const counters = this.#counters
    if (handedOver) counters.lockHandovers++
    counters.lockAcquired++
    if (waited) counters.lockWaited++
    counters.lockWaitMsTotal += waitedMs
    counters.lockWaitMsMax = Math.max(counters.lockWaitMsMax, waitedMs)
  }

  timedOut (): void {
    this.#counters.lockTimeouts++
  }

  /** A lock command that failed (the lock then expires on its own). */
  failed (): void {
    this.#counters.lockErrors++
  }

  /** Deleted by its holder; or found taken over by another request after it expired. */
  released (ours: boolean): void {
    if (ours) this.#counters.lockReleased++
    else this.#counters.lockReleasesNotOwned++
  }
}
