import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import avro from 'avsc'
import { crc64Avro } from '../../lib/serialization/crc64-avro.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { jsonSerializer, SerializerSessionCodec } from '../../lib/serialization/serializer-codec.js'
import { SESSION_SCHEMA, SESSION_SCHEMA_V1 } from '../../lib/serialization/avro-types.js'
import { HEADER_LENGTH, plainWriterSchema, writerTypeOf } from '../helpers/stored-values.js'
import { allAttributes } from '../helpers/attributes.js'

const codec = new AvroSessionCodec()
const meta = { id: '0123456789abcdef0123456789abcdef-n1', createdAt: 1_700_000_000_000, lastAccessedAt: 1_700_000_100_000, maxInactiveInterval: 1800, ownMaxInactiveInterval: null, ownCookieMaxAge: null }
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
  assert.ok(decoded.ok === true)
  assert.deepEqual({ ...decoded.session.meta }, meta)
  assert.deepEqual(allAttributes(decoded.session.attributes), attributes)
  assert.ok(Object.is(allAttributes(decoded.session.attributes).negativeZero, -0))
})

test('the stored value is base64 text of header + Avro, readable with the published schema alone', () => {
  const stored = encode()
  assert.match(stored, /^[A-Za-z0-9+/]+=*$/)
  const bytes = Buffer.from(stored, 'base64')
  assert.equal(bytes[0], 1, 'format version')
  assert.deepEqual([...bytes.subarray(1, 3)], [0xc3, 0x01], 'single-object marker')
  // A session without lifetimes of its own: in 0.1.0's record (one with them: SESSION_SCHEMA, below)
  const plainType = avro.Type.forSchema(SESSION_SCHEMA_V1 as never)
  assert.deepEqual(bytes.subarray(3, HEADER_LENGTH), crc64Avro(JSON.stringify(plainType.schema())), 'fingerprint of the canonical schema')
  // No logical type registered: the JsonValue wrapper records appear as { v: { branch: value } }
  const record = plainType.fromBuffer(bytes.subarray(HEADER_LENGTH)) as { id: string, attributes: Record<string, { v: unknown }> }
  assert.equal(record.id, meta.id)
  assert.deepEqual(JSON.parse(JSON.stringify(record.attributes.n)), { v: { double: 42 } })
  const remembered = Buffer.from(codec.encodeValue({ ...meta, ownMaxInactiveInterval: 3600, ownCookieMaxAge: 'BROWSER_SESSION' }, codec.encodeAttributes({ n: 42 })), 'base64')
  const fullType = avro.Type.forSchema(SESSION_SCHEMA as never)
  assert.deepEqual(remembered.subarray(3, HEADER_LENGTH), crc64Avro(JSON.stringify(fullType.schema())))
  const full = fullType.fromBuffer(remembered.subarray(HEADER_LENGTH)) as { ownMaxInactiveInterval: unknown, ownCookieMaxAge: unknown }
  assert.deepEqual([full.ownMaxInactiveInterval, full.ownCookieMaxAge], [3600, 'BROWSER_SESSION'])
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
    ['random bytes', Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7919) % 256)).toString('base64')],
    ['garbage text', '%%% not base64 %%%']
  ]
  for (const [name, value] of variants) {
    const result = codec.decodeValue(value)
    assert.equal(result.ok, false, name)
  }
  const unknown = codec.decodeValue(Buffer.concat([good.subarray(0, 3), Buffer.alloc(8, 7), good.subarray(11)]).toString('base64'))
  assert.equal(unknown.ok, 'unknown-schema', 'an unknown fingerprint asks for the writer schema')
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
  const forged = avro.Type.forSchema(SESSION_SCHEMA as never, { wrapUnions: true })
  const body = forged.toBuffer({ ...meta, attributes: { ['__proto__']: { v: { map: { isAdmin: { v: { boolean: true } } } } } } })
  const header = Buffer.from(encode(), 'base64').subarray(0, HEADER_LENGTH)
  const result = codec.decodeValue(Buffer.concat([header, body]).toString('base64'))
  assert.equal(result.ok, false)
})

test('the generic type stores Dates faithfully, nested anywhere', () => {
  const when = new Date('2026-11-21T10:00:00.123Z')
  const decoded = codec.decodeValue(encode({ when, list: [when, { at: when }] }))
  assert.ok(decoded.ok === true)
  const attributes = allAttributes(decoded.session.attributes) as unknown as { when: Date, list: [Date, { at: Date }] }
  assert.ok(attributes.when instanceof Date)
  assert.equal(attributes.when.getTime(), when.getTime())
  assert.equal(attributes.list[1].at.toISOString(), when.toISOString())
})

const typedSchema = {
  type: 'record',
  name: 'Attributes',
  fields: [
    { name: 'user', type: ['null', { type: 'record', name: 'User', fields: [{ name: 'id', type: 'string' }, { name: 'roles', type: { type: 'array', items: 'string' } }] }], default: null },
    { name: 'visits', type: 'int', default: 0 },
    { name: 'lastLogin', type: ['null', { type: 'long', logicalType: 'timestamp-millis' }], default: null }
  ]
}

test('typed schemas validate at set(), naming the path, and fill defaults', () => {
  const typed = new AvroSessionCodec(typedSchema)
  typed.validate('visits', 3)
  typed.validate('user', { id: 'u1', roles: ['admin'] })
  typed.validate('lastLogin', new Date())
  assert.throws(() => typed.validate('visits', 'many'), { code: 'FST_MSM_SCHEMA_MISMATCH', message: /"visits".*visits = "many" is not a valid int/ })
  assert.throws(() => typed.validate('user', { id: 'u1', roles: [1] }), { code: 'FST_MSM_SCHEMA_MISMATCH', message: /user\.roles\.0 = 1/ })
  assert.throws(() => typed.validate('unknown', 1), { code: 'FST_MSM_SCHEMA_MISMATCH', message: /no field "unknown"/ })
  const value = typed.encodeValue(meta, typed.encodeAttributes({ visits: 2 } as never))
  const decoded = typed.decodeValue(value)
  assert.ok(decoded.ok === true)
  assert.deepEqual(decoded.session.attributes, { user: null, visits: 2, lastLogin: null })
  assert.ok(typed.encodeAttributes({ visits: 2 } as never).length < codec.encodeAttributes({ visits: 2 }).length, 'typed sessions are more compact')
})

test('a value written with another schema asks for that schema, then resolves by Avro rules', async () => {
  const v1 = new AvroSessionCodec(typedSchema)
  const v2Schema = {
    ...typedSchema,
    fields: [
      ...typedSchema.fields.filter((field) => field.name !== 'lastLogin'),
      { name: 'theme', type: 'string', default: 'light' }
    ]
  }
  const v2 = new AvroSessionCodec(v2Schema)
  assert.notEqual(v1.fingerprintHex, v2.fingerprintHex)
  const written = v1.encodeValue(meta, v1.encodeAttributes({ visits: 7, lastLogin: new Date(5) } as never))
  const first = v2.decodeValue(written)
  assert.equal(first.ok, 'unknown-schema')
  if (first.ok !== 'unknown-schema') return
  assert.equal(first.fingerprint, plainWriterSchema(v1).fingerprintHex)
  const resolved = v2.decodeWithWriter(first.bytes, writerTypeOf(v1, first.bytes))
  assert.ok(resolved.ok === true)
  assert.deepEqual(resolved.session.attributes, { user: null, visits: 7, theme: 'light' }, 'added field gets its default, removed field is dropped')
  assert.equal(resolved.session.attributesBytes, null)

  const noDefault = new AvroSessionCodec({ ...typedSchema, fields: [...typedSchema.fields, { name: 'tenant', type: 'string' }] })
  const refused = noDefault.decodeWithWriter(first.bytes, writerTypeOf(v1, first.bytes))
  assert.equal(refused.ok, false, 'a field added without a default cannot be resolved')
})

test('the JSON serializer writes format 2 and refuses what JSON cannot keep', () => {
  const json = new SerializerSessionCodec(jsonSerializer)
  const value = json.encodeValue(meta, json.encodeAttributes({ a: [1, 'x'], b: { c: null } }))
  const bytes = Buffer.from(value, 'base64')
  assert.equal(bytes[0], 2)
  assert.equal(bytes.subarray(2, 2 + (bytes[1] as number)).toString(), 'json')
  const decoded = json.decodeValue(value)
  assert.ok(decoded.ok === true)
  assert.deepEqual(allAttributes(decoded.session.attributes), { a: [1, 'x'], b: { c: null } })
  assert.throws(() => json.validate('d', new Date()), { code: 'FST_MSM_VALUE_UNSUPPORTED' })
  assert.equal(json.decodeValue(encode()).ok, false, 'an Avro value is not JSON')
  assert.equal(codec.decodeValue(value).ok, false, 'a JSON value is not Avro')
  const proto = json.encodeValue(meta, Buffer.from('{"__proto__":{"admin":true}}'))
  assert.equal(json.decodeValue(proto).ok, false)
})
