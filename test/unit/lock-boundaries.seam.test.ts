// The two ages at which releasing a session lock changes (lib/locking/session-lock.ts,
// docs/locking.md), exactly at the boundary, with a mocked clock
// (test/helpers/clock.ts) on the in-memory memcached:
// - hand-over to a queued request of the same process happens only during the
//   first half of lockExpiration: at exactly half, the lock goes back to memcached;
// - a lock is deleted without reading it only while it is younger than
//   lockExpiration - 1 s: at exactly that age, its token is read first.
// lock-release.seam.test.ts covers both sides of each boundary.
import { test, type TestContext } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm from '../../lib/index.js'
import { startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { type CookieClient, idOf, nodeOf, startApp, type TestAppOptions, waitFor } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'

const resources = usePerTestCleanup()
const LOCK_EXPIRATION = 4

interface Setup {
  app: FastifyInstance
  client: CookieClient
  advance: (ms: number) => Promise<void>
  /** Starts a request that holds the lock until release() is called. */
  hold: () => Promise<{ done: Promise<unknown>, release: () => void }>
  primary: string
  arrived: () => number
}

async function setup (t: TestContext): Promise<Setup> {
  const advance = mockedClock(t)
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  let arrived = 0
  const holders: Array<() => void> = []
  const build = async (options: TestAppOptions): Promise<FastifyInstance> => {
    const app = Fastify()
    app.addHook('onRequest', async () => { arrived++ })
    await app.register(cookie)
    await app.register(msm, options.msm)
    app.get('/count', async (request) => {
      const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
      request.session.set('n', n)
      return { n }
    })
    app.get('/hold', async (request) => {
      await new Promise<void>((resolve) => { holders.push(resolve) })
      request.session.set('n', ((request.session.get('n') as number | undefined) ?? 0) + 1)
      return { ok: true }
    })
    return app
  }
  const options = { lockingMode: 'all' as const, lockExpiration: LOCK_EXPIRATION, lockTimeout: 30_000, operationTimeout: 300 }
  const { app, client } = await startApp(cluster, resources.apps, options, { build })
  await client.get('/count')
  const hold = async (): Promise<{ done: Promise<unknown>, release: () => void }> => {
    const done = client.get('/hold')
    await waitFor(() => holders.length > 0, 'GET /hold to enter its handler', 5000)
    return { done, release: holders.shift() as () => void }
  }
  return { app, client, advance, hold, primary: nodeOf(idOf(client)), arrived: () => arrived }
}

const gets = (app: FastifyInstance, nodeId: string): number => app.msm.stats().nodes.find((node) => node.id === nodeId)?.get ?? 0

test('at exactly half of lockExpiration the lock is no longer handed over to a queued request', async (t) => {
  const { app, client, advance, hold, arrived } = await setup(t)
  const before = app.msm.stats()
  const first = await hold()
  const second = client.get('/count')
  // The second request reaches the in-process queue without any I/O after its onRequest
  await waitFor(() => arrived() >= 3, 'the second request to arrive', 5000)
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  assert.equal(app.msm.stats().lockAcquired - before.lockAcquired, 1, 'the second request waits')
  await advance(LOCK_EXPIRATION * 500)
  first.release()
  await first.done
  assert.equal((await second).body.n, 3)
  const stats = app.msm.stats()
  assert.equal(stats.lockHandovers - before.lockHandovers, 0, 'not handed over')
  assert.equal(stats.lockReleased - before.lockReleased, 2, 'released to memcached, and taken again with add')
})

test('at exactly lockExpiration - 1 s the lock is read before it is deleted', async (t) => {
  const { app, advance, hold, primary } = await setup(t)
  const before = { gets: gets(app, primary), released: app.msm.stats().lockReleased }
  const held = await hold()
  await advance((LOCK_EXPIRATION - 1) * 1000)
  held.release()
  await held.done
  assert.equal(gets(app, primary) - before.gets, 2, 'the session, then the lock')
  assert.equal(app.msm.stats().lockReleased - before.released, 1, 'still ours: deleted')
})
