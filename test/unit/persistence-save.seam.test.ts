// session.save() and session.isModified() (lib/session/persistence.ts) on the
// in-memory memcached, counted with the servers' own counters on fresh nodes:
// save() of a session that holds nothing stores nothing; of an unchanged
// session writes nothing, and the end of the request writes nothing either;
// of a changed one writes once, and the end of the request does not write
// again. In sticky mode a session saved by its first request is served from
// the process afterwards. isModified() follows changes made in place.
// Written for mutants that survived the rest of the suite (test/mutation/REPORT.md).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, drained, startApp, type StartedApp, type TestAppOptions } from '../helpers/app.js'

const resources = usePerTestCleanup()

async function build (options: TestAppOptions): Promise<FastifyInstance> {
  const app = await buildApp(options)
  app.get('/save-empty', async (request) => {
    await request.session.save()
    return { id: request.session.id }
  })
  app.get('/save-unchanged', async (request) => {
    await request.session.save()
    return { n: request.session.get('n') ?? null }
  })
  app.get('/count-and-save', async (request) => {
    const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
    request.session.set('n', n)
    await request.session.save()
    return { n, modifiedAfterSave: request.session.isModified() }
  })
  app.get('/modified', async (request) => {
    const before = request.session.isModified()
    const user = request.session.get('user') as { visits: number } | undefined
    const readOnly = request.session.isModified()
    if (user !== undefined) user.visits++
    return { before, readOnly, after: request.session.isModified() }
  })
  return app
}

async function setup (options: Record<string, unknown> = {}): Promise<StartedApp & { cluster: MemoryCluster }> {
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  return { cluster, ...await startApp(cluster, resources.apps, { operationTimeout: 300, ...options }, { build }) }
}

const sets = (cluster: MemoryCluster): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats().cmd_set, 0)

test('save() of a new session that holds nothing stores nothing and sends no cookie', async () => {
  const { cluster, client } = await setup()
  const before = sets(cluster)
  const response = await client.get('/save-empty')
  assert.equal(response.status, 200)
  assert.equal(sets(cluster), before)
  assert.deepEqual(client.lastSetCookie, [])
})

test('save() of an unchanged session writes nothing, then or at the end of the request', async () => {
  const { cluster, client } = await setup()
  await client.get('/count')
  const before = sets(cluster)
  const response = await client.get('/save-unchanged')
  assert.equal(response.status, 200)
  assert.equal(response.body.n, 1)
  assert.equal(sets(cluster), before)
})

test('save() of a changed session writes both copies once; the end of the request does not write again', async () => {
  const { cluster, client } = await setup()
  await client.get('/count')
  const before = sets(cluster)
  const response = await client.get('/count-and-save')
  assert.equal(response.body.n, 2)
  assert.equal(response.body.modifiedAfterSave, false, 'saved: nothing left to write')
  assert.equal(sets(cluster) - before, 2)
  assert.equal((await client.get('/read')).body.n, 2)
})

test('sticky: a session saved by its first request is held in the process with what was saved', async () => {
  const { app, client } = await setup({ sticky: true })
  assert.equal((await client.get('/count-and-save')).body.n, 1)
  await drained(app)
  const hitsBefore = app.msm.stats().localHits
  assert.equal((await client.get('/read')).body.n, 1)
  assert.equal((await client.get('/count')).body.n, 2)
  assert.equal(app.msm.stats().localHits - hitsBefore, 2, 'served from the process')
})

test('isModified(): false after reading, true once a value read is changed in place', async () => {
  const { client } = await setup()
  await client.post('/set', { key: 'user', value: { visits: 1 } })
  const response = await client.get('/modified')
  assert.deepEqual(response.body, { before: false, readOnly: false, after: true })
})
