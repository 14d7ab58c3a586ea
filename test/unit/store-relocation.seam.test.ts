// Finding a session when its primary is gone (lib/store/session-locator.ts and
// the reads of lib/store/session-store.ts), on the in-memory memcached: a
// relocation serves the newest `bak:` copy whichever successor holds it and
// passes over copies that cannot be decoded or nodes that fail during the
// search; no copy at all is a new session, only unreadable copies count as
// unreadable; a relocation target that fails during the read leaves the
// session unloaded instead of replacing it; and a session missing on both
// nodes is remembered as missing for exactly 5 s (mocked clock), then looked
// up again. docs/failover.md, "What happens to a session".
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { MsmOptions } from '../../lib/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { CookieClient, idOf, sessionOn, startApp, type StartedApp } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'
import { copyOf } from '../helpers/requests.js'

const FAST = { operationTimeout: 300, nodeRetryInterval: 200 }
const resources = usePerTestCleanup()

async function setup (count: number, options: Partial<MsmOptions> = {}): Promise<StartedApp & { cluster: MemoryCluster }> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  return { cluster, ...await startApp(cluster, resources.apps, { ...FAST, ...options }) }
}

/** Deletes `key` on a node, as memcached's own `delete` would. */
async function remove (cluster: MemoryCluster, nodeId: string, key: string): Promise<void> {
  await cluster.node(nodeId).command(`delete ${key}\r\n`)
}

/**
 * A session on n1 whose stored value was `older` after its first request and
 * `newer` (n = 2) after its second, both as the backup node stored them.
 */
async function twoVersions (cluster: MemoryCluster, base: string): Promise<{ client: CookieClient, id: string, older: string, newer: string }> {
  const client = await sessionOn(base, 'n1')
  const id = idOf(client)
  const older = cluster.node('n2').server.peek(`bak:${id}`) as string
  // lastAccessedAt has a resolution of 1 ms: make the second write later
  await new Promise((resolve) => setTimeout(resolve, 5))
  assert.equal((await client.get('/count')).body.n, 2)
  const newer = cluster.node('n2').server.peek(`bak:${id}`) as string
  assert.ok(older !== undefined && newer !== undefined && older !== newer)
  return { client, id, older, newer }
}

describe('relocation reads every backup copy', () => {
  for (const [newerOn, olderOn] of [['n2', 'n3'], ['n3', 'n2']] as const) {
    test(`the newest copy is served when it is on ${newerOn} and an older one on ${olderOn}`, async () => {
      const { cluster, app, base } = await setup(3)
      const { client, id, older, newer } = await twoVersions(cluster, base)
      await cluster.node(newerOn).set(`bak:${id}`, newer)
      await cluster.node(olderOn).set(`bak:${id}`, older)
      await cluster.node('n1').kill()
      const read = await client.get('/read')
      assert.notEqual(read.body.id, id, 'relocated to a new id')
      assert.equal(read.body.n, 2, 'the newer copy, not the older one')
      assert.equal(app.msm.stats().relocated, 1)
      assert.equal(cluster.node(newerOn).server.peek(`bak:${id}`), undefined, 'the copy it was read from is deleted')
      assert.equal((await client.get('/count')).body.n, 3)
    })
  }

  test('a backup that moved while a node was away (older copy on the first successor, newer on the next): the newer copy is served', async () => {
    const { cluster, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    const older = await cluster.node('n2').get(`bak:${id}`)
    assert.ok(older !== undefined)
    await sleep(10)
    assert.equal((await client.get('/count')).body.n, 2)
    const newer = await cluster.node('n2').get(`bak:${id}`)
    assert.ok(newer !== undefined && newer !== older)
    // As after a backup that moved while a node was away: the newer copy on n3, an older one left on n2
    await cluster.node('n3').set(`bak:${id}`, newer)
    await cluster.node('n2').set(`bak:${id}`, older)
    await cluster.node('n1').kill()
    const read = await client.get('/read')
    assert.notEqual(read.body.id, id, 'relocated to a new id')
    assert.equal(read.body.n, 2, 'the newest backup copy is served, not the older one')
    assert.equal((await client.get('/count')).body.n, 3)
  })

  test('a copy that cannot be decoded is passed over for one that can, wherever it is', async () => {
    const { cluster, app, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    await cluster.node('n3').set(`bak:${id}`, 'not a session value')
    await cluster.node('n1').kill()
    const read = await client.get('/read')
    assert.equal(read.status, 200)
    assert.equal(read.body.n, 1, 'served from the readable copy on n2')
    assert.equal(read.body.isNew, false)
    const stats = app.msm.stats()
    assert.equal(stats.relocated, 1)
    assert.equal(stats.deserializationFailures, 0, 'one readable copy is enough')
  })

  test('a successor that fails during the search is passed over', async () => {
    const { cluster, app, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    // Both die unnoticed: the read finds out about n1, the search about n3
    await cluster.node('n1').kill()
    await cluster.node('n3').kill()
    const read = await client.get('/read')
    assert.equal(read.status, 200)
    assert.equal(read.body.n, 1, 'the copy on n2 is served')
    assert.equal(app.msm.stats().relocated, 1)
    assert.equal(app.msm.stats().loadFailures, 0)
  })

  test('no backup copy anywhere: a new session, not an unreadable one', async () => {
    const { cluster, app, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    await remove(cluster, 'n2', `bak:${idOf(client)}`)
    await cluster.node('n1').kill()
    const read = await client.get('/read')
    assert.equal(read.body.n, null)
    assert.equal(read.body.isNew, true)
    const stats = app.msm.stats()
    assert.equal(stats.deserializationFailures, 0)
    assert.equal(stats.loadFailures, 0)
    assert.equal(stats.relocated, 0)
  })

  test('only unreadable copies: counted as unreadable, and a new session starts', async () => {
    const { cluster, app, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    await cluster.node('n2').set(`bak:${id}`, 'garbage one')
    await cluster.node('n3').set(`bak:${id}`, 'garbage two')
    await cluster.node('n1').kill()
    const read = await client.get('/read')
    assert.equal(read.body.n, null)
    assert.equal(read.body.isNew, true)
    const stats = app.msm.stats()
    assert.equal(stats.deserializationFailures, 1)
    assert.equal(stats.loadFailures, 0)
  })
})

describe('a relocation target that fails during the read', () => {
  test('leaves the session unloaded under its old id, instead of moving it on and losing it', async () => {
    const { cluster, app, base } = await setup(3)
    const first = await sessionOn(base, 'n1')
    const second = await sessionOn(base, 'n1')
    const id = idOf(second)
    await cluster.node('n1').kill()
    // The first session's request finds n1 dead and relocates it to n2
    assert.equal((await first.get('/read')).body.n, 1)
    await cluster.node('n2').kill()
    const before = app.msm.stats()
    const response = await second.get('/count')
    assert.equal(response.status, 200)
    const stats = app.msm.stats()
    assert.equal(stats.loadFailures - before.loadFailures, 1, 'counted as a failed load')
    assert.equal(idOf(second), id, 'no new cookie: the session is not replaced')
    assert.equal(stats.created, before.created, 'no new session was stored')
  })
})

describe('a session missing on both nodes', () => {
  test('is remembered as missing for 5 s, then looked up again and found if it came back', async (t) => {
    const advance = mockedClock(t)
    const { cluster, app, base } = await setup(2)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    const value = cluster.node('n1').server.peek(id) as string
    cluster.node('n1').server.restart()
    cluster.node('n2').server.restart()
    const stale = copyOf(client)
    assert.equal((await stale.get('/read')).body.isNew, true)
    // It comes back (another server wrote it): not seen while the miss is remembered
    await cluster.node('n1').set(id, value)
    const gets = (): number => cluster.node('n1').server.stats().cmd_get
    const asked = gets()
    await advance(5000)
    assert.equal((await stale.get('/read')).body.isNew, true, 'still remembered at 5 s')
    assert.equal(gets(), asked, 'no node asked')
    assert.equal(app.msm.stats().recentMisses, 1)
    await advance(1)
    const found = await stale.get('/read')
    assert.equal(found.body.n, 1, 'looked up again after 5 s, and found')
    assert.ok(gets() > asked)
    assert.equal(app.msm.stats().recentMisses, 1, 'that request was not answered from the memory')
  })
})
