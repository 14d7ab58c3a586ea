import type { Events } from '../events/events.js'
import type { SessionStore } from '../store/session-store.js'
import type { TouchMemory } from './touch-memory.js'

export interface RemoverParts {
  store: SessionStore
  touches: TouchMemory
  events: Events
}

/**
 * Deletes a session's stored copies (destroy, regenerate, expiry) and what
 * this process remembers of its touches. Sticky mode forgets what it holds
 * itself, before it calls this: nothing here calls back into the request flow.
 */
export class SessionRemover {
  readonly #parts: RemoverParts

  constructor (parts: RemoverParts) {
    this.#parts = parts
  }

  /** Never rejects: a failure is counted and logged. */
  async remove (id: string, nodeId: string): Promise<void> {
    const { store, touches, events } = this.#parts
    touches.forget(id)
    try {
      await store.delete(id, nodeId)
      events.deleted()
    } catch (error) {
      events.deleteFailed(id, error)
    }
  }
}
