import type { FastifyReply, FastifyRequest } from 'fastify'
import type { MsmConfig } from '../options/index.js'
import type { Location, ReadOutcome, SessionLocator } from '../store/session-locator.js'
import type { LockPolicy } from '../locking/lock-policy.js'
import type { SessionLocks } from '../locking/session-lock.js'
import type { Timings } from '../stats/timings.js'
import { FST_MSM_LOCK_TIMEOUT } from '../errors.js'
import type { ParsedSessionId } from '../ids/session-id.js'
import { disabledSession, Session } from './session.js'
import { createState, isUninitialized, kState, mayHaveChanged, type SessionState } from './session-state.js'
import { adoptLoaded, holdLease, markCookieCame, markFinished, markForRepair, markUnavailable, markWritten, movedByWrite, resendCookie, takeLease, whenStored, withholdCookie } from './state-changes.js'
import { withAttributeProperties } from './tracking.js'
import type { CookieRead } from './cookie.js'
import { type ServicesParts, SessionServices } from './session-services.js'
import { extended, type Persisted } from './write.js'
import type { Events } from '../events/events.js'

export interface ManagerParts extends ServicesParts {
  config: ServicesParts['config'] & Pick<MsmConfig, 'ignore' | 'lockTimeout' | 'lockTimeoutPolicy'>
  locator: SessionLocator
  lockPolicy: LockPolicy
  locks: SessionLocks
  timings: Timings
  events: Events
}

/**
 * The request flow, top to bottom: skip ignored requests; read the cookie;
 * serve the session from this process (sticky) or locate it, lock it where it
 * will be written, and read it; after the handler, hand it to persistence,
 * set or clear the cookie, and release the lock. See docs/how-it-works.md.
 */
export class SessionManager {
  readonly #parts: ManagerParts
  readonly #ignoredByOption = disabledSession('the request matches the "ignore" option')
  readonly #ignoredByRoute = disabledSession('the route has config.session = false')

  readonly #host: SessionServices

  constructor (parts: ManagerParts) {
    this.#parts = parts
    this.#host = new SessionServices(parts)
  }

  /** Deletes a session's stored copies (destroy, expiry). Never rejects. */
  async remove (id: string, nodeId: string): Promise<void> {
    await this.#host.remove(id, nodeId)
  }

  /** The kill switch: while false, no request touches memcached (see docs/monitoring.md). */
  enabled = true

  /** onRequest hook. */
  onRequest = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const { events, cookie, sticky } = this.#parts
    const ignored = this.#ignoredSession(request)
    if (ignored !== null) {
      events.requestIgnored()
      request.session = ignored
      return
    }
    const state = createState(this.#host, request, Date.now(), request.protocol === 'https', this.#parts.expiry.defaults)
    request.session = withAttributeProperties(new Session(state))
    if (!this.enabled) {
      // Disabled: a request-local session that is never stored, and no cookie is touched
      markFinished(state)
      events.requestBypassed()
      return
    }
    const read = cookie.read(request)
    if (read.present) markCookieCame(state)
    if (read.parsed === null) {
      events.noSession()
      return
    }
    if (sticky !== null && await sticky.open(state, read.parsed)) return
    await this.#open(state, read, request, reply)
    if (sticky !== null && state.id !== null && !state.isNew && !state.unavailable) sticky.claim(state, read.parsed, request)
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
    markFinished(state)
    try {
      await this.#finish(state, request, reply)
    } finally {
      await this.#release(state)
      this.#parts.lockPolicy.learn(request, state.modified)
    }
    return payload
  }

  /** Releases the lock this request holds, if it holds one. */
  async #release (state: SessionState): Promise<void> {
    const lease = takeLease(state)
    if (lease !== null) await this.#parts.locks.release(lease)
  }

  #ignoredSession (request: FastifyRequest): Session | null {
    if (request.routeOptions.config.session === false) return this.#ignoredByRoute
    const ignore = this.#parts.config.ignore
    if (ignore !== null && ignore.test(`${request.method} ${request.url}`)) return this.#ignoredByOption
    return null
  }

  /**
   * Locates the session, takes its lock where it will be written, and reads it.
   * When the primary fails during the read it is marked down, and the session
   * is located again: on its relocation target, under its new id and lock.
   */
  async #open (state: SessionState, cookie: CookieRead, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { locator, lockPolicy, events } = this.#parts
    const parsed = cookie.parsed as ParsedSessionId
    const wantLock = lockPolicy.shouldLock(request)
    let outcome: ReadOutcome | null = null
    for (let attempt = 0; attempt < 2 && (outcome === null || outcome.status === 'primary-failed'); attempt++) {
      const location = locator.locate(parsed)
      if (location === null) {
        outcome = { status: 'unavailable', error: new Error('no memcached node is available') }
        break
      }
      if (wantLock) {
        // A lock taken on a primary that then failed the read guards nothing: the session is locked where it moves
        await this.#release(state)
        await this.#lock(state, location, request, reply)
      }
      const started = events.clock()
      outcome = await events.load(request, location, this.#read)
      events.timed('load', started)
    }
    await this.#apply(state, cookie, outcome as ReadOutcome, request)
  }

  // SessionLocator.read and SessionLocks.acquire as functions made once, for the events seam; not
  // async, so that they add no promise of their own on the hot path
  readonly #read = (location: Location): Promise<ReadOutcome> => this.#parts.locator.read(location)
  readonly #acquire = (id: string, nodeId: string): ReturnType<SessionLocks['acquire']> => this.#parts.locks.acquire(id, nodeId)

  async #lock (state: SessionState, location: Location, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { timings, events, config } = this.#parts
    const outcome = await events.lock(request, location.id, location.nodeId, this.#acquire)
    if (outcome.status !== 'unavailable' && timings.enabled) timings.histograms.lockWait.record(outcome.waitedMs)
    if (outcome.status === 'acquired') {
      holdLease(state, outcome.lease)
      return
    }
    if (outcome.status === 'unavailable') {
      events.lockProceeded(request, location.id, { error: outcome.error })
      return
    }
    if (config.lockTimeoutPolicy === 'proceed') {
      events.lockProceeded(request, location.id, { waitedMs: outcome.waitedMs })
      return
    }
    // Nothing of this session may be written by a request that did not get its lock
    markFinished(state)
    reply.header('retry-after', '1')
    throw new FST_MSM_LOCK_TIMEOUT(config.lockTimeout)
  }

  async #apply (state: SessionState, cookie: CookieRead, outcome: ReadOutcome, request: FastifyRequest): Promise<void> {
    const { events, expiry } = this.#parts
    const parsed = cookie.parsed as ParsedSessionId
    switch (outcome.status) {
      case 'found': {
        const { session, location } = outcome
        const now = Date.now()
        const idle = expiry.idleRules(session.meta.ownMaxInactiveInterval)
        if (idle.isStoredPastIdleLimit(session.meta.lastAccessedAt, now) || expiry.isPastMaxAge(session.meta.createdAt, now)) {
          events.expired()
          await this.remove(location.id, location.nodeId)
          break
        }
        // Also when the old id's request finds it already moved: a write must not re-create it after a destroy
        adoptLoaded(state, location.id, location.nodeId, session, outcome.how === 'primary')
        if (cookie.renew || location.movedFrom !== null) resendCookie(state)
        this.#noteRecovery(state, outcome, request)
        events.loaded(request, location.id, outcome.how)
        return
      }
      case 'missing':
        break
      case 'corrupt':
        if (outcome.tampered) events.tampered(request, outcome.reason)
        else events.unreadable(request, parsed.id, outcome.reason)
        break
      default:
        events.loadFailed(request, parsed.id, outcome.error)
        markUnavailable(state, parsed.id, parsed.nodeId)
    }
    events.noSession()
  }

  /** A session read from a backup copy is written back at once, under its (new) id. */
  #noteRecovery (state: SessionState, outcome: ReadOutcome & { status: 'found' }, request: FastifyRequest): void {
    if (outcome.how === 'primary') return
    const { events, store } = this.#parts
    markForRepair(state)
    if (outcome.how === 'restored') {
      events.restoredFromBackup(request, outcome.location.id, outcome.location.nodeId)
      return
    }
    const from = outcome.location.movedFrom as ParsedSessionId
    const backupNode = outcome.backupNode
    if (backupNode !== null) whenStored(state, () => store.deleteBackupCopy(from.id, backupNode))
    events.relocated(request, { from: from.id, fromNode: from.nodeId, to: outcome.location.id, toNode: outcome.location.nodeId, cause: 'load' })
  }

  async #finish (state: SessionState, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { cookie, persistence, events } = this.#parts
    // A new session that holds nothing is not stored, and gets no cookie; the
    // cookie of a destroyed one is expired (even if sessionId handed out a new id)
    if (state.id === null || isUninitialized(state)) {
      if (state.destroyed && state.cookieSent) cookie.clear(reply)
      return
    }
    if (state.unavailable) {
      if (mayHaveChanged(state)) {
        events.changesDropped(request, state.id)
        persistence.storeFailed()
      }
      return
    }
    const persisted = await persistence.finish(state, request.log)
    this.#settle(state, persisted)
    // A cookie with a maxAge rolls with the session's lifetime in memcached
    if (extended(persisted) && cookie.rolls(state.lifetimes.ownCookieMaxAge)) resendCookie(state)
    if (state.sendCookie) cookie.set(reply, state.id as string, state.lifetimes.ownCookieMaxAge, state.https)
    if (persisted.done === 'not-written' && persisted.why === 'failed') persistence.storeFailed()
  }

  /** What the end-of-request write did, in the session's state; a session no node stored gets no cookie. */
  #settle (state: SessionState, persisted: Persisted): void {
    if (persisted.done === 'written') {
      markWritten(state, persisted.at)
      if (persisted.movedTo !== null) movedByWrite(state, persisted.movedTo.id, persisted.movedTo.nodeId)
    } else if (persisted.done === 'not-written' && persisted.why !== 'held') {
      withholdCookie(state)
    }
  }
}
