// How a request waits for a session lock that another server holds
// (lib/locking/session-lock.ts), on the in-memory memcached: it retries `add`
// with exponential backoff, lockRetryMin doubling up to lockRetryMax
// (docs/locking.md), so it neither hammers memcached nor waits much longer
// than lockRetryMax after the lock is freed. Two apps on the same nodes stand
// for two servers; the first holds the lock in a handler until the test lets
// it go. Counts are `add` commands of the waiting app (app.msm.stats().nodes).
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm, { type MsmOptions } from '../../lib/index.js'
import { kTransport } from '../../lib/memcached/transport.js'
import { failingTransport, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { idOf, nodeOf, startApp, type TestAppOptions, waitFor } from '../helpers/app.js'

const resources = usePerTestCleanup()
const RETRY = { lockRetryMin: 10, lockRetryMax: 40 }

test('a request waiting for a lock held elsewhere retries add with backoff until it gets it', async () => {
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => { open = resolve })
  let holding = false
  const build = async (options: TestAppOptions): Promise<FastifyInstance> => {
    const app = Fastify()
    await app.register(cookie)
    await app.register(msm, options.msm)
    app.get('/count', async (request) => {
      const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
      request.session.set('n', n)
      return { n }
    })
    app.get('/hold', async (request) => {
      const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
      holding = true
      await opened
      request.session.set('n', n)
      return { n }
    })
    return app
  }
  const options = { lockingMode: 'all' as const, lockTimeout: 60_000, operationTimeout: 300, ...RETRY }
  const first = await startApp(cluster, resources.apps, options, { build })
  const second = await startApp(cluster, resources.apps, options, { build })
  await first.client.get('/count')
  const primary = nodeOf(idOf(first.client))
  const adds = (): number => second.app.msm.stats().nodes.find((node) => node.id === primary)?.add ?? 0

  const held = first.client.get('/hold')
  await waitFor(() => holding, 'the first server to hold the lock')
  const before = adds()
  const waiting = second.app.inject({ url: '/count', headers: { cookie: first.client.cookieHeader } })
  await waitFor(() => adds() > before, 'the first add of the second server')
  const started = adds()
  await sleep(150)
  // 10, 20, 40, 40 ms: at most 150 / 10 + 1 commands even if every pause were the shortest
  assert.ok(adds() - started <= 16, `no faster than lockRetryMin: ${adds() - started} adds in 150 ms`)
  // It keeps trying, every lockRetryMax at the latest
  await waitFor(() => adds() - before >= 12, 'twelve add attempts', 5000)
  assert.equal(second.app.msm.stats().lockAcquired, 0, 'still waiting')
  open()
  assert.equal((await held).body.n, 2)
  const response = await waiting
  assert.equal(response.statusCode, 200)
  assert.equal(response.json().n, 3, 'it got the lock after the first server, and read its write')
  const stats = second.app.msm.stats()
  assert.equal(stats.lockAcquired, 1)
  assert.equal(stats.lockWaited, 1)
  assert.equal(stats.lockTimeouts, 0)
})

test('a lock attempt that failed on a node error holds nothing: the next request for the session gets the lock once the node answers again', async () => {
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  let failLockAdds = false
  const factory = failingTransport(cluster, 'add', (key) => failLockAdds && key.includes('lock:'), 'SERVER_ERROR out of memory storing object')
  const { app, client } = await startApp(cluster, resources.apps, { lockingMode: 'all', lockTimeout: 1000, operationTimeout: 300, nodeRetryInterval: 50, ...RETRY, [kTransport]: factory } as Partial<MsmOptions>)
  for (let n = 1; n <= 5; n++) assert.equal((await client.get('/count')).body.n, n)
  failLockAdds = true
  // The lock's add fails on the primary and on the relocation target: both are taken for down, so
  // the session cannot be read and nothing is written (docs/failover.md, every node down)
  assert.equal((await client.get('/count')).status, 200)
  assert.equal(app.msm.stats().lockErrors, 2)
  failLockAdds = false
  await waitFor(() => app.msm.stats().nodes.every((node) => node.state === 'up'), 'the nodes to be up again')
  const next = await client.get('/count')
  assert.deepEqual({ status: next.status, n: next.body.n }, { status: 200, n: 6 }, 'the lock is free: not a 503 after lockTimeout, and the session as it was')
  const stats = app.msm.stats()
  assert.equal(stats.lockTimeouts, 0)
  assert.equal(stats.lockAcquired, 5, 'four before (a new session has nothing to lock), and this one')
})
