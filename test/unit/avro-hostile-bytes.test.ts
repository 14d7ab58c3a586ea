// Hostile stored bytes, end to end through the Avro session codec: the
// bounds check (lib/serialization/avro-bounds.ts) decides before avsc
// decodes anything. A stored value is untrusted (docs/serialization.md,
// "Untrusted bytes"), so every value must either be refused with the check's
// reason (the store treats it as "no session") or decode exactly as avsc
// decodes it, every attribute included; nothing may throw, and no attribute
// read later may fail inside a route. Hand-built sessions test both sides of
// each boundary; seeded random corruptions of real sessions (generic, typed,
// and read through another writer schema) test the whole contract.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import avro from 'avsc'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { buildWriterType } from '../../lib/serialization/avro-types.js'
import { readAttribute } from '../../lib/serialization/lazy-attributes.js'
import { META_SCHEMA, type SessionMeta } from '../../lib/serialization/codec-format.js'
import { HEADER_LENGTH } from '../helpers/stored-values.js'
import type { Attributes } from '../../lib/types/index.js'

// Lifetimes of its own: the session is stored in this release's record, with every meta field
const meta: SessionMeta = { id: 'abc-n1', createdAt: 1_700_000_000_000, lastAccessedAt: 1_700_000_100_000, maxInactiveInterval: 3600, ownMaxInactiveInterval: 3600, ownCookieMaxAge: 86_400_000 }
const generic = new AvroSessionCodec()
const metaType = avro.Type.forSchema(META_SCHEMA as avro.Schema)
/** The meta fields avsc reads from stored bytes, as a plain object. */
const avscMeta = (bytes: Buffer): unknown => ({ ...metaType.decode(bytes, HEADER_LENGTH).value as object })
const HEADER = Buffer.from(generic.encodeValue(meta, generic.encodeAttributes({} as Attributes)), 'base64').subarray(0, HEADER_LENGTH)

/** Avro's zig-zag varint of any integer, computed exactly. */
function varint (value: bigint | number): number[] {
  const n = BigInt(value)
  let zigzag = n >= 0n ? 2n * n : -2n * n - 1n
  const out: number[] = []
  do {
    let byte = Number(zigzag & 0x7fn)
    zigzag >>= 7n
    if (zigzag > 0n) byte |= 0x80
    out.push(byte)
  } while (zigzag > 0n)
  return out
}
const str = (text: string): number[] => [...varint(Buffer.byteLength(text)), ...Buffer.from(text)]
const double = (value: number): number[] => { const b = Buffer.alloc(8); b.writeDoubleLE(value); return [...b] }

/** JsonValue branches: union index, then the branch. */
const json = {
  null: [0],
  number: (value: number): number[] => [...varint(2), ...double(value)],
  string: (text: string): number[] => [...varint(3), ...str(text)]
}

/** A stored generic session from its parts: meta fields, then the attribute map's bytes. */
function session (parts: { id?: number[], createdAt?: number[], lastAccessedAt?: number[], maxInactiveInterval?: number[], ownMaxInactiveInterval?: number[], ownCookieMaxAge?: number[], attributes?: number[] } = {}): string {
  return Buffer.concat([HEADER, Buffer.from([
    ...(parts.id ?? str(meta.id)),
    ...(parts.createdAt ?? varint(meta.createdAt)),
    ...(parts.lastAccessedAt ?? varint(meta.lastAccessedAt)),
    ...(parts.maxInactiveInterval ?? varint(meta.maxInactiveInterval)),
    // union branch 1 of ["null", "int"] and of ["null", "long", CookieLifetime]
    ...(parts.ownMaxInactiveInterval ?? [...varint(1), ...varint(meta.ownMaxInactiveInterval as number)]),
    ...(parts.ownCookieMaxAge ?? [...varint(1), ...varint(meta.ownCookieMaxAge as number)]),
    ...(parts.attributes ?? [0])
  ])]).toString('base64')
}

/** A map of one block holding `entries` (key bytes and value bytes), as avsc writes it. */
function map (...entries: Array<[string, number[]]>): number[] {
  if (entries.length === 0) return [0]
  return [...varint(entries.length), ...entries.flatMap(([key, value]) => [...str(key), ...value]), 0]
}

function refusal (stored: string): string {
  const result = generic.decodeValue(stored)
  assert.equal(result.ok, false, `accepted: ${JSON.stringify(result)}`)
  return (result as { reason: string }).reason
}

/** Accepted, with the meta and every attribute avsc itself reads from the same bytes. */
function acceptedAsAvscReads (stored: string): { meta: typeof meta, attributes: Record<string, unknown> } {
  const result = generic.decodeValue(stored)
  assert.ok(result.ok === true, `refused: ${JSON.stringify(result)}`)
  const bytes = Buffer.from(stored, 'base64')
  const attributes: Record<string, unknown> = {}
  for (const key of Object.keys(result.session.attributes)) attributes[key] = readAttribute(result.session.attributes, key)
  const avsc = generic.type.fromBuffer(bytes.subarray(HEADER_LENGTH)) as { attributes: Record<string, unknown> }
  assert.deepEqual(normalized(attributes), normalized(avsc.attributes))
  assert.deepEqual(result.session.meta, avscMeta(bytes))
  return { meta: result.session.meta, attributes }
}

/** A value in a form deepEqual compares faithfully (invalid Dates, NaN, -0, Buffers). */
function normalized (value: unknown): unknown {
  if (value instanceof Date) return `Date(${value.getTime()})`
  if (Buffer.isBuffer(value)) return `Buffer(${value.toString('hex')})`
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : `${value}`
  if (Array.isArray(value)) return value.map(normalized)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalized(v)]))
  return value
}

describe('hand-built stored sessions', () => {
  test('a session built byte by byte is read exactly as avsc reads it', () => {
    const read = acceptedAsAvscReads(session({ attributes: map(['n', json.number(42)], ['s', json.string('é')], ['z', json.null]) }))
    assert.deepEqual(read.meta, meta)
    assert.deepEqual(read.attributes, { n: 42, s: 'é', z: null })
  })

  test('lifetimes of its own: null, a browser-session cookie and the largest values are read; anything out of range is "no session"', () => {
    const nothing = acceptedAsAvscReads(session({ ownMaxInactiveInterval: [0], ownCookieMaxAge: [0] }))
    assert.deepEqual([nothing.meta.ownMaxInactiveInterval, nothing.meta.ownCookieMaxAge], [null, null])
    assert.equal(acceptedAsAvscReads(session({ ownCookieMaxAge: [...varint(2), ...varint(0)] })).meta.ownCookieMaxAge, 'BROWSER_SESSION')
    assert.equal(acceptedAsAvscReads(session({ ownCookieMaxAge: [...varint(1), ...varint(400 * 86_400_000)] })).meta.ownCookieMaxAge, 400 * 86_400_000)
    assert.equal(acceptedAsAvscReads(session({ ownMaxInactiveInterval: [...varint(1), ...varint(2 ** 31 - 1)] })).meta.ownMaxInactiveInterval, 2 ** 31 - 1)
    const cases: Array<[string, Parameters<typeof session>[0], RegExp]> = [
      ['an idle timeout of 0', { ownMaxInactiveInterval: [...varint(1), ...varint(0)] }, /ownMaxInactiveInterval 0 is not a positive number/],
      ['a negative idle timeout', { ownMaxInactiveInterval: [...varint(1), ...varint(-5)] }, /ownMaxInactiveInterval -5 is not a positive number/],
      ['an idle timeout past an int', { ownMaxInactiveInterval: [...varint(1), ...varint(2 ** 31)] }, /ownMaxInactiveInterval 2147483648 is not a positive number/],
      ['a cookie lifetime past 400 days', { ownCookieMaxAge: [...varint(1), ...varint(400 * 86_400_000 + 1)] }, /ownCookieMaxAge \d+ is not a cookie lifetime/],
      ['a negative cookie lifetime', { ownCookieMaxAge: [...varint(1), ...varint(-1)] }, /ownCookieMaxAge -1 is not a cookie lifetime/],
      ['a cookie symbol that does not exist', { ownCookieMaxAge: [...varint(2), ...varint(1)] }, /enum index 1 does not exist/],
      ['a union branch that does not exist', { ownCookieMaxAge: [...varint(3)] }, /union branch 3 does not exist/]
    ]
    for (const [name, parts, reason] of cases) assert.match(refusal(session(parts)), reason, name)
  })

  test('a meta long of exactly the largest safe value is read; one more is "no session", as avsc refuses it', () => {
    const largest = 9_007_199_254_740_990
    assert.equal(acceptedAsAvscReads(session({ lastAccessedAt: varint(largest) })).meta.lastAccessedAt, largest)
    const past = session({ lastAccessedAt: varint(largest + 1) })
    assert.equal(refusal(past), 'a long outside the range JavaScript numbers hold exactly')
    assert.throws(() => generic.type.fromBuffer(Buffer.from(past, 'base64').subarray(HEADER_LENGTH)), /precision loss/)
  })

  test('an int field holding more than a JavaScript number keeps exactly is refused, not read as a rounded number', () => {
    assert.equal(acceptedAsAvscReads(session({ maxInactiveInterval: varint(2 ** 31 - 1) })).meta.maxInactiveInterval, 2 ** 31 - 1)
    assert.equal(refusal(session({ maxInactiveInterval: varint(2n ** 60n) })), 'a long outside the range JavaScript numbers hold exactly')
  })

  test('a varint of 10 bytes is read; one of 11 bytes, or one cut off by the end, is refused', () => {
    const tenBytes = [...Array(9).fill(0x80), 0x00] // zero, spelled out in 10 bytes
    assert.equal(acceptedAsAvscReads(session({ createdAt: tenBytes })).meta.createdAt, 0)
    assert.equal(refusal(session({ createdAt: [...Array(10).fill(0x80), 0x00] })), 'varint longer than 10 bytes')
    assert.equal(refusal(Buffer.concat([HEADER, Buffer.from([...str(meta.id), 0x80])]).toString('base64')), 'truncated varint')
  })

  test('a string may end exactly at the last byte; one byte longer is refused', () => {
    const withLength = (length: number): string => session({ attributes: [...varint(1), ...str('k'), ...varint(3), ...varint(length), 0x61, 0x62, 0] })
    assert.deepEqual(acceptedAsAvscReads(withLength(2)).attributes, { k: 'ab' })
    // 3 takes the map's closing 0 as its last character: the string fits, then the map's end is missing
    assert.equal(refusal(withLength(3)), 'truncated varint')
    assert.equal(refusal(withLength(4)), 'length past the end')
    assert.equal(refusal(session({ id: [...varint(-1), 0x61] })), 'length past the end')
  })

  test('a block count of exactly the bytes left passes the count check (its items then run out); one more is refused by it', () => {
    assert.equal(refusal(session({ attributes: [...varint(3), 0, 0, 0] })), 'truncated varint')
    assert.equal(refusal(session({ attributes: [...varint(4), 0, 0, 0] })), 'block count larger than the bytes left')
    assert.equal(refusal(session({ attributes: [...varint(2 ** 50)] })), 'block count larger than the bytes left')
  })

  test('a map in several blocks, one of them with a negative count and its byte size, is read as avsc reads it', () => {
    const first = [...str('a'), ...json.number(1)]
    const second = [...str('b'), ...json.string('two')]
    const attributes = [...varint(1), ...first, ...varint(-1), ...varint(second.length), ...second, 0]
    assert.deepEqual(acceptedAsAvscReads(session({ attributes })).attributes, { a: 1, b: 'two' })
  })

  test('a JsonValue branch that does not exist is refused: 7 and -1 (the last branch, 6, is a timestamp)', () => {
    assert.deepEqual(acceptedAsAvscReads(session({ attributes: map(['t', [...varint(6), ...varint(5)]]) })).attributes, { t: new Date(5) })
    assert.equal(refusal(session({ attributes: map(['t', [...varint(7), 0]]) })), 'union branch 7 does not exist')
    assert.equal(refusal(session({ attributes: map(['t', [...varint(-1), 0]]) })), 'union branch -1 does not exist')
  })

  test('a double cut short is refused; a boolean takes its one byte', () => {
    assert.deepEqual(acceptedAsAvscReads(session({ attributes: map(['b', [...varint(1), 1]]) })).attributes, { b: true })
    assert.equal(refusal(session({ attributes: [...varint(1), ...str('d'), ...varint(2), 0, 0, 0, 0, 0, 0, 0] })), 'length past the end')
  })

  test('a __proto__ key, at any depth, is refused with where it starts', () => {
    const top = session({ attributes: map(['__proto__', json.null]) })
    assert.match(refusal(top), /^map key __proto__ at byte \d+$/)
    const nested = session({ attributes: map(['user', [...varint(5), ...map(['__proto__', json.null])]]) })
    assert.match(refusal(nested), /^map key __proto__ at byte \d+$/)
    assert.deepEqual(acceptedAsAvscReads(session({ attributes: map(['__proto_x', json.null]) })).attributes, { __proto_x: null })
  })

  test('a byte after the record is refused; without it, the same session is read', () => {
    const good = session({ attributes: map(['n', json.number(1)]) })
    acceptedAsAvscReads(good)
    const trailing = Buffer.concat([Buffer.from(good, 'base64'), Buffer.from([0])]).toString('base64')
    assert.equal(refusal(trailing), 'trailing bytes after the record')
  })
})

const typedSchema = {
  type: 'record',
  name: 'Shop',
  namespace: 'shop',
  fields: [
    { name: 'color', type: { type: 'enum', name: 'Color', symbols: ['red', 'green', 'blue'] } },
    { name: 'hash', type: { type: 'fixed', name: 'Hash', size: 3 } },
    { name: 'ratio', type: 'float' },
    { name: 'raw', type: 'bytes' },
    { name: 'visits', type: 'int' },
    { name: 'note', type: ['null', 'string', { type: 'array', items: 'long' }] },
    { name: 'seen', type: { type: 'map', values: { type: 'long', logicalType: 'timestamp-millis' } } },
    { name: 'user', type: { type: 'record', name: 'User', fields: [{ name: 'admin', type: 'boolean' }, { name: 'score', type: 'double' }] } }
  ]
}

describe('hand-built typed sessions', () => {
  test('an enum index of the first and the last symbol is read; one past the last, or -1, is refused', () => {
    const typed = new AvroSessionCodec(typedSchema)
    const attributes = { color: 'red', hash: Buffer.from('abc'), ratio: 0.5, raw: Buffer.from([1]), visits: 1, note: null, seen: {}, user: { admin: false, score: 1 } }
    const bytes = Buffer.from(typed.encodeValue(meta, typed.encodeAttributes(attributes as unknown as Attributes)), 'base64')
    const colorAt = HEADER_LENGTH + metaType.toBuffer(meta).length // the first attribute field
    const withColor = (index: number): ReturnType<AvroSessionCodec['decodeValue']> => {
      const copy = Buffer.from(bytes)
      copy[colorAt] = varint(index)[0] as number
      return typed.decodeValue(copy.toString('base64'))
    }
    for (const [index, color] of [[0, 'red'], [2, 'blue']] as const) {
      const read = withColor(index)
      assert.ok(read.ok === true, JSON.stringify(read))
      assert.equal(read.session.attributes.color, color)
    }
    assert.deepEqual(withColor(3), { ok: false, reason: 'enum index 3 does not exist' })
    assert.deepEqual(withColor(-1), { ok: false, reason: 'enum index -1 does not exist' })
  })
})

/** A small deterministic PRNG (mulberry32), so that every run checks the same bytes. */
function prng (seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Corrupts the record after the header: bytes overwritten, cut, inserted, removed or with a bit flipped. */
function corrupt (random: () => number, bytes: Buffer): Buffer {
  const at = (): number => HEADER_LENGTH + Math.floor(random() * (bytes.length - HEADER_LENGTH))
  const copy = Buffer.from(bytes)
  switch (Math.floor(random() * 5)) {
    case 0: for (let i = 0; i < 3; i++) copy[at()] = Math.floor(random() * 256); return copy
    case 1: return copy.subarray(0, at())
    case 2: { const p = at(); return Buffer.concat([copy.subarray(0, p), Buffer.from([Math.floor(random() * 256)]), copy.subarray(p)]) }
    case 3: { const p = at(); return Buffer.concat([copy.subarray(0, p), copy.subarray(p + 1)]) }
    default: { const p = at(); copy[p] = (copy[p] as number) ^ (1 << Math.floor(random() * 8)); return copy }
  }
}

const BOUNDS_REASON = /^(truncated varint|varint longer than 10 bytes|length past the end|block count larger than the bytes left|union branch -?\d+ does not exist|enum index -?\d+ does not exist|nested too deeply|map key __proto__ at byte \d+|a long outside the range JavaScript numbers hold exactly|trailing bytes after the record|avro (decoding|resolution) failed: (ownMaxInactiveInterval -?\d+ is not a positive number of seconds|ownCookieMaxAge -?\d+ is not a cookie lifetime of 0 to 400 days))$/

function randomJson (random: () => number, depth: number): unknown {
  switch (Math.floor(random() * (depth > 3 ? 4 : 7))) {
    case 0: return null
    case 1: return random() < 0.5
    case 2: return random() * 1e6 - 5e5
    case 3: return 'é'.repeat(Math.floor(random() * 4)) + 'ab'
    case 4: return Array.from({ length: Math.floor(random() * 4) }, () => randomJson(random, depth + 1))
    case 5: return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, (_, i) => [`k${i}`, randomJson(random, depth + 1)]))
    default: return new Date(Math.floor(random() * 2e12))
  }
}

describe('random corruptions of real sessions', () => {
  const CASES = 1500

  /** Runs `check` on CASES corrupted values, and returns how many were accepted. */
  function each (seed: number, make: (random: () => number) => Buffer, check: (bytes: Buffer) => boolean): number {
    const random = prng(seed)
    let accepted = 0
    for (let i = 0; i < CASES; i++) if (check(corrupt(random, make(random)))) accepted++
    // both sides of the check are exercised, or this test would prove little
    assert.ok(accepted > CASES / 10 && accepted < CASES * 0.9, `${accepted} of ${CASES} accepted`)
    return accepted
  }

  /**
   * Refused with the check's reason, or accepted and equal to what avsc reads
   * from the same bytes. (avsc runs only on accepted bytes: on refused ones it
   * may loop for hours, which is why the check exists.)
   */
  function agrees (result: ReturnType<AvroSessionCodec['decodeValue']>, bytes: Buffer, avscRead: () => Record<string, unknown>, attributesOf: (attributes: Attributes) => unknown): boolean {
    if (result.ok !== true) {
      assert.equal(result.ok, false)
      assert.match((result as { reason: string }).reason, BOUNDS_REASON, bytes.toString('hex'))
      return false
    }
    let avscRecord: Record<string, unknown>
    try { avscRecord = avscRead() } catch (error) { assert.fail(`accepted bytes avsc cannot read (${String(error)}): ${bytes.toString('hex')}`) }
    assert.deepEqual(normalized(attributesOf(result.session.attributes)), normalized(avscRecord.attributes), bytes.toString('hex'))
    assert.deepEqual(result.session.meta, avscMeta(bytes))
    return true
  }

  test('generic sessions: refused with the check\'s reason, or read exactly as avsc reads them, every attribute included', () => {
    each(1, (random) => {
      const attributes = Object.fromEntries(Array.from({ length: Math.floor(random() * 5) }, (_, i) => [`a${i}`, randomJson(random, 0)]))
      return Buffer.from(generic.encodeValue(meta, generic.encodeAttributes(attributes as Attributes)), 'base64')
    }, (bytes) => agrees(
      generic.decodeValue(bytes.toString('base64')),
      bytes,
      () => generic.type.fromBuffer(bytes.subarray(HEADER_LENGTH)) as Record<string, unknown>,
      (attributes) => Object.fromEntries(Object.keys(attributes).map((key) => [key, readAttribute(attributes, key)]))
    ))
  })

  test('typed sessions: the same, for enums, fixed, floats, bytes, unions, maps and records', () => {
    const typed = new AvroSessionCodec(typedSchema)
    const attributesType = (typed.type as avro.types.RecordType).field('attributes').type
    each(2, () => Buffer.from(typed.encodeValue(meta, typed.encodeAttributes(attributesType.random() as unknown as Attributes)), 'base64'),
      (bytes) => agrees(typed.decodeValue(bytes.toString('base64')), bytes, () => typed.type.fromBuffer(bytes.subarray(HEADER_LENGTH)) as Record<string, unknown>, (attributes) => attributes))
  })

  test('sessions of another writer schema: checked with the writer\'s schema, then resolved exactly as avsc resolves them', () => {
    const writerCodec = new AvroSessionCodec(typedSchema)
    const writer = buildWriterType(JSON.parse(writerCodec.schemaText) as object)
    const reader = new AvroSessionCodec({ ...typedSchema, fields: [...typedSchema.fields.filter((field) => field.name !== 'raw'), { name: 'theme', type: 'string', default: 'light' }] })
    const resolver = reader.type.createResolver(writer)
    const attributesType = (writerCodec.type as avro.types.RecordType).field('attributes').type
    each(3, () => Buffer.from(writerCodec.encodeValue(meta, writerCodec.encodeAttributes(attributesType.random() as unknown as Attributes)), 'base64'),
      (bytes) => {
        const result = reader.decodeWithWriter(bytes, writer)
        if (result.ok === true) assert.equal((result.session.attributes as { theme?: string }).theme, 'light')
        return agrees(result, bytes, () => reader.type.fromBuffer(bytes.subarray(HEADER_LENGTH), resolver) as Record<string, unknown>, (attributes) => attributes)
      })
  })
})
