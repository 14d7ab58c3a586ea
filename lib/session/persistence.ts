import type { FastifyBaseLogger } from 'fastify'
import type { MsmConfig } from '../options/index.js'
import type { MsmCounters } from '../types/index.js'
import type { NodeRing } from '../cluster/node-ring.js'
import type { SessionStore } from '../store/session-store.js'
import type { WriteQueue } from '../store/write-queue.js'
import type { SessionCodec } from '../serialization/codec-format.js'
import type { Timings } from '../stats/timings.js'
import { FST_MSM_SESSION_TOO_LARGE, FST_MSM_STORE_UNAVAILABLE } from '../errors.js'
import { BoundedLru } from '../util/lru.js'
import { debug } from '../ids/log-id.js'
import { isUninitialized, markStored, mayHaveChanged, type SessionState } from './session-state.js'
import type { Expiry } from './expiry.js'
import type { LocalRecord, StickyStrategy } from './sticky-strategy.js'
import { CopyKeeper } from './copy-keeper.js'
import { unreadValueBytes } from '../serialization/lazy-attributes.js'
import { failoverLocation, GONE, type StoreOutcome, type Write } from './write.js'

/** Sessions whose last touch this process remembers, to touch each at most once per touchInterval. */
const TOUCH_MEMORY = 10_000

export interface PersistenceParts {
  config: Pick<MsmConfig, 'maxInactiveInterval' | 'maxSessionSize' | 'storeFailurePolicy'>
  store: SessionStore
  ring: NodeRing
  codec: SessionCodec
  expiry: Expiry
  counters: MsmCounters
  timings: Timings
  /** backupAsync (always in sticky mode): writes and touches after the response. */
  queue: WriteQueue | null
  sticky: StickyStrategy | null
  /** A fresh id on an available node, for a new session whose node failed. */
  newId: () => { id: string, nodeId: string }
  /** The id of a session moved to another node (write.ts). */
  movedId: (id: string, nodeId: string) => string
  /** Logs outside a request (queued work). */
  log: FastifyBaseLogger
  hashId: (id: string) => string
}

/**
 * How a session leaves the request: written when its bytes changed, else
 * extended (touched, or refreshed by a write) when due. Either happens before
 * the response, or after it through the write queue (backupAsync, sticky
 * mode) unless the request holds the session lock; that is one parameter
 * here, not a second path. Change detection, encoding and the size limit,
 * and the counting and logging of writes and touches exist once.
 */
export class SessionPersistence {
  readonly #parts: PersistenceParts
  readonly #lastTouch = new BoundedLru<string, number>(TOUCH_MEMORY)
  readonly #copies: CopyKeeper

  constructor (parts: PersistenceParts) {
    this.#parts = parts
    this.#copies = new CopyKeeper({ ...parts, sticky: parts.sticky !== null })
  }

  /**
   * Writes or extends the session; true when its lifetime in memcached was extended. A session a
   * node fault may have cost a copy (moved off a down node, read from a backup, or last extended
   * before a node went down, came back or restarted) is repaired before the response, never queued.
   */
  async finish (state: SessionState, log: FastifyBaseLogger): Promise<boolean> {
    const bytes = this.#changedAttributes(state)
    const now = Date.now()
    const queued = this.#parts.queue !== null && state.lease === null
    const local = queued ? this.#parts.sticky?.keep(state, () => bytes ?? this.#currentBytes(state), now, bytes !== null) ?? null : null
    const lastExtension = Math.max(state.lastAccessedAt, local?.extendedAt ?? 0, this.#lastTouch.get(state.id as string) ?? 0)
    const repair = state.repair || this.#parts.expiry.predatesNodeChange(lastExtension, this.#parts.ring.changedAt)
    const deferred = queued && !repair
    if (bytes !== null) return await this.#write(state, bytes, now, { deferred, refresh: false, local }, log)
    this.#parts.counters.skippedUnchanged++
    return await this.#extend(state, now, lastExtension, { deferred, local }, log)
  }

  /**
   * session.save(): writes now, whatever the queue, so that the next request
   * on any instance sees it. Rejects with FST_MSM_STORE_UNAVAILABLE when no
   * copy was stored.
   */
  async saveNow (state: SessionState, log: FastifyBaseLogger): Promise<void> {
    if (state.id === null || isUninitialized(state)) return
    const bytes = this.#changedAttributes(state) ?? (state.isNew ? this.#currentBytes(state) : null)
    if (bytes === null) {
      state.saved = true
      return
    }
    const now = Date.now()
    const local = this.#parts.sticky?.keep(state, () => bytes, now, true) ?? null
    const sendCookie = state.sendCookie
    if (!await this.#write(state, bytes, now, { deferred: false, refresh: false, local }, log)) {
      // A failed save() decides nothing about the cookie: the write at the end of the request does
      state.sendCookie = sendCookie
      throw new FST_MSM_STORE_UNAVAILABLE()
    }
    markStored(state, bytes)
    // Written under this id now: later writes in this request replace it
    state.loadedFromPrimary = true
  }

  /** session.isModified(): the attributes differ from what was loaded or last saved. */
  hasChanged (state: SessionState): boolean {
    return state.dirty || (mayHaveChanged(state) && this.#changedAttributes(state) !== null)
  }

  /** Forgets the touch memory of a session that was deleted. */
  forget (id: string): void {
    this.#lastTouch.delete(id)
  }

  /** The attributes' bytes when they must be written, else null. */
  #changedAttributes (state: SessionState): Buffer | null {
    if (!state.forceWrite && !mayHaveChanged(state)) return null
    const { codec, timings } = this.#parts
    const started = timings.start()
    if (!state.forceWrite && !state.dirty && state.loadedBytes !== null && state.handedOut !== null &&
      codec.keysUnchanged?.(state.attributes, state.handedOut, state.loadedBytes) === true) {
      // Only Dates read from the session (which no proxy can watch) could have changed, and they did not
      timings.since('serialize', started)
      return null
    }
    for (const key of Object.keys(state.attributes)) {
      // A value never read since it was loaded is what was stored: valid, and not worth decoding
      if (unreadValueBytes(state.attributes, key) === undefined) codec.validate(key, state.attributes[key])
    }
    const bytes = codec.encodeAttributes(state.attributes)
    timings.since('serialize', started)
    if (!state.forceWrite && state.loadedBytes !== null && bytes.equals(state.loadedBytes)) return null
    return bytes
  }

  /** The bytes of the attributes as loaded, or encoded now when they were written with another schema. */
  #currentBytes (state: SessionState): Buffer {
    return state.loadedBytes ?? this.#parts.codec.encodeAttributes(state.attributes)
  }

  /**
   * An unchanged session is extended when due (see Expiry.extensionDue): by
   * a touch, or, once its stored lastAccessedAt is a whole idle interval old,
   * by a write that refreshes it.
   */
  async #extend (state: SessionState, now: number, lastExtension: number, how: { deferred: boolean, local: LocalRecord | null }, log: FastifyBaseLogger): Promise<boolean> {
    const { expiry, ring } = this.#parts
    const id = state.id as string
    if (!expiry.extensionDue(lastExtension, now, state.forceTouch, ring.changedAt)) return false
    if (expiry.refreshDue(state.lastAccessedAt, now)) {
      return await this.#write(state, this.#currentBytes(state), now, { ...how, refresh: true }, log)
    }
    // A copy written again is the value as stored: the same lastAccessedAt and attribute bytes
    const storedValue = (): string => this.#encode(state, id, this.#currentBytes(state), state.lastAccessedAt)
    const touch = (): Promise<boolean> => this.#copies.touch(id, state.nodeId as string, storedValue, log)
    const record = (): void => { if (how.local !== null) how.local.extendedAt = now; else this.#lastTouch.set(id, now) }
    if (how.deferred) {
      // Recorded when queued, so that the session's next requests do not queue it again
      record()
      await (this.#parts.queue as WriteQueue).enqueue(id, async () => { await touch() })
      return true
    }
    const touched = await touch()
    if (touched) record()
    return touched
  }

  /**
   * Writes the session now, or queues the write. The value is encoded now in
   * both cases, so the size limit always fails the request.
   */
  async #write (state: SessionState, bytes: Buffer, now: number, how: { deferred: boolean, refresh: boolean, local: LocalRecord | null }, log: FastifyBaseLogger): Promise<boolean> {
    const write = this.#prepare(state, bytes, now, how.refresh)
    this.#lastTouch.delete(write.id)
    if (how.local !== null) Object.assign(how.local, { storedBytes: bytes, storedAt: now, extendedAt: now })
    if (how.deferred) {
      state.modified = true
      state.saved = true
      await (this.#parts.queue as WriteQueue).enqueue(write.id, async () => {
        await this.#settle(write, await this.#store(write, this.#parts.log), this.#parts.log)
      })
      return true
    }
    const outcome = await this.#failOver(state, write, bytes, now, log, await this.#store(write, log))
    const saved = await this.#settle(write, outcome, log)
    // Sticky mode serves the session from the process: a failed write is counted and logged, as a queued one is
    if (!saved && how.local !== null) return false
    if (!saved) {
      state.sendCookie = false
      if (outcome !== GONE) this.storeFailed()
      return false
    }
    state.modified = true
    state.saved = true
    state.lastAccessedAt = now
    return true
  }

  #prepare (state: SessionState, bytes: Buffer, now: number, refresh: boolean): Write {
    const id = state.id as string
    return {
      id,
      nodeId: state.nodeId as string,
      value: this.#encode(state, id, bytes, now),
      // Loaded sessions are written with replace: a concurrent destroy() or regenerate() is not
      // undone. Sticky mode holds the session in the process: a copy memcached lost is written again
      onlyIfPresent: state.loadedFromPrimary && !state.forceWrite && this.#parts.sticky === null,
      isNew: state.isNew,
      regenerated: state.forceWrite && !state.isNew,
      refresh,
      primaryFailed: false,
      afterSave: state.afterSave.splice(0)
    }
  }

  /**
   * A write whose primary failed is stored again where failoverLocation says (write.ts), before
   * the response. Sticky mode holds the session in the process: its next request moves it.
   */
  async #failOver (state: SessionState, write: Write, bytes: Buffer, now: number, log: FastifyBaseLogger, outcome: StoreOutcome): Promise<StoreOutcome> {
    const location = this.#parts.sticky !== null && !state.isNew ? null : failoverLocation(this.#parts, write, outcome)
    if (location === null) return outcome
    const previous = { ...write }
    state.id = write.id = location.id
    state.nodeId = write.nodeId = location.nodeId
    write.value = this.#encode(state, location.id, bytes, now)
    write.onlyIfPresent = false
    const moved = await this.#store(write, log)
    if (moved === null && !state.isNew) {
      this.#parts.counters.relocated++
      state.sendCookie = true
      log.warn({ session: this.#parts.hashId(write.id), from: this.#parts.hashId(previous.id) }, 'fastify-msm: primary failed during the write; the session moved to a new id')
    }
    if (moved === null || outcome !== null) return moved
    // Not moved: the backup copies hold the write under its old id, and its next request relocates it
    Object.assign(write, previous)
    state.id = previous.id
    state.nodeId = previous.nodeId
    return null
  }

  /** Stores both copies; resolves with null, GONE, or the error when no copy was stored. */
  async #store (write: Write, log: FastifyBaseLogger): Promise<StoreOutcome> {
    const { store, expiry, timings, counters, hashId } = this.#parts
    const started = timings.start()
    try {
      const stored = await store.save(write.id, write.nodeId, write.value, expiry.lifetime, write.onlyIfPresent)
      timings.since('save', started)
      if (stored.gone) return GONE
      write.primaryFailed = !stored.primary
      if (!stored.primary) {
        counters.savedToBackupOnly++
        log.warn({ session: hashId(write.id), node: write.nodeId }, 'fastify-msm: primary write failed; the backup copy holds the session')
      }
      this.#copies.warnIfSingleCopy(stored, write.id, log)
      return null
    } catch (error) {
      return error as Error
    }
  }

  /** Counts and logs a write's outcome; runs its clean-ups once it is stored. Resolves true when stored. */
  async #settle (write: Write, outcome: StoreOutcome, log: FastifyBaseLogger): Promise<boolean> {
    const { counters, hashId } = this.#parts
    if (outcome === GONE) {
      counters.revivalsPrevented++
      log.warn({ session: hashId(write.id) }, 'fastify-msm: session destroyed or regenerated by a concurrent request; this request\'s changes were not written')
      return false
    }
    if (outcome !== null) {
      counters.saveFailures++
      log.error({ session: hashId(write.id), err: outcome }, 'fastify-msm: could not save the session')
      return false
    }
    for (const cleanup of write.afterSave) await cleanup()
    debug(log, hashId, write.id, 'fastify-msm: session saved')
    counters.saved++
    if (write.isNew) counters.created++
    if (write.regenerated) counters.regenerated++
    if (write.refresh) counters.refreshed++
    return true
  }

  /** The stored value, refused with FST_MSM_SESSION_TOO_LARGE above maxSessionSize. */
  #encode (state: SessionState, id: string, attributesBytes: Buffer, now: number): string {
    const { codec, timings, counters, config } = this.#parts
    const started = timings.start()
    const value = codec.encodeValue({ id, createdAt: state.createdAt, lastAccessedAt: now, maxInactiveInterval: config.maxInactiveInterval }, attributesBytes)
    timings.since('serialize', started)
    if (value.length > config.maxSessionSize) {
      counters.oversized++
      throw new FST_MSM_SESSION_TOO_LARGE(value.length, config.maxSessionSize)
    }
    timings.size(value.length)
    return value
  }

  /** storeFailurePolicy: 'continue' has logged and counted already; 'fail' answers 503. */
  storeFailed (): void {
    if (this.#parts.config.storeFailurePolicy === 'fail') throw new FST_MSM_STORE_UNAVAILABLE()
  }
}
