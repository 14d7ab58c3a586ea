// The copies of a session and what the plugin reports about them, on the
// in-memory memcached: which node holds which copy after a write, a touch or a
// delete when a node is down or restarted empty; the counters of
// app.msm.stats() (docs/monitoring.md) and the warnings an operator reads.
// Written for mutants that survived the rest of the suite (test/mutation/REPORT.md);
// every case is a request or two, forced touches (session.touch()) instead of
// waiting for touchInterval.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { MsmOptions } from '../../lib/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { CookieClient, idOf, nodeState, sessionOn, startApp, type StartedApp, waitFor } from '../helpers/app.js'

const FAST = { operationTimeout: 300, nodeRetryInterval: 100 }
const resources = usePerTestCleanup()

interface Log { level: number, msg: string, session?: string, node?: string, err?: unknown }

/** `count` in-memory nodes and an app on them whose warnings and errors land in `logs`. */
async function setup (count: number, options: Partial<MsmOptions> = {}): Promise<StartedApp & { cluster: MemoryCluster, logs: Log[] }> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  const logs: Log[] = []
  const logger = { level: 'warn', stream: { write: (line: string) => { logs.push(JSON.parse(line) as Log) } } }
  return { cluster, logs, ...await startApp(cluster, resources.apps, { ...FAST, ...options }, { logger }) }
}

/** Which nodes hold the primary copy and which the `bak:` copy of `id`. */
function holders (cluster: MemoryCluster, id: string): { primary: string[], backup: string[] } {
  const on = (key: string): string[] => cluster.nodes.filter((node) => node.server.peek(key) !== undefined).map((node) => node.id)
  return { primary: on(id), backup: on(`bak:${id}`) }
}

function messages (logs: Log[]): string {
  return logs.map((entry) => entry.msg).join('\n')
}

describe('writes', () => {
  test('a healthy write stores the primary on its node and the backup on the next one, counted once each', async () => {
    const { cluster, app, base } = await setup(3)
    const client = await sessionOn(base, 'n2')
    const before = app.msm.stats()
    assert.equal((await client.get('/count')).body.n, 2)
    const stats = app.msm.stats()
    assert.deepEqual(holders(cluster, idOf(client)), { primary: ['n2'], backup: ['n3'] })
    assert.equal(stats.saved - before.saved, 1)
    assert.equal(stats.backupWrites - before.backupWrites, 1)
    assert.equal(stats.backupFailures + stats.singleCopyWrites + stats.backupSkipped + stats.savedToBackupOnly, 0)
  })

  test('a backup node that fails during the write: the backup goes to the node after it, before the response', async () => {
    const { cluster, app, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    await cluster.node('n2').kill()
    assert.equal((await client.get('/count')).body.n, 2)
    assert.deepEqual(holders(cluster, idOf(client)).backup.filter((node) => node !== 'n2'), ['n3'])
    const stats = app.msm.stats()
    assert.equal(stats.backupFailures, 1)
    assert.equal(stats.singleCopyWrites, 0, 'two copies')
  })

  test('with two nodes and the backup node failing, the write has one copy: counted and logged', async () => {
    const { cluster, app, base, logs } = await setup(2)
    const client = await sessionOn(base, 'n1')
    await cluster.node('n2').kill()
    assert.equal((await client.get('/count')).body.n, 2, 'acknowledged with one copy')
    assert.deepEqual(holders(cluster, idOf(client)).primary, ['n1'])
    const stats = app.msm.stats()
    assert.equal(stats.singleCopyWrites, 1)
    assert.equal(stats.backupFailures, 1)
    const warning = logs.find((entry) => /single copy/.test(entry.msg))
    assert.ok(warning !== undefined, messages(logs))
    assert.equal(typeof warning.session, 'string', 'the (hashed) session is named')
  })

  test('a single configured node: every write has one copy, counted as skipped, and nothing is logged', async () => {
    const { app, client, logs } = await setup(1)
    await client.get('/count')
    await client.get('/count')
    await client.get('/touch')
    const stats = app.msm.stats()
    assert.equal(stats.backupSkipped, 2)
    assert.equal(stats.singleCopyWrites, 2)
    assert.equal(stats.backupWrites + stats.backupFailures, 0)
    assert.equal(stats.touched, 1, 'a touch with no backup node to touch')
    assert.equal(stats.touchFailures + stats.backupsRecreated, 0)
    assert.deepEqual(logs, [])
  })
})

describe('touches keep both copies', () => {
  test('a touch that finds the backup node restarted empty writes the backup again with add', async () => {
    const { cluster, app, base } = await setup(2)
    const client = await sessionOn(base, 'n1')
    cluster.node('n2').server.restart()
    assert.equal((await client.get('/touch')).status, 200)
    const stats = app.msm.stats()
    assert.equal(stats.touched, 1)
    assert.equal(stats.backupsRecreated, 1)
    assert.deepEqual(holders(cluster, idOf(client)), { primary: ['n1'], backup: ['n2'] })
    assert.equal((await client.get('/read')).body.n, 1)
  })

  test('a healthy touch re-creates nothing and logs nothing', async () => {
    const { cluster, app, base, logs } = await setup(2)
    const client = await sessionOn(base, 'n1')
    const sets = cluster.node('n2').server.stats().cmd_set
    await client.get('/touch')
    const stats = app.msm.stats()
    assert.equal(stats.touched, 1)
    assert.equal(stats.backupsRecreated + stats.touchFailures, 0)
    assert.equal(cluster.node('n2').server.stats().cmd_set, sets, 'no write on the backup node')
    assert.deepEqual(logs, [])
  })

  test('a touch whose backup node fails writes the backup on the next node', async () => {
    const { cluster, app, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    await cluster.node('n2').kill()
    await client.get('/touch')
    assert.ok(holders(cluster, idOf(client)).backup.includes('n3'))
    assert.equal(app.msm.stats().backupsRecreated, 1)
  })

  test('a touch whose backup node fails with no node left for it: the session keeps one copy, logged', async () => {
    const { cluster, app, base, logs } = await setup(2)
    const client = await sessionOn(base, 'n1')
    await cluster.node('n2').kill()
    assert.equal((await client.get('/touch')).status, 200)
    assert.equal(app.msm.stats().backupsRecreated, 0)
    assert.match(messages(logs), /no node could take it/)
    assert.equal((await client.get('/read')).body.n, 1, 'the primary still serves it')
  })
})

describe('a change of node health', () => {
  test('makes the next request of an unchanged session touch it once, and the touch puts back a lost backup', async () => {
    const { cluster, app, base } = await setup(2)
    const client = await sessionOn(base, 'n1')
    await cluster.node('n2').kill()
    for (let i = 0; i < 30 && nodeState(app, 'n2') === 'up'; i++) await new CookieClient(base).get('/count')
    await waitFor(() => nodeState(app, 'n2') === 'down', 'n2 to be marked down')
    await cluster.node('n2').start()
    await waitFor(() => nodeState(app, 'n2') === 'up', 'n2 to come back, empty')
    const before = app.msm.stats()
    assert.equal((await client.get('/read')).body.n, 1)
    const after = app.msm.stats()
    assert.equal(after.touched - before.touched, 1, 'touched although touchInterval has not passed')
    assert.equal(after.backupsRecreated - before.backupsRecreated, 1)
    assert.ok(cluster.node('n2').server.peek(`bak:${idOf(client)}`) !== undefined)
    await client.get('/read')
    assert.equal(app.msm.stats().touched, after.touched, 'once')
  })
})

describe('deletes', () => {
  test('destroy deletes both copies and counts it', async () => {
    const { cluster, app, base } = await setup(2)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    await client.post('/destroy')
    assert.deepEqual(holders(cluster, id), { primary: [], backup: [] })
    assert.equal(app.msm.stats().deleted, 1)
    assert.equal(app.msm.stats().deleteFailures, 0)
  })

  test('destroy with the backup node down still deletes the primary, and reports the failure', async () => {
    const { cluster, app, base, logs } = await setup(2)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    await cluster.node('n2').kill()
    assert.equal((await client.post('/destroy')).status, 200)
    assert.deepEqual(holders(cluster, id).primary, [], 'the primary copy was deleted')
    const stats = app.msm.stats()
    assert.equal(stats.deleteFailures, 1)
    assert.equal(stats.deleted, 0)
    assert.match(messages(logs), /could not delete/)
  })
})

describe('reads', () => {
  test("a stored value that names another session is not served under this one's id", async () => {
    const { cluster, app, base, logs } = await setup(2)
    const victim = await sessionOn(base, 'n1')
    const attacker = await sessionOn(base, 'n1')
    await attacker.post('/set', { key: 'role', value: 'admin' })
    // The attacker's stored value, copied under the victim's key (both copies)
    const node = cluster.node('n1').server
    const value = node.peek(idOf(attacker)) as string
    await cluster.node('n1').set(idOf(victim), value)
    await cluster.node('n2').set(`bak:${idOf(victim)}`, value)
    const read = await victim.get('/read')
    assert.equal(read.body.n, null, 'not the attacker\'s session')
    assert.equal(read.body.isNew, true)
    assert.equal(app.msm.stats().deserializationFailures, 1)
    assert.match(messages(logs), /unreadable/)
  })

  test('a session missing on both nodes is a new session, and the miss is remembered for a moment', async () => {
    const { cluster, app, base } = await setup(2)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    cluster.node('n1').server.restart()
    cluster.node('n2').server.restart()
    const stale = new CookieClient(base)
    stale.cookies.set('sessionId', id)
    assert.equal((await stale.get('/read')).body.isNew, true)
    const gets = cluster.node('n1').server.stats().cmd_get
    assert.equal((await stale.get('/read')).body.isNew, true)
    assert.equal(cluster.node('n1').server.stats().cmd_get, gets, 'the second request asked no node')
    assert.equal(app.msm.stats().recentMisses, 1)
  })
})
