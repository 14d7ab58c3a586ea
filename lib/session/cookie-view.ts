import { type SessionState } from './session-state.js'
import { resendCookie, setLifetimes } from './state-changes.js'
import { checkCookieMaxAgeMs } from '../options/lifetimes.js'
import { BROWSER_SESSION_COOKIE } from '../serialization/avro-types.js'

/**
 * `request.session.cookie`, shaped like @fastify/session's: what the session
 * cookie of this response looks like. `maxAge`, `originalMaxAge` and
 * `expires` are in milliseconds and Dates, as there; the plugin option
 * `cookie.maxAge` is in seconds. Setting `maxAge` or `expires` (or
 * `session.options({ maxAge })`) changes this session's cookie lifetime: it
 * is stored with the session, and every later response that sends the
 * cookie uses it. `null` makes it a browser-session cookie.
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
    const own = this.#state.lifetimes.ownCookieMaxAge
    if (own === BROWSER_SESSION_COOKIE) return null
    const configured = this.#state.host.cookie.maxAge
    return own ?? (configured === undefined ? null : configured * 1000)
  }

  /** Milliseconds until the cookie sent with this response expires, or null. */
  get maxAge (): number | null {
    return this.originalMaxAge
  }

  /** null: a browser-session cookie; undefined: the configured `cookie.maxAge` again. */
  set maxAge (milliseconds: number | null | undefined) {
    setOwnCookieMaxAge(this.#state, milliseconds, 'session.cookie.maxAge')
  }

  get expires (): Date | null {
    const maxAge = this.originalMaxAge
    return maxAge === null ? null : new Date(Date.now() + maxAge)
  }

  /** A date in the past expires the cookie (maxAge 0); anything but a Date or null is refused. */
  set expires (date: Date | null) {
    const milliseconds = date === null ? null : date instanceof Date ? Math.max(0, date.getTime() - Date.now()) : Number.NaN
    setOwnCookieMaxAge(this.#state, milliseconds, 'session.cookie.expires')
  }

  toJSON (): object {
    const { path, domain, httpOnly, secure, sameSite, originalMaxAge, expires } = this
    return { path, domain, httpOnly, secure, sameSite, originalMaxAge, expires }
  }
}

/**
 * @internal This session's own cookie lifetime in ms, null for a
 * browser-session cookie, or undefined for the configured one again; the
 * cookie is sent again. Throws FST_MSM_OPTION_INVALID, naming `name`, for
 * anything else.
 */
export function setOwnCookieMaxAge (state: SessionState, milliseconds: unknown, name: string): void {
  const checked = milliseconds === undefined ? undefined : checkCookieMaxAgeMs(milliseconds, name)
  const own = checked === undefined ? null : checked === null ? BROWSER_SESSION_COOKIE : checked
  setLifetimes(state, state.host.lifetimes({ ownMaxInactiveInterval: state.lifetimes.ownMaxInactiveInterval, ownCookieMaxAge: own }))
  resendCookie(state)
}
