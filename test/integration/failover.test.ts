import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, CookieClient, listen } from '../helpers/app.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { movedRandomPart } from '../../lib/ids/session-id.js'

const codec = new AvroSessionCodec()
const FAST = { operationTimeout: 300, nodeRetryInterval: 200 }
const { clusters, apps } = usePerTestCleanup()

async function setup (nodes = 3, options: Partial<MsmOptions> = {}): Promise<{ cluster: MemcachedCluster, app: FastifyInstance, base: string }> {
  const cluster = await startCluster(nodes)
  clusters.push(cluster)
  const app = await buildApp({ msm: { nodes: cluster.spec, ...FAST, ...options } })
  apps.push(app)
  return { cluster, app, base: await listen(app) }
}

function idOf (client: CookieClient): string {
  return client.cookies.get('sessionId') as string
}

function nodeOf (id: string): string {
  return id.split('-')[1] as string
}

/** A client whose session's primary is `nodeId` and whose counter is 1. */
async function sessionOn (base: string, nodeId: string): Promise<CookieClient> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const client = new CookieClient(base)
    await client.get('/count')
    if (nodeOf(idOf(client)) === nodeId) return client
  }
  throw new Error(`no session landed on ${nodeId}`)
}

async function waitFor (condition: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

function nodeState (app: FastifyInstance, nodeId: string): string | undefined {
  return app.msm.stats().nodes.find((node) => node.id === nodeId)?.state
}

describe('SIGKILL of a primary under load', () => {
  test('50 clients doing read-modify-write: every acknowledged value survives', async (t) => {
    const { cluster, app, base } = await setup(3)
    const clients = await Promise.all(Array.from({ length: 50 }, async () => {
      const client = new CookieClient(base)
      await client.get('/count')
      return { client, acknowledged: 1, failures: 0, firstId: '' }
    }))
    for (const entry of clients) entry.firstId = idOf(entry.client)
    const onKilledNode = clients.filter((entry) => nodeOf(entry.firstId) === 'n2').length
    assert.ok(onKilledNode > 0, 'some sessions have n2 as primary')

    let killedAt = 0
    let firstRelocationAt = 0
    const stopAt = Date.now() + 3000
    const killer = (async () => {
      await sleep(1000)
      killedAt = Date.now()
      await cluster.node('n2').kill()
    })()
    await Promise.all(clients.map(async (entry) => {
      while (Date.now() < stopAt) {
        try {
          const response = await entry.client.get('/count')
          if (response.status !== 200) {
            entry.failures++
            continue
          }
          assert.equal(response.body.n, entry.acknowledged + 1, 'no acknowledged increment was lost')
          entry.acknowledged = response.body.n
          if (killedAt > 0 && firstRelocationAt === 0 && idOf(entry.client) !== entry.firstId) firstRelocationAt = Date.now()
        } catch {
          entry.failures++
        }
      }
    }))
    await killer

    let lost = 0
    for (const entry of clients) {
      const read = await entry.client.get('/read')
      if (read.body.n !== entry.acknowledged) lost++
    }
    const failed = clients.reduce((sum, entry) => sum + entry.failures, 0)
    const requests = clients.reduce((sum, entry) => sum + entry.acknowledged - 1, 0)
    const stats = app.msm.stats()
    t.diagnostic(`sessions on the killed node: ${onKilledNode}/50; acknowledged writes: ${requests}; failed requests: ${failed}; lost: ${lost}`)
    t.diagnostic(`first relocation ${firstRelocationAt - killedAt} ms after SIGKILL; relocated ${stats.relocated}, saved to backup only ${stats.savedToBackupOnly}`)
    assert.equal(lost, 0)
    assert.equal(stats.relocated, onKilledNode, 'each session on the killed node moved exactly once')
    assert.ok(clients.filter((entry) => nodeOf(entry.firstId) === 'n2').every((entry) => nodeOf(idOf(entry.client)) === 'n3'), 'moved to the next node')
    assert.equal(nodeState(app, 'n2'), 'down')
  })
})

describe('a hung node (SIGSTOP)', () => {
  test('requests finish in about operationTimeout, the node is marked down, and returns after SIGCONT', async (t) => {
    const { cluster, app, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    const oldId = idOf(client)
    await cluster.node('n1').suspend()
    try {
      const started = Date.now()
      const response = await client.get('/count')
      const firstMs = Date.now() - started
      assert.equal(response.status, 200)
      assert.equal(response.body.n, 2, 'the session came from its backup')
      assert.notEqual(idOf(client), oldId, 'relocated to a new id and cookie')
      assert.equal(nodeOf(idOf(client)), 'n2')
      assert.equal(nodeState(app, 'n1'), 'down')
      t.diagnostic(`first request after SIGSTOP took ${firstMs} ms with operationTimeout 300`)
      assert.ok(firstMs < 300 + 1500, `the request waited ${firstMs} ms`)

      const other = new CookieClient(base)
      const before = app.msm.stats().nodes[0]?.timeouts
      for (let i = 0; i < 10; i++) assert.equal((await other.get('/count')).status, 200)
      assert.equal(app.msm.stats().nodes[0]?.timeouts, before, 'no request waits on a node that is down')
      assert.ok(!other.cookies.get('sessionId')?.endsWith('-n1'), 'new sessions avoid the down node')
    } finally {
      cluster.node('n1').signal('SIGCONT')
    }
    await waitFor(() => nodeState(app, 'n1') === 'up', 'n1 to come back')
    assert.equal((await client.get('/count')).body.n, 3)
  })
})

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
    assert.deepEqual(decoded.session.attributes, { n: 3 })
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
    const failing = await buildApp({ msm: { nodes: cluster.spec, ...FAST, storeFailurePolicy: 'fail' } })
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
    assert.equal(newId.split('-')[0], movedRandomPart(idOf(client)), 'the new random part is derived from the old id')
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
    const cluster = await startCluster(3)
    clusters.push(cluster)
    const [n1, n2, n3] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const app = await buildApp({ msm: { nodes: `${n1.spec} ${n2.spec}`, ...FAST } })
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

describe('regression: relocations never return to an old id', () => {
  test('n1 hung then back, n2 and n3 killed: the session moves n1 → n2 → n3 → n1 without reading its stale copy on n1', async () => {
    const { cluster, app, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    await cluster.node('n1').suspend() // n1 keeps its copy with n = 1
    assert.equal((await client.get('/count')).body.n, 2)
    cluster.node('n1').signal('SIGCONT')
    const deadline = Date.now() + 5000
    while (nodeState(app, 'n1') !== 'up') {
      assert.ok(Date.now() < deadline, 'n1 back in service')
      await sleep(50)
    }
    assert.equal(nodeOf(idOf(client)), 'n2')
    await cluster.node('n2').kill()
    assert.equal((await client.get('/count')).body.n, 3)
    assert.equal(nodeOf(idOf(client)), 'n3')
    await cluster.node('n3').kill()
    const back = await client.get('/count')
    assert.equal(nodeOf(idOf(client)), 'n1')
    assert.equal(back.body.n, 4, 'not the stale copy (n = 1) that n1 kept from before it hung')
  })
})
