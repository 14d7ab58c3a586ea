import type avro from 'avsc'
import type { Attributes } from '../types/index.js'
import { FST_MSM_SCHEMA_MISMATCH } from '../errors.js'
import { assertStorable, MAX_DEPTH, nestsTooDeeply } from './attribute-value.js'
import { checkAvroBytes, checkRecordWithMapEntries, mapEntries, mapValueSlices } from './avro-bounds.js'
import { hasUnreadValues, lazyAttributes, readAttribute, unreadValueBytes } from './lazy-attributes.js'
import { buildType, canonicalForm, fullSchema, GENERIC_ATTRIBUTES, SESSION_META_FIELDS_V1, sessionSchema } from './avro-types.js'
import { crc64Avro } from './crc64-avro.js'
import { type CheckedValue, CheckedValues } from './checked-values.js'
import { AVRO_FORMAT, SINGLE_OBJECT_MARKER, HEADER_LENGTH, type SessionMeta, type DecodeResult, type ValueBytesCodec, META_SCHEMA, META_SCHEMA_V1, hasOwnLifetimes, metaFields, textToBytes, readMeta, describe } from './codec-format.js'

type Resolver = ReturnType<avro.Type['createResolver']>

/** A version of the Session record this codec reads without the registry: its full type, its meta fields, its header. */
interface RecordVersion {
  type: avro.Type
  metaType: avro.Type
  fingerprint: Buffer
  header: Buffer
}

/** The default: Avro, with the generic JSON-like attribute type or a typed record schema. */
export class AvroSessionCodec implements ValueBytesCodec {
  readonly type: avro.Type
  readonly fingerprint: Buffer
  readonly fingerprintHex: string
  /** The full writer schema, as published under `schema:<fingerprint>`. */
  readonly schemaText: string
  /**
   * Every schema this codec writes values with, each published under
   * `schema:<fingerprint>`: this release's record, and release 0.1.0's,
   * which sessions without lifetimes of their own are still written in.
   */
  readonly writerSchemas: ReadonlyArray<{ fingerprintHex: string, schemaText: string }>
  readonly #metaType: avro.Type
  readonly #checked = new CheckedValues()
  /** What the last decodeBytes() checked, for decodeValue() to remember (decodeBytes is synchronous). */
  #lastChecked: CheckedValue | null = null
  /**
   * This release's record and the records of earlier releases around the same
   * attributes, by fingerprint: their meta fields differ, their attribute
   * bytes do not, so values of an earlier release are read (and compared) as
   * fast as this release's.
   */
  readonly #versions: readonly RecordVersion[]
  readonly #current: RecordVersion
  /**
   * Release 0.1.0's record. A session without lifetimes of its own is still
   * written in it, byte for byte as that release wrote it, so that during a
   * rolling deploy the older instances read it as their own (at full speed,
   * and without rewriting it). docs/serialization.md#evolving-the-format
   */
  readonly #v1: RecordVersion
  readonly #attributesType: avro.Type
  readonly #typedFields: Map<string, avro.Type> | null
  readonly #resolvers = new WeakMap<avro.Type, Resolver | Error>()

  /** `attributesSchema`: an Avro record schema for typed sessions; the generic type when omitted. */
  constructor (attributesSchema: object | null = null) {
    this.type = buildType(sessionSchema(attributesSchema ?? GENERIC_ATTRIBUTES))
    this.fingerprint = crc64Avro(canonicalForm(this.type))
    this.fingerprintHex = this.fingerprint.toString('hex')
    this.schemaText = fullSchema(this.type)
    this.#metaType = buildType(META_SCHEMA)
    this.#current = { type: this.type, metaType: this.#metaType, fingerprint: this.fingerprint, header: header(this.fingerprint) }
    const v1Type = buildType(sessionSchema(attributesSchema ?? GENERIC_ATTRIBUTES, SESSION_META_FIELDS_V1))
    const v1Fingerprint = crc64Avro(canonicalForm(v1Type))
    this.#v1 = { type: v1Type, metaType: buildType(META_SCHEMA_V1), fingerprint: v1Fingerprint, header: header(v1Fingerprint) }
    // The record most sessions are written in first
    this.#versions = [this.#v1, this.#current]
    this.writerSchemas = [
      { fingerprintHex: this.fingerprintHex, schemaText: this.schemaText },
      { fingerprintHex: v1Fingerprint.toString('hex'), schemaText: fullSchema(v1Type) }
    ]
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
    // before isValid, which would recurse forever through a cycle
    if (nestsTooDeeply(value)) throw new FST_MSM_SCHEMA_MISMATCH(key, `it nests objects and arrays deeper than ${MAX_DEPTH} levels (or in a cycle), deeper than a stored session is read back`)
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
    if (this.#typedFields !== null) return this.#attributesType.toBuffer(this.#withDefaults(attributes))
    if (hasUnreadValues(attributes)) return this.#encodeKeepingUnread(attributes)
    return this.#attributesType.toBuffer(attributes)
  }

  /**
   * The map as avsc writes it (one block: count, then key and value of each
   * entry, then 0), with each value never read copied from its stored bytes
   * instead of being decoded and encoded again.
   */
  #encodeKeepingUnread (attributes: Attributes): Buffer {
    const valueType = (this.#attributesType as avro.types.MapType).valuesType
    const keys = Object.keys(attributes)
    const parts: Buffer[] = []
    if (keys.length > 0) parts.push(avroLong(keys.length))
    for (const key of keys) {
      const keyBytes = Buffer.from(key, 'utf8')
      parts.push(avroLong(keyBytes.length), keyBytes, unreadValueBytes(attributes, key) ?? valueType.toBuffer(attributes[key]))
    }
    parts.push(avroLong(0))
    return Buffer.concat(parts)
  }

  /** The generic type encodes each map value on its own, so keys can be compared one by one. */
  readonly keysUnchanged = (attributes: Attributes, keys: Iterable<string>, loadedBytes: Buffer): boolean => {
    if (this.#typedFields !== null) return false
    const valueType = (this.#attributesType as avro.types.MapType).valuesType
    const loaded = mapValueSlices(this.#attributesType, loadedBytes)
    for (const key of keys) {
      const before = loaded.get(key)
      if (before === undefined || !Object.hasOwn(attributes, key)) return false
      const value = readAttribute(attributes, key)
      this.validate(key, value)
      if (!valueType.toBuffer(value).equals(before)) return false
    }
    return true
  }

  decodeAttributes (attributesBytes: Buffer): Attributes {
    if (this.#typedFields !== null) return { ...this.#attributesType.fromBuffer(attributesBytes) as Attributes }
    return lazyAttributes(mapEntries(this.#attributesType, attributesBytes), attributesBytes, this.#decodeValue)
  }

  encodeValue (meta: SessionMeta, attributesBytes: Buffer): string {
    // The session gets a new value: the one remembered from its read is stale, and dropped while it is young
    this.#checked.forget(meta.id)
    return this.encodeBytes(meta, attributesBytes).toString('base64')
  }

  encodeBytes (meta: SessionMeta, attributesBytes: Buffer): Buffer {
    const version = hasOwnLifetimes(meta) ? this.#current : this.#v1
    return Buffer.concat([version.header, version.metaType.toBuffer(metaFields(meta)), attributesBytes])
  }

  /**
   * `sessionId`: the session the value is stored under. A value read and
   * checked for it before, character for character the same, is taken apart
   * again without its bounds check (CheckedValues).
   */
  decodeValue (stored: unknown, sessionId?: string): DecodeResult {
    const known = sessionId === undefined || typeof stored !== 'string' ? undefined : this.#checked.find(stored, sessionId)
    if (known !== undefined) return this.#fromChecked(known)
    const bytes = textToBytes(stored)
    if (bytes === null) return { ok: false, reason: 'the value is not text' }
    const decoded = this.decodeBytes(bytes)
    if (decoded.ok === true && sessionId !== undefined && this.#lastChecked?.bytes === bytes) this.#checked.remember(stored as string, sessionId, this.#lastChecked)
    this.#lastChecked = null
    return decoded
  }

  decodeBytes (bytes: Buffer): DecodeResult {
    if (bytes.length < HEADER_LENGTH) return { ok: false, reason: 'shorter than the header' }
    if (bytes[0] !== AVRO_FORMAT) return { ok: false, reason: `format ${bytes[0]} is not Avro (format 1)` }
    if (bytes[1] !== SINGLE_OBJECT_MARKER[0] || bytes[2] !== SINGLE_OBJECT_MARKER[1]) return { ok: false, reason: 'no Avro single-object marker' }
    const fingerprint = bytes.subarray(3, HEADER_LENGTH)
    const version = this.#versionOf(fingerprint)
    if (version === null) return { ok: 'unknown-schema', fingerprint: fingerprint.toString('hex'), bytes }
    const checked = checkRecordWithMapEntries(version.type, bytes, HEADER_LENGTH)
    if ('problem' in checked) return { ok: false, reason: checked.problem }
    if (checked.end !== bytes.length) return { ok: false, reason: 'trailing bytes after the record' }
    try {
      const meta = version.metaType.decode(bytes, HEADER_LENGTH)
      if (checked.entries !== null) {
        this.#lastChecked = { bytes, meta: readMeta(meta.value as Record<string, unknown>), attributesOffset: meta.offset, entries: checked.entries }
        return this.#fromChecked(this.#lastChecked)
      }
      return {
        ok: true,
        session: {
          meta: readMeta(meta.value as Record<string, unknown>),
          attributes: { ...this.#attributesType.decode(bytes, meta.offset).value as Attributes },
          attributesBytes: bytes.subarray(meta.offset)
        }
      }
    } catch (error) {
      return { ok: false, reason: `avro decoding failed: ${(error as Error).message}` }
    }
  }

  /** A checked generic value's session: objects of this read's own over the shared, never-changed bytes. */
  #fromChecked (value: CheckedValue): DecodeResult {
    return {
      ok: true,
      session: {
        meta: { ...value.meta },
        attributes: lazyAttributes(value.entries, value.bytes, this.#decodeValue),
        attributesBytes: value.bytes.subarray(value.attributesOffset)
      }
    }
  }

  /** The record version of a fingerprint this codec reads itself, or null (compared as bytes: no text per read). */
  #versionOf (fingerprint: Buffer): RecordVersion | null {
    for (const version of this.#versions) if (fingerprint.equals(version.fingerprint)) return version
    return null
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

  /** One value of the generic attribute map, at `start` in checked bytes. */
  readonly #decodeValue = (bytes: Buffer, start: number): unknown => (this.#attributesType as avro.types.MapType).valuesType.decode(bytes, start).value

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

/** Avro's encoding of a non-negative long: zigzag, then a base-128 varint. */
function avroLong (value: number): Buffer {
  const bytes: number[] = []
  let rest = value * 2
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  bytes.push(rest)
  return Buffer.from(bytes)
}

/** Format 1's header: the format byte, Avro's single-object marker, the writer schema's fingerprint. */
function header (fingerprint: Buffer): Buffer {
  return Buffer.from([AVRO_FORMAT, ...SINGLE_OBJECT_MARKER, ...fingerprint])
}
