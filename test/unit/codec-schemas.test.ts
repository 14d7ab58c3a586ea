// The schemas behind the stored format and what other processes read from
// them: the generic schema's fingerprint (a stored value names its writer
// schema by it, so it must never change), the published schema with its
// logical types, reading a value through a writer schema from the registry
// (JsonValue and timestamps), the descriptions in error messages, and the
// pluggable serializer codec's refusals. Written for mutants that survived the
// rest of the suite (test/mutation/REPORT.md).
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { buildWriterType } from '../../lib/serialization/avro-types.js'
import { describe as describeValue } from '../../lib/serialization/codec-format.js'
import { assertStorable } from '../../lib/serialization/attribute-value.js'
import { jsonSerializer, SerializerSessionCodec } from '../../lib/serialization/serializer-codec.js'
import { readAttribute } from '../../lib/serialization/lazy-attributes.js'
import type { Attributes } from '../../lib/types/index.js'

// An idle timeout of its own: the value is written in this release's record (codec.type, codec.schemaText)
const meta = { id: '0123456789abcdef0123456789abcdef-n1', createdAt: 1_700_000_000_000, lastAccessedAt: 1_700_000_100_000, maxInactiveInterval: 3600, ownMaxInactiveInterval: 3600, ownCookieMaxAge: null }
const generic = new AvroSessionCodec()

function stored (codec: AvroSessionCodec | SerializerSessionCodec, attributes: Record<string, unknown>): Buffer {
  return Buffer.from(codec.encodeValue(meta, codec.encodeAttributes(attributes as Attributes)), 'base64')
}

describe('the generic schema', () => {
  test('has the fingerprint of the record with the lifetime fields (0.1.0 wrote c241a2246f3d4662), named fastify.msm.Session', () => {
    assert.equal(generic.fingerprintHex, 'b486dbc3523ae95a')
    assert.equal((JSON.parse(generic.schemaText) as { name: string }).name, 'fastify.msm.Session')
  })

  test('is published with its logical types, so that another process can read values through it', () => {
    assert.match(generic.schemaText, /"logicalType":"json-value"/)
    assert.match(generic.schemaText, /"logicalType":"timestamp-millis"/)
  })

  test('a value read through the published writer schema has the same attributes and meta', () => {
    const attributes = { user: { id: 7, name: 'Ada', roles: ['admin'] }, seen: new Date(1_700_000_050_000), flag: true, none: null, text: 'hello', n: 1.5 }
    const writer = buildWriterType(JSON.parse(generic.schemaText) as object)
    const decoded = generic.decodeWithWriter(stored(generic, attributes), writer)
    assert.ok(decoded.ok === true, JSON.stringify(decoded))
    const read: Record<string, unknown> = {}
    for (const key of Object.keys(decoded.session.attributes)) read[key] = readAttribute(decoded.session.attributes, key)
    assert.deepEqual(read, attributes)
    assert.deepEqual(decoded.session.meta, meta)
  })
})

describe('timestamps in typed schemas, across writer schemas', () => {
  const reader = new AvroSessionCodec({ type: 'record', name: 'T', fields: [{ name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } }] })

  test('a timestamp written as a timestamp reads as the same Date', () => {
    const value = stored(reader, { at: new Date(1_700_000_000_123) })
    const decoded = reader.decodeWithWriter(value, buildWriterType(JSON.parse(reader.schemaText) as object))
    assert.ok(decoded.ok === true)
    assert.deepEqual(decoded.session.attributes.at, new Date(1_700_000_000_123))
  })

  test('a plain long of an older schema reads as a Date', () => {
    const older = new AvroSessionCodec({ type: 'record', name: 'T', fields: [{ name: 'at', type: 'long' }] })
    const decoded = reader.decodeWithWriter(stored(older, { at: 1_700_000_000_123 }), buildWriterType(JSON.parse(older.schemaText) as object))
    assert.ok(decoded.ok === true, JSON.stringify(decoded))
    assert.ok(decoded.session.attributes.at instanceof Date)
    assert.equal((decoded.session.attributes.at as unknown as Date).getTime(), 1_700_000_000_123)
  })

  test('a string of an older schema cannot become a timestamp: refused, with the reason', () => {
    const older = new AvroSessionCodec({ type: 'record', name: 'T', fields: [{ name: 'at', type: 'string' }] })
    const decoded = reader.decodeWithWriter(stored(older, { at: 'yesterday' }), buildWriterType(JSON.parse(older.schemaText) as object))
    assert.equal(decoded.ok, false)
    assert.match((decoded as { reason: string }).reason, /cannot resolve the writer schema/)
  })
})

describe('values in error messages', () => {
  test('strings up to 40 characters whole, longer ones cut to 37 and "..."', () => {
    assert.equal(describeValue('x'.repeat(40)), JSON.stringify('x'.repeat(40)))
    assert.equal(describeValue('x'.repeat(41)), JSON.stringify('x'.repeat(37) + '...'))
  })

  test('a Date, an array, an object and the rest by name, never their contents', () => {
    assert.equal(describeValue(new Date(0)), 'a Date')
    assert.equal(describeValue([1, 2]), 'an array')
    assert.equal(describeValue({ secret: 'x' }), 'an object')
    assert.equal(describeValue(null), 'null')
    assert.equal(describeValue(42), '42')
  })
})

describe('what an attribute may hold', () => {
  const problem = (value: unknown): string => {
    try {
      assertStorable('k', value, { dates: true })
    } catch (error) {
      assert.equal((error as { code?: string }).code, 'FST_MSM_VALUE_UNSUPPORTED')
      return (error as Error).message
    }
    return 'stored'
  }

  test('an instance is named by its class; an object without a constructor is "a class instance"', () => {
    class Cart {}
    assert.match(problem({ cart: new Cart() }), /k\.cart" cannot be stored: a Cart instance is not a plain object\. Store/)
    assert.match(problem({ odd: Object.create(Object.create(null) as object) }), /k\.odd" cannot be stored: a class instance is not a plain object\. Store/)
  })

  test('undefined inside an object says how to fix it', () => {
    assert.match(problem({ a: undefined }), /k\.a.*undefined is not stored; delete the key or use null/)
  })

  test('objects nested 64 levels are stored; 65 are refused', () => {
    const nested = (levels: number): unknown => { let v: unknown = 1; for (let i = 0; i < levels; i++) v = { v }; return v }
    assert.equal(problem(nested(64)), 'stored')
    assert.match(problem(nested(65)), /nested deeper than 64 levels/)
  })
})

describe('the serializer codec', () => {
  const json = new SerializerSessionCodec(jsonSerializer)

  test('a bad name is refused, saying which names are allowed', () => {
    assert.throws(() => new SerializerSessionCodec({ ...jsonSerializer, name: 'bad name' }), /^TypeError: a serializer name is 1 to 64 characters from \[A-Za-z0-9_\.-\]$/)
  })

  test('attributes round-trip through the serializer', () => {
    assert.deepEqual({ ...json.decodeAttributes(json.encodeAttributes({ a: 1, b: 'x' } as never)) }, { a: 1, b: 'x' })
  })

  test('a value of just its header is refused for its missing meta, not as another serializer\'s', () => {
    const value = stored(json, { a: 1 })
    const header = 2 + Buffer.byteLength('json')
    const decoded = json.decodeValue(value.subarray(0, header).toString('base64'))
    assert.deepEqual(decoded, { ok: false, reason: 'truncated varint' })
    const cut = json.decodeValue(value.subarray(0, header + 3).toString('base64'))
    assert.equal(cut.ok, false)
    assert.doesNotMatch((cut as { reason: string }).reason, /not written by/)
  })
})
