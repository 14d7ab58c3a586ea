import type {} from '@fastify/cookie'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { MsmConfig } from '../options.js'
import type { SaveResult, SessionStore, TouchResult } from '../store/session-store.js'
import { sessionLifetime } from '../memcached/keys.js'
import type { Attributes, MsmCounters } from '../types/index.js'
import type { DecodedSession } from '../serialization/session-codec.js'
import { FST_MSM_LOCK_TIMEOUT, FST_MSM_SESSION_TOO_LARGE, FST_MSM_STORE_UNAVAILABLE } from '../errors.js'
import type { Location, ReadOutcome, SessionLocator } from '../store/session-locator.js'
import type { LockPolicy } from '../locking/lock-policy.js'
import type { SessionLocks } from '../locking/session-lock.js'
import type { LocalEntry, LocalSessions } from '../sticky/local-sessions.js'
import type { WriteQueue } from '../store/write-queue.js'
import type { Timings } from '../stats/timings.js'
import { BoundedLru } from '../util/lru.js'
import { createIdHasher } from '../ids/log-id.js'
import { formatSessionId, generateRandomPart, MAX_SESSION_ID_LENGTH, movedSessionId, parseSessionId, type ParsedSessionId } from '../ids/session-id.js'
import { createState, disabledSession, kState, mayHaveChanged, Session, type SessionHost, type SessionState } from './session.js'

/** The session vanished between load and save (destroyed, regenerated or expired): it is not revived. */
const GONE = Symbol('gone')

/** A signed cookie is the id, a dot and an HMAC; nothing longer is worth checking. */
const MAX_COOKIE_LENGTH = MAX_SESSION_ID_LENGTH + 1 + 128
/** Sessions whose last touch this process remembers, to touch each at most once per touchInterval. */
const TOUCH_MEMORY = 10_000

interface CookieRead {
  parsed: ParsedSessionId | null
  present: boolean
  /** Signed with an older secret of @fastify/cookie's rotation list. */
  renew: boolean
}

const NO_COOKIE: CookieRead = { parsed: null, present: false, renew: false }

/**
 * The request flow: load a session before the handler, write it back (or
 * touch it) before the response is sent. See docs/how-it-works.md.
 */
export class SessionManager implements SessionHost {
  readonly #config: MsmConfig
  readonly #store: SessionStore
  readonly #counters: MsmCounters
  readonly #signing: boolean
  readonly #log: FastifyBaseLogger
  readonly #lockPolicy: LockPolicy
  readonly #locks: SessionLocks
  readonly #locator: SessionLocator
  /** Sticky mode only. */
  readonly #local: LocalSessions | null
  /** backupAsync (always in sticky mode) only. */
  readonly #queue: WriteQueue | null
  readonly #timings: Timings
  /** Seconds: the memcached lifetime set by every write and touch (see sessionLifetime). */
  readonly #lifetime: number
  readonly #hashId = createIdHasher()
  readonly #lastTouch = new BoundedLru<string, number>(TOUCH_MEMORY)
  readonly #ignoredByOption = disabledSession('the request matches the "ignore" option')
  readonly #ignoredByRoute = disabledSession('the route has config.session = false')

  constructor (parts: {
    config: MsmConfig
    store: SessionStore
    counters: MsmCounters
    signing: boolean
    log: FastifyBaseLogger
    lockPolicy: LockPolicy
    locks: SessionLocks
    locator: SessionLocator
    local: LocalSessions | null
    queue: WriteQueue | null
    timings: Timings
  }) {
    this.#config = parts.config
    this.#store = parts.store
    this.#counters = parts.counters
    this.#signing = parts.signing
    this.#log = parts.log
    this.#lockPolicy = parts.lockPolicy
    this.#locks = parts.locks
    this.#locator = parts.locator
    this.#local = parts.local
    this.#queue = parts.queue
    this.#timings = parts.timings
    this.#lifetime = sessionLifetime(this.#config.maxInactiveInterval, this.#config.touchInterval)
  }

  /** The kill switch: while false, no request touches memcached (see docs/monitoring.md). */
  enabled = true

  /**
   * A new session goes to an available node. With every node down it still
   * gets an id, but its write fails and no cookie is sent, so clients do not
   * collect ids while memcached is away.
   */
  newId (): { id: string, nodeId: string } {
    const ring = this.#store.ring
    const node = ring.pickPrimary() ?? ring.nodes[0]
    const nodeId = (node as { id: string }).id
    return { id: formatSessionId(generateRandomPart(), nodeId, this.#config.route), nodeId }
  }

  validate (key: string, value: unknown): void {
    this.#store.codec.validate(key, value)
  }

  emptyAttributes (): Attributes {
    return this.#store.codec.emptyAttributes()
  }

  async remove (id: string, nodeId: string): Promise<void> {
    this.#lastTouch.delete(id)
    this.#local?.delete(id)
    try {
      await this.#store.delete(id, nodeId)
      this.#counters.deleted++
    } catch (error) {
      this.#counters.deleteFailures++
      this.#log.error({ session: this.#hashId(id), err: error }, 'fastify-msm: could not delete a session')
    }
  }

  /** onRequest hook. */
  onRequest = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const ignored = this.#ignoredSession(request)
    if (ignored !== null) {
      this.#counters.requestsIgnored++
      request.session = ignored
      return
    }
    const state = createState(this, Date.now())
    request.session = new Session(state)
    if (!this.enabled) {
      // Disabled: a request-local session that is never stored, and no cookie is touched
      state.finished = true
      this.#counters.requestsBypassed++
      return
    }
    const cookie = this.#readCookie(request)
    state.cookieSent = cookie.present
    if (cookie.parsed === null) {
      this.#counters.requestsWithoutSession++
      return
    }
    if (this.#local !== null && await this.#openLocal(state, cookie.parsed)) return
    await this.#open(state, cookie, request, reply)
    if (this.#local !== null && state.id !== null && !state.isNew && !state.unavailable) this.#claim(state, cookie.parsed, request)
  }

  /**
   * Sticky mode: serves the session from this process when it holds it, with
   * no memcached operation. Resolves false when it does not.
   */
  async #openLocal (state: SessionState, parsed: ParsedSessionId): Promise<boolean> {
    const local = this.#local as LocalSessions
    const entry = local.get(parsed.id)
    if (entry === undefined) return false
    const now = Date.now()
    if (now - entry.accessedAt > this.#config.maxInactiveInterval * 1000 || this.#isPastMaxAge(entry.createdAt, now)) {
      this.#counters.expired++
      await this.remove(parsed.id, entry.nodeId)
      this.#counters.requestsWithoutSession++
      return true
    }
    state.id = parsed.id
    state.localId = parsed.id
    state.nodeId = entry.nodeId
    state.isNew = false
    state.attributes = entry.attributes
    state.createdAt = entry.createdAt
    state.lastAccessedAt = entry.storedAt
    state.loadedBytes = entry.storedBytes
    entry.accessedAt = now
    this.#counters.localHits++
    this.#counters.requestsWithSession++
    this.#moveOffUnfitNode(state, parsed)
    return true
  }

  /**
   * Sticky mode, a session loaded from memcached: one that another instance
   * created (another route) means that instance is gone, so this one takes it
   * over under its own route; and it leaves a down or failover node.
   */
  #claim (state: SessionState, parsed: ParsedSessionId, request: FastifyRequest): void {
    const route = this.#config.route
    if (parsed.route !== route) {
      const old = { id: state.id as string, nodeId: state.nodeId as string }
      state.id = movedSessionId(old.id, old.nodeId, route)
      state.forceWrite = true
      state.sendCookie = true
      state.afterSave.push(() => this.#store.delete(old.id, old.nodeId).catch(() => {}))
      this.#counters.takeovers++
      request.log.warn({ session: this.#hashId(state.id), from: this.#hashId(old.id), fromRoute: parsed.route }, 'fastify-msm: took over a session of another instance')
    }
    this.#moveOffUnfitNode(state, parsed)
  }

  /**
   * Sticky mode: a session whose node is down moves to its relocation target;
   * one on a failover node moves to a regular node once one is up. The id
   * keeps its random part and route, and the cookie is sent again.
   */
  #moveOffUnfitNode (state: SessionState, parsed: ParsedSessionId): void {
    const ring = this.#store.ring
    const nodeId = state.nodeId as string
    let target: { id: string } | undefined
    if (!ring.isAvailable(nodeId)) {
      target = ring.relocationTarget(nodeId)
    } else if (ring.isFailoverNode(nodeId)) {
      const regular = ring.pickPrimary()
      if (regular !== undefined && !ring.isFailoverNode(regular.id)) target = regular
    }
    if (target === undefined) return
    state.id = movedSessionId(state.id as string, target.id, this.#config.route)
    state.nodeId = target.id
    state.forceWrite = true
    state.sendCookie = true
    this.#counters.relocated++
  }

  /**
   * onSend hook: writes or touches the session before the response leaves,
   * then releases the lock. Fastify runs onSend for thrown handlers and for
   * clients that went away, so the lock is released on those paths too.
   */
  onSend = async (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const session = request.session
    if (!(session instanceof Session)) return payload
    const state = session[kState]
    if (state.finished) return payload
    state.finished = true
    try {
      await this.#finish(state, request, reply)
    } finally {
      if (state.lease !== null) await this.#locks.release(state.lease)
      state.lease = null
      this.#lockPolicy.learn(request, state.modified)
    }
    return payload
  }

  /**
   * Locates the session, takes its lock where it will be written, and reads it.
   * When the primary fails during the read it is marked down, and the session
   * is located again: on its relocation target, under its new id and lock.
   */
  async #open (state: SessionState, cookie: CookieRead, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const parsed = cookie.parsed as ParsedSessionId
    const wantLock = this.#lockPolicy.shouldLock(request)
    let outcome: ReadOutcome | null = null
    for (let attempt = 0; attempt < 2 && (outcome === null || outcome.status === 'primary-failed'); attempt++) {
      const location = this.#locator.locate(parsed)
      if (location === null) {
        outcome = { status: 'unavailable', error: new Error('no memcached node is available') }
        break
      }
      if (wantLock && state.lease === null) await this.#lock(state, location, request, reply)
      const started = this.#timings.start()
      outcome = await this.#locator.read(location)
      this.#timings.since('load', started)
    }
    await this.#apply(state, cookie, outcome as ReadOutcome, request)
  }

  async #lock (state: SessionState, location: Location, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const outcome = await this.#locks.acquire(location.id, location.nodeId)
    if (outcome.status !== 'unavailable' && this.#timings.enabled) this.#timings.histograms.lockWait.record(outcome.waitedMs)
    if (outcome.status === 'acquired') {
      state.lease = outcome.lease
      return
    }
    if (outcome.status === 'unavailable') {
      this.#counters.lockProceeded++
      request.log.warn({ session: this.#hashId(location.id), err: outcome.error }, 'fastify-msm: could not take the session lock; going on without it')
      return
    }
    if (this.#config.lockTimeoutPolicy === 'proceed') {
      this.#counters.lockProceeded++
      request.log.warn({ session: this.#hashId(location.id), waitedMs: outcome.waitedMs }, 'fastify-msm: session lock timed out; going on without it (lockTimeoutPolicy proceed)')
      return
    }
    // Nothing of this session may be written by a request that did not get its lock
    state.finished = true
    reply.header('retry-after', '1')
    throw new FST_MSM_LOCK_TIMEOUT(this.#config.lockTimeout)
  }

  #ignoredSession (request: FastifyRequest): Session | null {
    if (request.routeOptions.config.session === false) return this.#ignoredByRoute
    const ignore = this.#config.ignore
    if (ignore !== null && ignore.test(`${request.method} ${request.url}`)) return this.#ignoredByOption
    return null
  }

  #readCookie (request: FastifyRequest): CookieRead {
    const raw = request.cookies[this.#config.cookieName]
    if (raw === undefined) return NO_COOKIE
    let value: string | null = raw
    let renew = false
    if (raw.length > MAX_COOKIE_LENGTH) {
      value = null
    } else if (this.#signing) {
      const unsigned = request.unsignCookie(raw)
      value = unsigned.valid ? unsigned.value : null
      renew = unsigned.renew
    }
    const parsed = parseSessionId(value, (nodeId) => this.#store.ring.knows(nodeId))
    if (parsed === null) this.#counters.invalidCookies++
    return { parsed, present: true, renew }
  }

  async #apply (state: SessionState, cookie: CookieRead, outcome: ReadOutcome, request: FastifyRequest): Promise<void> {
    const parsed = cookie.parsed as ParsedSessionId
    switch (outcome.status) {
      case 'found':
        if (this.#isPastIdleLimit(outcome.session, Date.now()) || this.#isPastMaxAge(outcome.session.meta.createdAt, Date.now())) {
          this.#counters.expired++
          await this.remove(outcome.location.id, outcome.location.nodeId)
          break
        }
        this.#adopt(state, outcome.session, outcome.location.id, outcome.location.nodeId)
        state.loadedFromPrimary = outcome.how === 'primary' && outcome.location.movedFrom === null
        this.#debug(request, outcome.location.id, `fastify-msm: session loaded (${outcome.how})`)
        state.sendCookie = cookie.renew || outcome.location.movedFrom !== null
        this.#noteRecovery(state, outcome, request)
        this.#counters.loaded++
        this.#counters.requestsWithSession++
        return
      case 'missing':
        break
      case 'corrupt':
        this.#counters.deserializationFailures++
        request.log.warn({ session: this.#hashId(parsed.id), reason: outcome.reason }, 'fastify-msm: stored session is unreadable; starting a new one')
        break
      default:
        this.#counters.loadFailures++
        request.log.error({ session: this.#hashId(parsed.id), err: outcome.error }, 'fastify-msm: could not load the session; it will not be overwritten by this request')
        state.id = parsed.id
        state.nodeId = parsed.nodeId
        state.isNew = false
        state.unavailable = true
    }
    this.#counters.requestsWithoutSession++
  }

  /** A session read from a backup copy is written back at once, under its (new) id. */
  #noteRecovery (state: SessionState, outcome: ReadOutcome & { status: 'found' }, request: FastifyRequest): void {
    if (outcome.how === 'primary') return
    this.#counters.loadedFromBackup++
    state.forceWrite = true
    const session = this.#hashId(outcome.location.id)
    if (outcome.how === 'restored') {
      this.#counters.restored++
      request.log.warn({ session, node: outcome.location.nodeId }, 'fastify-msm: session missing on its primary node; restored from the backup')
      return
    }
    const from = outcome.location.movedFrom as ParsedSessionId
    this.#counters.relocated++
    const backupNode = outcome.backupNode
    if (backupNode !== null) state.afterSave.push(() => this.#store.deleteBackupCopy(from.id, backupNode))
    request.log.warn({ session, from: this.#hashId(from.id), fromNode: from.nodeId, toNode: outcome.location.nodeId }, 'fastify-msm: session relocated from its backup to a new id')
  }

  /**
   * memcached's TTL is the idle clock (every write and touch resets it). The
   * stored lastAccessedAt of a session in use is rewritten (refreshed) once it
   * is maxInactiveInterval old, at the first extension due after that, so it
   * lags the last request by less than maxInactiveInterval + touchInterval. A
   * value older than that plus a whole idle interval cannot belong to a
   * session that had a request in the last maxInactiveInterval: it is
   * rejected even if memcached still holds it (for maxInactiveInterval 1 this
   * bound equals the memcached lifetime). See docs/how-it-works.md#idle-expiry.
   */
  #isPastIdleLimit (session: DecodedSession, now: number): boolean {
    const { maxInactiveInterval, touchInterval } = this.#config
    return now - session.meta.lastAccessedAt > (2 * maxInactiveInterval + touchInterval) * 1000
  }

  /** The absolute timeout (`maxAge`), counted from the session's creation. */
  #isPastMaxAge (createdAt: number, now: number): boolean {
    return this.#config.maxAge !== null && now - createdAt > this.#config.maxAge * 1000
  }

  #adopt (state: SessionState, session: DecodedSession, id: string, nodeId: string): void {
    state.id = id
    state.nodeId = nodeId
    state.isNew = false
    state.attributes = session.attributes
    state.createdAt = session.meta.createdAt
    state.lastAccessedAt = session.meta.lastAccessedAt
    state.loadedBytes = session.attributesBytes
  }

  async #finish (state: SessionState, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (state.id === null) {
      if (state.destroyed && state.cookieSent) this.#clearCookie(reply)
      return
    }
    if (state.unavailable) {
      if (mayHaveChanged(state)) {
        this.#counters.saveFailures++
        request.log.warn({ session: this.#hashId(state.id) }, 'fastify-msm: changes not saved because the session could not be loaded')
        this.#storeFailed()
      }
      return
    }
    const bytes = this.#changedAttributes(state)
    let extended: boolean
    if (this.#queue !== null && state.lease === null) {
      extended = await this.#finishAfterResponse(state, bytes, request)
    } else if (bytes !== null) {
      extended = await this.#write(state, bytes, request)
    } else {
      this.#counters.skippedUnchanged++
      extended = await this.#extendLifetime(state, request)
    }
    // A cookie with a maxAge rolls with the session's lifetime in memcached
    if (extended && this.#config.cookie.maxAge !== undefined) state.sendCookie = true
    if (state.sendCookie) this.#setCookie(reply, state.id)
  }

  /** The bytes of the attributes as loaded, or encoded now when they were written with another schema. */
  #currentBytes (state: SessionState): Buffer {
    return state.loadedBytes ?? this.#store.codec.encodeAttributes(state.attributes)
  }

  /** The attributes' Avro bytes when they must be written, else null. */
  #changedAttributes (state: SessionState): Buffer | null {
    if (!state.forceWrite && !mayHaveChanged(state)) return null
    const started = this.#timings.start()
    const codec = this.#store.codec
    if (!state.forceWrite && !state.dirty && state.loadedBytes !== null && state.handedOut !== null &&
      codec.keysUnchanged?.(state.attributes, state.handedOut, state.loadedBytes) === true) {
      // Only objects handed out by get() could have changed, and they did not
      this.#timings.since('serialize', started)
      return null
    }
    for (const key of Object.keys(state.attributes)) this.validate(key, state.attributes[key])
    const bytes = this.#store.codec.encodeAttributes(state.attributes)
    this.#timings.since('serialize', started)
    if (!state.forceWrite && state.loadedBytes !== null && bytes.equals(state.loadedBytes)) return null
    return bytes
  }

  async #write (state: SessionState, attributesBytes: Buffer, request: FastifyRequest): Promise<boolean> {
    const now = Date.now()
    let error = await this.#save(state, attributesBytes, now, request)
    if (error !== null && state.isNew) {
      // Its nodes failed during this request and are marked down now: a new
      // session, whose id nobody knows yet, gets one more try on a node that is up
      const retry = this.newId()
      if (retry.nodeId !== state.nodeId) {
        state.id = retry.id
        state.nodeId = retry.nodeId
        error = await this.#save(state, attributesBytes, now, request)
      }
    }
    const id = state.id as string
    if (error === GONE) {
      this.#counters.revivalsPrevented++
      state.sendCookie = false
      request.log.warn({ session: this.#hashId(id) }, 'fastify-msm: session destroyed or regenerated by a concurrent request; this request\'s changes were not written')
      return false
    }
    if (error !== null) {
      this.#counters.saveFailures++
      state.sendCookie = false
      request.log.error({ session: this.#hashId(id), err: error }, 'fastify-msm: could not save the session')
      this.#storeFailed()
      return false
    }
    await this.#runAfterSave(state.afterSave.splice(0))
    this.#debug(request, id, 'fastify-msm: session saved')
    this.#counters.saved++
    state.modified = true
    if (state.isNew) this.#counters.created++
    if (state.forceWrite && !state.isNew) this.#counters.regenerated++
    this.#lastTouch.delete(id)
    state.lastAccessedAt = now
    return true
  }

  /** Encodes and stores the session; resolves with the error when no copy was stored, or GONE. */
  async #save (state: SessionState, attributesBytes: Buffer, now: number, request: FastifyRequest): Promise<Error | null | typeof GONE> {
    const id = state.id as string
    const value = this.#encode(state, id, attributesBytes, now)
    const started = this.#timings.start()
    try {
      const stored = await this.#store.save(id, state.nodeId as string, value, this.#lifetime, state.loadedFromPrimary && !state.forceWrite)
      this.#timings.since('save', started)
      if (stored.gone) return GONE
      if (!stored.primary) {
        this.#counters.savedToBackupOnly++
        request.log.warn({ session: this.#hashId(id), node: state.nodeId }, 'fastify-msm: primary write failed; the backup copy holds the session')
      }
      this.#warnIfSingleCopy(stored, id, request.log)
      return null
    } catch (error) {
      return error as Error
    }
  }

  async #runAfterSave (cleanups: Array<() => Promise<void>>): Promise<void> {
    for (const cleanup of cleanups) await cleanup()
  }

  /**
   * backupAsync and sticky mode: the write or touch is queued and done after
   * the response. The value is encoded now, so the size check still fails the
   * request. A request holding a lock is written before, as its lock must not
   * be released before its write. Resolves true when the lifetime is extended.
   */
  async #finishAfterResponse (state: SessionState, bytes: Buffer | null, request: FastifyRequest): Promise<boolean> {
    const id = state.id as string
    const nodeId = state.nodeId as string
    const now = Date.now()
    const entry = this.#keepLocally(state, bytes, now)
    const refreshDue = now - state.lastAccessedAt >= this.#config.maxInactiveInterval * 1000
    if (bytes !== null || refreshDue) {
      const attributesBytes = bytes ?? this.#currentBytes(state)
      const value = this.#encode(state, id, attributesBytes, now)
      const isNew = state.isNew
      const cleanups = state.afterSave.splice(0)
      if (bytes === null) this.#counters.skippedUnchanged++
      else state.modified = true
      if (entry !== null) Object.assign(entry, { storedBytes: attributesBytes, storedAt: now, extendedAt: now })
      this.#lastTouch.delete(id)
      await (this.#queue as WriteQueue).enqueue(id, async () => {
        const started = this.#timings.start()
        const onlyIfPresent = state.loadedFromPrimary && this.#local === null
        const error = await this.#store.save(id, nodeId, value, this.#lifetime, onlyIfPresent)
          .then((stored) => {
            if (stored.gone) return new Error('destroyed or regenerated by a concurrent request')
            this.#warnIfSingleCopy(stored, id, this.#log)
            return null
          }, (failure: Error) => failure)
        this.#timings.since('save', started)
        if (error !== null) {
          this.#counters.saveFailures++
          this.#log.error({ session: this.#hashId(id), err: error }, 'fastify-msm: asynchronous backup failed')
          return
        }
        this.#counters.saved++
        if (isNew) this.#counters.created++
        if (bytes === null) this.#counters.refreshed++
        await this.#runAfterSave(cleanups)
      })
      return true
    }
    this.#counters.skippedUnchanged++
    const lastExtension = Math.max(state.lastAccessedAt, entry?.extendedAt ?? 0, this.#lastTouch.get(id) ?? 0)
    if (!this.#extensionDue(state, lastExtension, now)) return false
    if (entry !== null) entry.extendedAt = now
    else this.#lastTouch.set(id, now)
    await (this.#queue as WriteQueue).enqueue(id, async () => {
      await this.#touch(state, id, nodeId, request.log)
    })
    return true
  }

  /** Sticky mode: records the session in this process's cache under its current id. */
  #keepLocally (state: SessionState, bytes: Buffer | null, now: number): LocalEntry | null {
    if (this.#local === null) return null
    const id = state.id as string
    if (state.localId !== null && state.localId !== id) this.#local.delete(state.localId)
    const existing = state.localId === id ? this.#local.get(id) : undefined
    const entry: LocalEntry = existing ?? {
      nodeId: state.nodeId as string,
      attributes: state.attributes,
      createdAt: state.createdAt,
      accessedAt: now,
      storedBytes: bytes ?? this.#currentBytes(state),
      storedAt: state.lastAccessedAt,
      extendedAt: state.lastAccessedAt
    }
    entry.attributes = state.attributes
    entry.accessedAt = now
    this.#local.set(id, entry)
    state.localId = id
    return entry
  }

  /** The stored value, refused with FST_MSM_SESSION_TOO_LARGE above maxSessionSize. */
  #encode (state: SessionState, id: string, attributesBytes: Buffer, now: number): string {
    const started = this.#timings.start()
    const value = this.#store.codec.encodeValue({
      id,
      createdAt: state.createdAt,
      lastAccessedAt: now,
      maxInactiveInterval: this.#config.maxInactiveInterval
    }, attributesBytes)
    this.#timings.since('serialize', started)
    if (value.length > this.#config.maxSessionSize) {
      this.#counters.oversized++
      state.sendCookie = false
      throw new FST_MSM_SESSION_TOO_LARGE(value.length, this.#config.maxSessionSize)
    }
    this.#timings.size(value.length)
    return value
  }

  /** Routine traffic is logged at debug level, and only hashed when that level is on. */
  #debug (request: FastifyRequest, id: string, message: string): void {
    const log = request.log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean }
    if (log.isLevelEnabled?.('debug') === true) log.debug({ session: this.#hashId(id) }, message)
  }

  /** storeFailurePolicy: 'continue' has logged and counted already; 'fail' answers 503. */
  #storeFailed (): void {
    if (this.#config.storeFailurePolicy === 'fail') throw new FST_MSM_STORE_UNAVAILABLE()
  }

  /**
   * An unchanged session is touched at most once per touchInterval per process;
   * when its stored lastAccessedAt is a whole idle interval old, it is
   * rewritten instead, which keeps #isPastIdleLimit true for live sessions only.
   */
  async #extendLifetime (state: SessionState, request: FastifyRequest): Promise<boolean> {
    const id = state.id as string
    const now = Date.now()
    const lastExtension = Math.max(state.lastAccessedAt, this.#lastTouch.get(id) ?? 0)
    if (!this.#extensionDue(state, lastExtension, now)) return false
    if (now - state.lastAccessedAt >= this.#config.maxInactiveInterval * 1000) {
      const refreshed = await this.#write(state, this.#currentBytes(state), request)
      if (refreshed) this.#counters.refreshed++
      return refreshed
    }
    const touched = await this.#touch(state, id, state.nodeId as string, request.log)
    if (touched) this.#lastTouch.set(id, now)
    return touched
  }

  /**
   * An unchanged session is extended once touchInterval has passed since its
   * last extension, when session.touch() asks for it, and once after any
   * change of node health since its last extension: one of its copies may be
   * missing, or on a node that is now down, and the touch finds out.
   */
  #extensionDue (state: SessionState, lastExtension: number, now: number): boolean {
    return state.forceTouch ||
      now - lastExtension >= this.#config.touchInterval * 1000 ||
      lastExtension < this.#store.ring.changedAt
  }

  /**
   * Touches both copies; a copy the touch finds missing is written again (see
   * #restoreCopies). Resolves false when the primary failed.
   */
  async #touch (state: SessionState, id: string, nodeId: string, log: FastifyBaseLogger): Promise<boolean> {
    let touched: TouchResult
    try {
      const started = this.#timings.start()
      touched = await this.#store.touch(id, nodeId, this.#lifetime)
      this.#timings.since('touch', started)
      this.#counters.touched++
    } catch (error) {
      this.#counters.touchFailures++
      log.warn({ session: this.#hashId(id), err: error }, 'fastify-msm: could not extend the session lifetime')
      return false
    }
    await this.#restoreCopies(state, id, nodeId, touched, log)
    return true
  }

  /**
   * A backup copy that a touch found missing (its node restarted empty, or is
   * down) is written again with `add`, on the backup node or the next one.
   * In sticky mode the process holds the session, so a missing primary is
   * written back too. The value is the one stored: same lastAccessedAt, same
   * attribute bytes. Healthy sessions cost nothing here.
   */
  async #restoreCopies (state: SessionState, id: string, nodeId: string, touched: TouchResult, log: FastifyBaseLogger): Promise<void> {
    const primaryMissing = !touched.primary && this.#local !== null
    const backupMissing = touched.backup === 'missing' || touched.backup === 'failed'
    if (!primaryMissing && !backupMissing) return
    try {
      const value = this.#encode(state, id, this.#currentBytes(state), state.lastAccessedAt)
      if (primaryMissing) {
        const stored = await this.#store.save(id, nodeId, value, this.#lifetime)
        this.#counters.restored++
        log.warn({ session: this.#hashId(id), node: nodeId }, 'fastify-msm: session missing on its primary node; written back from this process')
        this.#warnIfSingleCopy(stored, id, log)
        return
      }
      const holder = await this.#store.recreateBackup(id, nodeId, value, this.#lifetime)
      if (holder === null) log.warn({ session: this.#hashId(id), node: nodeId }, 'fastify-msm: backup copy missing and no node could take it; the session has one copy')
    } catch (error) {
      log.warn({ session: this.#hashId(id), err: error }, 'fastify-msm: could not write a missing copy of the session again')
    }
  }

  /**
   * A write acknowledged with one copy is counted by the store and logged
   * here, unless a single node is configured (then every write has one copy).
   */
  #warnIfSingleCopy (stored: SaveResult, id: string, log: FastifyBaseLogger): void {
    if (stored.copies !== 1 || this.#store.ring.nodes.length < 2) return
    log.warn({ session: this.#hashId(id) }, 'fastify-msm: session stored with a single copy; no second node could take its backup')
  }

  #setCookie (reply: FastifyReply, id: string): void {
    const { cookie } = this.#config
    reply.setCookie(this.#config.cookieName, id, {
      path: cookie.path,
      domain: cookie.domain,
      httpOnly: cookie.httpOnly,
      secure: cookie.secure,
      sameSite: cookie.sameSite,
      maxAge: cookie.maxAge,
      signed: this.#signing
    })
  }

  #clearCookie (reply: FastifyReply): void {
    reply.clearCookie(this.#config.cookieName, { path: this.#config.cookie.path, domain: this.#config.cookie.domain })
  }
}
