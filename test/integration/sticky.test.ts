import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { type MemcachedCluster, operationsDuring } from '../helpers/memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, CookieClient, drained, idOf, listen, startApp } from '../helpers/app.js'
import { createHash } from 'node:crypto'

const FAST = { operationTimeout: 300, nodeRetryInterval: 200 }
const { apps, cluster } = usePerTestCleanup()

function app (nodes: MemcachedCluster, options: Partial<MsmOptions> = {}): Promise<{ app: FastifyInstance, base: string }> {
  return startApp(nodes, apps, { ...FAST, sticky: true, ...options })
}

async function opsDuring (nodes: MemcachedCluster, action: () => Promise<unknown>): Promise<{ get: number, set: number, touch: number, delete: number }> {
  const { ops: { flush, ...ops } } = await operationsDuring(nodes, action)
  return ops
}

describe('sticky mode', () => {
  test('a request whose session is held locally costs no memcached operation on the request path', async () => {
    const nodes = await cluster()
    const { app: instance, base } = await app(nodes, { route: 'app1' })
    const client = new CookieClient(base)
    await client.get('/count')
    assert.match(idOf(client), /^[0-9a-f]{32}-n\d\.app1$/)
    await drained(instance)
    const reads = await opsDuring(nodes, async () => {
      for (let i = 0; i < 20; i++) assert.equal((await client.get('/read')).body.n, 1)
    })
    assert.deepEqual(reads, { get: 0, set: 0, touch: 0, delete: 0 })
    const writes = await opsDuring(nodes, async () => {
      assert.equal((await client.get('/count')).body.n, 2)
      await drained(instance)
    })
    assert.deepEqual(writes, { get: 0, set: 2, touch: 0, delete: 0 }, 'the modified session is backed up after the response: primary and backup')
    assert.equal(instance.msm.stats().localHits, 21)
  })

  test('another instance takes over the sessions of one that is gone, under its own route', async () => {
    const nodes = await cluster()
    const one = await app(nodes, { route: 'app1' })
    const two = await app(nodes, { route: 'app2' })
    const client = new CookieClient(one.base)
    await client.get('/count')
    await client.get('/count')
    const oldId = idOf(client)
    await one.app.close()
    client.base = two.base
    const response = await client.get('/read')
    assert.equal(response.body.n, 2, 'all the data')
    const newId = idOf(client)
    assert.match(newId, /\.app2$/, 'a new cookie with route app2')
    // docs/failover.md: the first 128 bits of the old id's SHA-256, and the same node
    const derived = createHash('sha256').update(oldId).digest('hex').slice(0, 32)
    assert.equal(newId.split('.')[0], `${derived}-${oldId.split('-')[1]?.split('.')[0] as string}`, 'a derived random part, the same node')
    await drained(two.app)
    for (const node of nodes.nodes) {
      assert.equal(await node.get(oldId), undefined, 'the old key is deleted')
      assert.equal(await node.get(`bak:${oldId}`), undefined)
    }
    assert.ok(await nodes.node(newId.split('-')[1]?.split('.')[0] as string).get(newId) !== undefined)
    assert.equal(two.app.msm.stats().takeovers, 1)
    assert.equal((await client.get('/count')).body.n, 3)
  })

  test('the local cache keeps at most localSessions sessions; an evicted one is reloaded from memcached', async () => {
    const nodes = await cluster()
    const { app: instance, base } = await app(nodes, { localSessions: 3 })
    const clients = Array.from({ length: 5 }, () => new CookieClient(base))
    for (const [index, client] of clients.entries()) {
      for (let i = 0; i <= index; i++) await client.get('/count')
    }
    await drained(instance)
    assert.equal(instance.msm.stats().localSessions, 3)
    const reload = await opsDuring(nodes, async () => {
      assert.equal((await (clients[0] as CookieClient).get('/read')).body.n, 1)
    })
    assert.equal(reload.get, 1, 'the evicted session came back from memcached')
    assert.equal(instance.msm.stats().localSessions, 3)
    const hit = await opsDuring(nodes, async () => {
      assert.equal((await (clients[0] as CookieClient).get('/read')).body.n, 1)
    })
    assert.equal(hit.get, 0, 'and is held locally again')
  })

  test('app.close() writes every queued backup: a fresh instance reads them all', async () => {
    const nodes = await cluster()
    const { app: instance, base } = await app(nodes)
    const clients = Array.from({ length: 50 }, () => new CookieClient(base))
    await Promise.all(clients.map(async (client) => {
      for (let i = 0; i < 3; i++) await client.get('/count')
    }))
    const queued = instance.msm.stats().backupQueue
    await instance.close()
    const fresh = await buildApp({ msm: { nodes: nodes.spec } })
    apps.push(fresh)
    const freshBase = await listen(fresh)
    for (const client of clients) {
      client.base = freshBase
      assert.equal((await client.get('/read')).body.n, 3)
    }
    assert.ok(queued >= 0)
    assert.equal(instance.msm.stats().saveFailures, 0)
  })

  test('concurrent writes of one session end with the last one stored', async () => {
    const nodes = await cluster()
    const { app: instance, base } = await app(nodes)
    const client = new CookieClient(base)
    await client.get('/count')
    await Promise.all(Array.from({ length: 30 }, () => client.get('/count')))
    await drained(instance)
    const stats = instance.msm.stats()
    assert.equal(stats.saved + stats.backupsCoalesced, 31, 'every write was either stored or replaced by a newer one')
    const other = await buildApp({ msm: { nodes: nodes.spec } })
    apps.push(other)
    client.base = await listen(other)
    assert.equal((await client.get('/read')).body.n, 31, 'the last write won')
  })

  test('a session whose node is killed moves to another node with a new id', async () => {
    const nodes = await cluster()
    const { app: instance, base } = await app(nodes, { route: 'app1' })
    let client = new CookieClient(base)
    for (let attempt = 0; attempt < 60; attempt++) {
      client = new CookieClient(base)
      await client.get('/count')
      if (idOf(client).includes('-n1.')) break
    }
    assert.match(idOf(client), /-n1\.app1$/)
    await drained(instance)
    await nodes.node('n1').kill()
    assert.equal((await client.get('/count')).body.n, 2, 'served from the process')
    await drained(instance)
    assert.equal(instance.msm.stats().nodes[0]?.state, 'down', 'the failed backup write marked n1 down')
    const moved = await client.get('/count')
    assert.equal(moved.body.n, 3)
    const newId = idOf(client)
    assert.match(newId, /-n2\.app1$/)
    await drained(instance)
    assert.ok(await nodes.node('n2').get(newId) !== undefined, 'written on its new node')
    assert.ok(instance.msm.stats().relocated >= 1)
  })

  test('a session on a failover node moves to a regular node once one is up', async () => {
    const nodes = await cluster(2)
    const { app: instance, base } = await app(nodes, { failoverNodes: ['n2'] })
    await nodes.node('n1').kill()
    const warmup = new CookieClient(base)
    await warmup.get('/count')
    await drained(instance)
    const client = new CookieClient(base)
    await client.get('/count')
    assert.match(idOf(client), /-n2$/, 'only the failover node was up')
    await drained(instance)
    await nodes.node('n1').start()
    const deadline = Date.now() + 5000
    while (instance.msm.stats().nodes[0]?.state !== 'up' && Date.now() < deadline) await sleep(50)
    assert.equal((await client.get('/count')).body.n, 2)
    assert.match(idOf(client), /-n1$/, 'moved to the regular node')
  })

  test('the idle timeout is enforced locally', async () => {
    const nodes = await cluster(2)
    const { base } = await app(nodes, { maxInactiveInterval: 1 })
    const client = new CookieClient(base)
    await client.get('/count')
    await sleep(1500)
    assert.equal((await client.get('/read')).body.n, null)
  })

  test('unchanged sessions keep their memcached TTL alive with touches, at most once per touchInterval', async () => {
    const nodes = await cluster(2)
    const { app: instance, base } = await app(nodes, { maxInactiveInterval: 4, touchInterval: 1 })
    const client = new CookieClient(base)
    await client.get('/count')
    await drained(instance)
    const ops = await opsDuring(nodes, async () => {
      for (let i = 0; i < 5; i++) {
        await client.get('/read')
        await sleep(300)
      }
      await drained(instance)
    })
    assert.equal(ops.touch, 2, 'one touch (primary and backup) in 1.5 s with touchInterval 1 s')
    assert.equal(ops.get, 0)
  })
})

describe('backupAsync in non-sticky mode', () => {
  test('writes after the response; another instance reads the change once it is written', async () => {
    const nodes = await cluster(2)
    const asyncApp = await buildApp({ msm: { nodes: nodes.spec, backupAsync: true } })
    const syncApp = await buildApp({ msm: { nodes: nodes.spec } })
    apps.push(asyncApp, syncApp)
    const client = new CookieClient(await listen(asyncApp))
    await client.get('/count')
    await client.get('/count')
    await drained(asyncApp)
    client.base = await listen(syncApp)
    assert.equal((await client.get('/read')).body.n, 2)
    const stats = asyncApp.msm.stats()
    assert.equal(stats.saved, 2)
    assert.equal(stats.localSessions, 0, 'nothing is held in the process')
  })

  test('sticky-only and contradictory options are refused', async () => {
    const nodes = await cluster(1)
    for (const [options, code] of [
      [{ route: 'app1' }, 'FST_MSM_OPTION_INVALID'],
      [{ sticky: true, backupAsync: false }, 'FST_MSM_OPTION_INVALID'],
      [{ sticky: true, lockingMode: 'all' }, 'FST_MSM_OPTION_INVALID'],
      [{ sticky: true, route: 'app-1' }, 'FST_MSM_OPTION_INVALID']
    ] as const) {
      await assert.rejects(buildApp({ msm: { nodes: nodes.spec, ...options } as MsmOptions }), { code })
    }
  })
})
