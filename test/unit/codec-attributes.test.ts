// The attribute half of the Avro session codec: the bytes a save writes
// when some attributes were never read (copied from the stored bytes; they
// must equal avsc's own encoding, or every reader of the stored format
// breaks), the per-key comparison that lets an unchanged session skip its
// write, typed schemas' defaults, and the reasons a value of another writer
// schema is refused. Written for mutants that survived the rest of the suite
// (test/mutation/REPORT.md).
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { buildWriterType } from '../../lib/serialization/avro-types.js'
import { readAttribute } from '../../lib/serialization/lazy-attributes.js'
import type { Attributes } from '../../lib/types/index.js'

const generic = new AvroSessionCodec()
// An idle timeout of its own: the value is written in this release's record (codec.type, codec.schemaText)
const meta = { id: '0123456789abcdef0123456789abcdef-n1', createdAt: 1_700_000_000_000, lastAccessedAt: 1_700_000_100_000, maxInactiveInterval: 3600, ownMaxInactiveInterval: 3600, ownCookieMaxAge: null }

/** What a request sees after loading `plain`: every attribute still unread. */
function loaded (plain: Record<string, unknown>): { attributes: Attributes, bytes: Buffer } {
  const bytes = generic.encodeAttributes(plain as Attributes)
  return { attributes: generic.decodeAttributes(bytes), bytes }
}

/** avsc's own encoding of the same attributes, all decoded. */
function avscBytes (attributes: Attributes): Buffer {
  const plain: Record<string, unknown> = {}
  for (const key of Object.keys(attributes)) plain[key] = readAttribute(attributes, key)
  return generic.encodeAttributes(plain as Attributes)
}

describe('a save with attributes never read', () => {
  test('is byte for byte what avsc writes, with 64 or more keys and keys of 64 bytes or more', () => {
    const plain: Record<string, unknown> = {}
    for (let i = 0; i < 70; i++) plain[`key${i}`] = { i, text: 'x'.repeat(i) }
    plain['k'.repeat(64)] = 'a key of 64 bytes'
    plain['é'.repeat(40)] = 'a key of 80 bytes in UTF-8'
    const { attributes, bytes } = loaded(plain)
    assert.deepEqual(generic.encodeAttributes(attributes), bytes, 'nothing read, nothing changed')
    attributes.key3 = { changed: true } as never
    const written = generic.encodeAttributes(attributes)
    assert.deepEqual(written, avscBytes(attributes))
    assert.deepEqual(readAttribute(generic.decodeAttributes(written), 'key3'), { changed: true })
    assert.equal(readAttribute(generic.decodeAttributes(written), 'k'.repeat(64)), 'a key of 64 bytes')
  })

  test('a value of 64 bytes or more that was never read is copied whole', () => {
    const { attributes } = loaded({ big: 'y'.repeat(300), small: 1 })
    attributes.small = 2 as never
    const decoded = generic.decodeAttributes(generic.encodeAttributes(attributes))
    assert.equal(readAttribute(decoded, 'big'), 'y'.repeat(300))
    assert.equal(readAttribute(decoded, 'small'), 2)
  })
})

describe('keysUnchanged: may a session whose keys were handed out skip its write?', () => {
  test('yes when every handed-out value encodes to its stored bytes', () => {
    const { attributes, bytes } = loaded({ user: { id: 7 }, list: [1, 2] })
    readAttribute(attributes, 'user')
    assert.equal(generic.keysUnchanged(attributes, ['user', 'list'], bytes), true)
  })

  test('no when a handed-out value changed in place', () => {
    const { attributes, bytes } = loaded({ user: { id: 7 } })
    ;(readAttribute(attributes, 'user') as { id: number }).id = 8
    assert.equal(generic.keysUnchanged(attributes, ['user'], bytes), false)
  })

  test('no when a handed-out key was deleted, or was not stored before', () => {
    const { attributes, bytes } = loaded({ user: { id: 7 }, other: 1 })
    readAttribute(attributes, 'user')
    delete attributes.user
    assert.equal(generic.keysUnchanged(attributes, ['user'], bytes), false, 'deleted')
    const fresh = loaded({ other: 1 })
    fresh.attributes.added = 1 as never
    assert.equal(generic.keysUnchanged(fresh.attributes, ['added'], fresh.bytes), false, 'not stored before')
  })

  test('no list of keys is no change', () => {
    const { attributes, bytes } = loaded({ a: 1 })
    assert.equal(generic.keysUnchanged(attributes, [], bytes), true)
  })

  test('a typed schema always writes: it cannot compare keys one by one', () => {
    const typed = new AvroSessionCodec({ type: 'record', name: 'T', fields: [{ name: 'n', type: 'int', default: 0 }] })
    const bytes = typed.encodeAttributes({ n: 1 } as never)
    assert.equal(typed.keysUnchanged(typed.decodeAttributes(bytes), ['n'], bytes), false)
  })
})

describe('typed schemas', () => {
  const typed = new AvroSessionCodec({
    type: 'record',
    name: 'Profile',
    fields: [{ name: 'theme', type: 'string', default: 'light' }, { name: 'user', type: ['null', 'string'], default: null }, { name: 'visits', type: 'int' }]
  })

  test('a new session starts with the defaults, and no key for a field without one', () => {
    const empty = typed.emptyAttributes()
    assert.deepEqual({ ...empty }, { theme: 'light', user: null })
    assert.equal(Object.hasOwn(empty, 'visits'), false)
  })

  test('loaded attributes are plain values', () => {
    const decoded = typed.decodeAttributes(typed.encodeAttributes({ visits: 3, theme: 'dark' } as never))
    assert.deepEqual({ ...decoded }, { theme: 'dark', user: null, visits: 3 })
    assert.equal(decoded.visits, 3)
  })

  test('a field without a default that was never set is refused, saying what to do', () => {
    assert.throws(() => typed.encodeAttributes({ theme: 'dark' } as never), (error: Error & { code?: string }) =>
      error.code === 'FST_MSM_SCHEMA_MISMATCH' && /visits/.test(error.message) && /the field has no default and was never set; set it before the session is saved/.test(error.message))
  })
})

describe('a value of another writer schema', () => {
  test('bytes cut short are refused with the bounds check\'s reason', () => {
    const writerCodec = new AvroSessionCodec({ type: 'record', name: 'A', fields: [{ name: 'n', type: 'int' }, { name: 's', type: 'string' }] })
    const reader = new AvroSessionCodec({ type: 'record', name: 'A', fields: [{ name: 'n', type: 'int' }] })
    const value = Buffer.from(writerCodec.encodeValue(meta, writerCodec.encodeAttributes({ n: 1, s: 'hello' } as never)), 'base64')
    const writer = buildWriterType(JSON.parse(writerCodec.schemaText) as object)
    const decoded = reader.decodeWithWriter(value.subarray(0, value.length - 2), writer)
    assert.deepEqual(decoded, { ok: false, reason: 'length past the end' })
    const whole = reader.decodeWithWriter(value, writer)
    assert.ok(whole.ok === true)
    assert.deepEqual({ ...whole.session.attributes }, { n: 1 })
  })
})
