import type { FastifyRequest } from 'fastify'
import type { Attributes } from '../types/index.js'
import type { Lease } from '../locking/session-lock.js'
import type { SessionMeta } from '../serialization/codec-format.js'
import type { Lifetimes } from './expiry.js'

/** @internal Internal state of a session, reachable by the plugin through a Symbol only. */
export const kState = Symbol('fastify-msm.session.state')

/** @internal What a session needs from the plugin, per request. */
export interface SessionHost {
  /** A fresh id on a randomly chosen available node. */
  newId: () => { id: string, nodeId: string }
  /** Deletes the stored copies of `id`. Never rejects. */
  remove: (id: string, nodeId: string) => Promise<void>
  /** Throws a coded error, naming the path, for a value that cannot be stored faithfully. */
  validate: (key: string, value: unknown) => void
  /** The attributes of a new session. */
  emptyAttributes: () => Attributes
  /** The lifetimes of a session with these values of its own (see Expiry.lifetimes). */
  lifetimes: (own: Pick<Lifetimes, 'ownMaxInactiveInterval' | 'ownCookieMaxAge'>) => Lifetimes
  /** The touchInterval the plugin was given, which a session's own maxInactiveInterval must exceed; null when none was. */
  configuredTouchInterval: number | null
  /** Writes the session now (session.save()); rejects when no copy was stored. */
  save: (state: SessionState) => Promise<void>
  /** Reads the session again from memcached (session.reload()). */
  reload: (state: SessionState) => Promise<void>
  /** True when the attributes differ from what was loaded or last saved. */
  hasChanged: (state: SessionState) => boolean
  /** The cookie value of `id`: signed when @fastify/cookie has a secret. */
  sign: (id: string) => string
  /** The session cookie's configured attributes, for session.cookie. */
  cookie: CookieAttributes
}

/** @internal The configured cookie attributes (maxAge in seconds). */
export interface CookieAttributes {
  path: string
  domain?: string
  httpOnly: boolean
  secure: boolean | 'auto'
  sameSite: 'lax' | 'strict' | 'none'
  maxAge?: number
}

/**
 * @internal One request's session. Fields are read anywhere in lib/session,
 * but changed only through the functions of state-changes.ts, each named
 * after what happened to the session.
 */
export interface SessionState {
  host: SessionHost
  /** The request this session belongs to (null in unit tests of logic alone): for logs and tracing events. */
  request: FastifyRequest | null
  /** null until the session gets an id: when it is first written to, or sessionId is read. */
  id: string | null
  nodeId: string | null
  /** No stored session was loaded (or it was destroyed): a new session is stored only once it holds data. */
  isNew: boolean
  attributes: Attributes
  createdAt: number
  lastAccessedAt: number
  /** The session's lifetimes now, and as they were loaded or last written. */
  lifetimes: Lifetimes
  storedLifetimes: Lifetimes
  /** Avro bytes of the attributes as loaded or last written. */
  loadedBytes: Buffer | null
  /** An attribute was set or deleted, directly or inside an object read from the session. */
  dirty: boolean
  /**
   * Keys whose values can change without a trap (Dates, which a Proxy cannot
   * watch): compared with their loaded bytes at the end.
   */
  handedOut: Set<string> | null
  /** Tracking proxies of the objects read, so that repeated reads give the same one; also their scope (destroy() and reload() start a new one). */
  proxies: WeakMap<object, object> | null
  /**
   * Written even if the attributes did not change, with `set`: the session's
   * id is not (yet) stored under it (a new id, a move, a copy restored).
   */
  forceWrite: boolean
  /**
   * A node fault moved the session or cost it a copy: its write is done
   * before the response, even where writes are otherwise queued (sticky
   * mode, backupAsync).
   */
  repair: boolean
  forceTouch: boolean
  /** The id came in a cookie; the cookie must be cleared when the session is destroyed. */
  cookieSent: boolean
  /** The cookie must be sent again (new id, new lifetime, or signed with an old secret). */
  sendCookie: boolean
  /** The request came over HTTPS (cookie.secure 'auto'). */
  https: boolean
  destroyed: boolean
  /** The stored session could not be read (node errors): never overwrite it. */
  unavailable: boolean
  /**
   * Loaded from its primary under this id: its writes use `replace`, so a
   * concurrent destroy() or regenerate() is not undone by this request.
   */
  loadedFromPrimary: boolean
  /** save() or the end-of-request write stored it in this request. */
  saved: boolean
  /** finish() ran; onSend may run twice when it reports an error. */
  finished: boolean
  /** The distributed lock this request holds, released after the save. */
  lease: Lease | null
  /** The stored session was written, regenerated or destroyed (what 'auto' locking learns from). */
  modified: boolean
  /** Clean-ups that run once the session is stored under its new id: old copies of a moved session. */
  afterSave: Array<() => Promise<void>>
  /** Sticky mode: the id under which this process holds the session, if it does. */
  localId: string | null
}

/** @internal What a stored session brings into a request: from memcached, or held by the process (sticky). */
export interface StoredSession {
  attributes: Attributes
  /** The attribute bytes as stored; null when they were written with another schema. */
  attributesBytes: Buffer | null
  meta: Pick<SessionMeta, 'createdAt' | 'lastAccessedAt' | 'ownMaxInactiveInterval' | 'ownCookieMaxAge'>
}

/** @internal An attribute was set or deleted, or a Date was read (it may have been changed in place). */
export function mayHaveChanged (state: SessionState): boolean {
  return state.dirty || state.handedOut !== null
}

/** @internal The session's own lifetimes differ from those stored: it must be written. */
export function lifetimesChanged (state: SessionState): boolean {
  const { lifetimes, storedLifetimes } = state
  return lifetimes !== storedLifetimes &&
    (lifetimes.ownMaxInactiveInterval !== storedLifetimes.ownMaxInactiveInterval || lifetimes.ownCookieMaxAge !== storedLifetimes.ownCookieMaxAge)
}

/**
 * @internal A new session that holds nothing: it is never stored and gets no
 * cookie (@fastify/session's saveUninitialized: false), whatever its lifetimes.
 */
export function isUninitialized (state: SessionState): boolean {
  return state.isNew && !state.forceWrite && !mayHaveChanged(state)
}

/** @internal A request's session before anything is known of it. */
export function createState (host: SessionHost, request: FastifyRequest | null, now: number, https: boolean, lifetimes: Lifetimes): SessionState {
  return {
    host,
    request,
    id: null,
    nodeId: null,
    isNew: true,
    attributes: host.emptyAttributes(),
    createdAt: now,
    lastAccessedAt: now,
    lifetimes,
    storedLifetimes: lifetimes,
    loadedBytes: null,
    dirty: false,
    handedOut: null,
    proxies: null,
    forceWrite: false,
    repair: false,
    forceTouch: false,
    cookieSent: false,
    sendCookie: false,
    https,
    destroyed: false,
    unavailable: false,
    loadedFromPrimary: false,
    saved: false,
    finished: false,
    lease: null,
    modified: false,
    afterSave: [],
    localId: null
  }
}
