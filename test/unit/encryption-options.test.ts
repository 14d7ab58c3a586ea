// Option `encryption` is checked once, at registration: every bad key ring is
// refused with a coded error that names the option and the problem, and no
// error message ever contains key material. Encryption needs signed cookies.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import msm from '../../lib/index.js'
import { normalizeOptions } from '../../lib/options/index.js'

const nodes = 'n1:127.0.0.1:1 n2:127.0.0.1:2'
const keyText = randomBytes(32).toString('base64')
const keyBuffer = randomBytes(32)

function refusal (encryption: unknown): { code: string, message: string } {
  try {
    normalizeOptions({ nodes, encryption })
  } catch (error) {
    return error as { code: string, message: string }
  }
  assert.fail('the option was accepted')
}

/** Every secret-looking text of the case, so that a test can check none is in the message. */
function assertNoKeyMaterial (message: string, ...secrets: Array<string | Buffer>): void {
  for (const secret of secrets) {
    const texts = typeof secret === 'string' ? [secret, secret.slice(0, 16)] : [secret.toString('base64').slice(0, 16), secret.toString('hex').slice(0, 16)]
    for (const text of texts) assert.ok(!message.includes(text), `the message contains key material: ${message}`)
  }
}

describe('option encryption: accepted key rings', () => {
  test('base64 text and Buffers of 32 bytes; the first key seals, every key opens', () => {
    const ring = normalizeOptions({ nodes, encryption: { keys: [{ id: 'k2', key: keyText }, { id: 'k1', key: keyBuffer }] } }).encryption
    assert.ok(ring !== null)
    assert.equal(ring.current.id, 'k2')
    assert.deepEqual(ring.ids, ['k2', 'k1'])
    assert.deepEqual(ring.plaintext, { accept: false, write: false })
  })

  test('acceptPlaintext and writePlaintext; writePlaintext implies acceptPlaintext', () => {
    assert.deepEqual(normalizeOptions({ nodes, encryption: { keys: [{ id: 'k', key: keyText }], acceptPlaintext: true } }).encryption?.plaintext, { accept: true, write: false })
    assert.deepEqual(normalizeOptions({ nodes, encryption: { keys: [{ id: 'k', key: keyText }], writePlaintext: true } }).encryption?.plaintext, { accept: true, write: true })
  })

  test('without the option there is no key ring', () => {
    assert.equal(normalizeOptions({ nodes }).encryption, null)
  })

  test('the key is copied: changing the caller\'s Buffer afterwards changes nothing', () => {
    const material = Buffer.from(keyBuffer)
    const ring = normalizeOptions({ nodes, encryption: { keys: [{ id: 'k', key: material }] } }).encryption
    material.fill(1)
    assert.ok(ring?.current.secret.export().equals(keyBuffer))
  })
})

describe('option encryption: refusals', () => {
  const cases: Array<[string, unknown, string, RegExp, Array<string | Buffer>]> = [
    ['not an object', keyText, 'FST_MSM_OPTION_INVALID', /"encryption" must be an object.*got a string/, [keyText]],
    ['an unknown key', { keys: [{ id: 'k', key: keyText }], acceptPlainText: true }, 'FST_MSM_OPTION_UNKNOWN', /"encryption\.acceptPlainText"/, [keyText]],
    ['no keys', {}, 'FST_MSM_ENCRYPTION_KEY_INVALID', /"encryption\.keys".*a list of keys; got undefined/, []],
    ['an empty list', { keys: [] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /"encryption\.keys".*the list is empty/, []],
    ['a key that is not an object', { keys: [keyText] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /"encryption\.keys\[0\]".*got a string/, [keyText]],
    ['an unknown key property', { keys: [{ id: 'k', key: keyText, secret: keyText }] }, 'FST_MSM_OPTION_UNKNOWN', /"encryption\.keys\[0\]\.secret"/, [keyText]],
    ['a missing id', { keys: [{ key: keyText }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /"encryption\.keys\[0\]\.id"/, [keyText]],
    ['a key pasted as the id', { keys: [{ id: keyText, key: keyText }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /"encryption\.keys\[0\]\.id".*44 characters/, [keyText]],
    ['an id with a space', { keys: [{ id: 'key one', key: keyText }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /"encryption\.keys\[0\]\.id"/, [keyText]],
    ['an id over 32 characters', { keys: [{ id: 'k'.repeat(33), key: keyText }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /"encryption\.keys\[0\]\.id"/, []],
    ['a duplicate id', { keys: [{ id: 'k', key: keyText }, { id: 'k', key: keyBuffer }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /"encryption\.keys\[1\]\.id".*also the id of keys\[0\]/, [keyText, keyBuffer]],
    ['one key under two ids', { keys: [{ id: 'a', key: keyText }, { id: 'b', key: Buffer.from(keyText, 'base64') }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /"encryption\.keys\[1\]\.key".*same key as keys\[0\]/, [keyText]],
    ['a 16-byte Buffer', { keys: [{ id: 'k', key: keyBuffer.subarray(0, 16) }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /exactly 32 bytes; got 16 bytes/, [keyBuffer]],
    ['a 33-byte Buffer', { keys: [{ id: 'k', key: Buffer.concat([keyBuffer, Buffer.from([1])]) }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /got 33 bytes/, [keyBuffer]],
    ['base64 of 31 bytes', { keys: [{ id: 'k', key: keyBuffer.subarray(0, 31).toString('base64') }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /base64 of exactly 32 bytes.*a string of 44 characters/, [keyBuffer]],
    ['base64 of 48 bytes', { keys: [{ id: 'k', key: randomBytes(48).toString('base64') }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /a string of 64 characters/, []],
    ['hex instead of base64', { keys: [{ id: 'k', key: keyBuffer.toString('hex') }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /a string of 64 characters/, [keyBuffer]],
    ['a passphrase', { keys: [{ id: 'k', key: 'correct horse battery staple' }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /a string of 28 characters/, ['correct horse battery staple']],
    ['all zero bytes', { keys: [{ id: 'k', key: Buffer.alloc(32) }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /all its bytes are zero/, []],
    ['a number', { keys: [{ id: 'k', key: 42 }] }, 'FST_MSM_ENCRYPTION_KEY_INVALID', /got a number/, []],
    ['writePlaintext without acceptPlaintext', { keys: [{ id: 'k', key: keyText }], writePlaintext: true, acceptPlaintext: false }, 'FST_MSM_OPTION_INVALID', /"encryption\.acceptPlaintext"/, [keyText]],
    ['acceptPlaintext not a boolean', { keys: [{ id: 'k', key: keyText }], acceptPlaintext: 'yes' }, 'FST_MSM_OPTION_INVALID', /"encryption\.acceptPlaintext" must be true or false/, [keyText]]
  ]
  for (const [name, encryption, code, message, secrets] of cases) {
    test(`${name}: ${code}, naming the problem, without key material`, () => {
      const error = refusal(encryption)
      assert.equal(error.code, code)
      assert.match(error.message, message)
      assertNoKeyMaterial(error.message, ...secrets)
    })
  }
})

describe('option encryption needs signed cookies', () => {
  async function register (secret: string | undefined): Promise<unknown> {
    const app = Fastify()
    await app.register(cookie, secret === undefined ? {} : { secret })
    app.register(msm, { nodes, encryption: { keys: [{ id: 'k', key: keyText }] } })
    try {
      await app.ready()
      return null
    } catch (error) {
      return error
    } finally {
      await app.close().catch(() => {})
    }
  }

  test('without a cookie secret, registration fails with FST_MSM_ENCRYPTION_NEEDS_SIGNED_COOKIES', async () => {
    const error = await register(undefined) as { code: string, message: string }
    assert.equal(error?.code, 'FST_MSM_ENCRYPTION_NEEDS_SIGNED_COOKIES')
    assert.match(error.message, /register @fastify\/cookie with a secret/)
  })

  test('with a cookie secret, it registers', async () => {
    assert.equal(await register('a cookie secret that is long enough'), null)
  })
})
