import type { FastifyRequest } from 'fastify'
import type { LockingMode } from '../types/index.js'
import { BoundedLru } from '../util/lru.js'

/** Routes remembered by 'auto' mode; route patterns are few, this only caps 404 noise. */
const LEARNED_ROUTES = 10_000

/**
 * Decides which requests lock their session. In 'auto' mode a route (its
 * pattern, such as `GET /users/:id`) locks until it has completed once without
 * modifying the session; a route that modified a session locks from then on.
 */
export class LockPolicy {
  readonly #mode: LockingMode
  readonly #readOnly = new BoundedLru<string, true>(LEARNED_ROUTES)
  readonly #modifying = new BoundedLru<string, true>(LEARNED_ROUTES)

  constructor (mode: LockingMode) {
    this.#mode = mode
  }

  shouldLock (request: FastifyRequest): boolean {
    const override = routeLockOverride(request)
    if (override !== undefined) return override
    const mode = this.#mode
    if (mode === 'none') return false
    if (mode === 'all') return true
    if (mode === 'auto') return this.#readOnly.get(routeKey(request)) === undefined
    return mode.uriPattern.test(`${request.method} ${request.url}`)
  }

  /** 'auto' mode learns from every completed request that had a session. */
  learn (request: FastifyRequest, modified: boolean): void {
    if (this.#mode !== 'auto' || routeLockOverride(request) !== undefined) return
    const key = routeKey(request)
    if (modified) {
      this.#modifying.set(key, true)
      this.#readOnly.delete(key)
    } else if (this.#modifying.get(key) === undefined) {
      this.#readOnly.set(key, true)
    }
  }

  /** The learned state, for stats. */
  get learned (): { readOnlyRoutes: number, modifyingRoutes: number } {
    return { readOnlyRoutes: this.#readOnly.size, modifyingRoutes: this.#modifying.size }
  }
}

function routeLockOverride (request: FastifyRequest): boolean | undefined {
  const config = request.routeOptions.config.session
  return typeof config === 'object' && config !== null ? config.lock : undefined
}

function routeKey (request: FastifyRequest): string {
  return `${request.method} ${request.routeOptions.url ?? '<no route>'}`
}
