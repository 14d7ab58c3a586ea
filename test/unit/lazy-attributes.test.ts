// Loaded generic sessions decode each attribute the first time it is read
// (lib/serialization/lazy-attributes.ts): what a route sees must be exactly
// what an eager decode gives, and corrupt bytes must still be "no session"
// at load time, never an error later inside a route. A write copies the bytes
// of attributes never read, also from sticky mode's local copy
// (decodeAttributes), exactly as they were stored.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import avro from 'avsc'
import { lazyAttributes, readAttribute } from '../../lib/serialization/lazy-attributes.js'
import { checkRecordWithMapEntries } from '../../lib/serialization/avro-bounds.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { HEADER_LENGTH } from '../../lib/serialization/codec-format.js'
import { SESSION_SCHEMA } from '../../lib/serialization/avro-types.js'
import type { Attributes } from '../../lib/types/index.js'

const codec = new AvroSessionCodec()
// An idle timeout of its own: the value is written in this release's record (codec.type, codec.schemaText)
const meta = { id: '0123456789abcdef0123456789abcdef-n1', createdAt: 1_700_000_000_000, lastAccessedAt: 1_700_000_100_000, maxInactiveInterval: 3600, ownMaxInactiveInterval: 3600, ownCookieMaxAge: null }
const stored = { user: { id: 'u1', roles: ['a'] }, n: 3, when: new Date(1_700_000_000_123), cart: [{ sku: 'x', qty: 2 }] }

function countingDecode (): { decode: (bytes: Buffer, start: number) => unknown, decoded: string[] } {
  const valueType = (codec.type as avro.types.RecordType).field('attributes').type as avro.types.MapType
  const decoded: string[] = []
  return {
    decoded,
    decode: (bytes, start) => {
      const value = valueType.valuesType.decode(bytes, start).value
      decoded.push(JSON.stringify(value))
      return value
    }
  }
}

function loaded (): { attributes: Record<string, unknown>, decoded: string[] } {
  const bytes = Buffer.from(codec.encodeValue(meta, codec.encodeAttributes(stored as never)), 'base64')
  const checked = checkRecordWithMapEntries(codec.type, bytes, HEADER_LENGTH)
  assert.ok('entries' in checked && checked.entries !== null)
  const { decode, decoded } = countingDecode()
  return { attributes: lazyAttributes(checked.entries, bytes, decode), decoded }
}

test('only the attributes that are read are decoded, each once', () => {
  const { attributes, decoded } = loaded()
  assert.deepEqual(Object.keys(attributes), ['user', 'n', 'when', 'cart'])
  assert.ok(Object.hasOwn(attributes, 'cart'))
  assert.deepEqual(decoded, [], 'listing and testing keys decodes nothing')
  const user = readAttribute(attributes as never, 'user') as { id: string }
  assert.equal(user.id, 'u1')
  assert.equal(readAttribute(attributes as never, 'user'), user, 'the same object on every read')
  assert.equal(decoded.length, 1, 'user decoded once; cart, n and when not at all')
})

test('setting or deleting an attribute that was never read decodes nothing', () => {
  const { attributes, decoded } = loaded()
  attributes.cart = []
  assert.equal(delete attributes.n, true)
  assert.deepEqual(decoded, [])
  assert.deepEqual(readAttribute(attributes as never, 'cart'), [])
  assert.equal('n' in attributes, false)
})

test('every attribute read equals an eager decode, Dates included', () => {
  const { attributes } = loaded()
  const eager = (codec.type.fromBuffer(Buffer.from(codec.encodeValue(meta, codec.encodeAttributes(stored as never)), 'base64').subarray(HEADER_LENGTH)) as { attributes: object }).attributes
  assert.deepStrictEqual(readAll(attributes), eager)
  assert.ok(readAttribute(attributes as never, 'when') instanceof Date)
})

test('a stored long that JavaScript cannot hold exactly is "no session" at load time, not an error in a route', () => {
  const forged = avro.Type.forSchema(SESSION_SCHEMA as never, { wrapUnions: true })
  const header = Buffer.from(codec.encodeValue(meta, codec.encodeAttributes({})), 'base64').subarray(0, HEADER_LENGTH)
  for (const millis of [2 ** 60, -(2 ** 60), 9007199254740991]) {
    // a timestamp-millis long past avsc's exact range: decoding it throws "potential precision loss"
    const body = Buffer.from(forged.toBuffer({ ...meta, ownMaxInactiveInterval: { int: meta.ownMaxInactiveInterval }, attributes: {} }))
    const attributes = Buffer.concat([Buffer.from([2, 2, 0x77]), Buffer.from([12]), zigzagVarint(millis), Buffer.from([0])])
    const value = Buffer.concat([header, body.subarray(0, body.length - 1), attributes]).toString('base64')
    const result = codec.decodeValue(value)
    assert.equal(result.ok, false, `long ${millis}`)
  }
  const fine = codec.decodeValue(codec.encodeValue(meta, codec.encodeAttributes({ w: new Date(8.64e15) } as never)))
  assert.ok(fine.ok === true && (readAttribute(fine.session.attributes, 'w') as Date).getTime() === 8.64e15, 'the largest Date still loads')
})

/** Avro's zigzag varint of a (possibly huge) integer, exactly. */
function zigzagVarint (value: number): Buffer {
  let n = BigInt(value) >= 0n ? BigInt(value) * 2n : -BigInt(value) * 2n - 1n
  const bytes: number[] = []
  while (n >= 0x80n) {
    bytes.push(Number(n & 0x7fn) | 0x80)
    n >>= 7n
  }
  bytes.push(Number(n))
  return Buffer.from(bytes)
}

test("a write copies the values never read: the bytes are exactly avsc's encoding of the whole map", () => {
  const mapType = (codec.type as avro.types.RecordType).field('attributes').type
  const cases: Array<[string, (attributes: Record<string, unknown>) => void]> = [
    ['nothing changed', () => {}],
    ['one value set, never read', (a) => { a.n = 8 }],
    ['one read and changed in place', (a) => { (readAttribute(a as never, 'user') as { id: string }).id = 'u2' }],
    ['a key added', (a) => { a.extra = { deep: [1, 'two', null] } }],
    ['a key deleted', (a) => { delete a.cart }],
    ['a key deleted, then set again', (a) => { delete a.cart; a.cart = ['new'] }],
    ['every key deleted', (a) => { for (const key of Object.keys(a)) delete a[key] }]
  ]
  for (const [name, change] of cases) {
    const { attributes, decoded } = loaded()
    change(attributes)
    const before = decoded.length
    const spliced = codec.encodeAttributes(attributes as never)
    assert.equal(decoded.length, before, `${name}: encoding decoded nothing`)
    const eager = readAll(loaded().attributes)
    change(eager)
    assert.ok(spliced.equals(mapType.toBuffer(eager)), name)
  }
})

describe("sticky mode's local copy of a generic session (decodeAttributes)", () => {
  const generic = new AvroSessionCodec()

  /** The generic map { w: timestamp `millis`, n: `n` }, as any Avro writer encodes it. */
  function attributesBytes (millis: number, n: number): Buffer {
    const double = Buffer.alloc(8)
    double.writeDoubleLE(n)
    // count 2; "w", JsonValue branch 6 (timestamp-millis); "n", branch 2 (double); end of the map
    return Buffer.concat([Buffer.from([4, 2, 0x77, 12]), zigzagVarint(millis), Buffer.from([2, 0x6e, 4]), double, Buffer.from([0])])
  }

  test('writes a value never read back exactly as stored, even a timestamp past the range of Date that another writer stored', () => {
    const farFuture = 9e15 // a valid Avro long, beyond Date's 8.64e15: it reads as an invalid Date
    const header = Buffer.from(generic.encodeValue(meta, generic.encodeAttributes({} as Attributes)), 'base64')
    const stored = Buffer.concat([header.subarray(0, header.length - 1), attributesBytes(farFuture, 1)])
    assert.ok(stored.length > HEADER_LENGTH)
    const loaded = generic.decodeValue(stored.toString('base64'))
    assert.ok(loaded.ok === true && loaded.session.attributesBytes !== null, JSON.stringify(loaded))
    // the bytes sticky mode keeps, decoded again by a later request that changes n only
    const local = generic.decodeAttributes(loaded.session.attributesBytes)
    local.n = 2 as Attributes[string]
    assert.deepEqual(generic.encodeAttributes(local), attributesBytes(farFuture, 2), 'w is written as stored')
    const fromMemcached = loaded.session.attributes
    fromMemcached.n = 2 as Attributes[string]
    assert.deepEqual(generic.encodeAttributes(local), generic.encodeAttributes(fromMemcached), 'as a session loaded from memcached writes it')
  })
})

/** Every attribute decoded, as a plain object. */
function readAll (attributes: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(attributes).map((key) => [key, readAttribute(attributes as never, key)]))
}
