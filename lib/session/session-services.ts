import type { Attributes } from '../types/index.js'
import type { NodeRing } from '../cluster/node-ring.js'
import { formatSessionId, generateRandomPart } from '../ids/session-id.js'
import { type CookieAttributes, markStored, type SessionHost, type SessionState } from './session-state.js'
import type { FastifyBaseLogger } from 'fastify'
import type { MsmConfig } from '../options/index.js'
import type { MsmCounters } from '../types/index.js'
import type { SessionStore } from '../store/session-store.js'
import type { SessionCodec } from '../serialization/codec-format.js'
import type { SessionCookie } from './cookie.js'
import type { SessionPersistence } from './persistence.js'
import type { StickyStrategy } from './sticky-strategy.js'

export interface ServicesParts {
  config: Pick<MsmConfig, 'route'>
  ring: NodeRing
  store: SessionStore
  codec: SessionCodec
  cookie: SessionCookie
  persistence: SessionPersistence
  /** Sticky mode only. */
  sticky: StickyStrategy | null
  counters: MsmCounters
  log: FastifyBaseLogger
  hashId: (id: string) => string
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

  get cookie (): CookieAttributes {
    return this.#parts.cookie.attributes
  }

  sign (id: string): string {
    return this.#parts.cookie.sign(id)
  }

  hasChanged (state: SessionState): boolean {
    return this.#parts.persistence.hasChanged(state)
  }

  async save (state: SessionState): Promise<void> {
    await this.#parts.persistence.saveNow(state, this.#parts.log)
  }

  /** session.reload(): the stored session replaces this request's copy; a missing one leaves it empty. */
  async reload (state: SessionState): Promise<void> {
    const { store, codec } = this.#parts
    state.proxies = null
    if (state.id === null || state.isNew) {
      state.attributes = codec.emptyAttributes()
      state.dirty = false
      state.handedOut = null
      return
    }
    const read = await store.readPrimary(state.id, state.nodeId as string)
    if (read.status === 'failed') throw read.error
    const decoded = read.status === 'value' ? await store.decode(read.raw, state.id) : null
    if (decoded?.ok === true) {
      state.attributes = decoded.session.attributes
      state.lastAccessedAt = decoded.session.meta.lastAccessedAt
      markStored(state, decoded.session.attributesBytes)
    } else {
      state.attributes = codec.emptyAttributes()
      markStored(state, null)
      state.isNew = true
    }
  }

  async remove (id: string, nodeId: string): Promise<void> {
    const { persistence, sticky, store, counters, log, hashId } = this.#parts
    persistence.forget(id)
    sticky?.forget(id)
    try {
      await store.delete(id, nodeId)
      counters.deleted++
    } catch (error) {
      counters.deleteFailures++
      log.error({ session: hashId(id), err: error }, 'fastify-msm: could not delete a session')
    }
  }
}
