import type { NodeOperationCounts } from './memcached/node-client.js'
import type { NodeRing } from './cluster/node-ring.js'
import { type HistogramSummary, TIMINGS, type TimingName, type Timings } from './monitoring/histogram.js'

/** What the session lock did. */
export interface LockCounters {
  lockAcquired: number
  /** Acquisitions that had to wait: queued in this process, or retried `add`. */
  lockWaited: number
  lockWaitMsTotal: number
  lockWaitMsMax: number
  /** Acquisitions handed over inside this process without a memcached round trip. */
  lockHandovers: number
  lockTimeouts: number
  /** Requests that went on without the lock (lockTimeoutPolicy 'proceed', or the node failed). */
  lockProceeded: number
  lockReleased: number
  /** Releases that found the lock no longer ours (it had expired); nothing was deleted. */
  lockReleasesNotOwned: number
  lockErrors: number
}

/** Counters of what the plugin did, since registration. docs/how-it-works.md explains each. */
export interface MsmCounters extends LockCounters {
  /** Requests that carried a valid id of a stored session, which was loaded. */
  requestsWithSession: number
  /** Requests that loaded no stored session (no cookie, an invalid one, or a miss). */
  requestsWithoutSession: number
  /** Requests skipped by `ignore` or `config.session = false`. */
  requestsIgnored: number
  /** Requests served while app.msm.enabled was false: no memcached operation. */
  requestsBypassed: number
  /** Cookies that were not a valid session id or failed the signature check. */
  invalidCookies: number
  created: number
  loaded: number
  loadedFromBackup: number
  /** Stored sessions found but past their idle limit on the server's own clock. */
  expired: number
  saved: number
  skippedUnchanged: number
  touched: number
  /** Unchanged sessions rewritten to refresh their stored lastAccessedAt. */
  refreshed: number
  deleted: number
  deleteFailures: number
  regenerated: number
  backupWrites: number
  backupFailures: number
  /** Saves that had no available node for the backup copy. */
  backupSkipped: number
  /** Saves whose primary write failed but whose backup copy was stored. */
  savedToBackupOnly: number
  /** Sessions moved to a new id on another node because their primary was down or removed. */
  relocated: number
  /** Sessions found missing on an available primary and restored from the backup, same id. */
  restored: number
  /** Lookups skipped because the id missed on both nodes moments ago. */
  recentMisses: number
  /** Sticky mode: requests served from this process's sessions, without memcached. */
  localHits: number
  /** Sticky mode: sessions of another instance (another route) taken over. */
  takeovers: number
  /** Asynchronous writes and touches queued, and queued ones replaced by a newer one. */
  backupsQueued: number
  backupsCoalesced: number
  /** Sessions read with another writer schema (rolling deploys), by Avro resolution. */
  schemaResolved: number
  /** Sessions whose writer schema could not be found or resolved: treated as no session. */
  schemaFailures: number
  /** This process's schema published on a node that did not have it; schemas fetched from the registry. */
  schemasPublished: number
  schemasFetched: number
  loadFailures: number
  saveFailures: number
  touchFailures: number
  deserializationFailures: number
  oversized: number
}

export interface NodeStats extends NodeOperationCounts {
  id: string
  address: string
  state: 'up' | 'down'
  /** When the node entered its state, ISO 8601. */
  since: string
  lastError: string | null
  failover: boolean
}

/** Current sizes, as opposed to counters. */
export interface MsmGauges {
  /** Sticky mode: sessions held in this process. */
  localSessions: number
  /** Asynchronous writes and touches waiting or running. */
  backupQueue: number
}

export interface MsmStats extends MsmCounters, MsmGauges {
  /** Milliseconds: count, p50, p99, max and sum (empty while the `stats` option is false). */
  timings: Record<TimingName, HistogramSummary>
  /** Bytes of the stored values written. */
  sizes: HistogramSummary
  nodes: NodeStats[]
}

export function createCounters (): MsmCounters {
  return {
    requestsWithSession: 0,
    requestsWithoutSession: 0,
    requestsIgnored: 0,
    requestsBypassed: 0,
    invalidCookies: 0,
    created: 0,
    loaded: 0,
    loadedFromBackup: 0,
    expired: 0,
    saved: 0,
    skippedUnchanged: 0,
    touched: 0,
    refreshed: 0,
    deleted: 0,
    deleteFailures: 0,
    regenerated: 0,
    backupWrites: 0,
    backupFailures: 0,
    backupSkipped: 0,
    savedToBackupOnly: 0,
    relocated: 0,
    restored: 0,
    recentMisses: 0,
    localHits: 0,
    takeovers: 0,
    backupsQueued: 0,
    backupsCoalesced: 0,
    schemaResolved: 0,
    schemaFailures: 0,
    schemasPublished: 0,
    schemasFetched: 0,
    loadFailures: 0,
    saveFailures: 0,
    touchFailures: 0,
    deserializationFailures: 0,
    oversized: 0,
    lockAcquired: 0,
    lockWaited: 0,
    lockWaitMsTotal: 0,
    lockWaitMsMax: 0,
    lockHandovers: 0,
    lockTimeouts: 0,
    lockProceeded: 0,
    lockReleased: 0,
    lockReleasesNotOwned: 0,
    lockErrors: 0
  }
}

/** A plain, JSON-ready copy of the counters and of every node's operation counts. */
export function snapshot (counters: MsmCounters, ring: NodeRing, gauges: MsmGauges, timings: Timings): MsmStats {
  return {
    ...counters,
    ...gauges,
    timings: Object.fromEntries(TIMINGS.map((name) => [name, timings.histograms[name].summary()])) as Record<TimingName, HistogramSummary>,
    sizes: timings.sizes.summary(),
    nodes: ring.nodes.map((node) => ({
      id: node.id,
      address: node.address,
      state: node.health.state,
      since: new Date(node.health.since).toISOString(),
      lastError: node.health.lastError,
      failover: ring.isFailoverNode(node.id),
      ...node.counts
    }))
  }
}
