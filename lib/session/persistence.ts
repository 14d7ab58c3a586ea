import type { FastifyBaseLogger } from 'fastify'
import type { MsmConfig } from '../options/index.js'
import type { NodeRing } from '../cluster/node-ring.js'
import type { SaveResult, SessionStore } from '../store/session-store.js'
import type { WriteQueue } from '../store/write-queue.js'
import type { SessionCodec } from '../serialization/codec-format.js'
import { FST_MSM_SESSION_TOO_LARGE, FST_MSM_STORE_UNAVAILABLE } from '../errors.js'
import type { Events } from '../events/events.js'
import { isUninitialized, lifetimesChanged, mayHaveChanged, type SessionState } from './session-state.js'
import { takeAfterSave } from './state-changes.js'
import type { Expiry } from './expiry.js'
import type { LocalRecord, StickyStrategy } from './sticky-strategy.js'
import { CopyKeeper } from './copy-keeper.js'
import type { TouchMemory } from './touch-memory.js'
import { unreadValueBytes } from '../serialization/lazy-attributes.js'
import { failoverLocation, GONE, type Location, NOT_WRITTEN, NOTHING_DUE, type Persisted, type StoreOutcome, TOUCH_FAILED, TOUCHED, type Write } from './write.js'

export interface PersistenceParts {
  config: Pick<MsmConfig, 'maxSessionSize' | 'storeFailurePolicy'>
  store: SessionStore
  ring: NodeRing
  codec: SessionCodec
  expiry: Expiry
  events: Events
  /** backupAsync (always in sticky mode): writes and touches after the response. */
  queue: WriteQueue | null
  sticky: StickyStrategy | null
  touches: TouchMemory
  /** A fresh id on an available node, for a new session whose node failed. */
  newId: () => Location
  /** The id of a session moved to another node (write.ts). */
  movedId: (id: string, nodeId: string) => string
  /** Logs outside a request (queued work). */
  log: FastifyBaseLogger
  hashId: (id: string) => string
}

/** How one write or touch is done: now or queued, and what sticky mode holds of the session. */
interface Handling {
  deferred: boolean
  local: LocalRecord | null
}

/**
 * How a session leaves the request: written when its bytes or its own
 * lifetimes changed, else extended (touched, or refreshed by a write) when
 * due. Either happens before the response, or after it through the write
 * queue (backupAsync, sticky mode) unless the request holds the session
 * lock; that is one parameter here, not a second path. It reports what it
 * did (write.ts Persisted) and leaves the session's state and cookie to the
 * request flow.
 */
export class SessionPersistence {
  readonly #parts: PersistenceParts
  readonly #copies: CopyKeeper

  constructor (parts: PersistenceParts) {
    this.#parts = parts
    this.#copies = new CopyKeeper({ ...parts, sticky: parts.sticky !== null })
  }

  /**
   * Writes or extends the session. A session a node fault may have cost a
   * copy (moved off a down node, read from a backup, or last extended before
   * a node went down, came back or restarted) is repaired before the
   * response, never queued.
   */
  async finish (state: SessionState, log: FastifyBaseLogger): Promise<Persisted> {
    const bytes = this.#bytesToWrite(state)
    const now = Date.now()
    const queued = this.#parts.queue !== null && state.lease === null
    const local = queued ? this.#keepLocally(state, bytes, now) : null
    const lastExtension = Math.max(state.lastAccessedAt, local?.extendedAt ?? 0, this.#parts.touches.last(state.id as string))
    const repair = state.repair || this.#parts.expiry.predatesNodeChange(lastExtension, this.#parts.ring.changedAt)
    const how = { deferred: queued && !repair, local }
    if (bytes !== null) return await this.#write(state, bytes, now, false, how, log)
    this.#parts.events.skippedUnchanged()
    return await this.#extend(state, now, lastExtension, how, log)
  }

  /**
   * session.save(): writes now, whatever the queue, so that the next request
   * on any instance sees it. Rejects with FST_MSM_STORE_UNAVAILABLE when no
   * copy was stored.
   */
  async saveNow (state: SessionState, log: FastifyBaseLogger): Promise<Persisted> {
    if (state.id === null || isUninitialized(state)) return NOTHING_DUE
    const bytes = this.#bytesToWrite(state) ?? (state.isNew ? this.#currentBytes(state) : null)
    if (bytes === null) return NOTHING_DUE
    const now = Date.now()
    const local = this.#parts.sticky?.keepWritten(state, bytes, now) ?? null
    const persisted = await this.#write(state, bytes, now, false, { deferred: false, local }, log)
    if (persisted.done !== 'written') throw new FST_MSM_STORE_UNAVAILABLE()
    return persisted
  }

  /** session.isModified(): the attributes differ from what was loaded or last saved. */
  hasChanged (state: SessionState): boolean {
    return state.dirty || (mayHaveChanged(state) && this.#changedAttributes(state) !== null)
  }

  /** storeFailurePolicy: 'continue' has logged and counted already; 'fail' answers 503. */
  storeFailed (): void {
    if (this.#parts.config.storeFailurePolicy === 'fail') throw new FST_MSM_STORE_UNAVAILABLE()
  }

  /** Sticky mode holds the session in the process after the request: what it wrote, or what it read. */
  #keepLocally (state: SessionState, bytes: Buffer | null, now: number): LocalRecord | null {
    const sticky = this.#parts.sticky
    if (sticky === null) return null
    return bytes === null ? sticky.keepRead(state, this.#bytesOf, now) : sticky.keepWritten(state, bytes, now)
  }

  /** The attributes' bytes when the session must be written (they changed, or its own lifetimes did), else null. */
  #bytesToWrite (state: SessionState): Buffer | null {
    return this.#changedAttributes(state) ?? (lifetimesChanged(state) ? this.#currentBytes(state) : null)
  }

  /** The attributes' bytes when they changed (or must be written under a new id), else null. */
  #changedAttributes (state: SessionState): Buffer | null {
    if (!state.forceWrite && !mayHaveChanged(state)) return null
    const { codec, events } = this.#parts
    const started = events.clock()
    if (!state.forceWrite && !state.dirty && state.loadedBytes !== null && state.handedOut !== null &&
      codec.keysUnchanged?.(state.attributes, state.handedOut, state.loadedBytes) === true) {
      // Only Dates read from the session (which no proxy can watch) could have changed, and they did not
      events.serialized(started)
      return null
    }
    for (const key of Object.keys(state.attributes)) {
      // A value never read since it was loaded is what was stored: valid, and not worth decoding
      if (unreadValueBytes(state.attributes, key) === undefined) codec.validate(key, state.attributes[key])
    }
    const bytes = codec.encodeAttributes(state.attributes)
    events.serialized(started)
    if (!state.forceWrite && state.loadedBytes !== null && bytes.equals(state.loadedBytes)) return null
    return bytes
  }

  /** The bytes of the attributes as loaded, or encoded now when they were written with another schema. */
  #currentBytes (state: SessionState): Buffer {
    return state.loadedBytes ?? this.#parts.codec.encodeAttributes(state.attributes)
  }

  /** #currentBytes as a function made once, for sticky mode's keepRead: no closure per request. */
  readonly #bytesOf = (state: SessionState): Buffer => this.#currentBytes(state)

  /**
   * An unchanged session is extended when due (see IdleRules.extensionDue):
   * by a touch, or, once its stored lastAccessedAt is a whole idle interval
   * old, by a write that refreshes it.
   */
  async #extend (state: SessionState, now: number, lastExtension: number, how: Handling, log: FastifyBaseLogger): Promise<Persisted> {
    const idle = state.lifetimes.idle
    const id = state.id as string
    if (!idle.extensionDue(lastExtension, now, state.forceTouch, this.#parts.ring.changedAt)) return NOTHING_DUE
    if (idle.refreshDue(state.lastAccessedAt, now)) return await this.#write(state, this.#currentBytes(state), now, true, how, log)
    // A copy written again is the value as stored: the same lastAccessedAt and attribute bytes
    const storedValue = (): string => this.#encode(state, id, this.#currentBytes(state), state.lastAccessedAt)
    const touch = (): Promise<boolean> => this.#copies.touch(state.request, id, state.nodeId as string, idle.lifetime, storedValue, log)
    const record = (): void => { if (how.local !== null) how.local.extendedAt = now; else this.#parts.touches.record(id, now) }
    if (how.deferred) {
      // Recorded when queued, so that the session's next requests do not queue it again
      record()
      await (this.#parts.queue as WriteQueue).enqueue(id, async () => { await touch() })
      return TOUCHED
    }
    if (!await touch()) return TOUCH_FAILED
    record()
    return TOUCHED
  }

  /**
   * Writes the session now, or queues the write. The value is encoded now in
   * both cases, so the size limit always fails the request.
   */
  async #write (state: SessionState, bytes: Buffer, now: number, refresh: boolean, how: Handling, log: FastifyBaseLogger): Promise<Persisted> {
    const write = this.#prepare(state, bytes, now, refresh)
    this.#parts.touches.forget(write.id)
    if (how.local !== null) Object.assign(how.local, { storedBytes: bytes, storedAt: now, extendedAt: now })
    if (how.deferred) {
      await (this.#parts.queue as WriteQueue).enqueue(write.id, async () => {
        await this.#settle(write, await this.#store(write, this.#parts.log), this.#parts.log)
      })
      return { done: 'written', at: null, bytes, movedTo: null }
    }
    const outcome = await this.#failOver(state, write, bytes, now, log, await this.#store(write, log))
    if (await this.#settle(write, outcome, log)) {
      const moved = write.id === state.id ? null : { id: write.id, nodeId: write.nodeId }
      return { done: 'written', at: now, bytes, movedTo: moved }
    }
    // Sticky mode serves the session from the process: a failed write is counted and logged, as a queued one is
    if (how.local !== null) return NOT_WRITTEN.held
    return outcome === GONE ? NOT_WRITTEN.gone : NOT_WRITTEN.failed
  }

  #prepare (state: SessionState, bytes: Buffer, now: number, refresh: boolean): Write {
    const id = state.id as string
    return {
      request: state.request,
      id,
      nodeId: state.nodeId as string,
      value: this.#encode(state, id, bytes, now),
      lifetime: state.lifetimes.idle.lifetime,
      // Loaded sessions are rewritten with replace: a concurrent destroy() or regenerate() is not
      // undone. Sticky mode holds the session in the process: a copy memcached lost is written again
      rewrite: state.loadedFromPrimary && !state.forceWrite && this.#parts.sticky === null,
      isNew: state.isNew,
      regenerated: state.forceWrite && !state.isNew,
      refresh,
      primaryFailed: false,
      afterSave: takeAfterSave(state)
    }
  }

  /**
   * A write whose primary failed is stored again where failoverLocation says
   * (write.ts), before the response; `write` then names the new location.
   * Sticky mode holds the session in the process: its next request moves it.
   */
  async #failOver (state: SessionState, write: Write, bytes: Buffer, now: number, log: FastifyBaseLogger, outcome: StoreOutcome): Promise<StoreOutcome> {
    const location = this.#parts.sticky !== null && !state.isNew ? null : failoverLocation(this.#parts, write, outcome)
    if (location === null) return outcome
    const moved: Write = { ...write, ...location, value: this.#encode(state, location.id, bytes, now), rewrite: false }
    const movedOutcome = await this.#store(moved, log)
    if (movedOutcome === null && !state.isNew) {
      this.#parts.events.relocated(state.request, { from: write.id, fromNode: write.nodeId, to: moved.id, toNode: moved.nodeId, cause: 'write' })
    }
    // Not moved: the backup copies hold the write under its old id, and its next request relocates it
    if (movedOutcome !== null && outcome === null) return null
    Object.assign(write, moved)
    return movedOutcome
  }

  /** Stores both copies; resolves with null, GONE, or the error when no copy was stored. */
  async #store (write: Write, log: FastifyBaseLogger): Promise<StoreOutcome> {
    const { events } = this.#parts
    try {
      const started = events.clock()
      const stored = await events.save(write, this.#storeCopies)
      events.timed('save', started)
      if (stored.gone) return GONE
      write.primaryFailed = !stored.primary
      if (!stored.primary) events.savedToBackupOnly(log, write.id, write.nodeId)
      this.#copies.warnIfSingleCopy(stored, write.id, log)
      return null
    } catch (error) {
      return error as Error
    }
  }

  /** SessionStore.rewrite for a loaded session, else write: as a function made once, adding no promise of its own. */
  readonly #storeCopies = (write: Write): Promise<SaveResult> => write.rewrite
    ? this.#parts.store.rewrite(write.id, write.nodeId, write.value, write.lifetime)
    : this.#parts.store.write(write.id, write.nodeId, write.value, write.lifetime)

  /** Counts and logs a write's outcome; runs its clean-ups once it is stored. Resolves true when stored. */
  async #settle (write: Write, outcome: StoreOutcome, log: FastifyBaseLogger): Promise<boolean> {
    const { events } = this.#parts
    if (outcome === GONE) {
      events.revivalPrevented(log, write.id)
      return false
    }
    if (outcome !== null) {
      events.saveFailed(log, write.id, outcome)
      return false
    }
    for (const cleanup of write.afterSave) await cleanup()
    events.written(log, write)
    return true
  }

  /** The stored value, refused with FST_MSM_SESSION_TOO_LARGE above maxSessionSize. */
  #encode (state: SessionState, id: string, attributesBytes: Buffer, now: number): string {
    const { codec, events, config } = this.#parts
    const started = events.clock()
    const { idle, ownMaxInactiveInterval, ownCookieMaxAge } = state.lifetimes
    const meta = { id, createdAt: state.createdAt, lastAccessedAt: now, maxInactiveInterval: idle.maxInactiveInterval, ownMaxInactiveInterval, ownCookieMaxAge }
    const value = codec.encodeValue(meta, attributesBytes)
    events.serialized(started)
    if (value.length > config.maxSessionSize) {
      events.oversized()
      throw new FST_MSM_SESSION_TOO_LARGE(value.length, config.maxSessionSize)
    }
    events.sized(value.length)
    return value
  }
}
