// Every change of a request's session state, each named after what happened
// to the session (lib/session/session-state.ts holds the state itself). The
// request flow, persistence's outcome, the Session API, sticky mode and the
// change tracking all change it through these functions alone.
import type { Attributes } from '../types/index.js'
import type { Lease } from '../locking/session-lock.js'
import type { Lifetimes } from './expiry.js'
import type { SessionState, StoredSession } from './session-state.js'
import type { HeldSession } from './sticky-strategy.js'

/**
 * @internal A stored session becomes this request's: from its primary or a
 * backup copy in memcached (`fromPrimary` says which).
 */
export function adoptLoaded (state: SessionState, id: string, nodeId: string, stored: StoredSession, fromPrimary: boolean): void {
  const { meta } = stored
  adopt(state, id, nodeId, stored.attributes, stored.attributesBytes, meta.createdAt, meta.lastAccessedAt)
  state.lifetimes = state.storedLifetimes = state.host.lifetimes(meta)
  state.loadedFromPrimary = fromPrimary
}

/** @internal Sticky mode: the session this process holds becomes this request's (its attributes shared by the requests in flight). */
export function adoptHeld (state: SessionState, id: string, held: HeldSession, attributes: Attributes): void {
  adopt(state, id, held.nodeId, attributes, held.storedBytes, held.createdAt, held.storedAt)
  state.lifetimes = state.storedLifetimes = held.lifetimes
  state.localId = id
}

function adopt (state: SessionState, id: string, nodeId: string, attributes: Attributes, attributesBytes: Buffer | null, createdAt: number, lastAccessedAt: number): void {
  state.id = id
  state.nodeId = nodeId
  state.isNew = false
  state.attributes = attributes
  state.createdAt = createdAt
  state.lastAccessedAt = lastAccessedAt
  state.loadedBytes = attributesBytes
}

/** @internal The stored session could not be read: it keeps its id, and this request never writes it. */
export function markUnavailable (state: SessionState, id: string, nodeId: string): void {
  state.id = id
  state.nodeId = nodeId
  state.isNew = false
  state.unavailable = true
}

/** @internal The session moves to a new id (and node): it is written under it, and its cookie sent. */
export function moveTo (state: SessionState, id: string, nodeId: string): void {
  state.id = id
  state.nodeId = nodeId
  state.forceWrite = true
  state.sendCookie = true
  state.unavailable = false
}

/** @internal A node fault moves the session to a new id: as moveTo, and its write is done before the response, never queued. */
export function relocateTo (state: SessionState, id: string, nodeId: string): void {
  moveTo(state, id, nodeId)
  state.repair = true
}

/** @internal A fresh id on a fresh node, for a session that gets data or a new id (changeSessionId). */
export function assignNewId (state: SessionState): void {
  const { id, nodeId } = state.host.newId()
  moveTo(state, id, nodeId)
}

/** @internal The session was read from a backup copy: it is written back before the response. */
export function markForRepair (state: SessionState): void {
  state.forceWrite = true
  state.repair = true
}

/** @internal The write of this request stored the session under a new id (its primary failed during the write). */
export function movedByWrite (state: SessionState, id: string, nodeId: string): void {
  state.id = id
  state.nodeId = nodeId
  state.sendCookie = true
}

/**
 * @internal The state now matches the stored session (after a save or a
 * reload): nothing is pending.
 */
export function markStored (state: SessionState, attributesBytes: Buffer | null): void {
  state.loadedBytes = attributesBytes
  state.storedLifetimes = state.lifetimes
  state.dirty = false
  state.handedOut = null
  state.forceWrite = false
  state.isNew = false
  state.unavailable = false
}

/** @internal The session was written (or its write queued) in this request, at `now` unless queued. */
export function markWritten (state: SessionState, now: number | null): void {
  state.modified = true
  state.saved = true
  if (now !== null) state.lastAccessedAt = now
}

/** @internal session.save() found nothing to write: the session is stored as it is. */
export function markSavedAsIs (state: SessionState): void {
  state.saved = true
}

/** @internal The session.save() of this request stored it: later writes in this request replace that copy. */
export function markSavedNow (state: SessionState, attributesBytes: Buffer, now: number): void {
  markWritten(state, now)
  markStored(state, attributesBytes)
  state.loadedFromPrimary = true
}

/** @internal This request's data is replaced: what was read before (and its tracking) is no longer the session's. */
export function replaceAttributes (state: SessionState, attributes: Attributes): void {
  state.attributes = attributes
  state.dirty = false
  state.handedOut = null
  state.proxies = null
}

/** @internal reload() found the stored session: it replaces this request's copy. */
export function reloaded (state: SessionState, stored: StoredSession): void {
  replaceAttributes(state, stored.attributes)
  state.lastAccessedAt = stored.meta.lastAccessedAt
  state.lifetimes = state.host.lifetimes(stored.meta)
  markStored(state, stored.attributesBytes)
}

/** @internal Nothing stored is this session's any more (destroyed, or gone at reload): it is new and empty, with the plugin's lifetimes. */
export function resetEmpty (state: SessionState): void {
  replaceAttributes(state, state.host.emptyAttributes())
  state.lifetimes = state.host.lifetimes(NO_OWN_LIFETIMES)
  markStored(state, null)
  state.isNew = true
}

const NO_OWN_LIFETIMES = { ownMaxInactiveInterval: null, ownCookieMaxAge: null } as const

/** @internal destroy(): the session is empty and has no id; its cookie is expired at the end. */
export function markDestroyed (state: SessionState): void {
  resetEmpty(state)
  state.id = null
  state.nodeId = null
  state.sendCookie = false
  state.destroyed = true
  state.modified = true
}

/** @internal changeSessionId() and regenerate(): a new id is a new session for the absolute timeout (maxAge) too. */
export function renew (state: SessionState, now: number): void {
  assignNewId(state)
  state.createdAt = now
  state.modified = true
}

/**
 * @internal regenerate(): the kept attributes, and the plugin's idle timeout
 * (as a new servlet session gets). The cookie lifetime stays the session's,
 * as @fastify/session keeps a session's cookie options through regenerate().
 */
export function regenerated (state: SessionState, kept: Attributes): void {
  // Values read before stay tracked: those kept are still the session's
  state.attributes = kept
  state.handedOut = null
  state.lifetimes = state.host.lifetimes({ ownMaxInactiveInterval: null, ownCookieMaxAge: state.lifetimes.ownCookieMaxAge })
}

/** @internal The session's own lifetimes changed: it is written at the end, even with unchanged attributes (see lifetimesChanged). */
export function setLifetimes (state: SessionState, lifetimes: Lifetimes): void {
  state.lifetimes = lifetimes
}

/** @internal sessionId was read before the session held data: it has an id, but is stored (and gets a cookie) only once it holds data. */
export function giveId (state: SessionState, id: string, nodeId: string): void {
  state.id = id
  state.nodeId = nodeId
}

/** @internal A new session whose id was handed out by sessionId got data: it is written, and its cookie sent. */
export function markWritable (state: SessionState): void {
  if (state.forceWrite) return
  state.forceWrite = true
  state.sendCookie = true
}

/** @internal session.touch(). */
export function requestTouch (state: SessionState): void {
  state.forceTouch = true
}

/** @internal An attribute was set or deleted. */
export function markDirty (state: SessionState): void {
  state.dirty = true
}

/** @internal A Date under `key` was read: it may change in place, so it is compared at the end. */
export function markHandedOut (state: SessionState, key: string): void {
  (state.handedOut ??= new Set()).add(key)
}

/** @internal The tracking proxies of this request's reads (see tracking.ts). */
export function proxiesOf (state: SessionState): WeakMap<object, object> {
  return (state.proxies ??= new WeakMap())
}

/** @internal Sticky mode: the process holds the session under `id` after this request. */
export function heldAs (state: SessionState, id: string): void {
  state.localId = id
}

/** @internal `cleanup` runs once the session is stored under its new id (old copies of a moved session). */
export function whenStored (state: SessionState, cleanup: () => Promise<void>): void {
  state.afterSave.push(cleanup)
}

/** @internal The clean-ups due once the session is stored under its new id; handed over once. */
export function takeAfterSave (state: SessionState): Array<() => Promise<void>> {
  return state.afterSave.splice(0)
}

/** @internal onSend: the end of the request ran (it may run twice when it reports an error). */
export function markFinished (state: SessionState): void {
  state.finished = true
}

/** @internal The request carried a session cookie (valid or not): it is cleared if the session is destroyed. */
export function markCookieCame (state: SessionState): void {
  state.cookieSent = true
}

/** @internal The cookie is sent again with this response (a moved session, an old signing secret, a rolling maxAge). */
export function resendCookie (state: SessionState): void {
  state.sendCookie = true
}

/** @internal The write failed: no cookie for an id that holds nothing. */
export function withholdCookie (state: SessionState): void {
  state.sendCookie = false
}

/** @internal The distributed lock this request now holds. */
export function holdLease (state: SessionState, lease: Lease): void {
  state.lease = lease
}

/** @internal The lock this request holds, taken from the state to be released; null when it holds none. */
export function takeLease (state: SessionState): Lease | null {
  const lease = state.lease
  state.lease = null
  return lease
}
