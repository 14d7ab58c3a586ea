import type avro from 'avsc'
import type { Attributes, Serializer } from '../types/index.js'
import { assertStorable } from './attribute-value.js'
import { checkAvroBytes } from './avro-bounds.js'
import { buildType } from './avro-types.js'
import { SERIALIZER_FORMAT, SERIALIZER_FORMAT_WITH_LIFETIMES, type SessionMeta, type DecodeResult, type ValueBytesCodec, META_SCHEMA, META_SCHEMA_V1, hasOwnLifetimes, metaFields, textToBytes, readMeta } from './codec-format.js'

const SERIALIZER_NAME = /^[A-Za-z0-9_.-]{1,64}$/

/**
 * Formats 2 and 4: the attributes are encoded by a pluggable serializer. A
 * session with lifetimes of its own is written in format 4 (all the meta
 * fields); any other in format 2, byte for byte as release 0.1.0 wrote it, so
 * that a rolling deploy's older instances keep reading it.
 */
export class SerializerSessionCodec implements ValueBytesCodec {
  readonly #serializer: Serializer
  /** Format 2's header, then format 4's: they differ in the first byte. */
  readonly #header: Buffer
  readonly #headerWithLifetimes: Buffer
  readonly #metaV1Type = buildType(META_SCHEMA_V1)
  readonly #metaType = buildType(META_SCHEMA)

  constructor (serializer: Serializer) {
    if (!SERIALIZER_NAME.test(serializer.name)) throw new TypeError('a serializer name is 1 to 64 characters from [A-Za-z0-9_.-]')
    this.#serializer = serializer
    const name = Buffer.from(serializer.name, 'utf8')
    this.#header = Buffer.concat([Buffer.from([SERIALIZER_FORMAT, name.length]), name])
    this.#headerWithLifetimes = Buffer.concat([Buffer.from([SERIALIZER_FORMAT_WITH_LIFETIMES, name.length]), name])
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

  decodeAttributes (attributesBytes: Buffer): Attributes {
    return this.#serializer.decode(attributesBytes)
  }

  encodeValue (meta: SessionMeta, attributesBytes: Buffer): string {
    return this.encodeBytes(meta, attributesBytes).toString('base64')
  }

  encodeBytes (meta: SessionMeta, attributesBytes: Buffer): Buffer {
    if (!hasOwnLifetimes(meta)) return Buffer.concat([this.#header, this.#metaV1Type.toBuffer(metaFields(meta)), attributesBytes])
    return Buffer.concat([this.#headerWithLifetimes, this.#metaType.toBuffer(metaFields(meta)), attributesBytes])
  }

  decodeValue (stored: unknown): DecodeResult {
    const bytes = textToBytes(stored)
    return bytes === null ? { ok: false, reason: 'the value is not text' } : this.decodeBytes(bytes)
  }

  decodeBytes (bytes: Buffer): DecodeResult {
    const metaType = this.#metaTypeOf(bytes)
    if (metaType === null) return { ok: false, reason: `not written by serializer "${this.#serializer.name}"` }
    const checked = checkAvroBytes(metaType, bytes, this.#header.length)
    if ('problem' in checked) return { ok: false, reason: checked.problem }
    try {
      const meta = readMeta(metaType.decode(bytes, this.#header.length).value as Record<string, unknown>)
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

  /** The meta record's type by the value's header (format 2 or 4), or null when this serializer did not write it. */
  #metaTypeOf (bytes: Buffer): avro.Type | null {
    const length = this.#header.length
    if (bytes.length < length) return null
    const header = bytes.subarray(0, length)
    if (header.equals(this.#header)) return this.#metaV1Type
    return header.equals(this.#headerWithLifetimes) ? this.#metaType : null
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
