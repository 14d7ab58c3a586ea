// Relocation and restore on the in-memory memcached (test/helpers/memory-memcached.ts),
// no process started: a node restarted empty, a dead backup node, every node
// dead, concurrent requests converging on one relocated id, failover nodes and
// setNodes(). Moved from test/integration/failover.test.ts; the same assertions
// hold on real memcached (switch startNodes to startCluster).
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { MsmOptions } from '../../lib/index.js'
import { startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, clusterWithApp, CookieClient, idOf, listen, msmOptions, nodeOf, sessionOn, waitFor } from '../helpers/app.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { createHash } from 'node:crypto'
import { allAttributes } from '../helpers/attributes.js'

const startNodes = startMemoryCluster
type TestCluster = Awaited<ReturnType<typeof startNodes>>
const codec = new AvroSessionCodec()
const FAST = { operationTimeout: 300, nodeRetryInterval: 200 }
const resources = usePerTestCleanup()
const { clusters, apps } = resources

const setup = (nodes = 3, options: Partial<MsmOptions> = {}): ReturnType<typeof clusterWithApp<TestCluster>> =>
  clusterWithApp(resources, startNodes, nodes, { ...FAST, ...options })

describe('a node restarted empty', () => {
  test('its sessions are restored from their backups, with the same ids', async () => {
    const { cluster, app, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    await client.get('/count')
    const id = idOf(client)
    await cluster.node('n1').restart()
    await sleep(100)
    const read = await client.get('/read')
    assert.equal(read.body.n, 2)
    assert.equal(read.body.id, id, 'same id')
    assert.deepEqual(client.lastSetCookie, [], 'no new cookie')
    assert.equal(app.msm.stats().restored, 1)
    const stored = await cluster.node('n1').get(id)
    assert.ok(stored !== undefined, 'the primary copy was written back')
    assert.equal((await client.get('/count')).body.n, 3)
  })
})

describe('a backup node killed', () => {
  test('writes go on, and the backups move to the next node', async () => {
    const { cluster, app, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    assert.ok(await cluster.node('n2').get(`bak:${id}`) !== undefined)
    await cluster.node('n2').kill()
    assert.equal((await client.get('/count')).status, 200)
    assert.equal((await client.get('/count')).body.n, 3)
    assert.equal(idOf(client), id, 'the id does not change when only the backup fails')
    const moved = await cluster.node('n3').get(`bak:${id}`)
    assert.ok(moved !== undefined, 'the backup is now on n3')
    const decoded = codec.decodeValue(moved)
    assert.ok(decoded.ok === true)
    assert.deepEqual(allAttributes(decoded.session.attributes), { n: 3 })
    assert.ok(app.msm.stats().backupWrites >= 2)
  })

  test('with no node left for the backup, writes are counted as skipped and requests are unaffected', async () => {
    const { cluster, app, base } = await setup(2)
    const client = await sessionOn(base, 'n1')
    await cluster.node('n2').kill()
    for (let i = 0; i < 3; i++) assert.equal((await client.get('/count')).status, 200)
    assert.equal((await client.get('/read')).body.n, 4)
    assert.ok(app.msm.stats().backupSkipped >= 1)
  })
})

describe('every node killed, then restarted', () => {
  test("'continue' serves requests without cookie churn; 'fail' answers 503; both resume", async () => {
    const { cluster, app, base } = await setup(2)
    const failing = await buildApp({ msm: msmOptions(cluster, { ...FAST, storeFailurePolicy: 'fail' }) })
    apps.push(failing)
    const failingBase = await listen(failing)
    const client = new CookieClient(base)
    await client.get('/count')
    const strict = new CookieClient(failingBase)
    await strict.get('/count')
    await Promise.all(cluster.nodes.map((node) => node.kill()))

    for (let i = 0; i < 3; i++) {
      const response = await client.get('/count')
      assert.equal(response.status, 200)
      assert.deepEqual(client.lastSetCookie, [], 'the id is kept')
      const fresh = new CookieClient(base)
      assert.equal((await fresh.get('/count')).status, 200)
      assert.deepEqual(fresh.lastSetCookie, [], 'no cookie for a session that was not stored')
    }
    const refused = await strict.get('/count')
    assert.equal(refused.status, 503)
    assert.equal(refused.body.code, 'FST_MSM_STORE_UNAVAILABLE')
    assert.equal((await strict.get('/read')).status, 200, 'a request that writes nothing is served')
    assert.equal((await new CookieClient(failingBase).get('/count')).status, 503)

    await Promise.all(cluster.nodes.map((node) => node.start()))
    await waitFor(() => app.msm.stats().nodes.every((node) => node.state === 'up'), 'the nodes to come back')
    const resumed = new CookieClient(base)
    assert.equal((await resumed.get('/count')).body.n, 1)
    assert.equal((await resumed.get('/count')).body.n, 2)
    await waitFor(() => failing.msm.stats().nodes.every((node) => node.state === 'up'), 'the nodes to come back')
    assert.equal((await new CookieClient(failingBase).get('/count')).status, 200)
  })
})

describe('concurrent requests during relocation', () => {
  test('requests carrying the old id converge on one new id, and with locking lose nothing', async () => {
    const { cluster, app, base } = await setup(3, { lockingMode: 'all', lockTimeout: 10_000 })
    const client = await sessionOn(base, 'n1')
    const oldCookie = client.cookieHeader
    await cluster.node('n1').kill()
    const responses = await Promise.all(Array.from({ length: 10 }, () => {
      const tab = new CookieClient(base)
      return tab.request('/count', { headers: { cookie: oldCookie } }).then((response) => ({ response, tab }))
    }))
    const newIds = new Set(responses.map(({ tab }) => idOf(tab)))
    assert.deepEqual(responses.map(({ response }) => response.status), Array(10).fill(200))
    assert.equal(newIds.size, 1, 'one new id for every request')
    const [newId] = [...newIds] as [string]
    assert.equal(nodeOf(newId), 'n2')
    // docs/failover.md: the first 128 bits of the old id's SHA-256
    assert.equal(newId.split('-')[0], createHash('sha256').update(idOf(client)).digest('hex').slice(0, 32), 'the new random part is derived from the old id')
    const final = await new CookieClient(base).request('/read', { headers: { cookie: `sessionId=${newId}` } })
    assert.equal(final.body.n, 11, 'ten increments, none lost')
    assert.equal(app.msm.stats().relocated, 1, 'read from the backup once; the others found it moved')
  })
})

describe('failoverNodes', () => {
  test('are used only when every other node is down', async () => {
    const { cluster, app, base } = await setup(3, { failoverNodes: ['n3'] })
    for (let i = 0; i < 30; i++) {
      const client = new CookieClient(base)
      await client.get('/count')
      assert.notEqual(nodeOf(idOf(client)), 'n3')
      const backupNode = nodeOf(idOf(client)) === 'n1' ? 'n2' : 'n1'
      assert.ok(await cluster.node(backupNode).get(`bak:${idOf(client)}`) !== undefined, 'backups stay on regular nodes')
    }
    await cluster.node('n1').kill()
    await cluster.node('n2').kill()
    const late = new CookieClient(base)
    await late.get('/count')
    await late.get('/count')
    assert.equal(nodeOf(idOf(late)), 'n3')
    assert.equal((await late.get('/read')).body.n, 2)
    assert.equal(app.msm.stats().nodes.find((node) => node.id === 'n3')?.failover, true)
  })
})

describe('app.msm.setNodes()', () => {
  test('adds and removes nodes at runtime; sessions of a removed primary are relocated from their backups', async () => {
    const cluster = await startNodes(3)
    clusters.push(cluster)
    const [n1, n2, n3] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const app = await buildApp({ msm: { ...msmOptions(cluster, FAST), nodes: `${n1.spec} ${n2.spec}` } })
    apps.push(app)
    const base = await listen(app)
    const client = await sessionOn(base, 'n1')
    const oldId = idOf(client)

    assert.throws(() => app.msm.setNodes('n2:127.0.0.1'), { code: 'FST_MSM_NODES_INVALID' })
    assert.throws(() => app.msm.setNodes(`${n2.spec} ${n3.spec}`, ['n9']), { code: 'FST_MSM_OPTION_INVALID' })
    app.msm.setNodes(`${n2.spec} ${n3.spec}`)
    assert.deepEqual(app.msm.stats().nodes.map((node) => node.id), ['n2', 'n3'])

    const response = await client.get('/count')
    assert.equal(response.body.n, 2)
    assert.notEqual(idOf(client), oldId)
    assert.equal(nodeOf(idOf(client)), 'n2')
    assert.equal(app.msm.stats().relocated, 1)
    const seen = new Set<string>()
    for (let i = 0; i < 30; i++) {
      const fresh = new CookieClient(base)
      await fresh.get('/count')
      seen.add(nodeOf(idOf(fresh)))
    }
    assert.deepEqual([...seen].sort(), ['n2', 'n3'], 'new sessions use the new list only')
  })
})
