// Sticky mode (lib/sticky/sticky-sessions.ts) keeps what it holds in step
// with memcached, on the in-memory memcached:
// - a session taken over from another instance is stored under its new id
//   even when the request only reads it (the old copies are deleted);
// - a held session that moves to another node is written there at once, even
//   by a read-only request (counted as relocated, not as restored), held under
//   its new id only (`localSessions` does not grow), and its new cookie is sent;
// - a touch of a held session is remembered from one request to the next, so
//   reads within touchInterval after it cost no memcached command, and a run
//   of reads touches at most once per touchInterval (mocked clock,
//   test/helpers/clock.ts).
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { MsmOptions } from '../../lib/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { CookieClient, drained, idOf, nodeOf, nodeState, sessionOn, startApp, type StartedApp, waitFor } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'
import { operationsDuring } from '../helpers/memcached.js'

const STICKY = { sticky: true, maxInactiveInterval: 60, touchInterval: 30, operationTimeout: 300, nodeRetryInterval: 100 }
const resources = usePerTestCleanup()

async function nodes (count: number): Promise<MemoryCluster> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  return cluster
}

async function sticky (cluster: MemoryCluster, options: Partial<MsmOptions> = {}): Promise<StartedApp> {
  return await startApp(cluster, resources.apps, { ...STICKY, ...options })
}

const stored = (cluster: MemoryCluster, id: string): boolean => cluster.nodes.some((node) => node.server.peek(id) !== undefined)
const touches = (cluster: MemoryCluster): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats().cmd_touch, 0)

test('a session taken over by a request that only reads it is stored under its new id', async () => {
  const cluster = await nodes(2)
  const a = await sticky(cluster, { route: 'a' })
  const b = await sticky(cluster, { route: 'b' })
  const client = new CookieClient(a.base)
  await client.get('/count')
  await drained(a.app)
  const old = idOf(client)
  client.base = b.base
  assert.equal((await client.get('/read')).body.n, 1)
  await drained(b.app)
  const taken = idOf(client)
  assert.match(taken, /\.b$/)
  assert.equal(stored(cluster, taken), true, 'written under the new id')
  await waitFor(() => !stored(cluster, old), 'the old copy to go')
  // Another instance of route b (b restarted, say) reads it from memcached
  const again = await sticky(cluster, { route: 'b' })
  client.base = again.base
  assert.equal((await client.get('/read')).body.n, 1, 'nothing was lost')
})

test('a held session moved off a down node is held under its new id only, and gets the new cookie', async () => {
  const cluster = await nodes(3)
  const { app, base } = await sticky(cluster)
  const client = await sessionOn(base, 'n1')
  await drained(app)
  const old = idOf(client)
  await cluster.node('n1').kill()
  // Something notices n1 is down: a new session that lands there
  for (let i = 0; i < 50 && nodeState(app, 'n1') === 'up'; i++) await new CookieClient(base).get('/count')
  await waitFor(() => nodeState(app, 'n1') === 'down', 'n1 to be marked down')
  await drained(app)
  const before = app.msm.stats()
  const held = before.localSessions
  assert.equal((await client.get('/read')).body.n, 1)
  assert.notEqual(idOf(client), old, 'the new cookie was sent')
  assert.equal(nodeOf(idOf(client)), 'n2')
  assert.equal(app.msm.stats().localSessions, held, 'the old id is no longer held')
  await drained(app)
  const moved = idOf(client)
  assert.notEqual(cluster.node('n2').server.peek(moved), undefined, 'a read-only request stored it on its new node')
  assert.notEqual(cluster.node('n3').server.peek(`bak:${moved}`), undefined, 'with its backup after it')
  const after = app.msm.stats()
  assert.equal(after.relocated - before.relocated, 1)
  assert.equal(after.restored - before.restored, 0, 'written as moved, not found missing and restored')
  assert.equal((await client.get('/count')).body.n, 2)
  assert.equal(app.msm.stats().localSessions, held)
})

test('a held session that was touched is not touched again within touchInterval', async (t) => {
  const advance = mockedClock(t)
  const cluster = await nodes(2)
  const { app, client } = await sticky(cluster, { maxInactiveInterval: 10, touchInterval: 1 })
  await client.get('/count')
  await drained(app)
  await advance(1100)
  const before = touches(cluster)
  assert.equal((await client.get('/read')).body.n, 1)
  await drained(app)
  assert.equal(touches(cluster) - before, 2, 'due: primary and backup touched')
  for (let i = 0; i < 3; i++) {
    await advance(250)
    assert.equal((await client.get('/read')).body.n, 1)
    await drained(app)
  }
  assert.equal(touches(cluster) - before, 2, 'within touchInterval of that touch: none')
  await advance(300)
  await client.get('/read')
  await drained(app)
  assert.equal(touches(cluster) - before, 4, 'a touchInterval after it: touched again')
})

test('sticky reads over more than two touch intervals touch memcached at most once per interval, and write nothing', async (t) => {
  const advance = mockedClock(t)
  const cluster = await nodes(2)
  const { app, client } = await sticky(cluster, { maxInactiveInterval: 10, touchInterval: 1 })
  await client.get('/count')
  await drained(app)
  let requests = 0
  let elapsed = 0
  const { ops } = await operationsDuring(cluster, async () => {
    const started = Date.now()
    // 60 reads 40 ms apart: more than two touch intervals
    for (; requests < 60; requests++) {
      assert.equal((await client.get('/read')).body.n, 1)
      await drained(app)
      await advance(40)
    }
    elapsed = Date.now() - started
  })
  const intervals = Math.ceil(elapsed / 1000) + 1
  assert.ok(ops.touch >= 2, `${ops.touch} touches: the session is extended`)
  assert.ok(ops.touch <= 2 * intervals, `${ops.touch} touches for ${requests} requests over ${elapsed} ms: at most one pair per touchInterval`)
  assert.equal(ops.set, 0, 'nothing written')
})

test('under localSessions pressure the least recently used session is evicted: a session kept warm stays held', async () => {
  const cluster = await nodes(2)
  const { app, base } = await sticky(cluster, { localSessions: 3 })
  const [warm, cold, third, fourth] = [0, 1, 2, 3].map(() => new CookieClient(base)) as [CookieClient, CookieClient, CookieClient, CookieClient]
  for (const client of [warm, cold, third]) await client.get('/count')
  await drained(app)
  assert.equal((await warm.get('/read')).body.n, 1, 'the first session, read again: now the most recently used')
  await fourth.get('/count')
  await drained(app)
  const gets = (): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats().cmd_get, 0)
  const hits = app.msm.stats().localHits
  const before = gets()
  assert.equal((await warm.get('/read')).body.n, 1)
  assert.equal(app.msm.stats().localHits, hits + 1, 'served from the process')
  assert.equal(gets(), before, 'no memcached read for the warm session')
  assert.equal((await cold.get('/read')).body.n, 1, 'the evicted session, reloaded from memcached')
  assert.equal(app.msm.stats().localHits, hits + 1, 'the least recently used one was evicted')
  assert.equal(gets(), before + 1)
})
