// How a request lets go of the session lock, by the lock's age, on the
// in-memory memcached with a mocked clock (test/helpers/clock.ts) instead of
// waiting out lockExpiration:
// - young (under lockExpiration - 1 s): deleted without reading it first;
// - older: read first and deleted only if it still holds this request's token,
//   because it may have expired and been taken by another server meanwhile;
// - a queued request of the same process gets the lock handed over only while
//   it is younger than half of lockExpiration; after that it goes back to
//   memcached, so that other servers get a turn;
// - a delete that fails is counted; the lock then expires on its own.
// Written for mutants that survived the rest of the suite (test/mutation/REPORT.md).
import { test, type TestContext } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { type MemoryCluster, type MemoryNode, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm from '../../lib/index.js'
import { type CookieClient, idOf, startApp, type TestAppOptions, waitFor } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'

const resources = usePerTestCleanup()
const LOCK_EXPIRATION = 4

/** A gate that `/hold` requests wait at until the test opens it. */
class Gate {
  #open: () => void = () => {}
  #opened = new Promise<void>((resolve) => { this.#open = resolve })
  waiting = 0
  arrived = 0
  get opened (): Promise<void> { return this.#opened }
  open (): void {
    this.#open()
    this.#opened = new Promise<void>((resolve) => { this.#open = resolve })
  }
}

interface Setup { cluster: MemoryCluster, app: FastifyInstance, client: CookieClient, gate: Gate, advance: (ms: number) => Promise<void>, primary: MemoryNode, lockKey: string }

async function setup (t: TestContext): Promise<Setup> {
  const advance = mockedClock(t)
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  const gate = new Gate()
  const build = async (options: TestAppOptions): Promise<FastifyInstance> => {
    // Counted before the plugin's own onRequest hook, which queues the request for the lock
    const app = Fastify()
    app.addHook('onRequest', async () => { gate.arrived++ })
    await app.register(cookie)
    await app.register(msm, options.msm)
    app.get('/count', async (request) => {
      const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
      request.session.set('n', n)
      return { n }
    })
    app.get('/hold', async (request) => {
      const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
      gate.waiting++
      await gate.opened
      gate.waiting--
      request.session.set('n', n)
      return { n }
    })
    return app
  }
  const options = { lockingMode: 'all' as const, lockExpiration: LOCK_EXPIRATION, lockTimeout: 30_000, operationTimeout: 300 }
  const { app, client } = await startApp(cluster, resources.apps, options, { build })
  await client.get('/count')
  const id = idOf(client)
  return { cluster, app, client, gate, advance, primary: cluster.node(id.split('-')[1] as string), lockKey: `lock:${id}` }
}

async function untilWaiting (gate: Gate, count: number): Promise<void> {
  await waitFor(() => gate.waiting >= count, `${count} request(s) at the gate`, 5000)
}

function gets (app: FastifyInstance, nodeId: string): number {
  return app.msm.stats().nodes.find((node) => node.id === nodeId)?.get ?? 0
}

test('a young lock is deleted without being read first', async (t) => {
  const { app, client, gate, advance, primary, lockKey } = await setup(t)
  const before = { gets: gets(app, primary.id), released: app.msm.stats().lockReleased }
  const held = client.get('/hold')
  await untilWaiting(gate, 1)
  assert.notEqual(primary.server.peek(lockKey), undefined, 'locked')
  await advance((LOCK_EXPIRATION - 1) * 1000 - 100)
  gate.open()
  assert.equal((await held).body.n, 2)
  assert.equal(primary.server.peek(lockKey), undefined, 'the lock is gone')
  assert.equal(gets(app, primary.id) - before.gets, 1, 'one get: the session, none for the lock')
  assert.equal(app.msm.stats().lockReleased - before.released, 1)
})

test('a lock held past lockExpiration - 1 s is read first, and deleted because it is still ours', async (t) => {
  const { app, client, gate, advance, primary, lockKey } = await setup(t)
  const before = { gets: gets(app, primary.id), released: app.msm.stats().lockReleased }
  // memcached counts lifetimes in whole seconds of its clock: a lock added just
  // before a second ends lives little more than lockExpiration - 1 s. Added at
  // the start of a second, it lives lockExpiration s less 1 ms.
  await advance(1001 - (Date.now() % 1000))
  const held = client.get('/hold')
  await untilWaiting(gate, 1)
  await advance((LOCK_EXPIRATION - 1) * 1000 + 100)
  gate.open()
  assert.equal((await held).body.n, 2)
  assert.equal(primary.server.peek(lockKey), undefined, 'our lock is deleted')
  assert.equal(gets(app, primary.id) - before.gets, 2, 'the session, then the lock')
  const stats = app.msm.stats()
  assert.equal(stats.lockReleased - before.released, 1)
  assert.equal(stats.lockReleasesNotOwned, 0)
})

test('a lock that expired and was taken by another server meanwhile is left alone, and counted', async (t) => {
  const { app, client, gate, advance, primary, lockKey } = await setup(t)
  const before = app.msm.stats().lockReleased
  const held = client.get('/hold')
  await untilWaiting(gate, 1)
  await advance(LOCK_EXPIRATION * 1000 + 1000)
  assert.equal(primary.server.peek(lockKey), undefined, 'expired in memcached')
  await primary.set(lockKey, 'another-server', 10)
  gate.open()
  assert.equal((await held).status, 200)
  assert.equal(primary.server.peek(lockKey), 'another-server', 'the other server keeps its lock')
  const stats = app.msm.stats()
  assert.equal(stats.lockReleasesNotOwned, 1)
  assert.equal(stats.lockReleased - before, 0)
})

test('a queued request of the same process gets the lock handed over while it is young', async (t) => {
  const { app, client, gate, advance, primary, lockKey } = await setup(t)
  const before = app.msm.stats()
  const first = client.get('/hold')
  await untilWaiting(gate, 1)
  const second = client.get('/count')
  await waitForQueued(app, gate, before.lockAcquired)
  await advance(LOCK_EXPIRATION * 500 - 100)
  gate.open()
  assert.equal((await first).body.n, 2)
  assert.equal((await second).body.n, 3)
  const stats = app.msm.stats()
  assert.equal(stats.lockHandovers - before.lockHandovers, 1)
  assert.equal(stats.lockAcquired - before.lockAcquired, 2)
  assert.equal(primary.server.peek(lockKey), undefined)
})

test('from half of lockExpiration on, the lock goes back to memcached and the queued request takes it again', async (t) => {
  const { app, client, gate, advance, primary, lockKey } = await setup(t)
  const before = app.msm.stats()
  const first = client.get('/hold')
  await untilWaiting(gate, 1)
  const second = client.get('/count')
  await waitForQueued(app, gate, before.lockAcquired)
  await advance(LOCK_EXPIRATION * 500 + 100)
  gate.open()
  assert.equal((await first).body.n, 2)
  assert.equal((await second).body.n, 3)
  const stats = app.msm.stats()
  assert.equal(stats.lockHandovers - before.lockHandovers, 0, 'not handed over')
  assert.equal(stats.lockReleased - before.lockReleased, 2, 'released to memcached twice')
  assert.equal(primary.server.peek(lockKey), undefined)
})

for (const [age, kind] of [[500, 'a young'], [(LOCK_EXPIRATION - 1) * 1000 + 100, 'an old']] as const) {
  test(`${kind} lock whose delete fails is counted as a lock error; it expires on its own`, async (t) => {
    const { app, client, gate, advance, primary } = await setup(t)
    const before = app.msm.stats().lockErrors
    const held = client.get('/hold')
    await untilWaiting(gate, 1)
    await advance(age)
    primary.server.kill()
    gate.open()
    await held
    assert.equal(app.msm.stats().lockErrors - before, 1)
  })
}

/** Until a second request waits in this process for the lock the first one holds. */
async function waitForQueued (app: FastifyInstance, gate: Gate, acquiredBefore: number): Promise<void> {
  // `arrived` counts the setup request, the holder and this one; from the
  // plugin's hook to the in-process queue there is no I/O, only a few turns
  await waitFor(() => gate.arrived >= 3, 'the second request', 5000)
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  assert.equal(app.msm.stats().lockAcquired - acquiredBefore, 1, 'only the first request holds the lock')
}
