// Node faults noticed without a failing request: msm's own failover
// scenarios, written from their descriptions, against real memcached
// processes that are really killed and restarted. Each test runs with the
// default detection settings (healthCheckInterval, operationTimeout), and its
// requests only read the session: nothing but the plugin's own detection can
// tell it that a node died.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import type { MemcachedCluster } from '../helpers/memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { CookieClient, drained, idOf, nodeOf, nodeState, sessionOn, startApp, waitFor } from '../helpers/app.js'

const { apps, cluster } = usePerTestCleanup()

function app (nodes: MemcachedCluster, options: Partial<MsmOptions> = {}): Promise<{ app: FastifyInstance, base: string }> {
  return startApp(nodes, apps, options)
}

/** The nodes that hold `key` now (raw gets, outside the plugin). */
async function holders (nodes: MemcachedCluster, key: string): Promise<string[]> {
  const found: string[] = []
  for (const node of nodes.nodes) if (!node.stopped && await node.get(key) !== undefined) found.push(node.id)
  return found
}

describe('non-sticky: a read-only session keeps two copies through node faults', () => {
  // msm: NonStickySessionsIntegrationTest.testNonStickySessionSecondaryBackupFailoverForSkippedUpdate
  test('backup node stopped: the next read-only request re-writes the backup on the next node; the primary then dies and nothing is lost', async () => {
    const nodes = await cluster()
    const { base } = await app(nodes)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    assert.deepEqual(await holders(nodes, `bak:${id}`), ['n2'])
    await nodes.node('n2').stop()
    await sleep(100)
    const read = await client.get('/read')
    assert.equal(read.body.n, 1)
    assert.equal(idOf(client), id, 'same id: the primary is fine')
    assert.deepEqual(await holders(nodes, `bak:${id}`), ['n3'], 'the backup is on n3 when the read-only response arrives')
    await nodes.node('n1').stop()
    await sleep(100)
    assert.equal((await client.get('/read')).body.n, 1, 'the session survives the loss of its primary')
    assert.equal(nodeOf(idOf(client)), 'n3', 'relocated to the node that held its backup')
  })

  // msm: MemcachedFailoverIntegrationTest.testSecondaryBackupForNonStickySessionAfterMemcachedFailover
  test('backup node restarted empty: the next read-only request writes the backup again before the primary fails', async () => {
    const nodes = await cluster()
    const { app: instance, base } = await app(nodes)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    await nodes.node('n2').stop()
    await nodes.node('n3').stop()
    await sleep(100)
    assert.equal((await client.get('/read')).body.n, 1, 'served with one node left')
    await nodes.node('n2').start()
    await waitFor(() => nodeState(instance, 'n2') === 'up', 'n2 back in service')
    assert.deepEqual(await holders(nodes, `bak:${id}`), [], 'n2 came back empty')
    assert.equal((await client.get('/read')).body.n, 1)
    assert.deepEqual(await holders(nodes, `bak:${id}`), ['n2'], 'the backup is back on n2 after one read-only request')
    await nodes.node('n1').stop()
    await sleep(100)
    assert.equal((await client.get('/read')).body.n, 1, 'all the data, from the re-written backup')
    assert.equal(nodeOf(idOf(client)), 'n2')
  })

  test('a restart noticed while the node stays up (no request failed on it): the read-only session gets its backup back', async () => {
    const nodes = await cluster()
    const { app: instance, base } = await app(nodes)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    await nodes.node('n2').restart()
    await waitFor(() => instance.msm.stats().nodes.find((node) => node.id === 'n2')?.restarts === 1, 'the restart of n2 to be noticed')
    assert.equal(nodeState(instance, 'n2'), 'up')
    assert.equal((await client.get('/read')).body.n, 1)
    assert.deepEqual(await holders(nodes, `bak:${id}`), ['n2'])
  })
})

describe('sticky: a read-only session leaves a dead node on its next request', () => {
  function sticky (nodes: MemcachedCluster, options: Partial<MsmOptions> = {}): Promise<{ app: FastifyInstance, base: string }> {
    return app(nodes, { sticky: true, ...options })
  }

  // msm: MemcachedFailoverIntegrationTest.testRelocateSession (sticky)
  test('primary stopped: the next read-only request moves the session, with a new id and cookie, stored before the response', async () => {
    const nodes = await cluster()
    const { app: instance, base } = await sticky(nodes)
    const client = await sessionOn(base, 'n1')
    await drained(instance)
    const id = idOf(client)
    await nodes.node('n1').stop()
    await sleep(50)
    assert.equal((await client.get('/read')).body.n, 1)
    const moved = idOf(client)
    assert.notEqual(moved, id, 'a new id')
    assert.equal(nodeOf(moved), 'n2', 'on the node after the dead one')
    assert.deepEqual(await holders(nodes, moved), ['n2'], 'stored on its new primary when the response arrives')
    assert.deepEqual(await holders(nodes, `bak:${moved}`), ['n3'], 'with its backup')
    assert.equal((await client.get('/read')).body.n, 1)
    assert.equal(idOf(client), moved, 'the new id is kept')
  })

  // msm: MemcachedFailoverIntegrationTest.testMultipleMemcachedNodesFailure (sticky)
  test('two nodes stopped one after the other, read-only requests between: the session moves twice and keeps its data', async () => {
    const nodes = await cluster()
    const { app: instance, base } = await sticky(nodes)
    const client = await sessionOn(base, 'n1')
    await drained(instance)
    await nodes.node('n1').stop()
    await sleep(100)
    assert.equal((await client.get('/read')).body.n, 1)
    assert.equal(nodeOf(idOf(client)), 'n2')
    await nodes.node('n2').stop()
    await sleep(100)
    assert.equal((await client.get('/read')).body.n, 1)
    const last = idOf(client)
    assert.equal(nodeOf(last), 'n3')
    assert.deepEqual(await holders(nodes, last), ['n3'], 'stored on the last node standing')
    // Another process (no copy in memory) reads it from memcached: nothing was lost there either
    const other = await sticky(nodes)
    const fresh = new CookieClient(other.base)
    fresh.cookies.set('sessionId', last)
    assert.equal((await fresh.get('/read')).body.n, 1)
  })

  // msm: MemcachedFailoverIntegrationTest.testReconfigureMemcachedNodesAtRuntimeFeature46 (sticky)
  test('after setNodes(), the stopped node of a session is left on its next read-only request', async () => {
    const nodes = await cluster()
    const twoNodes = nodes.nodes.slice(0, 2).map((node) => node.spec).join(' ')
    const { app: instance, base } = await startApp({ spec: twoNodes }, apps, { sticky: true, failoverNodes: ['n2'] })
    const client = await sessionOn(base, 'n1')
    await drained(instance)
    instance.msm.setNodes(nodes.spec, ['n2'])
    await nodes.node('n1').stop()
    await sleep(100)
    assert.equal((await client.get('/read')).body.n, 1)
    const moved = idOf(client)
    assert.equal(nodeOf(moved), 'n3', 'to the regular node added at runtime, not the failover node')
    assert.deepEqual(await holders(nodes, moved), ['n3'])
  })
})

describe('what a healthy session costs is unchanged', () => {
  test('non-sticky: one get per read-only request; sticky: none, counted by memcached', async () => {
    const nodes = await cluster()
    const plain = await app(nodes)
    const held = await app(nodes, { sticky: true })
    const reader = await sessionOn(plain.base, 'n1')
    const holder = await sessionOn(held.base, 'n1')
    await drained(held.app)
    // Health checks go on meanwhile (stats commands): memcached counts none of them as get, set or touch
    const before = await nodes.operations()
    for (let i = 0; i < 10; i++) {
      await reader.get('/read')
      await holder.get('/read')
      await sleep(150)
    }
    const after = await nodes.operations()
    assert.deepEqual({ get: after.get - before.get, set: after.set - before.set, touch: after.touch - before.touch }, { get: 10, set: 0, touch: 0 })
  })
})
