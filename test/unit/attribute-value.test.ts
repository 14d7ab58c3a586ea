import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { assertStorable } from '../../lib/serialization/attribute-value.js'

function rejects (value: unknown, path: RegExp, reason: RegExp): void {
  assert.throws(() => assertStorable('key', value, { dates: false }), (error: Error & { code: string }) => {
    assert.equal(error.code, 'FST_MSM_VALUE_UNSUPPORTED')
    assert.match(error.message, path)
    assert.match(error.message, reason)
    return true
  })
}

test('JSON-like values are accepted', () => {
  for (const value of [null, true, 0, -1.5, Number.NaN, Infinity, '', 'ü', [], {}, [1, [2, { a: null }]], Object.create(null)]) {
    assertStorable('key', value, { dates: false })
  }
})

test('values that would not come back unchanged are refused, naming the path', () => {
  rejects(new Date(), /"key"/, /Date instance.*with this serializer.*toISOString/)
  assertStorable('key', { when: new Date() }, { dates: true })
  assert.throws(() => assertStorable('key', new Date(Number.NaN), { dates: true }), /invalid Date/)
  rejects({ a: { when: new Date() } }, /"key\.a\.when"/, /Date/)
  rejects(10n, /"key"/, /bigint/)
  rejects(() => 1, /"key"/, /function/)
  rejects(Symbol('s'), /"key"/, /symbol/)
  rejects({ a: undefined }, /"key\.a"/, /undefined/)
  rejects([1, undefined], /"key\[1\]"/, /undefined/)
  rejects(new Map(), /"key"/, /Map instance/)
  rejects(Buffer.from('x'), /"key"/, /Buffer instance/)
  rejects(new (class Point { x = 1 })(), /"key"/, /Point instance/)
  rejects({ [Symbol('s')]: 1 }, /"key"/, /symbol keys/)
  rejects('\ud800', /"key"/, /surrogate/)
  rejects({ '\udc00': 1 }, /"key\./, /surrogate/)
  // eslint-disable-next-line no-sparse-arrays
  rejects([1, , 3], /"key\[1\]"/, /hole/)
  rejects(JSON.parse('{"__proto__": 1}'), /__proto__/, /reserved/)
  assert.throws(() => assertStorable('__proto__', 1, { dates: false }), /reserved/)
})

test('cycles and excessive depth are refused; shared references are fine', () => {
  const cyclic: Record<string, unknown> = { a: 1 }
  cyclic.self = cyclic
  rejects(cyclic, /"key\.self"/, /cycle/)
  const shared = { x: 1 }
  assertStorable('key', { a: shared, b: shared }, { dates: false })
  let deep: unknown = 'bottom'
  // One level more than the 64 that docs/serialization.md allows
  for (let i = 0; i < 65; i++) deep = [deep]
  rejects(deep, /"key/, /deeper than/)
})

// Regression: a top-level key with a lone surrogate was accepted, and came back as a different key
test('a session key holding a lone UTF-16 surrogate is refused like a nested one', () => {
  for (const dates of [false, true]) {
    assert.throws(() => assertStorable('a\ud800', 1, { dates }), (error: Error & { code: string }) => {
      assert.equal(error.code, 'FST_MSM_VALUE_UNSUPPORTED')
      assert.match(error.message, /surrogate/)
      return true
    })
  }
  assertStorable('ü😀', 1, { dates: false })
})
