// The cache of opened envelopes (lib/crypto/opened-values.ts): a stored text
// is opened without decryption only when it is byte for byte the last one this
// process sealed or opened for the same session id; it holds one entry per
// session and stays within its bounds of entries and bytes, oldest out first;
// and no caller can change what another caller gets.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { OpenedValues } from '../../lib/crypto/opened-values.js'

const ID = '0123456789abcdef0123456789abcdef-n1'

function text (): string {
  return randomBytes(60).toString('base64')
}

/** The id of session number `n`. */
function idOf (n: number): string {
  return n.toString(16).padStart(32, '0') + '-n1'
}

function opened (plaintext = randomBytes(40), sessionId = ID): { sessionId: string, keyId: string, plaintext: Buffer } {
  return { sessionId, keyId: 'k1', plaintext }
}

describe('what a remembered text opens to', () => {
  test('the same text for the same session: its plaintext and key id', () => {
    const cache = new OpenedValues({ entries: 10, bytes: 10_000, entryBytes: 1000 })
    const stored = text()
    const value = opened()
    cache.remember(stored, value)
    const found = cache.find(stored, ID)
    assert.ok(found !== undefined)
    assert.ok(found.plaintext.equals(value.plaintext))
    assert.equal(found.keyId, 'k1')
  })

  test('the same text under another session id: not found', () => {
    const cache = new OpenedValues({ entries: 10, bytes: 10_000, entryBytes: 1000 })
    const stored = text()
    cache.remember(stored, opened())
    assert.equal(cache.find(stored, ID.replace('-n1', '-n2')), undefined)
  })

  test('a text with the same tag characters but any other byte changed: not found', () => {
    const cache = new OpenedValues({ entries: 10, bytes: 10_000, entryBytes: 1000 })
    const stored = text()
    cache.remember(stored, opened())
    const changed = (stored.startsWith('A') ? 'B' : 'A') + stored.slice(1)
    assert.equal(cache.find(changed, ID), undefined)
    assert.equal(cache.find(stored.slice(1), ID), undefined)
  })

  test('a new value of a session replaces the old one: the old text is no longer found', () => {
    const cache = new OpenedValues({ entries: 10, bytes: 10_000, entryBytes: 1000 })
    const [older, newer] = [text(), text()]
    cache.remember(older, opened())
    cache.remember(newer, opened())
    assert.equal(cache.size, 1)
    assert.equal(cache.find(older, ID), undefined)
    assert.ok(cache.find(newer, ID) !== undefined)
  })

  test('callers get copies: changing one changes neither the cache nor the caller\'s original', () => {
    const cache = new OpenedValues({ entries: 10, bytes: 10_000, entryBytes: 1000 })
    const stored = text()
    const value = opened(Buffer.from('attributes'))
    cache.remember(stored, value)
    value.plaintext.fill(0)
    const first = cache.find(stored, ID) as { plaintext: Buffer }
    assert.equal(first.plaintext.toString(), 'attributes')
    first.plaintext.fill(0)
    assert.equal(cache.find(stored, ID)?.plaintext.toString(), 'attributes')
  })
})

describe('bounds', () => {
  test('at most `entries`: the oldest goes first', () => {
    const cache = new OpenedValues({ entries: 3, bytes: 1_000_000, entryBytes: 1000 })
    const texts = Array.from({ length: 5 }, () => text())
    texts.forEach((stored, n) => cache.remember(stored, opened(randomBytes(40), idOf(n))))
    assert.equal(cache.size, 3)
    assert.deepEqual(texts.map((stored, n) => cache.find(stored, idOf(n)) !== undefined), [false, false, true, true, true])
  })

  test('at most `bytes` of text and plaintext: the oldest go until the new one fits', () => {
    const cache = new OpenedValues({ entries: 100, bytes: 500, entryBytes: 1000 })
    const texts = Array.from({ length: 6 }, () => text())
    texts.forEach((stored, n) => cache.remember(stored, opened(randomBytes(60), idOf(n))))
    // 80 characters + 60 bytes = 140 per entry: three fit in 500
    assert.equal(cache.size, 3)
    assert.equal(cache.bytes, 420)
    assert.deepEqual(texts.map((stored, n) => cache.find(stored, idOf(n)) !== undefined), [false, false, false, true, true, true])
  })

  test('an entry above `entryBytes` is not kept', () => {
    const cache = new OpenedValues({ entries: 100, bytes: 100_000, entryBytes: 100 })
    const stored = text()
    cache.remember(stored, opened(randomBytes(40)))
    assert.equal(cache.find(stored, ID), undefined)
    assert.equal(cache.size, 0)
  })

  test('thousands of writes in a small cache stay within both bounds, and the newest are found', () => {
    const cache = new OpenedValues({ entries: 50, bytes: 5000, entryBytes: 1000 })
    const texts: string[] = []
    for (let i = 0; i < 5000; i++) {
      const stored = text()
      texts.push(stored)
      cache.remember(stored, opened(randomBytes(i % 90), idOf(i % 300)))
      assert.ok(cache.size <= 50 && cache.bytes <= 5000)
    }
    assert.ok(cache.find(texts.at(-1) as string, idOf(4999 % 300)) !== undefined)
  })
})
