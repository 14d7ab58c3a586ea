import type {} from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { MsmConfig } from '../options/index.js'
import type { StoreEvents } from '../events/store-events.js'
import { MAX_SESSION_ID_LENGTH, parseSessionId, type ParsedSessionId } from '../ids/session-id.js'
import { BoundedLru } from '../util/lru.js'
import { BROWSER_SESSION_COOKIE } from '../serialization/avro-types.js'
import type { OwnCookieMaxAge } from '../serialization/codec-format.js'

/** A signed cookie is the id, a dot and an HMAC; nothing longer is worth checking. */
const MAX_COOKIE_LENGTH = MAX_SESSION_ID_LENGTH + 1 + 128

/** What the request's session cookie said. */
export interface CookieRead {
  /** A valid id of a known node, or null. */
  parsed: ParsedSessionId | null
  /** A cookie of that name came, valid or not (it must be cleared on destroy). */
  present: boolean
  /** Signed with an older secret of @fastify/cookie's rotation list: send it again. */
  renew: boolean
}

const NO_COOKIE: CookieRead = { parsed: null, present: false, renew: false }

/**
 * Signed cookie values already verified, so that a session's later requests
 * skip the HMAC (a few microseconds each). Only cookies signed with the
 * current secret are remembered; @fastify/cookie's secrets are fixed at
 * registration, so a value verified once stays valid for the process.
 */
const VERIFIED_COOKIES = 10_000

/**
 * The session cookie: read and verified (signature, length, id format, known
 * node) before any memcached operation, set with the configured attributes,
 * and cleared. Signing is @fastify/cookie's, active when it has a secret.
 */
export class SessionCookie {
  readonly #name: string
  readonly #attributes: MsmConfig['cookie']
  readonly #signing: boolean
  readonly #isKnownNode: (nodeId: string) => boolean
  readonly #events: Pick<StoreEvents, 'invalidCookie'>

  readonly #signer: ((value: string) => string) | null
  readonly #verified = new BoundedLru<string, string>(VERIFIED_COOKIES)

  /** `signer`: @fastify/cookie's signCookie, present when it has a secret. */
  constructor (config: Pick<MsmConfig, 'cookieName' | 'cookie'>, signer: ((value: string) => string) | null, isKnownNode: (nodeId: string) => boolean, events: Pick<StoreEvents, 'invalidCookie'>) {
    this.#name = config.cookieName
    this.#attributes = config.cookie
    this.#signing = signer !== null
    this.#signer = signer
    this.#isKnownNode = isKnownNode
    this.#events = events
  }

  /** The configured attributes (maxAge in seconds). */
  get attributes (): MsmConfig['cookie'] {
    return this.#attributes
  }

  /** The cookie value of `id`, as set() sends it. */
  sign (id: string): string {
    return this.#signer === null ? id : this.#signer(id)
  }

  /** True when the cookie of a session with this lifetime of its own has a Max-Age, which rolls with each extension. */
  rolls (own: OwnCookieMaxAge): boolean {
    return own === null ? this.#attributes.maxAge !== undefined : own !== BROWSER_SESSION_COOKIE
  }

  read (request: FastifyRequest): CookieRead {
    const raw = request.cookies[this.#name]
    if (raw === undefined) return NO_COOKIE
    let value: string | null = raw
    let renew = false
    if (raw.length > MAX_COOKIE_LENGTH) {
      value = null
    } else if (this.#signing) {
      // peek: re-verifying a value that was evicted costs one HMAC, less than keeping the order on every hit
      value = this.#verified.peek(raw) ?? null
      if (value === null) {
        const unsigned = request.unsignCookie(raw)
        value = unsigned.valid ? unsigned.value : null
        renew = unsigned.renew
        if (value !== null && !renew) this.#verified.set(raw, value)
      }
    }
    const parsed = parseSessionId(value, this.#isKnownNode)
    if (parsed === null) this.#events.invalidCookie()
    return { parsed, present: true, renew }
  }

  /**
   * `own`: the session's own cookie lifetime (session.options,
   * session.cookie.maxAge), else null for the configured one. `https`: the
   * request came over HTTPS; with `secure: 'auto'` on a plain HTTP request,
   * SameSite=None (which browsers refuse without Secure) is sent as Lax, as
   * @fastify/session does.
   */
  set (reply: FastifyReply, id: string, own: OwnCookieMaxAge, https: boolean): void {
    const attributes = this.#attributes
    const insecureAuto = attributes.secure === 'auto' && !https
    reply.setCookie(this.#name, id, {
      path: attributes.path,
      domain: attributes.domain,
      httpOnly: attributes.httpOnly,
      secure: attributes.secure,
      sameSite: insecureAuto && attributes.sameSite === 'none' ? 'lax' : attributes.sameSite,
      maxAge: own === null ? attributes.maxAge : own === BROWSER_SESSION_COOKIE ? undefined : Math.round(own / 1000),
      signed: this.#signing
    })
  }

  clear (reply: FastifyReply): void {
    reply.clearCookie(this.#name, { path: this.#attributes.path, domain: this.#attributes.domain })
  }
}
