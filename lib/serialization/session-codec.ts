import type avro from 'avsc'

type Resolver = ReturnType<avro.Type['createResolver']>
import type { Attributes, Serializer } from '../types/index.js'
import { FST_MSM_SCHEMA_MISMATCH } from '../errors.js'
import { assertStorable } from './attribute-value.js'
import { checkAvroBytes, mapValueSlices } from './avro-bounds.js'
import { buildType, canonicalForm, fullSchema, GENERIC_ATTRIBUTES, SESSION_META_FIELDS, sessionSchema } from './avro-types.js'
import { crc64Avro } from './crc64-avro.js'

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
const SINGLE_OBJECT_MARKER = [0xc3, 0x01] as const
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

export type DecodeResult =
  | { ok: true, session: DecodedSession }
  | { ok: false, reason: string }
  /** Avro written with a schema this process does not know: fetch it and call decodeWithWriter. */
  | { ok: 'unknown-schema', fingerprint: string, bytes: Buffer }

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
  encodeValue: (meta: SessionMeta, attributesBytes: Buffer) => string
  decodeValue: (stored: unknown) => DecodeResult
}

/**
 * The meta fields alone, with plain longs: logical types change no bytes, and
 * this type reads and writes the times as numbers.
 */
const META_SCHEMA = {
  type: 'record',
  name: 'SessionMeta',
  namespace: 'fastify.msm',
  fields: SESSION_META_FIELDS.map((field) => ({ name: field.name, type: typeof field.type === 'string' ? field.type : field.type.type }))
}

function metaFields (meta: SessionMeta): SessionMeta {
  return { id: meta.id, createdAt: meta.createdAt, lastAccessedAt: meta.lastAccessedAt, maxInactiveInterval: meta.maxInactiveInterval }
}

function textToBytes (stored: unknown): Buffer | null {
  return typeof stored === 'string' ? Buffer.from(stored, 'base64') : null
}

function toMillis (value: unknown): number {
  return value instanceof Date ? value.getTime() : value as number
}

function readMeta (value: Record<string, unknown>): SessionMeta {
  return {
    id: value.id as string,
    createdAt: toMillis(value.createdAt),
    lastAccessedAt: toMillis(value.lastAccessedAt),
    maxInactiveInterval: value.maxInactiveInterval as number
  }
}

/** The default: Avro, with the generic JSON-like attribute type or a typed record schema. */
export class AvroSessionCodec implements SessionCodec {
  readonly type: avro.Type
  readonly fingerprint: Buffer
  readonly fingerprintHex: string
  /** The full writer schema, as published under `schema:<fingerprint>`. */
  readonly schemaText: string
  readonly #header: Buffer
  readonly #metaType: avro.Type
  readonly #attributesType: avro.Type
  readonly #typedFields: Map<string, avro.Type> | null
  readonly #resolvers = new WeakMap<avro.Type, Resolver | Error>()

  /** `attributesSchema`: an Avro record schema for typed sessions; the generic type when omitted. */
  constructor (attributesSchema: object | null = null) {
    this.type = buildType(sessionSchema(attributesSchema ?? GENERIC_ATTRIBUTES))
    this.fingerprint = crc64Avro(canonicalForm(this.type))
    this.fingerprintHex = this.fingerprint.toString('hex')
    this.schemaText = fullSchema(this.type)
    this.#header = Buffer.from([AVRO_FORMAT, ...SINGLE_OBJECT_MARKER, ...this.fingerprint])
    this.#metaType = buildType(META_SCHEMA)
    this.#attributesType = (this.type as avro.types.RecordType).field('attributes').type
    this.#typedFields = attributesSchema === null
      ? null
      : new Map((this.#attributesType as avro.types.RecordType).fields.map((field) => [field.name, field.type]))
  }

  validate (key: string, value: unknown): void {
    if (this.#typedFields === null) {
      assertStorable(key, value, { dates: true })
      return
    }
    const fieldType = this.#typedFields.get(key)
    if (fieldType === undefined) throw new FST_MSM_SCHEMA_MISMATCH(key, `the session schema has no field "${key}"`)
    const problems: string[] = []
    fieldType.isValid(value, {
      errorHook: (path: string[], bad: unknown, type: avro.Type) => {
        problems.push(`${[key, ...path].join('.')} = ${describe(bad)} is not a valid ${type.typeName}`)
      }
    })
    if (problems.length > 0) throw new FST_MSM_SCHEMA_MISMATCH(key, problems[0] as string)
  }

  emptyAttributes (): Attributes {
    const attributes = Object.create(null) as Attributes
    if (this.#typedFields === null) return attributes
    for (const field of (this.#attributesType as avro.types.RecordType).fields) {
      const fallback = field.defaultValue()
      if (fallback !== undefined) attributes[field.name] = fallback as Attributes[string]
    }
    return attributes
  }

  encodeAttributes (attributes: Attributes): Buffer {
    if (this.#typedFields === null) return this.#attributesType.toBuffer(attributes)
    return this.#attributesType.toBuffer(this.#withDefaults(attributes))
  }

  /** The generic type encodes each map value on its own, so keys can be compared one by one. */
  readonly keysUnchanged = (attributes: Attributes, keys: Iterable<string>, loadedBytes: Buffer): boolean => {
    if (this.#typedFields !== null) return false
    const valueType = (this.#attributesType as avro.types.MapType).valuesType
    const loaded = mapValueSlices(this.#attributesType, loadedBytes)
    for (const key of keys) {
      const before = loaded.get(key)
      if (before === undefined || !Object.hasOwn(attributes, key)) return false
      this.validate(key, attributes[key])
      if (!valueType.toBuffer(attributes[key]).equals(before)) return false
    }
    return true
  }

  encodeValue (meta: SessionMeta, attributesBytes: Buffer): string {
    return Buffer.concat([this.#header, this.#metaType.toBuffer(metaFields(meta)), attributesBytes]).toString('base64')
  }

  decodeValue (stored: unknown): DecodeResult {
    const bytes = textToBytes(stored)
    if (bytes === null) return { ok: false, reason: 'the value is not text' }
    if (bytes.length < HEADER_LENGTH) return { ok: false, reason: 'shorter than the header' }
    if (bytes[0] !== AVRO_FORMAT) return { ok: false, reason: `format ${bytes[0]} is not Avro (format 1)` }
    if (bytes[1] !== SINGLE_OBJECT_MARKER[0] || bytes[2] !== SINGLE_OBJECT_MARKER[1]) return { ok: false, reason: 'no Avro single-object marker' }
    const fingerprint = bytes.subarray(3, HEADER_LENGTH)
    if (!fingerprint.equals(this.fingerprint)) return { ok: 'unknown-schema', fingerprint: fingerprint.toString('hex'), bytes }
    const checked = checkAvroBytes(this.type, bytes, HEADER_LENGTH)
    if ('problem' in checked) return { ok: false, reason: checked.problem }
    if (checked.end !== bytes.length) return { ok: false, reason: 'trailing bytes after the record' }
    try {
      const meta = this.#metaType.decode(bytes, HEADER_LENGTH)
      const attributes = this.#attributesType.decode(bytes, meta.offset).value as Attributes
      return {
        ok: true,
        session: {
          meta: readMeta(meta.value as Record<string, unknown>),
          attributes: this.#typedFields === null ? attributes : { ...attributes },
          attributesBytes: bytes.subarray(meta.offset)
        }
      }
    } catch (error) {
      return { ok: false, reason: `avro decoding failed: ${(error as Error).message}` }
    }
  }

  /**
   * Reads a value written with another schema, by Avro's resolution rules.
   * Never returns half-decoded data: any problem makes it "no session".
   */
  decodeWithWriter (bytes: Buffer, writer: avro.Type): DecodeResult {
    const checked = checkAvroBytes(writer, bytes, HEADER_LENGTH)
    if ('problem' in checked) return { ok: false, reason: checked.problem }
    if (checked.end !== bytes.length) return { ok: false, reason: 'trailing bytes after the record' }
    const resolver = this.#resolver(writer)
    if (resolver instanceof Error) return { ok: false, reason: `cannot resolve the writer schema: ${resolver.message}` }
    try {
      const record = this.type.fromBuffer(bytes.subarray(HEADER_LENGTH), resolver) as Record<string, unknown>
      return {
        ok: true,
        session: { meta: readMeta(record), attributes: { ...(record.attributes as Attributes) }, attributesBytes: null }
      }
    } catch (error) {
      return { ok: false, reason: `avro resolution failed: ${(error as Error).message}` }
    }
  }

  #resolver (writer: avro.Type): Resolver | Error {
    let resolver = this.#resolvers.get(writer)
    if (resolver === undefined) {
      try {
        resolver = this.type.createResolver(writer)
      } catch (error) {
        resolver = error as Error
      }
      this.#resolvers.set(writer, resolver)
    }
    return resolver
  }

  #withDefaults (attributes: Attributes): Attributes {
    const complete: Record<string, unknown> = {}
    for (const field of (this.#attributesType as avro.types.RecordType).fields) {
      if (Object.hasOwn(attributes, field.name)) {
        complete[field.name] = attributes[field.name]
        continue
      }
      const fallback = field.defaultValue()
      if (fallback === undefined) throw new FST_MSM_SCHEMA_MISMATCH(field.name, 'the field has no default and was never set; set it before the session is saved')
      complete[field.name] = fallback
    }
    return complete as Attributes
  }
}

const SERIALIZER_NAME = /^[A-Za-z0-9_.-]{1,64}$/

/** Format 2: the attributes are encoded by a pluggable serializer. */
export class SerializerSessionCodec implements SessionCodec {
  readonly #serializer: Serializer
  readonly #header: Buffer
  readonly #metaType = buildType(META_SCHEMA)

  constructor (serializer: Serializer) {
    if (!SERIALIZER_NAME.test(serializer.name)) throw new TypeError('a serializer name is 1 to 64 characters from [A-Za-z0-9_.-]')
    this.#serializer = serializer
    const name = Buffer.from(serializer.name, 'utf8')
    this.#header = Buffer.concat([Buffer.from([SERIALIZER_FORMAT, name.length]), name])
  }

  validate (key: string, value: unknown): void {
    assertStorable(key, value, { dates: false })
  }

  emptyAttributes (): Attributes {
    return Object.create(null) as Attributes
  }

  encodeAttributes (attributes: Attributes): Buffer {
    return Buffer.from(this.#serializer.encode(attributes))
  }

  encodeValue (meta: SessionMeta, attributesBytes: Buffer): string {
    return Buffer.concat([this.#header, this.#metaType.toBuffer(metaFields(meta)), attributesBytes]).toString('base64')
  }

  decodeValue (stored: unknown): DecodeResult {
    const bytes = textToBytes(stored)
    if (bytes === null) return { ok: false, reason: 'the value is not text' }
    if (bytes.length < this.#header.length || !bytes.subarray(0, this.#header.length).equals(this.#header)) {
      return { ok: false, reason: `not written by serializer "${this.#serializer.name}"` }
    }
    const checked = checkAvroBytes(this.#metaType, bytes, this.#header.length)
    if ('problem' in checked) return { ok: false, reason: checked.problem }
    try {
      const meta = readMeta(this.#metaType.decode(bytes, this.#header.length).value as Record<string, unknown>)
      const attributesBytes = bytes.subarray(checked.end)
      const attributes = this.#serializer.decode(attributesBytes)
      if (attributes === null || typeof attributes !== 'object' || Array.isArray(attributes)) {
        return { ok: false, reason: 'the serializer did not return an object' }
      }
      return { ok: true, session: { meta, attributes, attributesBytes } }
    } catch (error) {
      return { ok: false, reason: `serializer "${this.#serializer.name}" failed: ${(error as Error).message}` }
    }
  }
}

/** A JSON serializer, for comparison with Avro. Dates are refused, as JSON cannot keep them. */
export const jsonSerializer: Serializer = Object.freeze({
  name: 'json',
  encode: (attributes: Attributes): Uint8Array => Buffer.from(JSON.stringify(attributes), 'utf8'),
  decode: (bytes: Uint8Array): Attributes => {
    const text = Buffer.from(bytes).toString('utf8')
    // A reviver would make parsing several times slower; this errs on the safe side
    if (text.includes('"__proto__"')) throw new Error('the key __proto__ is reserved')
    return JSON.parse(text) as Attributes
  }
})

function describe (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 37) + '...' : value)
  if (value instanceof Date) return 'a Date'
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object'
  return String(value)
}
