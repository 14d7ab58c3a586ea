import type { Attributes, SessionData, SessionKey, SessionValue, SessionValueOf } from '../types/index.js'
import type { Lease } from '../locking/session-lock.js'
import { FST_MSM_SESSION_DISABLED } from '../errors.js'

/** @internal Internal state of a session, reachable by the plugin through a Symbol only. */
export const kState = Symbol('fastify-msm.session.state')

/** @internal What the plugin needs from its surroundings to give a session an id or remove it. */
export interface SessionHost {
  /** A fresh id on a randomly chosen available node. */
  newId (): { id: string, nodeId: string }
  /** Deletes the stored copies of `id`. Never rejects. */
  remove (id: string, nodeId: string): Promise<void>
  /** Throws a coded error, naming the path, for a value that cannot be stored faithfully. */
  validate (key: string, value: unknown): void
  /** The attributes of a new session. */
  emptyAttributes (): Attributes
}

/** @internal */
export interface SessionState {
  host: SessionHost
  /** null until the session is first written to. */
  id: string | null
  nodeId: string | null
  isNew: boolean
  attributes: Attributes
  createdAt: number
  lastAccessedAt: number
  /** Avro bytes of the attributes as loaded or last written. */
  loadedBytes: Buffer | null
  /** set/delete ran (as opposed to objects only handed out by get()). */
  dirty: boolean
  /** Keys whose objects get() handed out; they may have been mutated in place. */
  handedOut: Set<string> | null
  /** Written even if the attributes did not change: new id, regenerate. */
  forceWrite: boolean
  forceTouch: boolean
  /** The id came in a cookie; the cookie must be cleared when the session is destroyed. */
  cookieSent: boolean
  /** The cookie must be sent again (new id, or signed with an old secret). */
  sendCookie: boolean
  destroyed: boolean
  /** The stored session could not be read (node errors): never overwrite it. */
  unavailable: boolean
  /**
   * Loaded from its primary under this id: its writes use `replace`, so a
   * concurrent destroy() or regenerate() is not undone by this request.
   */
  loadedFromPrimary: boolean
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

/** @internal set/delete ran, or get() handed out an object that may have been mutated in place. */
export function mayHaveChanged (state: SessionState): boolean {
  return state.dirty || state.handedOut !== null
}

/** @internal */
export function createState (host: SessionHost, now: number): SessionState {
  return {
    host,
    id: null,
    nodeId: null,
    isNew: true,
    attributes: host.emptyAttributes(),
    createdAt: now,
    lastAccessedAt: now,
    loadedBytes: null,
    dirty: false,
    handedOut: null,
    forceWrite: false,
    forceTouch: false,
    cookieSent: false,
    sendCookie: false,
    destroyed: false,
    unavailable: false,
    loadedFromPrimary: false,
    finished: false,
    lease: null,
    modified: false,
    afterSave: [],
    localId: null
  }
}

/** `request.session`. Attribute types come from the SessionData interface. */
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

  /** True when no stored session was loaded for this request. */
  get isNew (): boolean {
    return this[kState].isNew
  }

  /** When the session was created, in ms since the epoch. */
  get createdAt (): number {
    return this[kState].createdAt
  }

  get<K extends SessionKey> (key: K): SessionValueOf<K> | undefined {
    const state = this[kState]
    if (!Object.hasOwn(state.attributes, key)) return undefined
    const value = state.attributes[key]
    if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
      ;(state.handedOut ??= new Set()).add(key)
    }
    return value as SessionValueOf<K>
  }

  /**
   * Stores `value` under `key`. Throws FST_MSM_VALUE_UNSUPPORTED, naming the
   * path, for a value that would not come back unchanged. `undefined` deletes.
   */
  set<K extends SessionKey> (key: K, value: (keyof SessionData extends never ? SessionValue : SessionValueOf<K>) | undefined): this {
    if (value === undefined) return this.delete(key)
    const state = this[kState]
    state.host.validate(key, value)
    state.attributes[key] = value as Attributes[string]
    state.dirty = true
    ensureId(state)
    return this
  }

  delete (key: SessionKey): this {
    const state = this[kState]
    if (Object.hasOwn(state.attributes, key)) {
      delete state.attributes[key]
      state.dirty = true
    }
    return this
  }

  /** Extends the session's lifetime in memcached now, even within touchInterval. */
  touch (): this {
    this[kState].forceTouch = true
    return this
  }

  /**
   * Moves the session to a new id, keeping its data, and deletes the old copies
   * from both nodes. Call it at login, against session fixation.
   */
  async regenerate (): Promise<void> {
    const state = this[kState]
    const old = state.id !== null && !state.isNew ? { id: state.id, nodeId: state.nodeId as string } : null
    assignNewId(state)
    // A new id is a new session for the absolute timeout (maxAge) too
    state.createdAt = Date.now()
    state.modified = true
    if (old !== null) await state.host.remove(old.id, old.nodeId)
  }

  /** Deletes the session from both nodes and expires its cookie. */
  async destroy (): Promise<void> {
    const state = this[kState]
    const stored = state.id !== null && !state.isNew ? { id: state.id, nodeId: state.nodeId as string } : null
    state.attributes = state.host.emptyAttributes()
    state.id = null
    state.nodeId = null
    state.isNew = true
    state.loadedBytes = null
    state.forceWrite = false
    state.sendCookie = false
    state.destroyed = true
    state.unavailable = false
    state.modified = true
    if (stored !== null) await state.host.remove(stored.id, stored.nodeId)
  }
}

function ensureId (state: SessionState): void {
  if (state.id === null) assignNewId(state)
}

function assignNewId (state: SessionState): void {
  const { id, nodeId } = state.host.newId()
  state.id = id
  state.nodeId = nodeId
  state.forceWrite = true
  state.sendCookie = true
  state.unavailable = false
}

const PUBLIC_MEMBERS = ['id', 'isNew', 'createdAt', 'get', 'set', 'delete', 'touch', 'regenerate', 'destroy'] as const

/** @internal Stands in for `request.session` on ignored requests, so that using it fails clearly. */
export function disabledSession (reason: string): Session {
  const fail = (): never => { throw new FST_MSM_SESSION_DISABLED(reason) }
  const stand = {}
  for (const member of PUBLIC_MEMBERS) Object.defineProperty(stand, member, { get: fail })
  return Object.freeze(stand) as Session
}
