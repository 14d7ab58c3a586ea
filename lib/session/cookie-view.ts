import type { SessionState } from './session-state.js'

/**
 * `request.session.cookie`, shaped like @fastify/session's: what the session
 * cookie of this response looks like. `maxAge`, `originalMaxAge` and
 * `expires` are in milliseconds and Dates, as there; the plugin option
 * `cookie.maxAge` is in seconds. Setting `maxAge` (or `session.options({ maxAge })`)
 * changes this session's cookie lifetime for this response.
 */
export class SessionCookieView {
  readonly #state: SessionState

  /** @internal A view of one request's session. */
  constructor (state: SessionState) {
    this.#state = state
  }

  get path (): string {
    return this.#state.host.cookie.path
  }

  get domain (): string | null {
    return this.#state.host.cookie.domain ?? null
  }

  get httpOnly (): boolean {
    return this.#state.host.cookie.httpOnly
  }

  get secure (): boolean {
    const secure = this.#state.host.cookie.secure
    return secure === 'auto' ? this.#state.https : secure
  }

  get sameSite (): 'lax' | 'strict' | 'none' {
    return this.#state.host.cookie.sameSite
  }

  /** Milliseconds the cookie lives, or null for a browser-session cookie. */
  get originalMaxAge (): number | null {
    const configured = this.#state.host.cookie.maxAge
    return this.#state.cookieMaxAgeMs ?? (configured === undefined ? null : configured * 1000)
  }

  /** Milliseconds until the cookie sent with this response expires, or null. */
  get maxAge (): number | null {
    return this.originalMaxAge
  }

  set maxAge (milliseconds: number | null) {
    setCookieMaxAge(this.#state, milliseconds)
  }

  get expires (): Date | null {
    const maxAge = this.originalMaxAge
    return maxAge === null ? null : new Date(Date.now() + maxAge)
  }

  set expires (date: Date | null) {
    setCookieMaxAge(this.#state, date === null ? null : date.getTime() - Date.now())
  }

  toJSON (): object {
    const { path, domain, httpOnly, secure, sameSite, originalMaxAge, expires } = this
    return { path, domain, httpOnly, secure, sameSite, originalMaxAge, expires }
  }
}

/** @internal A per-session cookie lifetime in ms (null: the configured one); the cookie is sent again. */
export function setCookieMaxAge (state: SessionState, milliseconds: number | null | undefined): void {
  if (milliseconds !== null && milliseconds !== undefined && (!Number.isFinite(milliseconds) || milliseconds < 0)) {
    throw new TypeError('session cookie maxAge takes milliseconds, a finite number of at least 0, or null')
  }
  state.cookieMaxAgeMs = milliseconds ?? null
  state.sendCookie = true
}
