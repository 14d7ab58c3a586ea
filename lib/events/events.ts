// The one place that receives what the plugin does, as named events: it
// counts them (stats(), metrics), times them, logs them and publishes them on
// diagnostics channels (channels.ts). Modules report an event here instead of
// incrementing counters and logging beside each other.
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { MsmCounters } from '../types/index.js'
import type { Timings } from '../stats/timings.js'
import { debug } from '../ids/log-id.js'
import { LockEvents, StoreEvents } from './store-events.js'
import { CHANNELS, traceQuietly, type LoadEvent, type LockEvent, type RelocatedEvent, type SaveEvent, type TouchEvent } from './channels.js'

/** Where a found session was read from (SessionLocator's ReadOutcome.how). */
export type FoundIn = 'primary' | 'backup' | 'restored' | 'relocated'

/** What the save event needs of a write (persistence's Write). */
export interface SavedWrite {
  request: FastifyRequest | null
  id: string
  nodeId: string
  value: string
  /** Written with replace (a loaded session). */
  rewrite: boolean
}

export interface EventsParts {
  counters: MsmCounters
  timings: Timings
  /** Logs outside a request. */
  log: FastifyBaseLogger
  hashId: (id: string) => string
}

export class Events {
  readonly counters: MsmCounters
  readonly timings: Timings
  readonly log: FastifyBaseLogger
  readonly hashId: (id: string) => string
  /** The events of the memcached work below the request, and of locks: counted only. */
  readonly store: StoreEvents
  readonly locks: LockEvents

  constructor (parts: EventsParts) {
    this.counters = parts.counters
    this.timings = parts.timings
    this.log = parts.log
    this.hashId = parts.hashId
    this.store = new StoreEvents(parts.counters)
    this.locks = new LockEvents(parts.counters)
  }

  // --- the request flow -----------------------------------------------------

  requestIgnored (): void {
    this.counters.requestsIgnored++
  }

  /** The kill switch is off: a request-local session, never stored. */
  requestBypassed (): void {
    this.counters.requestsBypassed++
  }

  /** The request goes on without a stored session (no cookie, an invalid one, or nothing stored under it). */
  noSession (): void {
    this.counters.requestsWithoutSession++
  }

  /**
   * Reads a session through `read`, traced (`fastify-msm.session.load`): the
   * outcome is on the event before its asyncEnd. Untraced, it is `read` itself,
   * adding no promise; the caller times it (clock() and timed('load', …)).
   */
  load<L extends { id: string, nodeId: string }, T extends { status: string, how?: FoundIn }> (request: FastifyRequest, location: L, read: (location: L) => Promise<T>): Promise<T> {
    return CHANNELS.load.hasSubscribers ? this.#tracedLoad(request, location, read) : read(location)
  }

  #tracedLoad<L extends { id: string, nodeId: string }, T extends { status: string, how?: FoundIn }> (request: FastifyRequest, location: L, read: (location: L) => Promise<T>): Promise<T> {
    const event: LoadEvent = { request, session: this.hashId(location.id), nodeId: location.nodeId }
    return traceQuietly(CHANNELS.load, event, async () => await read(location), finishLoad)
  }

  loaded (request: FastifyRequest, id: string, how: FoundIn): void {
    debug(request.log, this.hashId, id, `fastify-msm: session loaded (${how})`)
    this.counters.loaded++
    this.counters.requestsWithSession++
    if (how !== 'primary') this.counters.loadedFromBackup++
  }

  /** A stored session past its idle limit or maxAge: deleted, and the request goes on without it. */
  expired (): void {
    this.counters.expired++
  }

  /** A value that failed its integrity check (counted per value by the store); no id logged: it may belong to anyone. */
  tampered (request: FastifyRequest, reason: string): void {
    request.log.warn({ reason }, 'fastify-msm: a stored session failed its integrity check (changed in memcached, or sealed with a key this instance does not have); starting a new one')
  }

  unreadable (request: FastifyRequest, id: string, reason: string): void {
    this.counters.deserializationFailures++
    request.log.warn({ session: this.hashId(id), reason }, 'fastify-msm: stored session is unreadable; starting a new one')
  }

  loadFailed (request: FastifyRequest, id: string, error: Error): void {
    this.counters.loadFailures++
    request.log.error({ session: this.hashId(id), err: error }, 'fastify-msm: could not load the session; it will not be overwritten by this request')
  }

  /** Changes of a session that could not be loaded are dropped. */
  changesDropped (request: FastifyRequest, id: string): void {
    this.counters.saveFailures++
    request.log.warn({ session: this.hashId(id) }, 'fastify-msm: changes not saved because the session could not be loaded')
  }

  restoredFromBackup (request: FastifyRequest, id: string, nodeId: string): void {
    this.counters.restored++
    request.log.warn({ session: this.hashId(id), node: nodeId }, 'fastify-msm: session missing on its primary node; restored from the backup')
  }

  /** A session moved to a new id on another node (`fastify-msm.session.relocated`). */
  relocated (request: FastifyRequest | null, move: { from: string, fromNode: string, to: string, toNode: string, cause: RelocatedEvent['cause'] }): void {
    this.counters.relocated++
    const session = this.hashId(move.to)
    const from = this.hashId(move.from)
    const log = request?.log ?? this.log
    if (move.cause === 'load') log.warn({ session, from, fromNode: move.fromNode, toNode: move.toNode }, 'fastify-msm: session relocated from its backup to a new id')
    if (move.cause === 'write') log.warn({ session, from }, 'fastify-msm: primary failed during the write; the session moved to a new id')
    if (CHANNELS.relocated.hasSubscribers) {
      const event: RelocatedEvent = { request, session, from, fromNode: move.fromNode, toNode: move.toNode, cause: move.cause }
      CHANNELS.relocated.publish(event)
    }
  }

  /** Sticky mode: a request served from the process. */
  localHit (): void {
    this.counters.localHits++
    this.counters.requestsWithSession++
  }

  /** Sticky mode: a session of another instance (another route) taken over under this one's. */
  takenOver (request: FastifyRequest, id: string, from: string, fromRoute: string | null): void {
    this.counters.takeovers++
    request.log.warn({ session: this.hashId(id), from: this.hashId(from), fromRoute }, 'fastify-msm: took over a session of another instance')
  }

  /** A session's copies deleted (destroy, regenerate, expiry); a failure is logged, never thrown. */
  deleted (): void {
    this.counters.deleted++
  }

  deleteFailed (id: string, error: unknown): void {
    this.counters.deleteFailures++
    this.log.error({ session: this.hashId(id), err: error }, 'fastify-msm: could not delete a session')
  }

  // --- writes and touches ----------------------------------------------------

  /** A start time for timed() and serialized(); 0 when timings are off (stats: false). */
  clock (): number {
    return this.timings.start()
  }

  /** A load, save or touch that began at `started` (clock()) ended. */
  timed (name: 'load' | 'save' | 'touch', started: number): void {
    this.timings.since(name, started)
  }

  /** Attributes encoded (or found unchanged) since `started`. */
  serialized (started: number): void {
    this.timings.since('serialize', started)
  }

  /** A stored value of `length` characters, within maxSessionSize. */
  sized (length: number): void {
    this.timings.size(length)
  }

  /** A value refused by maxSessionSize. */
  oversized (): void {
    this.counters.oversized++
  }

  /** Nothing to write: the attributes' bytes and lifetimes are what was stored. */
  skippedUnchanged (): void {
    this.counters.skippedUnchanged++
  }

  /** Writes both copies through `store`, traced (`fastify-msm.session.save`); untraced, `store` itself. The caller times it. */
  save<W extends SavedWrite, T extends { copies: number, gone: boolean }> (write: W, store: (write: W) => Promise<T>): Promise<T> {
    return CHANNELS.save.hasSubscribers ? this.#tracedSave(write, store) : store(write)
  }

  #tracedSave<W extends SavedWrite, T extends { copies: number, gone: boolean }> (write: W, store: (write: W) => Promise<T>): Promise<T> {
    const event: SaveEvent = { request: write.request, session: this.hashId(write.id), nodeId: write.nodeId, bytes: write.value.length, command: write.rewrite ? 'replace' : 'set' }
    return traceQuietly(CHANNELS.save, event, async () => await store(write), finishSave)
  }

  /** A write stored: counted by what it was. */
  written (log: FastifyBaseLogger, write: SavedWrite & { isNew: boolean, regenerated: boolean, refresh: boolean }): void {
    debug(log, this.hashId, write.id, 'fastify-msm: session saved')
    this.counters.saved++
    if (write.isNew) this.counters.created++
    if (write.regenerated) this.counters.regenerated++
    if (write.refresh) this.counters.refreshed++
  }

  /** The primary write failed and a backup copy holds the session. */
  savedToBackupOnly (log: FastifyBaseLogger, id: string, nodeId: string): void {
    this.counters.savedToBackupOnly++
    log.warn({ session: this.hashId(id), node: nodeId }, 'fastify-msm: primary write failed; the backup copy holds the session')
  }

  /** A rewrite found the session gone from both nodes: destroyed or regenerated meanwhile, not brought back. */
  revivalPrevented (log: FastifyBaseLogger, id: string): void {
    this.counters.revivalsPrevented++
    log.warn({ session: this.hashId(id) }, 'fastify-msm: session destroyed or regenerated by a concurrent request; this request\'s changes were not written')
  }

  saveFailed (log: FastifyBaseLogger, id: string, error: Error): void {
    this.counters.saveFailures++
    log.error({ session: this.hashId(id), err: error }, 'fastify-msm: could not save the session')
  }

  /** Extends both copies through `touch`, traced (`fastify-msm.session.touch`); untraced, `touch` itself. The caller reports touched(). */
  touch<T> (request: FastifyRequest | null, id: string, nodeId: string, lifetime: number, touch: (id: string, nodeId: string, lifetime: number) => Promise<T>): Promise<T> {
    return CHANNELS.touch.hasSubscribers ? this.#tracedTouch(request, id, nodeId, lifetime, touch) : touch(id, nodeId, lifetime)
  }

  /** A touch begun at `started` (clock()) extended the copies. */
  touched (started: number): void {
    this.timings.since('touch', started)
    this.counters.touched++
  }

  #tracedTouch<T> (request: FastifyRequest | null, id: string, nodeId: string, lifetime: number, touch: (id: string, nodeId: string, lifetime: number) => Promise<T>): Promise<T> {
    const event: TouchEvent = { request, session: this.hashId(id), nodeId, lifetime }
    return traceQuietly(CHANNELS.touch, event, async () => await touch(id, nodeId, lifetime), finishTouch)
  }

  touchFailed (log: FastifyBaseLogger, id: string, error: unknown): void {
    this.counters.touchFailures++
    log.warn({ session: this.hashId(id), err: error }, 'fastify-msm: could not extend the session lifetime')
  }

  /** Sticky mode wrote a primary copy a touch found missing back from the process. */
  restoredFromProcess (log: FastifyBaseLogger, id: string, nodeId: string): void {
    this.counters.restored++
    log.warn({ session: this.hashId(id), node: nodeId }, 'fastify-msm: session missing on its primary node; written back from this process')
  }

  /** A backup copy a touch found missing, and no node could take it again. */
  backupNotRecreated (log: FastifyBaseLogger, id: string, nodeId: string): void {
    log.warn({ session: this.hashId(id), node: nodeId }, 'fastify-msm: backup copy missing and no node could take it; the session has one copy')
  }

  copyNotRestored (log: FastifyBaseLogger, id: string, error: unknown): void {
    log.warn({ session: this.hashId(id), err: error }, 'fastify-msm: could not write a missing copy of the session again')
  }

  /** A write acknowledged with one copy (the store counted it), when more than one node is configured. */
  singleCopy (log: FastifyBaseLogger, id: string): void {
    log.warn({ session: this.hashId(id) }, 'fastify-msm: session stored with a single copy; no second node could take its backup')
  }

  // --- locks ----------------------------------------------------------------

  /** Takes a session's lock through `acquire`, traced (`fastify-msm.lock.acquire`). */
  lock<T extends { status: 'acquired' | 'timeout' | 'unavailable', waitedMs?: number }> (request: FastifyRequest, id: string, nodeId: string, acquire: (id: string, nodeId: string) => Promise<T>): Promise<T> {
    if (!CHANNELS.lock.hasSubscribers) return acquire(id, nodeId)
    const event: LockEvent = { request, session: this.hashId(id), nodeId }
    return traceQuietly(CHANNELS.lock, event, async () => await acquire(id, nodeId), finishLock)
  }

  lockProceeded (request: FastifyRequest, id: string, why: { error: Error } | { waitedMs: number }): void {
    this.counters.lockProceeded++
    if ('error' in why) request.log.warn({ session: this.hashId(id), err: why.error }, 'fastify-msm: could not take the session lock; going on without it')
    else request.log.warn({ session: this.hashId(id), waitedMs: why.waitedMs }, 'fastify-msm: session lock timed out; going on without it (lockTimeoutPolicy proceed)')
  }
}

// The end fields of each traced event, from its result (functions made once)

function finishLoad (event: LoadEvent, outcome: { status: string, how?: FoundIn }): void {
  event.outcome = (outcome.status === 'found' ? outcome.how : outcome.status) as LoadEvent['outcome']
}

function finishSave (event: SaveEvent, stored: { copies: number, gone: boolean }): void {
  event.outcome = stored.gone ? 'gone' : 'stored'
  event.copies = stored.copies
}

function finishTouch (event: TouchEvent): void {
  event.outcome = 'touched'
}

function finishLock (event: LockEvent, outcome: { status: 'acquired' | 'timeout' | 'unavailable', waitedMs?: number }): void {
  event.outcome = outcome.status
  if (outcome.waitedMs !== undefined) event.waitedMs = outcome.waitedMs
}
