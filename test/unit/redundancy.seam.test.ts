// Redundancy rules on the in-memory memcached (test/helpers/memory-memcached.ts),
// no process started: every acknowledged session has two copies whenever two
// nodes are up, and a missing copy is re-created. Moved from
// test/integration/redundancy.test.ts; the same assertions hold on real
// memcached (switch startNodes to startCluster).
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { clusterWithApp, CookieClient, drained, idOf, nodeOf, nodeState, sessionOn, startApp, waitFor } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { allAttributes } from '../helpers/attributes.js'

const startNodes = startMemoryCluster
type TestCluster = Awaited<ReturnType<typeof startNodes>>
const codec = new AvroSessionCodec()
const FAST = { operationTimeout: 300, nodeRetryInterval: 200 }
const resources = usePerTestCleanup()

const setup = (nodes: number, options: Partial<MsmOptions> = {}): ReturnType<typeof clusterWithApp<TestCluster>> =>
  clusterWithApp(resources, startNodes, nodes, { ...FAST, ...options })

function start (cluster: TestCluster, options: Partial<MsmOptions> = {}): Promise<{ app: FastifyInstance, base: string }> {
  return startApp(cluster, resources.apps, { ...FAST, ...options })
}

/** The attributes of the `bak:` copy of `id` on `nodeId`, or undefined. */
async function backupOn (cluster: TestCluster, nodeId: string, id: string): Promise<unknown> {
  const raw = await cluster.node(nodeId).get(`bak:${id}`)
  if (raw === undefined) return undefined
  const decoded = codec.decodeValue(raw)
  assert.ok(decoded.ok === true)
  return allAttributes(decoded.session.attributes)
}

interface Ops { get: number, set: number, touch: number, touchMisses: number, delete: number }

/** memcached's own counters over `action`, on the nodes that answer; `set` includes `add` (memcached counts both in cmd_set). */
async function opsDuring (cluster: TestCluster, action: () => Promise<unknown>): Promise<Ops> {
  const read = async (): Promise<Map<string, Ops>> => {
    const result = new Map<string, Ops>()
    for (const node of cluster.nodes) {
      const stats = await node.stats().catch(() => null)
      if (stats === null) continue
      result.set(node.id, {
        get: stats.cmd_get ?? 0,
        set: stats.cmd_set ?? 0,
        touch: stats.cmd_touch ?? 0,
        touchMisses: stats.touch_misses ?? 0,
        delete: (stats.delete_hits ?? 0) + (stats.delete_misses ?? 0)
      })
    }
    return result
  }
  const before = await read()
  await action()
  const after = await read()
  const total: Ops = { get: 0, set: 0, touch: 0, touchMisses: 0, delete: 0 }
  for (const [id, counts] of after) {
    const start = before.get(id)
    if (start === undefined) continue
    for (const key of Object.keys(total) as Array<keyof Ops>) total[key] += counts[key] - start[key]
  }
  return total
}

/** Makes the app notice that `nodeId` is dead: a session whose primary it is gets read. */
async function noticeDown (app: FastifyInstance, probe: CookieClient, nodeId: string): Promise<void> {
  await probe.get('/read')
  assert.equal(nodeState(app, nodeId), 'down')
}

describe('case 1: a write whose backup node just died', () => {
  test('the backup goes to the next node before the response, and survives the loss of the primary', async () => {
    const { cluster, app, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    await cluster.node('n2').kill()
    const write = await client.get('/count')
    assert.equal(write.status, 200)
    assert.equal(write.body.n, 2)
    assert.deepEqual(await backupOn(cluster, 'n3', id), { n: 2 }, 'the backup of the acknowledged write is on n3, the next node')
    assert.equal(app.msm.stats().singleCopyWrites, 0, 'two copies: none acknowledged with one')

    await cluster.node('n1').kill()
    const read = await client.get('/read')
    assert.equal(read.body.n, 2, 'the session survived the loss of its primary')
    assert.equal(nodeOf(idOf(client)), 'n3')
    assert.equal(app.msm.stats().relocated, 1)
  })

  test('with no node left for the backup, the write is acknowledged with one copy, counted and logged', async () => {
    const { cluster, app, base } = await setup(2)
    const client = await sessionOn(base, 'n1')
    await cluster.node('n2').kill()
    assert.equal((await client.get('/count')).status, 200)
    assert.equal(app.msm.stats().singleCopyWrites, 1)
    assert.equal((await client.get('/count')).body.n, 3)
    assert.equal(app.msm.stats().singleCopyWrites, 2)
  })
})

describe('case 2: a session that is only read gets its missing backup back', () => {
  test('operation counts of a healthy read-only session (fresh cluster)', async (t) => {
    const advance = mockedClock(t)
    const { cluster, base } = await setup(3, { maxInactiveInterval: 60, touchInterval: 1 })
    const client = await sessionOn(base, 'n1')
    const within = await opsDuring(cluster, () => client.get('/read'))
    assert.deepEqual(within, { get: 1, set: 0, touch: 0, touchMisses: 0, delete: 0 }, 'within touchInterval')
    await advance(1100)
    const due = await opsDuring(cluster, () => client.get('/read'))
    assert.deepEqual(due, { get: 1, set: 0, touch: 2, touchMisses: 0, delete: 0 }, 'touchInterval passed: primary and backup touched')
    t.diagnostic(`healthy read-only: within touchInterval ${JSON.stringify(within)}; touchInterval passed ${JSON.stringify(due)}`)
  })

  test('backup node restarted empty: the next due touch finds bak: missing and re-creates it with add', async (t) => {
    const advance = mockedClock(t)
    const { cluster, app, base } = await setup(3, { maxInactiveInterval: 60, touchInterval: 1 })
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    await cluster.node('n2').restart()
    await waitFor(() => nodeState(app, 'n2') === 'up', 'n2 up')
    await advance(1100)
    const repair = await opsDuring(cluster, () => client.get('/read'))
    t.diagnostic(`read-only with a missing backup: ${JSON.stringify(repair)}`)
    assert.deepEqual(await backupOn(cluster, 'n2', id), { n: 1 }, 'the backup is back on n2')
    assert.equal(repair.get, 1)
    assert.equal(repair.touch, 2)
    assert.equal(repair.touchMisses, 1, 'the backup touch missed')
    assert.equal(repair.set, 1, 'one add, only because a copy was missing')
    assert.equal(app.msm.stats().backupsRecreated, 1)

    await advance(1100)
    const healthy = await opsDuring(cluster, () => client.get('/read'))
    assert.deepEqual(healthy, { get: 1, set: 0, touch: 2, touchMisses: 0, delete: 0 }, 'healthy again: no extra write')

    await cluster.node('n1').kill()
    assert.equal((await client.get('/read')).body.n, 1, 'the primary is lost, the session is not')
    assert.equal(app.msm.stats().relocated, 1)
  })

  test('backup node SIGKILLed and known down: the next read re-homes the backup to the next node at once', async (t) => {
    const { cluster, app, base } = await setup(3, { maxInactiveInterval: 60, touchInterval: 30 })
    const client = await sessionOn(base, 'n1')
    const probe = await sessionOn(base, 'n2')
    const id = idOf(client)
    await cluster.node('n2').kill()
    await noticeDown(app, probe, 'n2')
    const repair = await opsDuring(cluster, () => client.get('/read'))
    t.diagnostic(`read-only, backup node known down: ${JSON.stringify(repair)}`)
    assert.deepEqual(await backupOn(cluster, 'n3', id), { n: 1 }, 'the backup is on n3 now, within touchInterval')
    const after = await opsDuring(cluster, () => client.get('/read'))
    assert.deepEqual(after, { get: 1, set: 0, touch: 0, touchMisses: 0, delete: 0 }, 'checked once per node-state change')

    await cluster.node('n1').kill()
    assert.equal((await client.get('/read')).body.n, 1, 'survives the loss of its primary too')
  })
})

describe('case 4: sticky mode re-homes copies on known-down nodes without waiting for a write', () => {
  test('backup node known down: re-backed on the next read; primary known down: moved on the next read; nothing lost', async () => {
    const { cluster, app, base } = await setup(3, { sticky: true, route: 'a1', maxInactiveInterval: 60, touchInterval: 30 })
    const client = await sessionOn(base, 'n1')
    const probe = await sessionOn(base, 'n2')
    await drained(app)
    const id = idOf(client)
    assert.deepEqual(await backupOn(cluster, 'n2', id), { n: 1 })

    await cluster.node('n2').kill()
    // Another session's write notices that n2 is dead
    await probe.get('/count')
    await drained(app)
    await waitFor(() => nodeState(app, 'n2') === 'down', 'n2 marked down')
    assert.equal((await client.get('/read')).body.n, 1)
    await drained(app)
    assert.deepEqual(await backupOn(cluster, 'n3', id), { n: 1 }, 'the backup was re-homed to n3 by a read')

    // Another instance reads it from memcached alone after the primary is lost too
    await cluster.node('n1').kill()
    const other = await start(cluster, { maxInactiveInterval: 60 })
    const reader = new CookieClient(other.base)
    reader.cookies.set('sessionId', id)
    assert.equal((await reader.get('/read')).body.n, 1, 'recovered from the re-homed backup')

    // The sticky process itself: its primary n1 is known down after a failed write of another session
    await sessionOn(base, 'n3')
    await drained(app)
    await waitFor(() => nodeState(app, 'n1') === 'down', 'n1 marked down')
    const third = await opsDuring(cluster, async () => {
      await client.get('/read')
      await drained(app)
    })
    assert.equal(nodeOf(idOf(client)), 'n3', 'moved off the down primary by a read')
    assert.ok(third.set >= 1, 'and written there')
    assert.equal((await client.get('/read')).body.n, 1)
  })
})

describe('case 5: sticky mode with every node down', () => {
  test('new sessions get a cookie and are served from memory; once a node is back they are stored, and the id changes at most once', async () => {
    const { cluster, app, base } = await setup(2, { sticky: true, maxInactiveInterval: 60, touchInterval: 30 })
    const warm = new CookieClient(base)
    await warm.get('/count')
    await drained(app)
    await Promise.all(cluster.nodes.map((node) => node.kill()))
    await warm.get('/count')
    await drained(app)
    await waitFor(() => app.msm.stats().nodes.every((node) => node.state === 'down'), 'every node marked down')

    const client = new CookieClient(base)
    const first = await client.get('/count')
    assert.equal(first.status, 200)
    assert.equal(client.lastSetCookie.length, 1, 'a cookie: the process serves the session from memory')
    const idWhileDown = idOf(client)
    assert.equal((await client.get('/count')).body.n, 2)
    await drained(app)

    await cluster.node('n2').start()
    await waitFor(() => nodeState(app, 'n2') === 'up', 'n2 back')
    const ids = new Set([idWhileDown])
    for (let i = 0; i < 3; i++) {
      assert.equal((await client.get('/read')).body.n, 2)
      ids.add(idOf(client))
      await drained(app)
    }
    await cluster.node('n1').start()
    await waitFor(() => nodeState(app, 'n1') === 'up', 'n1 back')
    for (let i = 0; i < 3; i++) {
      assert.equal((await client.get('/read')).body.n, 2)
      ids.add(idOf(client))
      await drained(app)
    }
    assert.ok(ids.size <= 2, `the id changed at most once (${ids.size - 1} times)`)
    const id = idOf(client)
    const primary = nodeOf(id)
    const backup = primary === 'n1' ? 'n2' : 'n1'
    assert.ok(await cluster.node(primary).get(id) !== undefined, 'stored on its primary')
    assert.deepEqual(await backupOn(cluster, backup, id), { n: 2 }, 'and backed up on the other node')
  })
})

describe('case 6: failover nodes', () => {
  test('with one regular node the failover node holds the backups; with two regular nodes it holds nothing', async () => {
    const { cluster, base } = await setup(2, { failoverNodes: 'n1' })
    for (let i = 0; i < 5; i++) {
      const client = new CookieClient(base)
      await client.get('/count')
      assert.equal(nodeOf(idOf(client)), 'n2', 'no primary on the failover node')
      assert.deepEqual(await backupOn(cluster, 'n1', idOf(client)), { n: 1 }, 'the backup has no other node to go to')
    }
    const three = await setup(3, { failoverNodes: 'n1' })
    for (let i = 0; i < 10; i++) {
      const client = new CookieClient(three.base)
      await client.get('/count')
      const id = idOf(client)
      assert.notEqual(nodeOf(id), 'n1')
      assert.equal(await backupOn(three.cluster, 'n1', id), undefined, 'no backup on the failover node while another regular node is up')
    }
    await three.cluster.node('n3').kill()
    const client = await sessionOn(three.base, 'n2')
    assert.deepEqual(await backupOn(three.cluster, 'n1', idOf(client)), { n: 1 }, 'the only other regular node is down: the failover node takes the backup')
  })
})
