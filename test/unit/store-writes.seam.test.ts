// Writes of both copies (lib/store/session-store.ts), on the in-memory
// memcached:
// - a write of a loaded session that a concurrent request destroyed meanwhile
//   brings back neither copy, also with a single node (no backup node);
// - a backup write that fails on every successor is counted once per node
//   tried, and the write is acknowledged with the primary alone;
// - a touch whose backup cannot be written again anywhere counts the failed
//   attempt;
// - a write queued after the response (backupAsync) does not revive a
//   session that a concurrent request destroyed meanwhile;
// - in sticky mode a touch that finds the primary restarted empty writes it
//   back from the process (a plain write, not "only if present"), and a copy
//   it cannot write again is a warning in the log;
// - a node removed with app.msm.setNodes() while a request on one of its
//   sessions runs: a change is kept on the backup copies (and relocated
//   next), a destroy deletes the backup copy, a reload finds nothing;
// - with a single node, destroy has no backup to delete and still succeeds;
// - a successor that another request marks down while a write (or a backup
//   written again after a touch) waits on a hung node is skipped, not sent a
//   command and counted as one more failure.
// docs/failover.md, "What happens to a session"; docs/monitoring.md counters.
import { describe, test, within } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { kTransport } from '../../lib/memcached/transport.js'
import { failingTransport, type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, CookieClient, drained, idOf, nodeOf, nodeState, sessionOn, startApp, type StartedApp, type TestAppOptions, waitFor } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'
import { copyOf } from '../helpers/requests.js'

const FAST = { operationTimeout: 300, nodeRetryInterval: 200 }
const resources = usePerTestCleanup()

async function setup (count: number, options: Partial<MsmOptions> = {}, build?: (options: TestAppOptions) => Promise<FastifyInstance>): Promise<StartedApp & { cluster: MemoryCluster }> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  return { cluster, ...await startApp(cluster, resources.apps, { ...FAST, ...options }, build === undefined ? {} : { build }) }
}

/**
 * The test app plus GET /held/:action, which reads the session, waits for
 * `release`, then increments n (count), destroys the session (destroy) or
 * reloads it (reload).
 */
function heldRoute (): { build: (options: TestAppOptions) => Promise<FastifyInstance>, entered: Promise<void>, release: () => void } {
  let entered = (): void => {}
  let release = (): void => {}
  const enteredPromise = new Promise<void>((resolve) => { entered = resolve })
  const released = new Promise<void>((resolve) => { release = resolve })
  const build = async (options: TestAppOptions): Promise<FastifyInstance> => {
    const app = await buildApp(options)
    app.get('/held/:action', async (request) => {
      const { action } = request.params as { action: 'count' | 'destroy' | 'reload' }
      const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
      entered()
      await released
      if (action === 'destroy') await request.session.destroy()
      else if (action === 'reload') await request.session.reload()
      else request.session.set('n', n)
      return { n: request.session.get('n') ?? null }
    })
    return app
  }
  return { build, entered: enteredPromise, release }
}

for (const count of [1, 2]) {
  test(`a session destroyed while another request changes it stays destroyed (${count} node${count === 1 ? '' : 's'})`, async () => {
    const held = heldRoute()
    const { cluster, app, client } = await setup(count, {}, held.build)
    await client.get('/count')
    const id = idOf(client)
    const changing = copyOf(client).get('/held/count')
    await within(held.entered, 5_000, 'GET /held/count to enter its handler')
    assert.equal((await copyOf(client).post('/destroy')).status, 200)
    held.release()
    assert.equal((await changing).status, 200)
    for (const node of cluster.nodes) {
      assert.equal(node.server.peek(id), undefined, `no primary copy on ${node.id}`)
      assert.equal(node.server.peek(`bak:${id}`), undefined, `no backup copy on ${node.id}`)
    }
    const read = await copyOf(client).get('/read')
    assert.equal(read.body.n, null, 'the old cookie finds no session')
    assert.equal(read.body.isNew, true)
    const stats = app.msm.stats()
    assert.equal(stats.revivalsPrevented, 1)
    assert.equal(stats.saved, 1, 'only the first request\'s write counts as saved')
    assert.equal(stats.saveFailures + stats.savedToBackupOnly, 0)
  })
}

test('backupAsync: a queued write of a request that changed the session does not revive it once a concurrent request destroyed it', async () => {
  const held = heldRoute()
  const { cluster, app, client } = await setup(2, { backupAsync: true }, held.build)
  await client.get('/count')
  await drained(app)
  const id = idOf(client)
  const oldCookie = copyOf(client)
  const a = copyOf(client).get('/held/count')
  await within(held.entered, 5_000, 'GET /held/count to enter its handler')
  assert.equal((await copyOf(client).post('/destroy')).status, 200)
  held.release()
  assert.equal((await a).status, 200)
  await drained(app)
  for (const node of cluster.nodes) {
    assert.equal(node.server.peek(id), undefined, `no primary copy on ${node.id}`)
    assert.equal(node.server.peek(`bak:${id}`), undefined, `no backup copy on ${node.id}`)
  }
  const read = await oldCookie.get('/read')
  assert.equal(read.body.n, null, 'the destroyed session stays destroyed')
  assert.equal(app.msm.stats().revivalsPrevented, 1)
})

test('a backup write that fails on every successor is counted per node tried; the primary alone acknowledges it', async () => {
  const { cluster, app, base } = await setup(3)
  const client = await sessionOn(base, 'n1')
  // Both die unnoticed: the write finds out
  await cluster.node('n2').kill()
  await cluster.node('n3').kill()
  const before = app.msm.stats()
  assert.equal((await client.get('/count')).body.n, 2)
  const stats = app.msm.stats()
  assert.equal(stats.backupFailures - before.backupFailures, 2, 'n2, then n3')
  assert.equal(stats.singleCopyWrites - before.singleCopyWrites, 1)
  assert.equal(stats.backupWrites, before.backupWrites)
  assert.equal((await client.get('/read')).body.n, 2)
})

test('a touch whose lost backup no node can take counts the failed attempt', async () => {
  const { cluster, app, base } = await setup(3)
  const client = await sessionOn(base, 'n1')
  await cluster.node('n2').kill()
  await cluster.node('n3').kill()
  const before = app.msm.stats()
  assert.equal((await client.get('/touch')).status, 200)
  const stats = app.msm.stats()
  assert.equal(stats.touched - before.touched, 1)
  assert.equal(stats.backupFailures - before.backupFailures, 1, 'the add on n3 failed')
  assert.equal(stats.backupsRecreated, before.backupsRecreated)
  assert.equal((await client.get('/read')).body.n, 1)
})

test('sticky: a touch that finds the primary restarted empty writes it back from the process', async () => {
  const { cluster, app, base } = await setup(2, { sticky: true })
  const client = await sessionOn(base, 'n1')
  await drained(app)
  const id = idOf(client)
  cluster.node('n1').server.restart()
  assert.equal((await client.get('/touch')).status, 200)
  await drained(app)
  assert.notEqual(cluster.node('n1').server.peek(id), undefined, 'the primary copy is back')
  assert.equal(app.msm.stats().restored, 1)
})

test('sticky: a primary copy that a touch found missing and that cannot be written again is a warning in the log', async (t) => {
  const advance = mockedClock(t)
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  let failSets = false
  const factory = failingTransport(cluster, 'set', () => failSets, 'SERVER_ERROR out of memory storing object')
  const logs: Array<{ msg: string }> = []
  const logger = { level: 'warn', stream: { write: (line: string) => { logs.push(JSON.parse(line) as { msg: string }) } } }
  const options = { ...FAST, sticky: true, maxInactiveInterval: 60, touchInterval: 10, [kTransport]: factory } as Partial<MsmOptions>
  const { app, client } = await startApp(cluster, resources.apps, options, { logger })
  await client.get('/count')
  await drained(app)
  const id = idOf(client)
  // The primary's node lost the session (restarted empty, say); the process still holds it
  await cluster.node(nodeOf(id)).command(`delete ${id}\r\n`)
  await advance(11_000)
  failSets = true
  assert.equal((await client.get('/read')).body.n, 1)
  await drained(app)
  const warning = logs.find((entry) => /could not write a missing copy of the session again/.test(entry.msg))
  assert.ok(warning !== undefined, JSON.stringify(logs.map((entry) => entry.msg)))
})

describe('a node removed with setNodes while a request on one of its sessions runs', () => {
  /** A session on n1 (n = 1), and a request on it held while n1 is removed from the node list. */
  async function removedDuring (action: 'count' | 'destroy' | 'reload'): Promise<{ cluster: MemoryCluster, app: FastifyInstance, client: CookieClient, id: string, response: { status: number, body: any } }> {
    const held = heldRoute()
    const { cluster, app, base } = await setup(3, {}, held.build)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    const request = copyOf(client).get(`/held/${action}`)
    await within(held.entered, 5_000, `GET /held/${action} to enter its handler`)
    app.msm.setNodes(cluster.nodes.filter((node) => node.id !== 'n1').map((node) => node.spec).join(' '))
    held.release()
    return { cluster, app, client, id, response: await request }
  }

  test('its change is kept on the backup copies, and the next request relocates it with the change', async () => {
    const { app, client, id, response } = await removedDuring('count')
    assert.equal(response.status, 200)
    assert.equal(response.body.n, 2)
    assert.equal(app.msm.stats().savedToBackupOnly, 1)
    assert.equal(app.msm.stats().saveFailures, 0)
    const next = await client.get('/read')
    assert.equal(next.body.n, 2, 'the change was not lost')
    assert.notEqual(next.body.id, id, 'relocated to a new id')
  })

  test('destroy deletes its backup copy, so the old cookie cannot bring it back', async () => {
    const { cluster, app, client, id, response } = await removedDuring('destroy')
    assert.equal(response.status, 200)
    assert.equal(cluster.node('n2').server.peek(`bak:${id}`), undefined)
    assert.equal(app.msm.stats().deleted, 1)
    assert.equal(app.msm.stats().deleteFailures, 0)
    const read = await client.get('/read')
    assert.equal(read.body.isNew, true)
    assert.equal(read.body.n, null)
  })

  test('session.reload() finds no session on a node that is no longer configured', async () => {
    const { response } = await removedDuring('reload')
    assert.equal(response.status, 200)
    assert.equal(response.body.n, null)
  })
})

test('with a single node, destroy deletes the session (there is no backup to delete) and counts it', async () => {
  const { cluster, app, client } = await setup(1)
  await client.get('/count')
  const id = idOf(client)
  assert.equal((await client.post('/destroy')).status, 200)
  assert.equal(cluster.node('n1').server.peek(id), undefined)
  const stats = app.msm.stats()
  assert.equal(stats.deleted, 1)
  assert.equal(stats.deleteFailures, 0)
})

test('a successor marked down by another request during a write is skipped, not counted as one more failure', async () => {
  const { cluster, app, base } = await setup(3, { operationTimeout: 800 })
  const writer = await sessionOn(base, 'n1')
  const other = await sessionOn(base, 'n3')
  // Without its backup copy, the other session is not relocated (no write of its own)
  await cluster.node('n1').command(`delete bak:${idOf(other)}\r\n`)
  await cluster.node('n3').kill()
  await cluster.node('n2').suspend()
  const before = app.msm.stats()
  const primarySets = cluster.node('n1').server.stats().cmd_set
  // The write stores its primary on n1 and waits for its backup on the hung n2
  const writing = writer.get('/count')
  await waitFor(() => cluster.node('n1').server.stats().cmd_set > primarySets, 'the primary write')
  // Meanwhile another request finds n3 dead and marks it down
  await other.get('/read')
  assert.equal(nodeState(app, 'n3'), 'down')
  assert.equal((await writing).body.n, 2)
  const stats = app.msm.stats()
  assert.equal(stats.backupFailures - before.backupFailures, 1, 'n2 timed out; n3, down by then, was not tried')
  assert.equal(stats.singleCopyWrites - before.singleCopyWrites, 1)
})

test('a successor marked down by another request while a lost backup is written again is skipped, not counted', async () => {
  const { cluster, app, base } = await setup(4, { operationTimeout: 600 })
  const toucher = await sessionOn(base, 'n1')
  const other = await sessionOn(base, 'n4')
  await cluster.node('n1').command(`delete bak:${idOf(other)}\r\n`)
  await cluster.node('n4').kill()
  await cluster.node('n2').suspend()
  await cluster.node('n3').suspend()
  const before = app.msm.stats()
  // The touch times out on the backup node n2, then writes the backup again on n3, which hangs too
  const touching = toucher.get('/touch')
  await waitFor(() => nodeState(app, 'n2') === 'down', 'the touch of n2 to time out')
  // Meanwhile another request finds n4 dead and marks it down
  await other.get('/read')
  assert.equal(nodeState(app, 'n4'), 'down')
  assert.equal((await touching).status, 200)
  const stats = app.msm.stats()
  assert.equal(stats.backupFailures - before.backupFailures, 1, 'n3 timed out; n4, down by then, was not tried')
  assert.equal(stats.backupsRecreated, before.backupsRecreated)
})

/**
 * The test app plus GET /count-after/:fault/:node, which reads the session,
 * then cuts `node` off the network (partition) or restarts it empty
 * (restart), then increments n: the fault falls between the read and the write.
 */
function faultBeforeWrite (cluster: () => MemoryCluster): (options: TestAppOptions) => Promise<FastifyInstance> {
  return async (options) => {
    const app = await buildApp(options)
    app.get<{ Params: { fault: 'partition' | 'restart', node: string } }>('/count-after/:fault/:node', async (request) => {
      const server = cluster().node(request.params.node).server
      if (request.params.fault === 'partition') server.partition()
      else server.restart()
      const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
      request.session.set('n', n)
      return { n }
    })
    return app
  }
}

/** setup(3) with faultBeforeWrite's route. */
async function setupWithFaults (): Promise<StartedApp & { cluster: MemoryCluster }> {
  // The route reaches the cluster, which exists only once the app is built
  const started: { cluster?: MemoryCluster } = {}
  const result = await setup(3, {}, faultBeforeWrite(() => started.cluster as MemoryCluster))
  started.cluster = result.cluster
  return result
}

test('a write that finds its primary restarted empty keeps the session: the backup still held it, so the primary is written again', async () => {
  const { app, base, cluster } = await setupWithFaults()
  const client = await sessionOn(base, 'n1')
  const id = idOf(client)
  const write = await client.get('/count-after/restart/n1')
  assert.equal(write.body.n, 2)
  assert.equal(idOf(client), id, 'same id: the primary is up')
  assert.ok(cluster.node('n1').server.peek(id) !== undefined, 'the primary holds it again')
  assert.ok(cluster.node('n2').server.peek(`bak:${id}`) !== undefined, 'and the backup')
  assert.equal(app.msm.stats().revivalsPrevented, 0, 'not taken for a destroyed session')
  assert.equal((await client.get('/read')).body.n, 2, 'the acknowledged write is read back')
})

test('a write acknowledged while its primary was cut off moves the session: the primary, back with its older copy, is never read under the new cookie', async () => {
  const { app, base, cluster } = await setupWithFaults()
  const client = await sessionOn(base, 'n1')
  const before = idOf(client)
  const stale = copyOf(client)
  const write = await client.get('/count-after/partition/n1')
  assert.equal(write.status, 200, JSON.stringify(write.body))
  assert.equal(write.body.n, 2, 'acknowledged: the backup copies hold it')
  const moved = idOf(client)
  assert.equal(app.msm.stats().savedToBackupOnly, 1)
  // n1 comes back with its older copy (n = 1): the write sent to it was lost
  cluster.node('n1').server.heal()
  await waitFor(() => nodeState(app, 'n1') === 'up', 'n1 back in service')
  assert.equal((await client.get('/read')).body.n, 2, 'the acknowledged write is read back')
  assert.notEqual(moved, before, 'the response carried a new id')
  assert.match(moved, /-n2$/, 'on the node relocation would have chosen')
  assert.equal((await stale.get('/read')).body.n, 1, 'only a cookie that never got the response reads the older copy (docs/failover.md)')
})
