import type { FastifyRequest } from 'fastify'
import type { Attributes } from '../types/index.js'
import type { Events } from '../events/events.js'
import type { NodeRing } from '../cluster/node-ring.js'
import type { SessionStore } from '../store/session-store.js'
import { movedSessionId, type ParsedSessionId } from '../ids/session-id.js'
import type { SessionState } from '../session/session-state.js'
import { adoptHeld, heldAs, moveTo, relocateTo, whenStored } from '../session/state-changes.js'
import type { Expiry } from '../session/expiry.js'
import type { SessionRemover } from '../session/session-remover.js'
import type { LocalRecord, StickyStrategy } from '../session/sticky-strategy.js'
import type { LocalEntry, LocalSessions } from './local-sessions.js'

export interface StickyParts {
  local: LocalSessions
  ring: NodeRing
  store: SessionStore
  /** This instance's route, the suffix of the ids it issues; null without one. */
  route: string | null
  expiry: Expiry
  events: Events
  /** Deletes a session's stored copies. */
  remover: SessionRemover
  /** The attributes back from stored bytes (SessionCodec.decodeAttributes). */
  decodeAttributes: (bytes: Buffer) => Attributes
}

/**
 * Sticky mode: the sessions of this instance live in the process (like a
 * servlet container's) and memcached holds their backup. A request for a
 * session the process holds costs no memcached operation.
 */
export class StickySessions implements StickyStrategy {
  readonly #parts: StickyParts

  constructor (parts: StickyParts) {
    this.#parts = parts
  }

  async open (state: SessionState, parsed: ParsedSessionId): Promise<boolean> {
    const { local, expiry, events } = this.#parts
    const entry = local.get(parsed.id)
    if (entry === undefined) return false
    const now = Date.now()
    if (entry.lifetimes.idle.isIdle(entry.accessedAt, now) || expiry.isPastMaxAge(entry.createdAt, now)) {
      events.expired()
      local.delete(parsed.id)
      await this.#parts.remover.remove(parsed.id, entry.nodeId)
      events.noSession()
      return true
    }
    adoptHeld(state, parsed.id, entry, this.#attributesOf(entry))
    entry.accessedAt = now
    events.localHit()
    this.#moveOffUnfitNode(state)
    return true
  }

  /**
   * A session created by another instance (another route) means that
   * instance is gone: this one takes it over under its own route. And it
   * leaves a down or failover node.
   */
  claim (state: SessionState, parsed: ParsedSessionId, request: FastifyRequest): void {
    const { route, store, events } = this.#parts
    if (parsed.route !== route) {
      const old = { id: state.id as string, nodeId: state.nodeId as string }
      const id = movedSessionId(old.id, old.nodeId, route)
      moveTo(state, id, old.nodeId)
      whenStored(state, () => store.delete(old.id, old.nodeId).catch(() => {}))
      events.takenOver(request, id, old.id, parsed.route)
    }
    this.#moveOffUnfitNode(state)
  }

  keepWritten (state: SessionState, bytes: Buffer, now: number): LocalRecord {
    return this.#hold(state, () => bytes, now, null)
  }

  keepRead (state: SessionState, bytesOf: (state: SessionState) => Buffer, now: number): LocalRecord {
    const held = this.#parts.local.get(state.id as string)
    // A read-only request keeps what the process holds: a concurrent request
    // of this process may have written the session since this one loaded it
    // (from memcached or from the process), so what this request has is older
    return this.#hold(state, bytesOf, now, held !== undefined && held.storedAt >= state.lastAccessedAt ? held : null)
  }

  /** Holds the session under its current id; `newer`: a copy held since, which stays. */
  #hold (state: SessionState, bytesOf: (state: SessionState) => Buffer, now: number, newer: LocalEntry | null): LocalRecord {
    const { local } = this.#parts
    const id = state.id as string
    if (state.localId !== null && state.localId !== id) local.delete(state.localId)
    if (newer !== null) {
      heldAs(state, id)
      newer.accessedAt = now
      return newer
    }
    const existing = state.localId === id ? local.get(id) : undefined
    heldAs(state, id)
    const entry: LocalEntry = existing ?? {
      nodeId: state.nodeId as string,
      live: null,
      createdAt: state.createdAt,
      lifetimes: state.lifetimes,
      accessedAt: now,
      storedBytes: bytesOf(state),
      storedAt: state.lastAccessedAt,
      extendedAt: state.lastAccessedAt
    }
    if (entry.live?.deref() !== state.attributes) entry.live = new WeakRef(state.attributes)
    entry.lifetimes = state.lifetimes
    entry.accessedAt = now
    local.set(id, entry)
    return entry
  }

  /** The requests in flight share one object; the first one decodes it from the bytes. */
  #attributesOf (entry: LocalEntry): Attributes {
    const live = entry.live?.deref()
    if (live !== undefined) return live
    const attributes = this.#parts.decodeAttributes(entry.storedBytes)
    entry.live = new WeakRef(attributes)
    return attributes
  }

  forget (id: string): void {
    this.#parts.local.delete(id)
  }

  /**
   * A session whose node is down moves to its relocation target; one on a
   * failover node moves to a regular node once one is up. The id keeps its
   * random part's lineage and the route, and the cookie is sent again.
   */
  #moveOffUnfitNode (state: SessionState): void {
    const { ring, route, events } = this.#parts
    const nodeId = state.nodeId as string
    let target: { id: string } | undefined
    if (!ring.isAvailable(nodeId)) {
      target = ring.relocationTarget(nodeId)
    } else if (ring.isFailoverNode(nodeId)) {
      const regular = ring.pickPrimary()
      if (regular !== undefined && !ring.isFailoverNode(regular.id)) target = regular
    }
    if (target === undefined) return
    const from = state.id as string
    relocateTo(state, movedSessionId(from, target.id, route), target.id)
    events.relocated(state.request, { from, fromNode: nodeId, to: state.id as string, toNode: target.id, cause: 'sticky' })
  }
}
