// The expiry rules of docs/how-it-works.md#idle-expiry, at their exact
// bounds (lib/session/expiry.ts), with times given instead of waited for:
// core.seam.test.ts ('lifetimes'), persistence-touches.seam.test.ts and
// sticky-expiry.seam.test.ts check the same rules end to end, through
// requests. Written for mutants that survived the rest of the suite
// (test/mutation/REPORT.md).
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { Expiry } from '../../lib/session/expiry.js'

const IDLE = 60
const TOUCH = 10
const config = { maxInactiveInterval: IDLE, touchInterval: TOUCH, touchIntervalConfigured: true, maxAge: null }
const plugin = new Expiry(config)
const expiry = plugin.defaults.idle
const at = 1_700_000_000_000
const s = (seconds: number): number => seconds * 1000

test('the memcached lifetime is maxInactiveInterval + touchInterval + 1 s', () => {
  assert.equal(expiry.lifetime, IDLE + TOUCH + 1)
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
  const aged = new Expiry({ ...config, maxAge: 5 })
  assert.equal(aged.isPastMaxAge(at, at + s(5)), false)
  assert.equal(aged.isPastMaxAge(at, at + s(5) + 1), true)
  assert.equal(plugin.isPastMaxAge(at, at + s(365 * 86400)), false)
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

describe('a session with an idle timeout of its own', () => {
  test('follows its own maxInactiveInterval in every rule, and the memcached lifetime is its own mII + tI + 1', () => {
    const own = plugin.lifetimes(4 * IDLE, null).idle
    assert.equal(own.maxInactiveInterval, 4 * IDLE)
    assert.equal(own.lifetime, 4 * IDLE + TOUCH + 1)
    assert.equal(own.isIdle(at, at + s(4 * IDLE)), false)
    assert.equal(own.isIdle(at, at + s(4 * IDLE) + 1), true)
    assert.equal(own.refreshDue(at, at + s(IDLE)), false, 'the plugin value no longer applies')
    assert.equal(own.isStoredPastIdleLimit(at, at + s(8 * IDLE + TOUCH)), false)
    assert.equal(own.isStoredPastIdleLimit(at, at + s(8 * IDLE + TOUCH) + 1), true)
  })

  test('keeps a configured touchInterval; without one, derives it from its own mII by the default rule', () => {
    assert.equal(plugin.lifetimes(4 * IDLE, null).idle.touchInterval, TOUCH)
    const derived = new Expiry({ ...config, touchIntervalConfigured: false })
    assert.equal(derived.lifetimes(30 * 86400, null).idle.touchInterval, 60, 'at most 60 s')
    assert.equal(derived.lifetimes(10, null).idle.touchInterval, 5, 'half of a short one')
    assert.equal(derived.lifetimes(1, null).idle.touchInterval, 1)
    assert.equal(derived.configuredTouchInterval, null)
    assert.equal(plugin.configuredTouchInterval, TOUCH)
  })

  test('a session without values of its own shares the plugin\'s lifetimes object; one with them gets its own', () => {
    assert.equal(plugin.lifetimes(null, null), plugin.defaults)
    const remembered = plugin.lifetimes(null, 86_400_000)
    assert.notEqual(remembered, plugin.defaults)
    assert.equal(remembered.idle, plugin.defaults.idle, 'the plugin\'s idle rules')
    assert.equal(remembered.ownCookieMaxAge, 86_400_000)
    assert.ok(Object.isFrozen(remembered))
    assert.equal(plugin.lifetimes(7 * IDLE, null).idle, plugin.lifetimes(7 * IDLE, 'BROWSER_SESSION').idle, 'rules are shared per interval')
  })
})
