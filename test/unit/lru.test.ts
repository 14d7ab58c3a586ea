import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { BoundedLru } from '../../lib/util/lru.js'

test('the LRU never holds more than its capacity and evicts the least recently used', () => {
  const lru = new BoundedLru<string, number>(3)
  lru.set('a', 1)
  lru.set('b', 2)
  lru.set('c', 3)
  assert.equal(lru.get('a'), 1) // a is now the most recent
  lru.set('d', 4)
  assert.equal(lru.size, 3)
  assert.equal(lru.get('b'), undefined)
  assert.equal(lru.get('a'), 1)
  lru.delete('a')
  assert.equal(lru.get('a'), undefined)
  for (let i = 0; i < 100; i++) lru.set(`k${i}`, i)
  assert.equal(lru.size, 3)
})

test('peek reads without changing the eviction order', () => {
  const lru = new BoundedLru<string, number>(2)
  lru.set('a', 1)
  lru.set('b', 2)
  assert.equal(lru.peek('a'), 1)
  lru.set('c', 3)
  assert.equal(lru.peek('a'), undefined, 'a was still the oldest')
  assert.equal(lru.peek('b'), 2)
})
