import type { Serializer } from './session-data.js'

/** One memcached node. `id` becomes part of the session id, so keep it short. */
export interface NodeSpec {
  /** 1 to 32 characters from `[A-Za-z0-9_]`. */
  id: string
  host: string
  port: number
}

/** Attributes of the session cookie. */
export interface MsmCookieOptions {
  /** Default `'/'`. */
  path?: string
  /** Default: none (host-only cookie). */
  domain?: string
  /** Default `true`. */
  httpOnly?: boolean
  /** Default `'auto'`: Secure when the request came over HTTPS. */
  secure?: boolean | 'auto'
  /** Default `'lax'`. */
  sameSite?: 'lax' | 'strict' | 'none'
  /** Cookie lifetime in seconds. Default: none (a browser-session cookie). */
  maxAge?: number
}

/** Options of `app.register(msm, options)`. Every key is documented in docs/options.md. */
export interface MsmOptions {
  /** `'n1:host:port n2:host:port'` or a list of {@link NodeSpec}. Required. */
  nodes: string | NodeSpec[]
  /** Name of the session cookie. Default `'sessionId'`. */
  cookieName?: string
  cookie?: MsmCookieOptions
  /** Seconds of idle time before a session expires. Default 1800. */
  maxInactiveInterval?: number
  /**
   * Seconds between two TTL extensions (`touch`) of an unchanged session.
   * Default: the smaller of 60 and half of maxInactiveInterval (at least 1).
   */
  touchInterval?: number
  /** Prefix of every memcached key, so several apps can share nodes. Default `''`. */
  prefix?: string
  /** Milliseconds each memcached operation may take. Default 1000. */
  operationTimeout?: number
  /** Requests whose `"METHOD URL"` matches never touch sessions. Default: none. */
  ignore?: RegExp | null
  /** Largest stored value, in bytes, that a session may take. Default 262144 (256 KiB). */
  maxSessionSize?: number
  /** Which requests lock their session. Default `'none'`. */
  lockingMode?: LockingMode
  /** Seconds a lock lives if its holder never releases it. Default 5. */
  lockExpiration?: number
  /** Milliseconds a request may wait for its session's lock. Default 2000. */
  lockTimeout?: number
  /** What a request does when lockTimeout passes: `'fail'` (503, the default) or `'proceed'` without the lock. */
  lockTimeoutPolicy?: 'fail' | 'proceed'
  /** First pause between two lock attempts, in ms; it doubles up to lockRetryMax. Default 10. */
  lockRetryMin?: number
  /** Largest pause between two lock attempts, in ms. Default 200. */
  lockRetryMax?: number
  /** Ids of nodes used only when every other node is down: `['n3']` or `'n3'`. Default none. */
  failoverNodes?: string | string[]
  /** Milliseconds between two probes of a node marked down. Default 1000. */
  nodeRetryInterval?: number
  /**
   * Milliseconds: an up node that answered nothing for this long is sent a
   * health check (one `stats`), which finds a hung or restarted node without
   * a request failing on it. 0 turns the checks off. Default 1000.
   */
  healthCheckInterval?: number
  /** When no copy of a changed session can be stored: `'continue'` (log, count, answer normally; the default) or `'fail'` (503). */
  storeFailurePolicy?: 'continue' | 'fail'
  /** Sticky mode: sessions live in this process, memcached keeps a backup. Default false. */
  sticky?: boolean
  /** Sticky mode: this instance's route, appended to session ids (`<random>-n1.app1`). Default none. */
  route?: string
  /** Sticky mode: most sessions held in this process (least recently used are evicted). Default 10000. */
  localSessions?: number
  /** Write sessions to memcached after the response instead of before it. Default: false, and always true in sticky mode. */
  backupAsync?: boolean
  /** Most asynchronous writes waiting at once; a full queue makes responses wait. Default 10000. */
  backupQueueSize?: number
  /** An Avro record schema for the session attributes (typed sessions). Default: the generic JSON-like type. */
  schema?: Record<string, unknown>
  /** A pluggable serializer `{ name, encode, decode }` instead of Avro, such as the exported `jsonSerializer`. */
  serializer?: Serializer
  /** Record timings and sizes for stats() and metrics(). Counters are always kept. Default true. */
  stats?: boolean
  /** Absolute timeout: seconds after its creation when a session ends, however active. Default: none. */
  maxAge?: number
  /**
   * Encrypt and authenticate every stored value (AES-256-GCM), so that
   * someone with access to memcached can neither read nor change sessions.
   * Needs @fastify/cookie with a secret. Default: none (values in clear).
   * See docs/security.md.
   */
  encryption?: MsmEncryptionOptions
}

/** One key of option `encryption`. */
export interface MsmEncryptionKey {
  /** Stored in every value it seals: 1 to 32 characters from `[A-Za-z0-9_.:-]`, for example `'2026-12'`. */
  id: string
  /** 32 random bytes: a Buffer, or base64 text (`openssl rand -base64 32`). */
  key: Buffer | Uint8Array | string
}

/** Option `encryption`. */
export interface MsmEncryptionOptions {
  /** The first key encrypts every write; every key decrypts. At least one. */
  keys: MsmEncryptionKey[]
  /** Read values stored without encryption (while turning it on or off). Default false, or true with writePlaintext. */
  acceptPlaintext?: boolean
  /** Write values without encryption, reading both (the first step of turning it on, the last of turning it off). Default false. */
  writePlaintext?: boolean
}

/**
 * `config.session` on a route. `false`: its requests never load or save
 * sessions. `{ lock: true | false }`: lock its sessions or not, whatever
 * `lockingMode` says.
 */
export type RouteSessionConfig = false | { lock?: boolean }

/** Which requests take the distributed session lock; see docs/locking.md. */
export type LockingMode = 'none' | 'all' | 'auto' | { uriPattern: RegExp }
