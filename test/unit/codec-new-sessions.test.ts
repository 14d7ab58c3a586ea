// The attributes a new session starts with (SessionCodec.emptyAttributes):
// none for the generic Avro type and for a pluggable serializer (typed schemas
// start with their defaults: codec-attributes.test.ts). A new session must
// take attributes, and save and load as a session without any.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { jsonSerializer, SerializerSessionCodec } from '../../lib/serialization/serializer-codec.js'
import { readAttribute } from '../../lib/serialization/lazy-attributes.js'
import type { SessionCodec } from '../../lib/serialization/codec-format.js'

const meta = { id: '0123456789abcdef0123456789abcdef-n1', createdAt: 1_700_000_000_000, lastAccessedAt: 1_700_000_000_000, maxInactiveInterval: 1800, ownMaxInactiveInterval: null, ownCookieMaxAge: null }

const codecs: Record<string, () => SessionCodec> = {
  'the generic Avro type': () => new AvroSessionCodec(),
  'the JSON serializer': () => new SerializerSessionCodec(jsonSerializer)
}

for (const [name, make] of Object.entries(codecs)) {
  describe(`a new session with ${name}`, () => {
    test('has no attributes, and is saved and loaded as a session without any', () => {
      const codec = make()
      const attributes = codec.emptyAttributes()
      assert.deepEqual(Object.keys(attributes), [])
      const loaded = codec.decodeValue(codec.encodeValue(meta, codec.encodeAttributes(attributes)), meta.id)
      assert.ok(loaded.ok === true, JSON.stringify(loaded))
      assert.deepEqual(Object.keys(loaded.session.attributes), [])
      assert.deepEqual(loaded.session.meta, meta)
    })

    test('takes attributes, and each call gives a fresh object', () => {
      const codec = make()
      const first = codec.emptyAttributes()
      first.user = 'ada' as never
      assert.deepEqual(Object.keys(codec.emptyAttributes()), [], 'not shared with an earlier session')
      const loaded = codec.decodeValue(codec.encodeValue(meta, codec.encodeAttributes(first)), meta.id)
      assert.ok(loaded.ok === true)
      assert.equal(readAttribute(loaded.session.attributes, 'user'), 'ada')
    })
  })
}
