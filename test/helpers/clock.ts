// A mocked wall clock for tests that would otherwise wait out touchInterval,
// maxInactiveInterval or maxAge in real time. lib/ and the in-memory memcached
// read every age and expiry from Date.now(), so moving Date is enough; timers,
// sockets and performance.now() stay real. Only for the in-memory memcached:
// a real memcached has its own clock (test/integration covers that).
import type { TestContext } from './node-test.js'
import { setImmediate as nextTurn } from 'node:timers/promises'

/** Freezes Date for this test and returns a function that moves it forward. Restored when the test ends. */
export function mockedClock (t: TestContext): (ms: number) => Promise<void> {
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
  t.after(() => { t.mock.timers.reset() })
  return async (ms) => {
    t.mock.timers.tick(ms)
    await nextTurn()
  }
}
