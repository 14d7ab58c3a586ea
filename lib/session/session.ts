import type { Attributes, SessionData, SessionKey, SessionValue, SessionValueOf } from '../types/index.js'
import { FST_MSM_SESSION_DISABLED, FST_MSM_VALUE_UNSUPPORTED } from '../errors.js'
import { kState, type SessionState } from './session-state.js'
import { assignNewId, giveId, markDestroyed, markDirty, markWritable, regenerated, renew, requestTouch, setLifetimes } from './state-changes.js'
import { checkMaxInactiveInterval } from '../options/lifetimes.js'
import { SessionCookieView, setOwnCookieMaxAge } from './cookie-view.js'
import { tracked, unwrap } from './tracking.js'
import { readAttribute } from '../serialization/lazy-attributes.js'

/**
 * The type of `request.session`: the Session API, and the attributes as
 * properties: typed by SessionData once you declare it, any name (of any
 * value) while it is empty, as with @fastify/session.
 */
export type MsmSession = Session & (keyof SessionData extends never ? { [key: string]: any } : Partial<SessionData>)

/** A node-style callback, as @fastify/session's methods take: always called, with the error if any. */
export type SessionCallback = (error?: Error) => void

/**
 * `request.session`. Attribute types come from the SessionData interface;
 * attributes also work as properties (`request.session.user`). Every method
 * that does I/O returns a promise and also takes a callback.
 */
export class Session {
  /** @internal */
  readonly [kState]: SessionState

  /** @internal Sessions are created by the plugin, one per request. */
  constructor (state: SessionState) {
    this[kState] = state
  }

  /** The session id, or null while a new session holds nothing yet. */
  get id (): string | null {
    return this[kState].id
  }

  /**
   * The session id, as @fastify/session names it. A new session gets its id
   * here; it is still stored (and its cookie sent) only once it holds data.
   */
  get sessionId (): string {
    const state = this[kState]
    if (state.id === null) {
      const { id, nodeId } = state.host.newId()
      giveId(state, id, nodeId)
    }
    return state.id as string
  }

  /** The cookie value: the id signed with @fastify/cookie's secret when it has one. */
  get encryptedSessionId (): string {
    return this[kState].host.sign(this.sessionId)
  }

  /** True when no stored session was loaded for this request. */
  get isNew (): boolean {
    return this[kState].isNew
  }

  /** When the session was created, in ms since the epoch. */
  get createdAt (): number {
    return this[kState].createdAt
  }

  /** The session cookie of this response (maxAge and expires in milliseconds, as in @fastify/session). */
  get cookie (): SessionCookieView {
    return new SessionCookieView(this[kState])
  }

  get<K extends SessionKey> (key: K): SessionValueOf<K> | undefined {
    const state = this[kState]
    if (!Object.hasOwn(state.attributes, key)) return undefined
    return tracked(state, key, readAttribute(state.attributes, key)) as SessionValueOf<K>
  }

  /**
   * Stores `value` under `key`. Throws FST_MSM_VALUE_UNSUPPORTED, naming the
   * path, for a value that would not come back unchanged. `undefined` deletes.
   */
  set<K extends SessionKey> (key: K, value: (keyof SessionData extends never ? SessionValue : SessionValueOf<K>) | undefined): this {
    if (typeof key !== 'string') throw new FST_MSM_VALUE_UNSUPPORTED(String(key), 'session keys are strings; a symbol key would not be stored')
    if (value === undefined) return this.delete(key)
    const state = this[kState]
    const raw = unwrap(value)
    state.host.validate(key, raw)
    state.attributes[key] = raw as Attributes[string]
    markDirty(state)
    prepareWrite(state)
    return this
  }

  delete (key: SessionKey): this {
    const state = this[kState]
    if (Object.hasOwn(state.attributes, key)) {
      delete state.attributes[key]
      markDirty(state)
    }
    return this
  }

  /** Extends the session's lifetime in memcached now, even within touchInterval, and renews a cookie that has a maxAge. */
  touch (): this {
    requestTouch(this[kState])
    return this
  }

  /**
   * This session's cookie lifetime, in milliseconds as in @fastify/session
   * (null: a browser-session cookie). It is stored with the session: every
   * later response that sends the cookie, on any instance, uses it. Without
   * maxAge nothing changes.
   */
  options (options: { maxAge?: number | null }): void {
    if (options.maxAge !== undefined) setOwnCookieMaxAge(this[kState], options.maxAge, 'session.options({ maxAge })')
  }

  /**
   * This session's idle timeout in seconds, as in the Servlet API: the
   * plugin's `maxInactiveInterval` until set. Setting it changes this
   * session's timeout from this request on; it is stored with the session
   * and followed by every instance. Throws FST_MSM_OPTION_INVALID for a value
   * the option would refuse.
   */
  get maxInactiveInterval (): number {
    return this[kState].lifetimes.idle.maxInactiveInterval
  }

  set maxInactiveInterval (seconds: number) {
    const state = this[kState]
    const own = checkMaxInactiveInterval(seconds, 'session.maxInactiveInterval', state.host.configuredTouchInterval)
    setLifetimes(state, state.host.lifetimes({ ownMaxInactiveInterval: own, ownCookieMaxAge: state.lifetimes.ownCookieMaxAge }))
  }

  /** True when the attributes changed since they were loaded or last saved. */
  isModified (): boolean {
    const state = this[kState]
    return state.forceWrite || state.host.hasChanged(state)
  }

  /** True once the session was stored in this request (save(), or the write at the end). */
  isSaved (): boolean {
    return this[kState].saved
  }

  /**
   * @fastify/session's regenerate: a new id, and every attribute dropped
   * except `keep`; its idle timeout goes back to the plugin's
   * maxInactiveInterval, its cookie lifetime stays (as in @fastify/session).
   * The old copies are deleted. For a new id that keeps all
   * data (session fixation protection at login), use changeSessionId().
   */
  regenerate (keep?: readonly string[] | SessionCallback, callback?: SessionCallback): Promise<void> {
    const fields = typeof keep === 'function' ? undefined : keep
    return withCallback(typeof keep === 'function' ? keep : callback, async () => {
      const state = this[kState]
      const kept = state.host.emptyAttributes()
      for (const field of fields ?? []) {
        if (Object.hasOwn(state.attributes, field)) kept[field] = state.attributes[field] as Attributes[string]
      }
      await this.changeSessionId()
      regenerated(state, kept)
    })
  }

  /**
   * Moves the session to a new id, keeping its data and its own lifetimes,
   * and deletes the old copies from both nodes. Call it at login, against
   * session fixation.
   */
  changeSessionId (callback?: SessionCallback): Promise<void> {
    return withCallback(callback, async () => {
      const state = this[kState]
      const old = state.id !== null && !state.isNew ? { id: state.id, nodeId: state.nodeId as string } : null
      renew(state, Date.now())
      if (old !== null) await state.host.remove(old.id, old.nodeId)
    })
  }

  /** Deletes the session from both nodes and expires its cookie. The session stays usable, empty. */
  destroy (callback?: SessionCallback): Promise<void> {
    return withCallback(callback, async () => {
      const state = this[kState]
      const stored = state.id !== null && !state.isNew ? { id: state.id, nodeId: state.nodeId as string } : null
      markDestroyed(state)
      if (stored !== null) await state.host.remove(stored.id, stored.nodeId)
    })
  }

  /** Reads the session again from memcached; this request's unsaved changes are dropped. */
  reload (callback?: SessionCallback): Promise<void> {
    return withCallback(callback, async () => { await this[kState].host.reload(this[kState]) })
  }

  /**
   * Writes the session now, before the response, so that the next request on
   * any instance sees it. The lock, if this request holds one, stays held
   * until the response. Later changes are written at the end as usual.
   */
  save (callback?: SessionCallback): Promise<void> {
    return withCallback(callback, async () => { await this[kState].host.save(this[kState]) })
  }
}

/** A session that holds data is written under an id; a new one gets its id and cookie now. */
function prepareWrite (state: SessionState): void {
  if (state.id === null) assignNewId(state)
  else if (state.isNew) markWritable(state)
}

/** Runs `work`; with a callback, the callback gets the outcome and the promise never rejects. */
function withCallback (callback: SessionCallback | undefined, work: () => Promise<void>): Promise<void> {
  const done = work()
  if (callback === undefined) return done
  return done.then(() => { callback() }, (error: Error) => { callback(error) })
}

const PUBLIC_MEMBERS = Object.getOwnPropertyNames(Session.prototype).filter((name) => name !== 'constructor')

/** @internal Stands in for `request.session` on ignored requests, so that using it fails clearly. */
export function disabledSession (reason: string): Session {
  const fail = (): never => { throw new FST_MSM_SESSION_DISABLED(reason) }
  const stand = {}
  for (const member of PUBLIC_MEMBERS) Object.defineProperty(stand, member, { get: fail, set: fail })
  return Object.freeze(stand) as Session
}
