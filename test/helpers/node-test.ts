// node:test with a timeout on every test and hook, and within() for every
// wait a test makes on a promise of its own. Test files import test,
// describe and the hooks from here, never from node:test directly
// (test/unit/test-hygiene.test.ts holds them to it): no test can hang the
// run, and one that waits too long fails with what it waited for.
//
// Why not `node --test --test-timeout`: on Node.js 20 that bounds each test
// FILE as a whole, not each test in it (measured on 20.20.2; 22 and later
// bound each test), and a file of long integration tests would fail for its
// total time alone.
import * as nodeTest from 'node:test'

/**
 * Milliseconds any one test or hook may take, about four times the slowest
 * of its kind: 20 s in test/unit/ (in-memory memcached; the slowest test takes
 * about 5 s), 60 s elsewhere (real processes; the slowest, the lifetime tests
 * that wait on memcached's clock, about 16 s; the consumer test's npm
 * installs set their own, longer timeouts). `node --test` runs each file in a
 * process of its own, named in its argv. MSM_TEST_TIMEOUT_MS overrides both,
 * for a debugger.
 */
export const TEST_TIMEOUT_MS = Number(process.env.MSM_TEST_TIMEOUT_MS ?? (process.argv.some((arg) => /[\\/]test[\\/]unit[\\/]/.test(arg)) ? 20_000 : 60_000))

type AnyFunction = (...args: any[]) => any

/** A test's arguments, ([name], [options], [fn]), with `{ timeout }` in its options unless they set one. */
function testWithTimeout (args: unknown[]): unknown[] {
  const at = args.findIndex((arg) => typeof arg === 'object' && arg !== null)
  if (at >= 0) {
    const options = args[at] as { timeout?: number }
    return options.timeout === undefined ? args.map((arg, index) => index === at ? { ...options, timeout: TEST_TIMEOUT_MS } : arg) : args
  }
  // (fn), (name, fn) or (name): the options go after the name, or first
  const optionsAt = typeof args[0] === 'string' ? 1 : 0
  return [...args.slice(0, optionsAt), { timeout: TEST_TIMEOUT_MS }, ...args.slice(optionsAt)]
}

/** A hook's arguments, (fn, [options]), with `{ timeout }` in its options unless they set one. */
function hookWithTimeout ([fn, options]: unknown[]): unknown[] {
  const given = (options ?? {}) as { timeout?: number }
  return [fn, given.timeout === undefined ? { ...given, timeout: TEST_TIMEOUT_MS } : given]
}

function bounded<F extends AnyFunction> (original: F, withTimeout: (args: unknown[]) => unknown[]): F {
  const wrapped = ((...args: unknown[]) => original(...withTimeout(args))) as unknown as F
  for (const variant of ['skip', 'todo', 'only'] as const) {
    const own = (original as unknown as Record<string, AnyFunction | undefined>)[variant]
    if (own !== undefined) (wrapped as unknown as Record<string, AnyFunction>)[variant] = (...args: unknown[]) => own(...withTimeout(args))
  }
  return wrapped
}

export const test: typeof nodeTest.test = bounded(nodeTest.test, testWithTimeout)
export const it: typeof nodeTest.it = bounded(nodeTest.it, testWithTimeout)
// A suite's own timeout would bound all its tests together: suites get none, their tests and hooks do
export const describe: typeof nodeTest.describe = nodeTest.describe
export const before: typeof nodeTest.before = bounded(nodeTest.before, hookWithTimeout)
export const after: typeof nodeTest.after = bounded(nodeTest.after, hookWithTimeout)
export const beforeEach: typeof nodeTest.beforeEach = bounded(nodeTest.beforeEach, hookWithTimeout)
export const afterEach: typeof nodeTest.afterEach = bounded(nodeTest.afterEach, hookWithTimeout)
export const mock: typeof nodeTest.mock = nodeTest.mock
export type { TestContext } from 'node:test'

/**
 * `promise`, or a rejection after `ms` naming `what` the test waited for: a
 * wait on a promise that the code under test should settle (a handler
 * entered, a gate opened, a process exited) is never unbounded.
 */
export async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, expired])
  } finally {
    clearTimeout(timer)
  }
}
