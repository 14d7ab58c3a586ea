// A stored value read again, unchanged, is not checked again
// (lib/serialization/checked-values.ts): the codec remembers the last value
// of each session that passed the bounds check, and takes the same text
// apart from what it remembered. A hit shares the remembered bytes (the same
// ArrayBuffer); a miss decodes its own. Every read still gets objects of its
// own, and any other text, for this session or another, is checked in full.
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { readAttribute } from '../../lib/serialization/lazy-attributes.js'
import { CheckedValues } from '../../lib/serialization/checked-values.js'
import type { Attributes } from '../../lib/types/index.js'

const id = '0123456789abcdef0123456789abcdef-n1'
const other = 'fedcba9876543210fedcba9876543210-n1'
const meta = (sessionId: string, visits = 1): Parameters<AvroSessionCodec['encodeValue']>[0] =>
  ({ id: sessionId, createdAt: 1_767_225_600_000, lastAccessedAt: 1_767_225_600_000 + visits, maxInactiveInterval: 1800, ownMaxInactiveInterval: null, ownCookieMaxAge: null })
const attributes = { user: { id: 'ada', roles: ['admin'] }, visits: 1 } as unknown as Attributes

/** The same memory, not equal contents (small buffers share Node's pool, so the ArrayBuffer alone says nothing). */
const sameBytes = (a: Buffer, b: Buffer): boolean => a.buffer === b.buffer && a.byteOffset === b.byteOffset

function decoded (codec: AvroSessionCodec, text: string, sessionId?: string): { meta: Record<string, unknown>, attributes: Attributes, attributesBytes: Buffer } {
  const result = codec.decodeValue(text, sessionId as string)
  assert.ok(result.ok === true, JSON.stringify(result))
  return result.session as unknown as { meta: Record<string, unknown>, attributes: Attributes, attributesBytes: Buffer }
}

test('the same text of the same session, from its third read on, is taken apart from the remembered check: the same bytes, objects of its own', () => {
  const codec = new AvroSessionCodec()
  const text = codec.encodeValue(meta(id), codec.encodeAttributes(attributes))
  const once = decoded(codec, text, id)
  const first = decoded(codec, text, id)
  assert.ok(!sameBytes(first.attributesBytes, once.attributesBytes), 'the first read leaves a mark, the second is remembered')
  const second = decoded(codec, text, id)
  assert.ok(sameBytes(second.attributesBytes, first.attributesBytes), 'a hit: the remembered bytes')
  assert.notEqual(second.attributes, first.attributes)
  assert.notEqual(second.meta, first.meta)
  first.meta.lastAccessedAt = 0
  first.attributes.visits = 99
  assert.deepEqual(readAttribute(second.attributes, 'user'), { id: 'ada', roles: ['admin'] })
  assert.equal(readAttribute(second.attributes, 'visits'), 1, 'a change of one read is not seen by the next')
  assert.equal(second.meta.lastAccessedAt, 1_767_225_600_001)
})

test('another session, another text, or no session id: checked in full', () => {
  const codec = new AvroSessionCodec()
  const text = codec.encodeValue(meta(id), codec.encodeAttributes(attributes))
  decoded(codec, text, id)
  const first = decoded(codec, text, id)
  assert.ok(sameBytes(decoded(codec, text, id).attributesBytes, first.attributesBytes))
  assert.ok(!sameBytes(decoded(codec, text, other).attributesBytes, first.attributesBytes), 'the same text under another id')
  assert.ok(!sameBytes(decoded(codec, text).attributesBytes, first.attributesBytes), 'no id: never remembered')
  const changed = codec.encodeValue(meta(id, 2), codec.encodeAttributes(attributes))
  const after = decoded(codec, changed, id)
  assert.ok(!sameBytes(after.attributesBytes, first.attributesBytes))
  decoded(codec, changed, id)
  assert.ok(!sameBytes(decoded(codec, text, id).attributesBytes, first.attributesBytes), 'the newer value replaced the older one')
})

test('a session encoded anew is forgotten: only sessions that are read without being written are kept', () => {
  const codec = new AvroSessionCodec()
  const text = codec.encodeValue(meta(id), codec.encodeAttributes(attributes))
  decoded(codec, text, id)
  const first = decoded(codec, text, id)
  codec.encodeValue(meta(id, 2), codec.encodeAttributes(attributes))
  assert.ok(!sameBytes(decoded(codec, text, id).attributesBytes, first.attributesBytes), 'checked again after the write')
})

test('a remembered session whose stored text was tampered with is checked, and refused', () => {
  const codec = new AvroSessionCodec()
  const text = codec.encodeValue(meta(id), codec.encodeAttributes(attributes))
  decoded(codec, text, id)
  const bytes = Buffer.from(text, 'base64')
  const forged = Buffer.concat([bytes, Buffer.from([0x02, 0x78])]).toString('base64')
  const result = codec.decodeValue(forged, id)
  assert.equal(result.ok, false)
  assert.match((result as { reason: string }).reason, /trailing bytes/)
})

test('at most 10,000 sessions are remembered, and no value above 64 KiB', () => {
  const values = new CheckedValues()
  const codec = new AvroSessionCodec()
  const small = codec.decodeValue(codec.encodeValue(meta(id), codec.encodeAttributes(attributes)))
  assert.ok(small.ok === true)
  const value = { bytes: Buffer.alloc(100), meta: small.session.meta, attributesOffset: 0, entries: [] }
  for (let i = 0; i <= 10_000; i++) { values.remember(`text ${i}`, `session ${i}`, value); values.remember(`text ${i}`, `session ${i}`, value) }
  assert.equal(values.size, 10_000)
  assert.equal(values.find('text 0', 'session 0'), undefined, 'the oldest went first')
  assert.equal(values.find('text 10000', 'session 10000'), value)
  values.remember('x'.repeat(64 * 1024), 'big', value)
  values.remember('x'.repeat(64 * 1024), 'big', value)
  assert.equal(values.find('x'.repeat(64 * 1024), 'big'), undefined)
})
