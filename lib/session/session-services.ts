import type { Attributes } from '../types/index.js'
import type { NodeRing } from '../cluster/node-ring.js'
import { formatSessionId, generateRandomPart } from '../ids/session-id.js'
import { type CookieAttributes, isUninitialized, type SessionHost, type SessionState } from './session-state.js'
import { markSavedAsIs, markSavedNow, movedByWrite, reloaded, resetEmpty, replaceAttributes } from './state-changes.js'
import type { FastifyBaseLogger } from 'fastify'
import type { MsmConfig } from '../options/index.js'
import type { SessionStore } from '../store/session-store.js'
import type { SessionCodec } from '../serialization/codec-format.js'
import type { SessionCookie } from './cookie.js'
import type { SessionPersistence } from './persistence.js'
import type { StickyStrategy } from './sticky-strategy.js'
import type { Expiry, Lifetimes } from './expiry.js'
import type { SessionRemover } from './session-remover.js'

export interface ServicesParts {
  config: Pick<MsmConfig, 'route'>
  ring: NodeRing
  store: SessionStore
  codec: SessionCodec
  cookie: SessionCookie
  persistence: SessionPersistence
  expiry: Expiry
  remover: SessionRemover
  /** Sticky mode only. */
  sticky: StickyStrategy | null
  log: FastifyBaseLogger
}

/** A fresh id on a random available node (any configured node when none is up). */
export function newSessionId (ring: NodeRing, route: string | null): { id: string, nodeId: string } {
  const node = ring.pickPrimary() ?? ring.nodes[0]
  const nodeId = (node as { id: string }).id
  return { id: formatSessionId(generateRandomPart(), nodeId, route), nodeId }
}

/**
 * What a session asks of the plugin (the SessionHost): ids, validation,
 * deletion, save() and reload() now, and its cookie's attributes.
 */
export class SessionServices implements SessionHost {
  readonly #parts: ServicesParts

  constructor (parts: ServicesParts) {
    this.#parts = parts
  }

  /**
   * A new session goes to an available node. With every node down it still
   * gets an id, but its write fails and no cookie is sent, so clients do not
   * collect ids while memcached is away.
   */
  newId (): { id: string, nodeId: string } {
    return newSessionId(this.#parts.ring, this.#parts.config.route)
  }

  validate (key: string, value: unknown): void {
    this.#parts.codec.validate(key, value)
  }

  emptyAttributes (): Attributes {
    return this.#parts.codec.emptyAttributes()
  }

  lifetimes (own: Pick<Lifetimes, 'ownMaxInactiveInterval' | 'ownCookieMaxAge'>): Lifetimes {
    return this.#parts.expiry.lifetimes(own.ownMaxInactiveInterval, own.ownCookieMaxAge)
  }

  get configuredTouchInterval (): number | null {
    return this.#parts.expiry.configuredTouchInterval
  }

  get cookie (): CookieAttributes {
    return this.#parts.cookie.attributes
  }

  sign (id: string): string {
    return this.#parts.cookie.sign(id)
  }

  hasChanged (state: SessionState): boolean {
    return this.#parts.persistence.hasChanged(state)
  }

  /** session.save(): rejects with FST_MSM_STORE_UNAVAILABLE, deciding nothing about the cookie, when no copy was stored. */
  async save (state: SessionState): Promise<void> {
    if (state.id === null || isUninitialized(state)) return
    const persisted = await this.#parts.persistence.saveNow(state, this.#parts.log)
    if (persisted.done !== 'written') {
      markSavedAsIs(state)
      return
    }
    markSavedNow(state, persisted.bytes, persisted.at as number)
    if (persisted.movedTo !== null) movedByWrite(state, persisted.movedTo.id, persisted.movedTo.nodeId)
  }

  /** session.reload(): the stored session replaces this request's copy; a missing one leaves it empty. */
  async reload (state: SessionState): Promise<void> {
    const { store } = this.#parts
    if (state.id === null || state.isNew) {
      replaceAttributes(state, this.emptyAttributes())
      return
    }
    const read = await store.readPrimary(state.id, state.nodeId as string)
    if (read.status === 'failed') throw read.error
    const decoded = read.status === 'value' ? await store.decode(read.raw, state.id) : null
    if (decoded?.ok === true) reloaded(state, decoded.session)
    else resetEmpty(state)
  }

  /** Deletes a session's stored copies, and forgets what this process holds of it. Never rejects. */
  async remove (id: string, nodeId: string): Promise<void> {
    this.#parts.sticky?.forget(id)
    await this.#parts.remover.remove(id, nodeId)
  }
}
