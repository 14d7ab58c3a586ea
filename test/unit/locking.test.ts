import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyRequest } from 'fastify'
import { KeyedMutex } from '../../lib/locking/keyed-mutex.js'
import { LockPolicy } from '../../lib/locking/lock-policy.js'
import { normalizeOptions } from '../../lib/options/index.js'

test('the keyed mutex grants first in, first out, and frees its entries', async () => {
  const mutex = new KeyedMutex()
  assert.equal(await mutex.lock('s', 1000), true)
  const order: number[] = []
  const waiting = [1, 2, 3].map((n) => mutex.lock('s', 1000).then((granted) => { order.push(n); return granted }))
  assert.equal(await mutex.lock('other', 1000), true, 'other keys are independent')
  assert.ok(mutex.hasWaiters('s'))
  for (let i = 0; i < 3; i++) {
    mutex.unlock('s')
    await new Promise((resolve) => setImmediate(resolve))
  }
  assert.deepEqual(await Promise.all(waiting), [true, true, true])
  assert.deepEqual(order, [1, 2, 3])
  mutex.unlock('s')
  mutex.unlock('other')
  assert.equal(mutex.size, 0)
})

test('a waiter that times out leaves the queue', async () => {
  const mutex = new KeyedMutex()
  await mutex.lock('s', 1000)
  assert.equal(await mutex.lock('s', 10), false)
  assert.equal(mutex.hasWaiters('s'), false)
  mutex.unlock('s')
  assert.equal(mutex.size, 0)
})

function request (method: string, url: string, route: string | undefined, session?: unknown): FastifyRequest {
  return { method, url, routeOptions: { url: route, config: session === undefined ? {} : { session } } } as unknown as FastifyRequest
}

test('lock policy: modes and route overrides', () => {
  assert.equal(new LockPolicy('none').shouldLock(request('GET', '/a', '/a')), false)
  assert.equal(new LockPolicy('all').shouldLock(request('GET', '/a', '/a')), true)
  const pattern = new LockPolicy({ uriPattern: /^POST \/cart/ })
  assert.equal(pattern.shouldLock(request('POST', '/cart?x=1', '/cart')), true)
  assert.equal(pattern.shouldLock(request('GET', '/cart', '/cart')), false)
  assert.equal(new LockPolicy('all').shouldLock(request('GET', '/a', '/a', { lock: false })), false)
  assert.equal(new LockPolicy('none').shouldLock(request('GET', '/a', '/a', { lock: true })), true)
})

test("lock policy: 'auto' learns by route pattern, and a modifying route locks for good", () => {
  const policy = new LockPolicy('auto')
  const user = (id: number): FastifyRequest => request('GET', `/users/${id}`, '/users/:id')
  assert.equal(policy.shouldLock(user(1)), true)
  policy.learn(user(1), false)
  assert.equal(policy.shouldLock(user(2)), false, 'learned for the pattern, not the URL')
  policy.learn(user(3), true)
  assert.equal(policy.shouldLock(user(4)), true)
  policy.learn(user(5), false)
  assert.equal(policy.shouldLock(user(6)), true, 'a route that modified once stays locked')
  for (let i = 0; i < 1000; i++) policy.learn(request('GET', `/x${i}`, undefined), false)
  assert.deepEqual(policy.learned, { readOnlyRoutes: 1, modifyingRoutes: 1 }, 'requests without a route share one key')
})

test('locking options are validated', () => {
  const nodes = 'n1:127.0.0.1:1'
  const config = normalizeOptions({ nodes })
  assert.equal(config.lockingMode, 'none')
  assert.equal(config.lockExpiration, 5)
  assert.equal(config.lockTimeout, 2000)
  assert.equal(config.lockTimeoutPolicy, 'fail')
  assert.equal(config.lockRetryMin, 10)
  assert.equal(config.lockRetryMax, 200)
  const bad: Array<[object, RegExp]> = [
    [{ lockingMode: 'sometimes' }, /"lockingMode"/],
    [{ lockingMode: { uriPattern: '/x' } }, /"lockingMode"/],
    [{ lockingMode: { uriPattern: /x/g } }, /"lockingMode.uriPattern"/],
    [{ lockingMode: { uriPattern: /x/, extra: 1 } }, /"lockingMode"/],
    [{ lockExpiration: 0 }, /"lockExpiration"/],
    [{ lockTimeout: 1.5 }, /"lockTimeout"/],
    [{ lockTimeoutPolicy: 'wait' }, /"lockTimeoutPolicy"/],
    [{ lockRetryMin: 50, lockRetryMax: 10 }, /"lockRetryMax"/]
  ]
  for (const [options, message] of bad) {
    assert.throws(() => normalizeOptions({ nodes, ...options }), (error: Error & { code: string }) => {
      assert.equal(error.code, 'FST_MSM_OPTION_INVALID')
      assert.match(error.message, message)
      return true
    })
  }
})
