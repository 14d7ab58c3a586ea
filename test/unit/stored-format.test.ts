// The stored format is a contract: values recorded from earlier releases must
// read back unchanged, and without option `encryption` the same session must
// still be written byte for byte as those releases wrote it. The encrypted
// format's test vector is the one docs/storage.md publishes; it was computed
// independently (Python's `cryptography` AESGCM), so a reader in another
// language can check its own implementation against it.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { jsonSerializer, SerializerSessionCodec } from '../../lib/serialization/serializer-codec.js'
import { readAttribute } from '../../lib/serialization/lazy-attributes.js'
import { EncryptedSessionCodec } from '../../lib/crypto/encrypted-codec.js'
import { open, seal } from '../../lib/crypto/envelope.js'
import { KeyRing } from '../../lib/crypto/key-ring.js'
import type { Attributes } from '../../lib/types/index.js'

const id = '0123456789abcdef0123456789abcdef-n1'
const meta = { id, createdAt: 1767225600000, lastAccessedAt: 1767225660000, maxInactiveInterval: 1800, ownMaxInactiveInterval: null, ownCookieMaxAge: null }
const attributes = { user: { id: 7, name: 'Ada', roles: ['admin'] }, cart: [1, 2.5, null, true], seen: new Date(1767225630000), text: 'grüß 𝒜' }
const { seen: _dropped, ...jsonAttributes } = attributes

/** Recorded from release 0.1.0 (commit e587f89; the first 0.1.0 build, ba8b67f, writes the same bytes) with the attributes above: the meta fields of that release alone. */
const RECORDED = {
  generic: 'AcMBwkGiJG89RmJGMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYtbjGAoNXt7mbAydzt7maQHAgIdXNlcgoGBGlkBAAAAAAAABxACG5hbWUGBkFkYQpyb2xlcwgCBgphZG1pbgAACGNhcnQICAQAAAAAAADwPwQAAAAAAAAEQAACAQAIc2Vlbgzg9Njt7mYIdGV4dAYWZ3LDvMOfIPCdkpwA',
  typed: 'AcMBgtL578s6gndGMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYtbjGAoNXt7mbAydzt7maQHAZhZGEG',
  json: 'AgRqc29uRjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmLW4xgKDV7e5mwMnc7e5mkBx7InVzZXIiOnsiaWQiOjcsIm5hbWUiOiJBZGEiLCJyb2xlcyI6WyJhZG1pbiJdfSwiY2FydCI6WzEsMi41LG51bGwsdHJ1ZV0sInRleHQiOiJncsO8w58g8J2SnCJ9'
}

const typedSchema = { type: 'record', name: 'Account', fields: [{ name: 'user', type: 'string' }, { name: 'visits', type: 'int', default: 0 }] }

function plain (read: Attributes): Record<string, unknown> {
  return Object.fromEntries(Object.keys(read).map((key) => [key, readAttribute(read, key)]))
}

describe('values recorded from release 0.1.0, encryption off', () => {
  const cases = [
    ['format 1, generic Avro', new AvroSessionCodec(), RECORDED.generic, attributes],
    ['format 1, typed schema', new AvroSessionCodec(typedSchema), RECORDED.typed, { user: 'ada', visits: 3 }],
    ['format 2, JSON serializer', new SerializerSessionCodec(jsonSerializer), RECORDED.json, jsonAttributes]
  ] as const
  for (const [name, codec, recorded, expected] of cases) {
    test(`${name}: reads back unchanged, with no lifetimes of its own`, () => {
      const decoded = codec.decodeValue(recorded)
      assert.ok(decoded.ok === true, JSON.stringify(decoded))
      assert.deepEqual(decoded.session.meta, meta)
      assert.deepEqual(plain(decoded.session.attributes), expected)
      assert.ok(decoded.session.attributesBytes !== null, 'read without the registry, its attribute bytes kept for change detection')
    })

    test(`${name}: a session without lifetimes of its own is still written byte for byte, so that 0.1.0 reads it`, () => {
      assert.equal(codec.encodeValue(meta, codec.encodeAttributes(expected as unknown as Attributes)), recorded)
    })
  }
})

/** The meta of a "remember me" session: an idle timeout and a cookie lifetime of 30 days. */
const remembered = { ...meta, maxInactiveInterval: 2592000, ownMaxInactiveInterval: 2592000, ownCookieMaxAge: 2592000000 }

/** Recorded from the release after 0.1.0, which added the lifetime fields, with the attributes above. */
const RECORDED_WITH_LIFETIMES = {
  generic: 'AcMBtIbbw1I66VpGMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYtbjGAoNXt7mbAydzt7maAtLwCAoC0vAICgKD2pxMICHVzZXIKBgRpZAQAAAAAAAAcQAhuYW1lBgZBZGEKcm9sZXMIAgYKYWRtaW4AAAhjYXJ0CAgEAAAAAAAA8D8EAAAAAAAABEAAAgEACHNlZW4M4PTY7e5mCHRleHQGFmdyw7zDnyDwnZKcAA==',
  browserSession: 'AcMBtIbbw1I66VpGMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYtbjGAoNXt7mbAydzt7maQHAAEAAgIdXNlcgoGBGlkBAAAAAAAABxACG5hbWUGBkFkYQpyb2xlcwgCBgphZG1pbgAACGNhcnQICAQAAAAAAADwPwQAAAAAAAAEQAACAQAIc2Vlbgzg9Njt7mYIdGV4dAYWZ3LDvMOfIPCdkpwA',
  typed: 'AcMB1/76dy5Nq1VGMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYtbjGAoNXt7mbAydzt7maAtLwCAoC0vAICgKD2pxMGYWRhBg==',
  json: 'BARqc29uRjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmLW4xgKDV7e5mwMnc7e5mgLS8AgKAtLwCAoCg9qcTeyJ1c2VyIjp7ImlkIjo3LCJuYW1lIjoiQWRhIiwicm9sZXMiOlsiYWRtaW4iXX0sImNhcnQiOlsxLDIuNSxudWxsLHRydWVdLCJ0ZXh0IjoiZ3LDvMOfIPCdkpwifQ=='
}

describe('values recorded with lifetimes of their own, encryption off', () => {
  const browserSession = { ...meta, ownCookieMaxAge: 'BROWSER_SESSION' as const }
  const cases = [
    ['format 1, generic Avro', new AvroSessionCodec(), RECORDED_WITH_LIFETIMES.generic, remembered, attributes],
    ['format 1, a browser-session cookie', new AvroSessionCodec(), RECORDED_WITH_LIFETIMES.browserSession, browserSession, attributes],
    ['format 1, typed schema', new AvroSessionCodec(typedSchema), RECORDED_WITH_LIFETIMES.typed, remembered, { user: 'ada', visits: 3 }],
    ['format 4, JSON serializer', new SerializerSessionCodec(jsonSerializer), RECORDED_WITH_LIFETIMES.json, remembered, jsonAttributes]
  ] as const
  for (const [name, codec, recorded, recordedMeta, expected] of cases) {
    test(`${name}: reads back unchanged`, () => {
      const decoded = codec.decodeValue(recorded)
      assert.ok(decoded.ok === true, JSON.stringify(decoded))
      assert.deepEqual(decoded.session.meta, recordedMeta)
      assert.deepEqual(plain(decoded.session.attributes), expected)
    })

    test(`${name}: the same session is still written byte for byte`, () => {
      assert.equal(codec.encodeValue(recordedMeta, codec.encodeAttributes(expected as unknown as Attributes)), recorded)
    })
  }
})

/** docs/storage.md#test-vector */
const VECTOR = {
  keyBase64: 'ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=',
  keyId: '2026-12',
  nonceHex: 'a0a1a2a3a4a5a6a7a8a9aaab',
  sessionId: id,
  associatedDataHex: '0307323032362d3132' + Buffer.from(id, 'ascii').toString('hex'),
  plaintextHex: '01c301c241a2246f3d46624630313233343536373839616263646566303132333435363738396162636465662d6e3180a0d5edee6680a0d5edee66901c020875736572060661646100',
  stored: 'AwcyMDI2LTEyoKGio6Slpqeoqaqrf/+l9oV1pMWcbs/8FmxElaVK9zAEjUdAbPaun+NXncsrYAuDPpCiGKmGtotjGKx+1oaWwpEFELqcgP78k8T1tysCoIqnvQywBIYdlCq4vazzGr3BW4OKJZQ='
}

describe('format 3, the encrypted envelope', () => {
  const ring = new KeyRing([{ id: VECTOR.keyId, material: Buffer.from(VECTOR.keyBase64, 'base64') }], { accept: false, write: false })

  test('the published test vector: sealing with its nonce gives its stored text', () => {
    const sealed = seal(ring.current, VECTOR.sessionId, Buffer.from(VECTOR.plaintextHex, 'hex'), Buffer.from(VECTOR.nonceHex, 'hex'))
    assert.equal(sealed.toString('base64'), VECTOR.stored)
    assert.equal(ring.current.header.toString('hex'), VECTOR.associatedDataHex.slice(0, 18), 'the associated data starts with the header')
  })

  test('the published test vector opens to its plaintext, a format 1 value of { user: "ada" }', () => {
    const opened = open(ring, VECTOR.sessionId, Buffer.from(VECTOR.stored, 'base64'))
    assert.ok(opened.ok)
    assert.equal(opened.plaintext.toString('hex'), VECTOR.plaintextHex)
    const decoded = new EncryptedSessionCodec(new AvroSessionCodec(), ring).decodeValue(VECTOR.stored, VECTOR.sessionId)
    assert.ok(decoded.ok === true)
    assert.deepEqual(plain(decoded.session.attributes), { user: 'ada' })
    assert.deepEqual(decoded.session.meta, { id, createdAt: 1767225600000, lastAccessedAt: 1767225600000, maxInactiveInterval: 1800, ownMaxInactiveInterval: null, ownCookieMaxAge: null })
  })

  test('the same vector under another session id fails authentication', () => {
    const opened = open(ring, id.replace('-n1', '-n2'), Buffer.from(VECTOR.stored, 'base64'))
    assert.equal(opened.ok, false)
  })

  test('every write takes a fresh nonce: the same session sealed twice differs, and both open', () => {
    const codec = new EncryptedSessionCodec(new AvroSessionCodec(), ring)
    const bytes = codec.encodeAttributes({ user: 'ada' } as unknown as Attributes)
    const first = codec.encodeValue(meta, bytes)
    const second = codec.encodeValue(meta, bytes)
    assert.notEqual(first, second)
    const nonces = [first, second].map((text) => Buffer.from(text, 'base64').subarray(9, 21).toString('hex'))
    assert.notEqual(nonces[0], nonces[1])
    for (const text of [first, second]) assert.equal(codec.decodeValue(text, id).ok, true)
  })
})
