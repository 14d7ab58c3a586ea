import type { Attributes } from '../types/index.js'
import { SESSION_META_FIELDS } from './avro-types.js'

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
 *   bytes 2-    the name (UTF-8), the Avro SessionMeta record, then the
 *               serializer's bytes of the attributes
 */
export const AVRO_FORMAT = 1
export const SERIALIZER_FORMAT = 2
export const SINGLE_OBJECT_MARKER = [0xc3, 0x01] as const
export const HEADER_LENGTH = 11

export interface SessionMeta {
  id: string
  createdAt: number
  lastAccessedAt: number
  maxInactiveInterval: number
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
export const META_SCHEMA = {
  type: 'record',
  name: 'SessionMeta',
  namespace: 'fastify.msm',
  fields: SESSION_META_FIELDS.map((field) => ({ name: field.name, type: typeof field.type === 'string' ? field.type : field.type.type }))
}

export function metaFields (meta: SessionMeta): SessionMeta {
  return { id: meta.id, createdAt: meta.createdAt, lastAccessedAt: meta.lastAccessedAt, maxInactiveInterval: meta.maxInactiveInterval }
}

export function textToBytes (stored: unknown): Buffer | null {
  return typeof stored === 'string' ? Buffer.from(stored, 'base64') : null
}

export function toMillis (value: unknown): number {
  return value instanceof Date ? value.getTime() : value as number
}

export function readMeta (value: Record<string, unknown>): SessionMeta {
  return {
    id: value.id as string,
    createdAt: toMillis(value.createdAt),
    lastAccessedAt: toMillis(value.lastAccessedAt),
    maxInactiveInterval: value.maxInactiveInterval as number
  }
}

/** A short description of a value for error messages (never the whole value). */
export function describe (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 37) + '...' : value)
  if (value instanceof Date) return 'a Date'
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object'
  return String(value)
}
