import type { Attributes } from '../types/index.js'
import { BROWSER_SESSION_COOKIE, SESSION_META_FIELDS, SESSION_META_FIELDS_V1 } from './avro-types.js'

/**
 * Stored values, documented byte by byte in docs/serialization.md. Both are
 * stored as base64 text: the `memcached` client changes Buffers on the way to
 * the server, while ASCII strings arrive byte for byte.
 *
 * Format 1, Avro (the default):
 *   byte 0      0x01
 *   bytes 1-2   0xC3 0x01, Avro's single-object encoding marker
 *   bytes 3-10  CRC-64-AVRO fingerprint of the writer schema, little-endian
 *   bytes 11-   Avro binary of the Session record
 *
 * Format 2, a pluggable serializer:
 *   byte 0      0x02
 *   byte 1      length n of the serializer's name
 *   bytes 2-    the name (UTF-8), the Avro SessionMeta record of release
 *               0.1.0 (4 fields), then the serializer's bytes of the attributes
 *
 * Format 4, a pluggable serializer, for a session with its own lifetimes:
 *   as format 2, with the SessionMeta record of all the meta fields. A session
 *   without them is still written in format 2, which every release reads.
 */
export const AVRO_FORMAT = 1
export const SERIALIZER_FORMAT = 2
export const SERIALIZER_FORMAT_WITH_LIFETIMES = 4
export const SINGLE_OBJECT_MARKER = [0xc3, 0x01] as const
export const HEADER_LENGTH = 11

/** A cookie lifetime of its own: milliseconds, or a browser-session cookie; null: the plugin's cookie.maxAge. */
export type OwnCookieMaxAge = number | typeof BROWSER_SESSION_COOKIE | null

/** Avro's int: the largest idle timeout a stored session can carry, in seconds (68 years). */
export const MAX_STORED_INTERVAL = 2 ** 31 - 1
/** Browsers keep no cookie longer than 400 days (RFC 6265bis). */
export const MAX_COOKIE_MAX_AGE_MS = 400 * 86400 * 1000

export interface SessionMeta {
  id: string
  createdAt: number
  lastAccessedAt: number
  /** The idle timeout in effect, in seconds: the session's own, else the plugin's. */
  maxInactiveInterval: number
  /** The session's own idle timeout in seconds; null: it follows the plugin's maxInactiveInterval. */
  ownMaxInactiveInterval: number | null
  ownCookieMaxAge: OwnCookieMaxAge
}

export interface DecodedSession {
  meta: SessionMeta
  attributes: Attributes
  /** The attribute bytes as stored, for change detection; null when they were written with another schema. */
  attributesBytes: Buffer | null
}

/**
 * How an accepted value was protected, when it was not sealed with the
 * current key of `encryption` (counted, so that operators see when an old
 * key or plaintext is no longer read).
 */
export type SealedWith = 'older-key' | 'plaintext'

export type DecodeResult =
  | { ok: true, session: DecodedSession, sealedWith?: SealedWith }
  /** `tampered`: the value failed the integrity check of `encryption`. */
  | { ok: false, reason: string, tampered?: boolean }
  /** Avro written with a schema this process does not know: fetch it and call decodeWithWriter. */
  | { ok: 'unknown-schema', fingerprint: string, bytes: Buffer, sealedWith?: SealedWith }

/** What the store needs from either format. */
export interface SessionCodec {
  /**
   * When only objects handed out by get() may have changed: whether those keys
   * still encode to their loaded bytes. Undefined when the codec cannot tell
   * per key (then the whole session is encoded and compared).
   */
  keysUnchanged?: (attributes: Attributes, keys: Iterable<string>, loadedBytes: Buffer) => boolean
  /** The attributes of a new session: the schema's defaults for typed sessions, else none. */
  emptyAttributes: () => Attributes
  /** Throws a coded error, naming the path, for a value this codec cannot store faithfully. */
  validate: (key: string, value: unknown) => void
  encodeAttributes: (attributes: Attributes) => Buffer
  /** The attributes back from bytes that encodeAttributes made in this process (sticky mode's local copies). */
  decodeAttributes: (attributesBytes: Buffer) => Attributes
  /** The value as stored: text, so that memcached keeps it byte for byte. */
  encodeValue: (meta: SessionMeta, attributesBytes: Buffer) => string
  /** A stored value read under the key of `sessionId` (an encrypted value is bound to it). */
  decodeValue: (stored: unknown, sessionId: string) => DecodeResult
}

/** A codec of format 1 or 2: the value's bytes before they become text (and before encryption seals them). */
export interface ValueBytesCodec extends SessionCodec {
  encodeBytes: (meta: SessionMeta, attributesBytes: Buffer) => Buffer
  decodeBytes: (bytes: Buffer) => DecodeResult
}

/**
 * The meta fields alone, with plain longs: logical types change no bytes, and
 * this type reads and writes the times as numbers.
 */
function metaSchema (fields: ReadonlyArray<{ name: string, type: unknown, default?: unknown }>): object {
  return {
    type: 'record',
    name: 'SessionMeta',
    namespace: 'fastify.msm',
    fields: fields.map((field) => ({ ...field, type: isLogicalLong(field.type) ? 'long' : field.type }))
  }
}

function isLogicalLong (type: unknown): boolean {
  return typeof type === 'object' && type !== null && !Array.isArray(type) && (type as { type?: unknown }).type === 'long'
}

export const META_SCHEMA = metaSchema(SESSION_META_FIELDS)
/** The meta record of release 0.1.0 (formats 1 and 2). */
export const META_SCHEMA_V1 = metaSchema(SESSION_META_FIELDS_V1)

/** True when the session has a lifetime of its own (format 2 cannot carry it). */
export function hasOwnLifetimes (meta: SessionMeta): boolean {
  return meta.ownMaxInactiveInterval !== null || meta.ownCookieMaxAge !== null
}

export function metaFields (meta: SessionMeta): SessionMeta {
  return {
    id: meta.id,
    createdAt: meta.createdAt,
    lastAccessedAt: meta.lastAccessedAt,
    maxInactiveInterval: meta.maxInactiveInterval,
    ownMaxInactiveInterval: meta.ownMaxInactiveInterval,
    ownCookieMaxAge: meta.ownCookieMaxAge
  }
}

export function textToBytes (stored: unknown): Buffer | null {
  return typeof stored === 'string' ? Buffer.from(stored, 'base64') : null
}

export function toMillis (value: unknown): number {
  return value instanceof Date ? value.getTime() : value as number
}

/**
 * The meta fields of a decoded record; a value written by an older release
 * has no lifetimes of its own. Throws for lifetimes out of range: stored
 * bytes are untrusted, and the caller turns the error into "no session".
 */
export function readMeta (value: Record<string, unknown>): SessionMeta {
  return {
    id: value.id as string,
    createdAt: toMillis(value.createdAt),
    lastAccessedAt: toMillis(value.lastAccessedAt),
    maxInactiveInterval: value.maxInactiveInterval as number,
    ownMaxInactiveInterval: storedInterval(value.ownMaxInactiveInterval ?? null),
    ownCookieMaxAge: storedCookieMaxAge(value.ownCookieMaxAge ?? null)
  }
}

function storedInterval (value: unknown): number | null {
  if (value === null || (typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value <= MAX_STORED_INTERVAL)) return value
  throw new Error(`ownMaxInactiveInterval ${String(value)} is not a positive number of seconds`)
}

function storedCookieMaxAge (value: unknown): OwnCookieMaxAge {
  if (value === null || value === BROWSER_SESSION_COOKIE) return value
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_COOKIE_MAX_AGE_MS) return value
  throw new Error(`ownCookieMaxAge ${String(value)} is not a cookie lifetime of 0 to 400 days`)
}

/** A short description of a value for error messages (never the whole value). */
export function describe (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 37) + '...' : value)
  if (value instanceof Date) return 'a Date'
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object'
  return String(value)
}
