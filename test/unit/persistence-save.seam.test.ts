// session.save() and session.isModified() (lib/session/persistence.ts) on the
// in-memory memcached, counted with the servers' own counters on fresh nodes:
// save() of a session that holds nothing stores nothing; of an unchanged
// session writes nothing, and the end of the request writes nothing either;
// of a changed one writes once, and the end of the request does not write
// again, and is counted as a save, not a refresh. save() of a new typed
// session changed without set() resolves. A new session whose save() failed
// (too large, nodes unavailable) is still stored at the end of the request,
// with its cookie (regressions). In sticky mode a session saved by its first
// request is served from the process afterwards (concurrent save()s:
// sticky-race.seam.test.ts). isModified() follows changes made in place.
// Written for mutants that survived the rest of the suite (test/mutation/REPORT.md).
import { test, within } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, drained, nodeState, startApp, type StartedApp, type TestAppOptions, waitFor } from '../helpers/app.js'

const resources = usePerTestCleanup()

/** A promise and the function that settles it: lets a handler wait for the test. */
function gate (): { opened: Promise<void>, open: () => void } {
  let open = (): void => {}
  const opened = new Promise<void>((resolve) => { open = resolve })
  return { opened, open }
}
let nodesBack = gate()
let writeAtEnd = gate()

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
  app.get('/save-too-large-then-shrink', async (request) => {
    request.session.set('blob', 'x'.repeat(4096))
    const refused = await request.session.save().then(() => null, (error: { code?: string }) => error.code)
    request.session.set('blob', 'small')
    return { refused }
  })
  app.get('/save-while-down', async (request) => {
    request.session.set('n', 7)
    const refused = await request.session.save().then(() => null, (error: { code?: string }) => error.code)
    nodesBack.open()
    await writeAtEnd.opened
    return { refused }
  })
  app.get('/set-and-save', async (request) => {
    request.session.set('n', 1)
    await request.session.save()
    return {}
  })
  app.get('/forget-visits-and-save', async (request) => {
    request.session.delete('visits')
    const failed = await request.session.save().then(() => null, (error: Error) => error.message)
    return { failed }
  })
  app.get('/blob', async (request) => ({ blob: request.session.get('blob') ?? null }))
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

test('save() is counted as a save, not as a refresh of lastAccessedAt (stats().refreshed counts only rewrites of unchanged sessions)', async () => {
  const { app, client } = await setup()
  assert.equal((await client.get('/set-and-save')).status, 200)
  await drained(app)
  const { saved, refreshed } = app.msm.stats()
  assert.deepEqual({ saved, refreshed }, { saved: 1, refreshed: 0 })
})

test('save() of a new typed session changed without set() (a default deleted), which has no id yet, resolves', async () => {
  const schema = { type: 'record', name: 'Attributes', namespace: 'shop', fields: [{ name: 'visits', type: 'int', default: 0 }] }
  const { client } = await setup({ schema })
  const response = await client.get('/forget-visits-and-save')
  assert.equal(response.status, 200)
  assert.deepEqual(response.body, { failed: null })
})

test('regression: a new session whose save() was refused as too large, then shrunk, is stored at the end of the request and gets its cookie', async () => {
  const { client } = await setup({ maxSessionSize: 2048 })
  const response = await client.get('/save-too-large-then-shrink')
  assert.equal(response.status, 200)
  assert.equal(response.body.refused, 'FST_MSM_SESSION_TOO_LARGE')
  assert.equal(client.lastSetCookie.length, 1, 'the cookie of the session stored at the end')
  assert.equal((await client.get('/blob')).body.blob, 'small')
})

test('regression: a new session whose save() failed on unavailable nodes is stored at the end of the request, once they are back, and gets its cookie', async () => {
  nodesBack = gate()
  writeAtEnd = gate()
  const { cluster, app, client } = await setup({ operationTimeout: 100, nodeRetryInterval: 50 })
  for (const node of cluster.nodes) node.server.hang()
  const pending = client.get('/save-while-down')
  await within(nodesBack.opened, 10_000, 'GET /save-while-down to have its save() refused by the hung nodes')
  for (const node of cluster.nodes) node.server.resume()
  await waitFor(() => cluster.nodes.every((node) => nodeState(app, node.id) === 'up'), 'both nodes up again')
  writeAtEnd.open()
  const response = await pending
  assert.equal(response.status, 200)
  assert.equal(response.body.refused, 'FST_MSM_STORE_UNAVAILABLE')
  assert.equal(client.lastSetCookie.length, 1, 'the cookie of the session stored at the end')
  assert.equal((await client.get('/read')).body.n, 7)
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
