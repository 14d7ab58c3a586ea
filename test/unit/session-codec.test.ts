import { test } from 'node:test'
import assert from 'node:assert/strict'
import avro from 'avsc'
import { crc64Avro } from '../../lib/serialization/crc64-avro.js'
import { HEADER_LENGTH, SessionCodec } from '../../lib/serialization/session-codec.js'
import { SESSION_SCHEMA } from '../../lib/serialization/session-schema.js'

const codec = new SessionCodec()
const meta = { id: '0123456789abcdef0123456789abcdef-n1', createdAt: 1_700_000_000_000, lastAccessedAt: 1_700_000_100_000, maxInactiveInterval: 1800 }
const attributes = {
  user: { id: 'u1', roles: ['admin', 'dev'], score: 3.25, active: true, manager: null },
  n: 42,
  negativeZero: -0,
  notANumber: Number.NaN,
  big: 2 ** 53,
  text: 'grüße 👋',
  nested: [[[]], {}, [{ a: [1, 'b', false] }]]
}

function encode (attrs: Record<string, unknown> = attributes): string {
  return codec.encodeValue(meta, codec.encodeAttributes(attrs as never))
}

test('CRC-64-AVRO matches the Avro specification test vectors', () => {
  assert.equal(crc64Avro('"null"').readBigUInt64LE(), 7195948357588979594n)
  assert.equal(crc64Avro('"int"').readBigUInt64LE(), 0x7275d51a3f395c8fn)
  assert.equal(crc64Avro('"string"').readBigUInt64LE(), 0x8f014872634503c7n)
})

test('values round-trip faithfully', () => {
  const decoded = codec.decodeValue(encode())
  assert.ok(decoded.ok)
  assert.deepEqual({ ...decoded.session.meta }, meta)
  assert.deepEqual(decoded.session.attributes, attributes)
  assert.ok(Object.is(decoded.session.attributes.negativeZero, -0))
})

test('the stored value is base64 text of header + Avro, readable with the published schema alone', () => {
  const stored = encode()
  assert.match(stored, /^[A-Za-z0-9+/]+=*$/)
  const bytes = Buffer.from(stored, 'base64')
  assert.equal(bytes[0], 1, 'format version')
  assert.deepEqual([...bytes.subarray(1, 3)], [0xc3, 0x01], 'single-object marker')
  const plainType = avro.Type.forSchema(SESSION_SCHEMA as never)
  assert.deepEqual(bytes.subarray(3, HEADER_LENGTH), crc64Avro(JSON.stringify(plainType.schema())), 'fingerprint of the canonical schema')
  // No logical type registered: the JsonValue wrapper records appear as { v }
  const record = plainType.fromBuffer(bytes.subarray(HEADER_LENGTH)) as { id: string, attributes: Record<string, { v: unknown }> }
  assert.equal(record.id, meta.id)
  assert.deepEqual({ ...record.attributes.n }, { v: 42 })
})

test('equal attributes encode to equal bytes, different ones do not', () => {
  const a = codec.encodeAttributes({ x: 1, y: [1, 2] })
  const b = codec.encodeAttributes({ x: 1, y: [1, 2] })
  const c = codec.encodeAttributes({ x: 1, y: [1, 3] })
  assert.ok(a.equals(b))
  assert.ok(!a.equals(c))
})

test('corrupt stored values are rejected with a reason, never thrown', () => {
  const good = Buffer.from(encode(), 'base64')
  const variants: Array<[string, unknown]> = [
    ['not text', Buffer.from('x')],
    ['a number', 42],
    ['empty', ''],
    ['truncated header', good.subarray(0, 5).toString('base64')],
    ['truncated body', good.subarray(0, good.length - 3).toString('base64')],
    ['trailing data', Buffer.concat([good, Buffer.from([0])]).toString('base64')],
    ['wrong version', Buffer.concat([Buffer.from([2]), good.subarray(1)]).toString('base64')],
    ['wrong marker', Buffer.concat([Buffer.from([1, 0xc3, 0x02]), good.subarray(3)]).toString('base64')],
    ['unknown fingerprint', Buffer.concat([good.subarray(0, 3), Buffer.alloc(8, 7), good.subarray(11)]).toString('base64')],
    ['random bytes', Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7919) % 256)).toString('base64')],
    ['garbage text', '%%% not base64 %%%']
  ]
  for (const [name, value] of variants) {
    const result = codec.decodeValue(value)
    assert.equal(result.ok, false, name)
  }
})

test('a block count larger than the bytes left is rejected before avsc loops on it', () => {
  const header = Buffer.from(encode(), 'base64').subarray(0, HEADER_LENGTH)
  const body = Buffer.concat([
    Buffer.from([2, 0x61]), // id "a"
    Buffer.from([0, 0, 2]), // createdAt, lastAccessedAt, maxInactiveInterval
    Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]) // a map of ~2^52 entries
  ])
  const result = codec.decodeValue(Buffer.concat([header, body]).toString('base64'))
  assert.deepEqual(result, { ok: false, reason: 'block count larger than the bytes left' })
})

test('a stored __proto__ key is rejected rather than assigned to a prototype', () => {
  const forged = avro.Type.forSchema(SESSION_SCHEMA as never)
  const body = forged.toBuffer({ ...meta, attributes: { ['__proto__']: { v: { isAdmin: { v: true } } } } })
  const header = Buffer.from(encode(), 'base64').subarray(0, HEADER_LENGTH)
  const result = codec.decodeValue(Buffer.concat([header, body]).toString('base64'))
  assert.equal(result.ok, false)
})
