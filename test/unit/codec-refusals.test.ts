// What the session codecs refuse, and why (the reason ends up in the
// "stored session is unreadable" warning): values that are not ours, cut
// short, of another format, with bytes after the record, of an incompatible
// writer schema; serializers that misbehave. Any such value is "no session",
// never half-decoded data. Written for mutants that survived the rest of
// the suite (test/mutation/REPORT.md).
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { HEADER_LENGTH, writerTypeOf } from '../helpers/stored-values.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { jsonSerializer, SerializerSessionCodec } from '../../lib/serialization/serializer-codec.js'
import type { Serializer } from '../../lib/index.js'

const meta = { id: '0123456789abcdef0123456789abcdef-n1', createdAt: 1_700_000_000_000, lastAccessedAt: 1_700_000_100_000, maxInactiveInterval: 1800, ownMaxInactiveInterval: null, ownCookieMaxAge: null }
const avro = new AvroSessionCodec()
const stored = avro.encodeValue(meta, avro.encodeAttributes({ n: 1 } as never))
const bytesOf = (value: string): Buffer => Buffer.from(value, 'base64')

function refusal (result: ReturnType<AvroSessionCodec['decodeValue']>): string {
  assert.equal(result.ok, false)
  return (result as { reason: string }).reason
}

test('the Avro codec says why it refuses a stored value', () => {
  assert.match(refusal(avro.decodeValue(42)), /not text/)
  assert.match(refusal(avro.decodeValue(bytesOf(stored).subarray(0, HEADER_LENGTH - 1).toString('base64'))), /shorter than the header/)
  const json = new SerializerSessionCodec(jsonSerializer)
  assert.match(refusal(avro.decodeValue(json.encodeValue(meta, json.encodeAttributes({ n: 1 } as never)))), /format 2 is not Avro/)
  const noMarker = bytesOf(stored)
  noMarker[1] = 0
  assert.match(refusal(avro.decodeValue(noMarker.toString('base64'))), /single-object marker/)
  const secondMarkerByte = bytesOf(stored)
  secondMarkerByte[2] = 0
  assert.match(refusal(avro.decodeValue(secondMarkerByte.toString('base64'))), /single-object marker/)
  const trailing = Buffer.concat([bytesOf(stored), Buffer.from([0])])
  assert.match(refusal(avro.decodeValue(trailing.toString('base64'))), /trailing bytes/)
})

test('a value of exactly the header is not "shorter than the header", and still refused', () => {
  const reason = refusal(avro.decodeValue(bytesOf(stored).subarray(0, HEADER_LENGTH).toString('base64')))
  assert.doesNotMatch(reason, /shorter/)
})

test('a value whose writer schema cannot be resolved is refused, with the reason', () => {
  const reader = new AvroSessionCodec({ type: 'record', name: 'A', fields: [{ name: 'n', type: 'int' }] })
  const writerSchema = { type: 'record', name: 'A', fields: [{ name: 'n', type: 'string' }] }
  const writerCodec = new AvroSessionCodec(writerSchema)
  const value = bytesOf(writerCodec.encodeValue(meta, writerCodec.encodeAttributes({ n: 'x' } as never)))
  const writer = writerTypeOf(writerCodec, value)
  assert.match(refusal(reader.decodeWithWriter(value, writer)), /cannot resolve the writer schema/)
  assert.match(refusal(reader.decodeWithWriter(Buffer.concat([value, Buffer.from([0])]), writer)), /trailing bytes/)
})

test('a value of another writer schema that resolves keeps its attributes and meta', () => {
  const writerCodec = new AvroSessionCodec({ type: 'record', name: 'A', fields: [{ name: 'n', type: 'int' }] })
  const reader = new AvroSessionCodec({ type: 'record', name: 'A', fields: [{ name: 'n', type: 'int' }, { name: 'theme', type: 'string', default: 'light' }] })
  const value = bytesOf(writerCodec.encodeValue(meta, writerCodec.encodeAttributes({ n: 7 } as never)))
  const decoded = reader.decodeWithWriter(value, writerTypeOf(writerCodec, value))
  assert.ok(decoded.ok === true)
  assert.deepEqual({ ...decoded.session.attributes }, { n: 7, theme: 'light' })
  assert.equal(decoded.session.meta.id, meta.id)
})

test('a typed schema refuses to encode a field that has no default and was never set, naming it', () => {
  const typed = new AvroSessionCodec({ type: 'record', name: 'A', fields: [{ name: 'required', type: 'string' }, { name: 'n', type: 'int', default: 0 }] })
  assert.throws(() => typed.encodeAttributes({ n: 1 } as never), (error: Error & { code?: string }) => error.code === 'FST_MSM_SCHEMA_MISMATCH' && /required/.test(error.message))
  const bytes = typed.encodeAttributes({ required: 'x' } as never)
  assert.deepEqual({ ...typed.decodeAttributes(bytes) }, { required: 'x', n: 0 }, 'the default filled in')
})

test('a serializer name is 1 to 64 characters from [A-Za-z0-9_.-], nothing before or after', () => {
  const named = (name: string): Serializer => ({ ...jsonSerializer, name })
  for (const name of ['', ' json', 'json!', '!json', 'x'.repeat(65), 'jsön']) {
    assert.throws(() => new SerializerSessionCodec(named(name)), TypeError, JSON.stringify(name))
  }
  for (const name of ['json', 'a', 'my-codec_v1.2', 'x'.repeat(64)]) assert.doesNotThrow(() => new SerializerSessionCodec(named(name)), name)
})

test('the serializer codec says why it refuses a stored value', () => {
  const json = new SerializerSessionCodec(jsonSerializer)
  const value = json.encodeValue(meta, json.encodeAttributes({ n: 1 } as never))
  assert.match(refusal(json.decodeValue(42)), /not text/)
  assert.match(refusal(json.decodeValue(stored)), /not written by serializer "json"/)
  assert.match(refusal(json.decodeValue(bytesOf(value).subarray(0, 3).toString('base64'))), /not written by serializer "json"/, 'shorter than its header')
  const other = new SerializerSessionCodec({ ...jsonSerializer, name: 'jsox' })
  assert.match(refusal(other.decodeValue(value)), /not written by serializer "jsox"/)
  const cut = bytesOf(value).subarray(0, 8).toString('base64')
  assert.equal(json.decodeValue(cut).ok, false)
  const decoded = json.decodeValue(value)
  assert.ok(decoded.ok === true)
  assert.deepEqual({ ...decoded.session.attributes }, { n: 1 })
})

test('a serializer that returns no object, or throws, makes the value unreadable, named in the reason', () => {
  for (const result of [null, 5, 'text', [1, 2]]) {
    const odd = new SerializerSessionCodec({ name: 'odd', encode: () => Buffer.from('x'), decode: () => result as never })
    const value = odd.encodeValue(meta, Buffer.from('x'))
    assert.match(refusal(odd.decodeValue(value)), /did not return an object/, JSON.stringify(result))
  }
  const failing = new SerializerSessionCodec({ name: 'failing', encode: () => Buffer.from('x'), decode: () => { throw new Error('boom') } })
  assert.match(refusal(failing.decodeValue(failing.encodeValue(meta, Buffer.from('x')))), /serializer "failing" failed: boom/)
})

test('the JSON serializer refuses __proto__ and Dates', () => {
  assert.throws(() => jsonSerializer.decode(Buffer.from('{"__proto__": {"polluted": true}}')), /__proto__ is reserved/)
  const json = new SerializerSessionCodec(jsonSerializer)
  assert.throws(() => json.validate('when', new Date()))
  assert.deepEqual(jsonSerializer.decode(jsonSerializer.encode({ text: 'grüße' } as never)), { text: 'grüße' }, 'UTF-8 both ways')
})
