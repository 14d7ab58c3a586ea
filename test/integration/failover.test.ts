// Failover under real process faults: SIGKILL under load and SIGSTOP (hung
// nodes, operation timeouts). Relocation and restore logic is tested on the
// in-memory memcached (test/unit/relocation.seam.test.ts).
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { MsmOptions } from '../../lib/index.js'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { clusterWithApp, CookieClient, idOf, nodeOf, nodeState, sessionOn, waitFor } from '../helpers/app.js'

type TestCluster = MemcachedCluster
const startNodes = startCluster
const FAST = { operationTimeout: 300, nodeRetryInterval: 200 }
const resources = usePerTestCleanup()

const setup = (nodes = 3, options: Partial<MsmOptions> = {}): ReturnType<typeof clusterWithApp<TestCluster>> =>
  clusterWithApp(resources, startNodes, nodes, { ...FAST, ...options })

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
