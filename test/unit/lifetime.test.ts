import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { KeyScheme, memcachedLifetime } from '../../lib/memcached/keys.js'

/** memcached's protocol: a relative expiration time may be at most 30 days (60 × 60 × 24 × 30 s). */
const THIRTY_DAYS = 2_592_000

test('lifetimes up to 30 days stay relative whole seconds', () => {
  assert.equal(memcachedLifetime(1800), 1800)
  assert.equal(memcachedLifetime(1.2), 2)
  assert.equal(memcachedLifetime(THIRTY_DAYS), THIRTY_DAYS)
})

test('lifetimes over 30 days become absolute unix times', () => {
  const now = 1_700_000_000_000
  assert.equal(memcachedLifetime(THIRTY_DAYS + 1, now), 1_700_000_000 + THIRTY_DAYS + 1)
  assert.equal(memcachedLifetime(90 * 86400, now), 1_700_000_000 + 90 * 86400)
})

test('keys follow the documented layout', () => {
  const keys = new KeyScheme('app1:')
  assert.equal(keys.primary('abc-n1'), 'app1:abc-n1')
  assert.equal(keys.backup('abc-n1'), 'bak:app1:abc-n1')
})
