// Sticky mode (lib/sticky/sticky-sessions.ts) on the in-memory memcached:
// sessions held in the process are served without memcached, taken over by
// another instance (another route) when theirs is gone, moved off a node
// that is down or a failover node, and forgotten under an id they no longer
// have. Written for mutants that survived the rest of the suite
// (test/mutation/REPORT.md).
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { MsmOptions } from '../../lib/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { CookieClient, drained, idOf, nodeOf, nodeState, sessionOn, startApp, type StartedApp, waitFor } from '../helpers/app.js'

const STICKY = { sticky: true, maxInactiveInterval: 60, touchInterval: 30, operationTimeout: 300, nodeRetryInterval: 100 }
const resources = usePerTestCleanup()

async function nodes (count: number): Promise<MemoryCluster> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  return cluster
}

async function sticky (cluster: MemoryCluster, options: Partial<MsmOptions> = {}, logs: string[] = []): Promise<StartedApp> {
  const logger = { level: 'warn', stream: { write: (line: string) => { logs.push(line) } } }
  return await startApp(cluster, resources.apps, { ...STICKY, ...options }, { logger })
}

const gets = (cluster: MemoryCluster): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats().cmd_get, 0)

test('a session the process holds is served without memcached, and counted as a local hit', async () => {
  const cluster = await nodes(2)
  const { app, client } = await sticky(cluster)
  await client.get('/count')
  await drained(app)
  const before = gets(cluster)
  assert.equal((await client.get('/count')).body.n, 2)
  assert.equal((await client.get('/read')).body.n, 2)
  assert.equal(gets(cluster), before, 'no get')
  const stats = app.msm.stats()
  assert.equal(stats.localHits, 2)
  assert.equal(stats.requestsWithSession, 2)
  assert.equal(stats.localSessions, 1)
  // Both writes went to memcached after their responses, one job each
  await drained(app)
  assert.equal(app.msm.stats().backupsQueued, 2)
  assert.equal(app.msm.stats().backupsCoalesced, 0)
  const other = await sticky(cluster)
  client.base = other.base
  assert.equal((await client.get('/read')).body.n, 2, 'the second write reached memcached too')
})

test("another instance's session is taken over under this instance's route, and the old copies deleted", async () => {
  const cluster = await nodes(2)
  const logs: string[] = []
  const a = await sticky(cluster, { route: 'a' })
  const b = await sticky(cluster, { route: 'b' }, logs)
  const client = new CookieClient(a.base)
  await client.get('/count')
  await drained(a.app)
  const old = idOf(client)
  assert.match(old, /\.a$/)
  client.base = b.base
  assert.equal((await client.get('/count')).body.n, 2, 'the session came along')
  await drained(b.app)
  const taken = idOf(client)
  assert.match(taken, /\.b$/, 'a new cookie, with this route')
  assert.notEqual(taken, old)
  assert.equal(b.app.msm.stats().takeovers, 1)
  assert.match(logs.join('\n'), /took over a session/)
  await waitFor(() => cluster.nodes.every((node) => node.server.peek(old) === undefined && node.server.peek(`bak:${old}`) === undefined), 'the old copies to go')
  assert.equal((await client.get('/count')).body.n, 3, 'and stays with this instance')
  assert.equal(b.app.msm.stats().takeovers, 1, 'once')
})

test('a session of this route is not taken over', async () => {
  const cluster = await nodes(2)
  const a = await sticky(cluster, { route: 'a' })
  const other = await sticky(cluster, { route: 'a' })
  const client = new CookieClient(a.base)
  await client.get('/count')
  await drained(a.app)
  const id = idOf(client)
  client.base = other.base
  assert.equal((await client.get('/count')).body.n, 2)
  assert.equal(idOf(client), id)
  assert.equal(other.app.msm.stats().takeovers, 0)
})

test('a held session whose node went down moves to the next node, under a new id', async () => {
  const cluster = await nodes(3)
  const { app, base } = await sticky(cluster)
  const client = await sessionOn(base, 'n1')
  await drained(app)
  await cluster.node('n1').kill()
  // Something notices n1 is down: a new session that lands there
  for (let i = 0; i < 50 && nodeState(app, 'n1') === 'up'; i++) await new CookieClient(base).get('/count')
  await waitFor(() => nodeState(app, 'n1') === 'down', 'n1 to be marked down')
  const before = app.msm.stats().relocated
  assert.equal((await client.get('/count')).body.n, 2)
  assert.equal(nodeOf(idOf(client)), 'n2', 'the relocation target')
  assert.equal(app.msm.stats().relocated - before, 1)
  await drained(app)
  assert.ok(cluster.node('n2').server.peek(idOf(client)) !== undefined, 'stored there')
})

test('a held session on a failover node moves to a regular node once one is up', async () => {
  const cluster = await nodes(2)
  await cluster.node('n1').kill()
  const { app, base } = await sticky(cluster, { failoverNodes: ['n2'] })
  const client = new CookieClient(base)
  await client.get('/count')
  await waitFor(() => nodeState(app, 'n1') === 'down', 'n1 to be marked down')
  if (nodeOf(idOf(client)) !== 'n2') await client.get('/count')
  assert.equal(nodeOf(idOf(client)), 'n2', 'on the failover node while n1 is down')
  await drained(app)
  await cluster.node('n1').start()
  await waitFor(() => nodeState(app, 'n1') === 'up', 'n1 to come back')
  const n = (await client.get('/read')).body.n as number
  assert.equal(nodeOf(idOf(client)), 'n1', 'moved to the regular node')
  assert.equal((await client.get('/count')).body.n, n + 1)
  await drained(app)
  assert.ok(cluster.node('n1').server.peek(idOf(client)) !== undefined)
})

test('a held session that stays on a failover node while no regular node is up', async () => {
  const cluster = await nodes(2)
  await cluster.node('n1').kill()
  const { app, base } = await sticky(cluster, { failoverNodes: ['n2'] })
  const client = new CookieClient(base)
  await client.get('/count')
  await waitFor(() => nodeState(app, 'n1') === 'down', 'n1 to be marked down')
  if (nodeOf(idOf(client)) !== 'n2') await client.get('/count')
  const id = idOf(client)
  const relocated = app.msm.stats().relocated
  await client.get('/count')
  assert.equal(idOf(client), id)
  assert.equal(app.msm.stats().relocated, relocated)
})

test('after changeSessionId the process holds the session under its new id only', async () => {
  const cluster = await nodes(2)
  const { app, client, base } = await sticky(cluster)
  await client.get('/count')
  await drained(app)
  const old = idOf(client)
  await client.post('/change-id')
  await drained(app)
  assert.notEqual(idOf(client), old)
  assert.equal(app.msm.stats().localSessions, 1, 'the old id is not held any more')
  const stale = new CookieClient(base)
  stale.cookies.set('sessionId', old)
  assert.equal((await stale.get('/read')).body.n, null)
  assert.equal((await client.get('/read')).body.n, 1)
})
