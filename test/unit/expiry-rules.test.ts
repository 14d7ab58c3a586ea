// The expiry rules of docs/how-it-works.md#idle-expiry, at their exact
// bounds (lib/session/expiry.ts), with times given instead of waited for:
// core.seam.test.ts and mutants.seam.test.ts check the same rules end to end
// in real time. Written for mutants that survived the rest of the suite
// (test/mutation/REPORT.md).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Expiry } from '../../lib/session/expiry.js'
import { sessionLifetime } from '../../lib/memcached/keys.js'

const IDLE = 60
const TOUCH = 10
const expiry = new Expiry({ maxInactiveInterval: IDLE, touchInterval: TOUCH, maxAge: null })
const at = 1_700_000_000_000
const s = (seconds: number): number => seconds * 1000

test('the memcached lifetime is maxInactiveInterval + touchInterval + 1 s', () => {
  assert.equal(expiry.lifetime, IDLE + TOUCH + 1)
  assert.equal(expiry.lifetime, sessionLifetime(IDLE, TOUCH))
})

test('a stored session is past its idle limit only after 2 × maxInactiveInterval + touchInterval', () => {
  const limit = s(2 * IDLE + TOUCH)
  assert.equal(expiry.isStoredPastIdleLimit(at, at + limit), false, 'at the limit')
  assert.equal(expiry.isStoredPastIdleLimit(at, at + limit + 1), true, 'a millisecond after')
  assert.equal(expiry.isStoredPastIdleLimit(at, at + s(2 * IDLE)), false, 'touchInterval counts')
  assert.equal(expiry.isStoredPastIdleLimit(at, at + s(IDLE + TOUCH) + 1), false, 'twice the idle interval')
})

test('sticky mode: a held session is idle only after maxInactiveInterval without a request', () => {
  assert.equal(expiry.isIdle(at, at + s(IDLE)), false)
  assert.equal(expiry.isIdle(at, at + s(IDLE) + 1), true)
  assert.equal(expiry.isIdle(at, at), false)
})

test('maxAge counts from creation, and never applies without one', () => {
  const aged = new Expiry({ maxInactiveInterval: IDLE, touchInterval: TOUCH, maxAge: 5 })
  assert.equal(aged.isPastMaxAge(at, at + s(5)), false)
  assert.equal(aged.isPastMaxAge(at, at + s(5) + 1), true)
  assert.equal(expiry.isPastMaxAge(at, at + s(365 * 86400)), false)
})

test('an unchanged session is rewritten instead of touched once its stored lastAccessedAt is maxInactiveInterval old', () => {
  assert.equal(expiry.refreshDue(at, at + s(IDLE) - 1), false)
  assert.equal(expiry.refreshDue(at, at + s(IDLE)), true)
})

test('an extension is due after touchInterval, when forced, or after a change of node health since the last one', () => {
  assert.equal(expiry.extensionDue(at, at + s(TOUCH) - 1, false, 0), false)
  assert.equal(expiry.extensionDue(at, at + s(TOUCH), false, 0), true)
  assert.equal(expiry.extensionDue(at, at + 1, true, 0), true, 'session.touch()')
  assert.equal(expiry.extensionDue(at, at + 1, false, at + 1), true, 'health changed after the last extension')
  assert.equal(expiry.extensionDue(at, at + 1, false, at), false, 'health changed at the same moment: not after')
  assert.equal(expiry.extensionDue(at, at + 1, false, at - 1), false)
})
