// The request flow (lib/session/session-manager.ts, persistence.ts) as
// app.msm.stats() counts it, on the in-memory memcached: which requests load,
// create, save, skip or touch a session; ignored and bypassed requests; a
// node that fails between the read and the write of one request (the
// handler stops it); the size limit, at its exact bound. Written for mutants
// that survived the rest of the suite (test/mutation/REPORT.md).
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, CookieClient, idOf, nodeOf, sessionOn, startApp, type StartedApp, type TestAppOptions, waitFor } from '../helpers/app.js'

const resources = usePerTestCleanup()

/** The test app's routes, and /fail-then: stops `node` (ids, comma-separated) in the handler, then does `what`. */
async function setup (count: number, options: Partial<MsmOptions> = {}): Promise<StartedApp & { cluster: MemoryCluster, logs: string[] }> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  const logs: string[] = []
  const build = async (app: TestAppOptions): Promise<FastifyInstance> => {
    const fastify = await buildApp(app)
    fastify.get('/fail-then', async (request) => {
      const { node, what } = request.query as { node: string, what: 'set' | 'touch' }
      for (const id of node.split(',')) cluster.node(id).server.kill()
      if (what === 'touch') request.session.touch()
      else request.session.set('n', 100)
      return { ok: true }
    })
    return fastify
  }
  const logger = { level: 'warn', stream: { write: (line: string) => { logs.push(line) } } }
  return { cluster, logs, ...await startApp(cluster, resources.apps, { operationTimeout: 300, nodeRetryInterval: 100, ...options }, { build, logger }) }
}

test('each request is counted once: with or without a session, created, loaded, saved or skipped', async () => {
  const { app, client } = await setup(2)
  await client.get('/nothing')
  await client.get('/count')
  await client.get('/count')
  await client.get('/read')
  const stats = app.msm.stats()
  assert.equal(stats.requestsWithoutSession, 2, '/nothing and the first /count')
  assert.equal(stats.requestsWithSession, 2)
  assert.equal(stats.loaded, 2)
  assert.equal(stats.created, 1)
  assert.equal(stats.saved, 2)
  assert.equal(stats.skippedUnchanged, 1, '/read changed nothing')
  assert.equal(stats.regenerated + stats.refreshed + stats.touched, 0)
})

test('regenerate is counted as such, not as a new session', async () => {
  const { app, client } = await setup(2)
  await client.get('/count')
  await client.post('/regenerate', { keep: ['n'] })
  const stats = app.msm.stats()
  assert.equal(stats.regenerated, 1)
  assert.equal(stats.created, 1)
  assert.equal(stats.saved, 2)
})

test('requests matching "ignore" get no session: counted, no memcached operation, and using it fails', async () => {
  const { app, cluster, client } = await setup(2, { ignore: /^GET \/(nothing|read)/ })
  await client.get('/count')
  const gets = cluster.node('n1').server.stats().cmd_get + cluster.node('n2').server.stats().cmd_get
  assert.equal((await client.get('/nothing')).status, 200)
  const used = await client.get('/read')
  assert.equal(used.status, 500)
  assert.equal(used.body.code, 'FST_MSM_SESSION_DISABLED')
  assert.match(used.body.message, /ignore/)
  assert.equal(cluster.node('n1').server.stats().cmd_get + cluster.node('n2').server.stats().cmd_get, gets)
  assert.equal(app.msm.stats().requestsIgnored, 2)
  const route = await client.get('/ignored-but-used')
  assert.match(route.body.message, /config\.session = false/)
})

test('"ignore" is tested against "METHOD URL" with its query string (docs/options.md)', async () => {
  const { app, cluster, client } = await setup(2, { ignore: /[?&]nosession$/ })
  await client.get('/count')
  const gets = (): number => cluster.node('n1').server.stats().cmd_get + cluster.node('n2').server.stats().cmd_get
  const before = gets()
  const ignored = await client.get('/read?nosession')
  assert.equal(ignored.status, 500, 'the route uses its session, which an ignored request does not have')
  assert.equal(ignored.body.code, 'FST_MSM_SESSION_DISABLED')
  assert.equal((await client.get('/nothing?page=2&nosession')).status, 200)
  assert.equal(gets(), before, 'no memcached operation for either')
  assert.equal(app.msm.stats().requestsIgnored, 2)
  const kept = await client.get('/read?nosession=no')
  assert.deepEqual({ status: kept.status, n: kept.body.n }, { status: 200, n: 1 }, 'a query string that does not match keeps the session')
  assert.equal(app.msm.stats().requestsIgnored, 2)
})

test('with the kill switch off, requests get a session of their own that is never stored, and no cookie', async () => {
  const { app, client, cluster } = await setup(2)
  await client.get('/count')
  app.msm.enabled = false
  const before = cluster.node('n1').server.stats().cmd_set + cluster.node('n2').server.stats().cmd_set
  const response = await client.get('/count')
  assert.equal(response.body.n, 1, 'an empty session')
  assert.equal(response.headers.get('set-cookie'), null)
  assert.equal(cluster.node('n1').server.stats().cmd_set + cluster.node('n2').server.stats().cmd_set, before)
  assert.equal(app.msm.stats().requestsBypassed, 1)
  app.msm.enabled = true
  assert.equal((await client.get('/count')).body.n, 2, 'the stored session is still there')
})

test('a primary that fails between the read and the write: the backup copies hold the write, then the session moves before the response, counted and logged', async () => {
  const { app, cluster, base, logs } = await setup(3)
  const client = await sessionOn(base, 'n1')
  const before = idOf(client)
  assert.equal((await client.get('/fail-then?node=n1&what=set')).status, 200)
  const stats = app.msm.stats()
  assert.equal(stats.savedToBackupOnly, 1)
  assert.equal(stats.saveFailures, 0)
  assert.equal(stats.relocated, 1)
  assert.match(logs.join('\n'), /primary write failed/)
  assert.match(logs.join('\n'), /moved to a new id/)
  const copies = ['n2', 'n3'].filter((id) => cluster.node(id).server.peek(`bak:${before}`) !== undefined)
  assert.deepEqual(copies, ['n2', 'n3'], 'two backup copies of the write under the old id')
  const moved = idOf(client)
  assert.match(moved, /-n2$/, 'the response carries the id relocation would give, on n2')
  assert.ok(cluster.node('n2').server.peek(moved) !== undefined && cluster.node('n3').server.peek(`bak:${moved}`) !== undefined, 'two copies under it')
  assert.equal((await client.get('/read')).body.n, 100, 'with the write')
})

test('a primary that fails between the read and a forced touch: counted and logged, the response still sent', async () => {
  const { app, base, logs } = await setup(3)
  const client = await sessionOn(base, 'n1')
  assert.equal((await client.get('/fail-then?node=n1&what=touch')).status, 200)
  const stats = app.msm.stats()
  assert.equal(stats.touchFailures, 1)
  assert.equal(stats.touched, 0)
  assert.match(logs.join('\n'), /could not extend the session lifetime/)
})

test("a loaded session that no node can store: a save failure, logged, and the client's cookie left alone", async () => {
  const { app, base, logs } = await setup(2)
  const client = await sessionOn(base, 'n1')
  const saved = app.msm.stats().saved
  const response = await client.get('/fail-then?node=n1,n2&what=set')
  assert.equal(response.status, 200, "storeFailurePolicy 'continue'")
  assert.equal(response.headers.get('set-cookie'), null)
  const stats = app.msm.stats()
  assert.equal(stats.saveFailures, 1)
  assert.equal(stats.saved, saved)
  assert.match(logs.join('\n'), /could not save the session/)
})

test("with storeFailurePolicy 'fail' the same request answers 503", async () => {
  const { base } = await setup(2, { storeFailurePolicy: 'fail' })
  const client = await sessionOn(base, 'n1')
  const response = await client.get('/fail-then?node=n1,n2&what=set')
  assert.equal(response.status, 503)
  assert.equal(response.body.code, 'FST_MSM_STORE_UNAVAILABLE')
})

test('a value over maxSessionSize fails the request, counted, and nothing is stored or sent', async () => {
  const { app, client, cluster } = await setup(2, { maxSessionSize: 2048 })
  await client.get('/count')
  const sets = cluster.node('n1').server.stats().cmd_set + cluster.node('n2').server.stats().cmd_set
  const id = idOf(client)
  const big = await client.get('/big?size=4000')
  assert.equal(big.status, 500)
  assert.equal(big.body.code, 'FST_MSM_SESSION_TOO_LARGE')
  assert.equal(app.msm.stats().oversized, 1)
  assert.equal(cluster.node('n1').server.stats().cmd_set + cluster.node('n2').server.stats().cmd_set, sets)
  assert.equal(idOf(client), id)
  assert.equal((await client.get('/big?size=100')).status, 200, 'a smaller value fits')
})

test('maxSessionSize is the largest stored value accepted: a value of exactly that size is stored, one 4 bytes larger is refused', async () => {
  const measuring = await setup(2)
  const { cluster } = measuring
  await measuring.client.get('/big?size=1500')
  const id = idOf(measuring.client)
  const size = (cluster.node(nodeOf(id)).server.peek(id) as string).length
  const { app, client } = await startApp(cluster, resources.apps, { operationTimeout: 300, nodeRetryInterval: 100, maxSessionSize: size })
  const exact = await client.get('/big?size=1500')
  assert.equal(exact.status, 200, `a stored value of ${size} characters`)
  assert.equal(client.lastSetCookie.length, 1)
  const larger = await new CookieClient(client.base).get('/big?size=1503')
  assert.equal(larger.status, 500)
  assert.equal(larger.body.code, 'FST_MSM_SESSION_TOO_LARGE')
  assert.equal(app.msm.stats().oversized, 1)
})

test('backupAsync: writes and touches leave after the response through the queue, counted per job', async () => {
  const { app, cluster, base } = await setup(2, { backupAsync: true, lockingMode: 'none' })
  const client = await sessionOn(base, 'n1')
  await waitFor(() => app.msm.stats().backupQueue === 0, 'the queue to drain')
  const queued = app.msm.stats().backupsQueued
  assert.ok(queued >= 1)
  await client.get('/count')
  await client.get('/touch')
  await waitFor(() => app.msm.stats().backupQueue === 0, 'the queue to drain')
  const stats = app.msm.stats()
  assert.equal(stats.backupsQueued - queued, 2, 'the write and the touch')
  assert.equal(stats.touched, 1)
  assert.ok(cluster.node('n1').server.peek(idOf(client)) !== undefined)
  assert.equal((await client.get('/read')).body.n, 2)
})

test('backupAsync: a request that holds the session lock writes before its response instead', async () => {
  const { app, base } = await setup(2, { backupAsync: true, lockingMode: 'all' })
  const client = await sessionOn(base, 'n1')
  const queued = app.msm.stats().backupsQueued
  await client.get('/count')
  assert.equal(app.msm.stats().backupsQueued, queued, 'nothing queued')
  assert.equal(app.msm.stats().lockAcquired, 1)
})
