// Which requests lock (lib/locking/lock-policy.ts) and the in-process queue
// (lib/locking/keyed-mutex.ts), tested on the classes themselves:
// - 'auto' mode learns per route pattern AND method, so one route learned as
//   read-only does not stop another from locking;
// - only 'auto' mode learns, and never a route with its own lock setting, so
//   the learned tables cannot grow in the other modes;
// - a waiter of the queue that gives up leaves it, whatever its place, so the
//   key is free again once the holders are done.
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyRequest } from 'fastify'
import { KeyedMutex } from '../../lib/locking/keyed-mutex.js'
import { LockPolicy } from '../../lib/locking/lock-policy.js'

function request (method: string, route: string | undefined, session?: unknown): FastifyRequest {
  const url = route ?? '/nowhere'
  return { method, url, routeOptions: { url: route, config: session === undefined ? {} : { session } } } as unknown as FastifyRequest
}

test("'auto': a route learned as read-only does not make other routes of the same method read-only", () => {
  const policy = new LockPolicy('auto')
  policy.learn(request('GET', '/feed'), false)
  assert.equal(policy.shouldLock(request('GET', '/feed')), false, 'learned')
  assert.equal(policy.shouldLock(request('GET', '/cart')), true, 'another route still locks')
  assert.equal(policy.shouldLock(request('POST', '/feed')), true, 'another method still locks')
  policy.learn(request('GET', '/cart'), true)
  assert.equal(policy.shouldLock(request('GET', '/feed')), false, 'a modifying route does not make others lock')
  assert.deepEqual(policy.learned, { readOnlyRoutes: 1, modifyingRoutes: 1 })
})

test("'auto': requests without a route are learned under one key of their own", () => {
  const policy = new LockPolicy('auto')
  policy.learn(request('GET', undefined), false)
  assert.equal(policy.shouldLock(request('GET', undefined)), false)
  assert.equal(policy.shouldLock(request('GET', '/feed')), true, 'routes are not affected')
})

test('only auto mode learns routes, and never a route with its own lock setting', () => {
  for (const mode of ['none', 'all', { uriPattern: /^POST / }] as const) {
    const policy = new LockPolicy(mode)
    policy.learn(request('GET', '/feed'), false)
    policy.learn(request('POST', '/cart'), true)
    assert.deepEqual(policy.learned, { readOnlyRoutes: 0, modifyingRoutes: 0 }, JSON.stringify(String(mode)))
  }
  const auto = new LockPolicy('auto')
  auto.learn(request('GET', '/feed', { lock: true }), false)
  auto.learn(request('POST', '/cart', { lock: false }), true)
  assert.deepEqual(auto.learned, { readOnlyRoutes: 0, modifyingRoutes: 0 })
  assert.equal(auto.shouldLock(request('GET', '/feed', { lock: true })), true, 'the override still decides')
})

test('a waiter that gives up behind another waiter leaves the queue; the key is free once the others are done', async () => {
  const mutex = new KeyedMutex()
  assert.equal(await mutex.lock('s', 1000), true)
  const patient = mutex.lock('s', 5000)
  assert.equal(await mutex.lock('s', 10), false, 'the second waiter gives up')
  mutex.unlock('s')
  assert.equal(await patient, true, 'the first waiter gets the key')
  assert.equal(mutex.hasWaiters('s'), false, 'nobody waits any more')
  mutex.unlock('s')
  assert.equal(mutex.size, 0, 'free')
  assert.equal(await mutex.lock('s', 10), true, 'and can be locked at once')
  mutex.unlock('s')
})

test('unlocking a key nobody holds does nothing', () => {
  const mutex = new KeyedMutex()
  mutex.unlock('s')
  assert.equal(mutex.size, 0)
})
