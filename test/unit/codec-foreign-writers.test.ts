// Reading a generic session written with another writer schema (a rolling
// deploy, or another Avro library sharing the sessions): Avro's resolution
// rules decide, and the generic attribute values (fastify.msm.JsonValue) are
// read as plain JSON-like values only from a writer whose JsonValue carries the
// `json-value` logical type. Anything else is "no session", never attribute
// values that are still Avro's wrapped records ({ v: { double: 42 } }).
// docs/serialization.md ("The generic attribute type", "The schema registry").
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { buildWriterType, canonicalForm } from '../../lib/serialization/avro-types.js'
import { crc64Avro } from '../../lib/serialization/crc64-avro.js'
import type avro from 'avsc'

const generic = new AvroSessionCodec()

/** A generic Session schema around `values`, the type of each attribute. */
function sessionWith (values: object): object {
  return {
    type: 'record',
    name: 'Session',
    namespace: 'fastify.msm',
    fields: [
      { name: 'id', type: 'string' },
      { name: 'createdAt', type: 'long' },
      { name: 'lastAccessedAt', type: 'long' },
      { name: 'maxInactiveInterval', type: 'int' },
      { name: 'attributes', type: { type: 'map', values } }
    ]
  }
}

/** An older JsonValue (no timestamp branch), with or without the logical type. */
function olderJsonValue (logical: boolean): object {
  return {
    type: 'record',
    name: 'JsonValue',
    namespace: 'fastify.msm',
    ...(logical ? { logicalType: 'json-value' } : {}),
    fields: [{ name: 'v', type: ['null', 'boolean', 'double', 'string', { type: 'array', items: 'fastify.msm.JsonValue' }, { type: 'map', values: 'fastify.msm.JsonValue' }] }]
  }
}

/** A stored value (header and record) as the writer would store it. */
function storedBy (writer: avro.Type, attributes: Record<string, unknown>): Buffer {
  const record = writer.toBuffer({ id: 'abc-n1', createdAt: 1_700_000_000_000, lastAccessedAt: 1_700_000_100_000, maxInactiveInterval: 1800, attributes })
  return Buffer.concat([Buffer.from([1, 0xc3, 0x01]), crc64Avro(canonicalForm(writer)), record])
}

test('an older JsonValue with the json-value logical type is read as plain values', () => {
  const writer = buildWriterType(sessionWith(olderJsonValue(true)))
  assert.notEqual(crc64Avro(canonicalForm(writer)).toString('hex'), generic.fingerprintHex, 'another writer schema')
  const decoded = generic.decodeWithWriter(storedBy(writer, { n: 42, list: ['a', null], user: { id: 7 } }), writer)
  assert.ok(decoded.ok === true, JSON.stringify(decoded))
  assert.deepEqual(decoded.session.attributes, { n: 42, list: ['a', null], user: { id: 7 } })
  assert.equal(decoded.session.meta.createdAt, 1_700_000_000_000)
})

test('a JsonValue without the logical type is refused, never read as wrapped records', () => {
  const writer = buildWriterType(sessionWith(olderJsonValue(false)))
  const decoded = generic.decodeWithWriter(storedBy(writer, { n: { v: { double: 42 } } }), writer)
  assert.equal(decoded.ok, false, JSON.stringify(decoded))
  assert.match((decoded as { reason: string }).reason, /^cannot resolve the writer schema: cannot read "fastify\.msm\.JsonValue" as "fastify\.msm\.JsonValue"$/)
})

test('attribute values of another type than JsonValue (strings) are refused, by Avro\'s rules', () => {
  const writer = buildWriterType(sessionWith({ type: 'string' }))
  const decoded = generic.decodeWithWriter(storedBy(writer, { n: 'hi' }), writer)
  assert.equal(decoded.ok, false, JSON.stringify(decoded))
  assert.match((decoded as { reason: string }).reason, /^cannot resolve the writer schema: cannot read "string" as "fastify\.msm\.JsonValue"$/)
})
