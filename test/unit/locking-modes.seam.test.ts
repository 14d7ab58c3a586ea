// Locking within one process on the in-memory memcached (test/helpers/memory-memcached.ts),
// no process started: lock and release, hand-over between queued requests,
// and which requests lock. The cases that need real time (lock timeouts,
// expiry, hand-over limits between two apps) are in locking.seam.test.ts;
// lock release by age is in lock-release.seam.test.ts (mocked clock).
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { startMemoryCluster } from '../helpers/memory-memcached.js'
import { useClusterPerTest } from '../helpers/fixtures.js'
import { buildApp, type CookieClient, idOf, startApp, type TestAppOptions } from '../helpers/app.js'

const startNodes = startMemoryCluster
let cluster: Awaited<ReturnType<typeof startNodes>>
const apps = useClusterPerTest(2, (started) => { cluster = started }, startNodes)

/** `add` commands sent at start-up (the schema registry publishes with add), per app. */
const startupAdds = new WeakMap<FastifyInstance, number>()

/** A test app that remembers how many adds it sent at start-up. */
async function lockingApp (options: Partial<MsmOptions>): Promise<{ app: FastifyInstance, client: CookieClient }> {
  const { app, client } = await startApp(cluster, apps, options)
  startupAdds.set(app, totalAdds(app))
  return { app, client }
}

function totalAdds (app: FastifyInstance): number {
  return app.msm.stats().nodes.reduce((sum, node) => sum + node.add, 0)
}

/** Lock `add` commands sent since the app started. */
function adds (app: FastifyInstance): number {
  return totalAdds(app) - (startupAdds.get(app) ?? 0)
}

describe('in-process queueing', () => {
  test('50 concurrent requests for one session take far fewer adds than requests, and lose nothing', async () => {
    const { app, client } = await lockingApp({ lockingMode: 'all', lockTimeout: 10_000 })
    await client.get('/count')
    const before = adds(app)
    const responses = await Promise.all(Array.from({ length: 50 }, () => client.get('/count')))
    assert.deepEqual(responses.map((response) => response.status), Array(50).fill(200))
    assert.equal((await client.get('/read')).body.n, 51)
    const used = adds(app) - before
    assert.ok(used <= 5, `${used} add attempts for 50 requests`)
    const stats = app.msm.stats()
    assert.ok(stats.lockHandovers >= 45, `${stats.lockHandovers} hand-overs`)
    assert.equal(stats.lockTimeouts, 0)
    assert.equal(await cluster.node(idOf(client).split('-')[1] as string).get(`lock:${idOf(client)}`), undefined, 'no lock left behind')
  })
})

describe('lock and release', () => {
  test('a locked request costs one add and one delete of the lock, and leaves nothing behind', async () => {
    const { app, client } = await lockingApp({ lockingMode: 'all' })
    await client.get('/count')
    const before = await cluster.operations()
    const statsBefore = app.msm.stats()
    await client.get('/count')
    const afterOps = await cluster.operations()
    const stats = app.msm.stats()
    assert.equal(stats.lockAcquired - statsBefore.lockAcquired, 1)
    assert.equal(stats.lockReleased - statsBefore.lockReleased, 1)
    assert.equal(adds(app), 1)
    // session: get + 2 sets; lock: add (counted by memcached as a set) + delete, no token check for a young lock
    assert.equal(afterOps.get - before.get, 1)
    assert.equal(afterOps.set - before.set, 3)
    assert.equal(afterOps.delete - before.delete, 1)
    const id = idOf(client)
    assert.equal(await cluster.node(id.split('-')[1] as string).get(`lock:${id}`), undefined)
  })

  test('a handler that throws releases the lock', async () => {
    const { app, client } = await lockingApp({ lockingMode: 'all' })
    await client.get('/count')
    const thrown = await client.get('/throw')
    assert.equal(thrown.status, 500)
    const id = idOf(client)
    assert.equal(await cluster.node(id.split('-')[1] as string).get(`lock:${id}`), undefined)
    const next = await client.get('/count')
    assert.equal(next.status, 200)
    assert.equal(app.msm.stats().lockWaited, 0, 'the next request did not wait')
  })
})

describe('which requests lock', () => {
  test("'auto' learns read-only routes by their pattern and stops locking them", async () => {
    const { app, client } = await lockingApp({ lockingMode: 'auto' })
    await client.get('/count')
    const start = adds(app)
    await client.get('/read')
    assert.equal(adds(app) - start, 1, 'an unknown route locks the first time')
    for (let i = 0; i < 5; i++) await client.get('/read?page=' + i)
    assert.equal(adds(app) - start, 1, 'then it is read-only: no add')
    for (let i = 0; i < 3; i++) await client.get('/count')
    assert.equal(adds(app) - start, 4, 'a modifying route keeps locking')
  })

  test('uriPattern locks matching requests only', async () => {
    const { app, client } = await lockingApp({ lockingMode: { uriPattern: /^GET \/count/ } })
    await client.get('/count')
    const start = adds(app)
    await client.get('/read')
    await client.get('/read')
    assert.equal(adds(app) - start, 0)
    await client.get('/count')
    assert.equal(adds(app) - start, 1)
  })

  test("a route's config.session.lock wins over the mode", async () => {
    const all = await lockingApp({ lockingMode: 'all' })
    await all.client.get('/count')
    const start = adds(all.app)
    await all.client.get('/read-unlocked')
    assert.equal(adds(all.app) - start, 0)
    const none = await lockingApp({ lockingMode: 'none' })
    await none.client.get('/count')
    await none.client.get('/count-locked')
    assert.equal(adds(none.app), 1)
  })

  test('a route whose config.session is null follows the mode', async () => {
    const build = async (options: TestAppOptions): Promise<FastifyInstance> => {
      const app = await buildApp(options)
      app.get('/null-config', { config: { session: null } as never }, async (request) => ({ n: request.session.get('n') ?? null }))
      return app
    }
    const { app, client } = await startApp(cluster, apps, { lockingMode: 'all' }, { build })
    startupAdds.set(app, totalAdds(app))
    await client.get('/count')
    const start = adds(app)
    const response = await client.get('/null-config')
    assert.equal(response.status, 200)
    assert.equal(response.body.n, 1)
    assert.equal(adds(app) - start, 1, 'locked, as lockingMode all says')
  })

  test("'none' never locks", async () => {
    const { app, client } = await lockingApp({})
    await client.get('/count')
    await client.get('/count')
    assert.equal(adds(app), 0)
  })
})
