import avro from 'avsc'
import type { SessionValue } from '../types.js'
import { checkSessionBytes } from './avro-bounds.js'
import { crc64Avro } from './crc64-avro.js'
import { JSON_VALUE_SCHEMA, SESSION_META_FIELDS, SESSION_SCHEMA } from './session-schema.js'

/**
 * The stored value, documented in docs/storage.md:
 *
 *   byte 0      format version of fastify-msm values (1)
 *   bytes 1-2   0xC3 0x01, Avro's single-object encoding marker
 *   bytes 3-10  CRC-64-AVRO fingerprint of the writer schema, little-endian
 *   bytes 11-   Avro binary of the Session record
 *
 * The whole is stored as base64 text: the `memcached` client changes Buffers
 * on the way to the server, while ASCII strings arrive byte for byte.
 */
export const FORMAT_VERSION = 1
const SINGLE_OBJECT_MARKER = [0xc3, 0x01] as const
export const HEADER_LENGTH = 11

export interface SessionMeta {
  id: string
  createdAt: number
  lastAccessedAt: number
  maxInactiveInterval: number
}

export type Attributes = Record<string, SessionValue>

export interface DecodedSession {
  meta: SessionMeta
  attributes: Attributes
  /** The Avro bytes of `attributes`, for byte-based change detection. */
  attributesBytes: Buffer
}

export type DecodeResult =
  | { ok: true, session: DecodedSession }
  | { ok: false, reason: string }

/** avsc logical type that hides the JsonValue wrapper record. */
class JsonValueType extends avro.types.LogicalType {
  override _fromValue (value: { v: SessionValue }): SessionValue {
    return value.v
  }

  override _toValue (value: SessionValue): { v: SessionValue } {
    return { v: value }
  }
}

const LOGICAL_TYPES = { 'json-value': JsonValueType }

export class SessionCodec {
  readonly schema = SESSION_SCHEMA
  /** The writer schema's fingerprint, also the suffix of its `schema:` key. */
  readonly fingerprint: Buffer
  readonly #header: Buffer
  readonly #metaType: avro.Type
  readonly #attributesType: avro.Type

  constructor () {
    const sessionType = avro.Type.forSchema(SESSION_SCHEMA as unknown as avro.Schema, { logicalTypes: LOGICAL_TYPES })
    this.fingerprint = crc64Avro(JSON.stringify(sessionType.schema()))
    this.#header = Buffer.from([FORMAT_VERSION, ...SINGLE_OBJECT_MARKER, ...this.fingerprint])
    this.#metaType = avro.Type.forSchema({ type: 'record', name: 'SessionMeta', fields: [...SESSION_META_FIELDS] } as unknown as avro.Schema)
    this.#attributesType = avro.Type.forSchema(
      { type: 'map', values: JSON_VALUE_SCHEMA } as unknown as avro.Schema,
      { logicalTypes: LOGICAL_TYPES }
    )
  }

  /** Avro bytes of the attributes alone. The caller has checked them with assertStorable. */
  encodeAttributes (attributes: Attributes): Buffer {
    return this.#attributesType.toBuffer(attributes)
  }

  /** The text stored in memcached. */
  encodeValue (meta: SessionMeta, attributesBytes: Buffer): string {
    const metaBytes = this.#metaType.toBuffer(meta)
    return Buffer.concat([this.#header, metaBytes, attributesBytes]).toString('base64')
  }

  /** Decodes an untrusted stored value. Never throws. */
  decodeValue (stored: unknown): DecodeResult {
    if (typeof stored !== 'string') return { ok: false, reason: 'the value is not text' }
    const bytes = Buffer.from(stored, 'base64')
    const headerProblem = this.#checkHeader(bytes)
    if (headerProblem !== null) return { ok: false, reason: headerProblem }
    const bodyProblem = checkSessionBytes(bytes, HEADER_LENGTH)
    if (bodyProblem !== null) return { ok: false, reason: bodyProblem }
    try {
      const meta = this.#metaType.decode(bytes, HEADER_LENGTH)
      const attributes = this.#attributesType.decode(bytes, meta.offset)
      return {
        ok: true,
        session: {
          meta: meta.value as SessionMeta,
          attributes: attributes.value as Attributes,
          attributesBytes: bytes.subarray(meta.offset)
        }
      }
    } catch (error) {
      return { ok: false, reason: `avro decoding failed: ${(error as Error).message}` }
    }
  }

  #checkHeader (bytes: Buffer): string | null {
    if (bytes.length < HEADER_LENGTH) return 'shorter than the header'
    if (bytes[0] !== FORMAT_VERSION) return `unknown format version ${bytes[0]}`
    if (bytes[1] !== SINGLE_OBJECT_MARKER[0] || bytes[2] !== SINGLE_OBJECT_MARKER[1]) return 'no Avro single-object marker'
    if (!this.fingerprint.equals(bytes.subarray(3, HEADER_LENGTH))) return 'unknown writer schema fingerprint'
    return null
  }
}
