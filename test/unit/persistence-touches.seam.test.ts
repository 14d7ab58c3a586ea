// How an unchanged session is extended (lib/session/persistence.ts #extend,
// lib/session/copy-keeper.ts), on the in-memory memcached with fresh nodes per
// test, counted with the servers' own counters and app.msm.stats():
// - a touch when touchInterval has passed, a rewrite ("refresh") once the
//   stored lastAccessedAt is a whole maxInactiveInterval old (mocked clock),
//   also of a session stored with another writer schema;
// - a touch of a session that a concurrent request destroyed brings back
//   neither copy (docs/security.md: a logged-out session cannot come back);
// - a touch renews a cookie that has a maxAge; one that failed does not, and
//   is not remembered as an extension; one queued after the response
//   (backupAsync) does renew it, and writes a lost backup again with the
//   value as stored;
// - in sticky mode a healthy touch writes nothing;
// - the memory of recent touches: at most one touch per touchInterval, also
//   past 10,000 sessions held in the process, and it forgets destroyed ones.
// docs/how-it-works.md (idle expiry, memcached operations per request),
// docs/failover.md (missing copies are written again).
import { test, within } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { kTransport } from '../../lib/memcached/transport.js'
import { formatSessionId, generateRandomPart } from '../../lib/ids/session-id.js'
import { failingTransport, type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, drained, idOf, nodeOf, nodeState, sessionOn, startApp, type StartedApp, type TestAppOptions, waitFor } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'
import { copyOf } from '../helpers/requests.js'
import { codec, HEADER_LENGTH, metaOf, plainWriterSchema, publishWriterSchema, storeBoth, storedByOtherWriter } from '../helpers/stored-values.js'

const FAST = { operationTimeout: 300, nodeRetryInterval: 100 }
const resources = usePerTestCleanup()

interface Log { level: number, msg: string }

interface Setup extends StartedApp {
  cluster: MemoryCluster
  logs: Log[]
  /** GET /held-touch has entered its handler and waits for release(). */
  entered: Promise<void>
  release: () => void
}

/**
 * The test app on `count` fresh nodes, plus GET /kill-then-touch?node=
 * (kills a node in the handler, then asks for a touch) and GET /held-touch
 * (waits for `release`, then asks for a touch).
 */
async function setup (count: number, options: Partial<MsmOptions> = {}): Promise<Setup> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  const logs: Log[] = []
  let entered = (): void => {}
  let release = (): void => {}
  const enteredPromise = new Promise<void>((resolve) => { entered = resolve })
  const released = new Promise<void>((resolve) => { release = resolve })
  const build = async (app: TestAppOptions): Promise<FastifyInstance> => {
    const fastify = await buildApp(app)
    fastify.get('/kill-then-touch', async (request) => {
      await cluster.node((request.query as { node: string }).node).kill()
      request.session.touch()
      return { ok: true }
    })
    fastify.get('/held-touch', async (request) => {
      entered()
      await released
      request.session.touch()
      return { n: request.session.get('n') ?? null }
    })
    return fastify
  }
  const logger = { level: 'warn', stream: { write: (line: string) => { logs.push(JSON.parse(line) as Log) } } }
  const started = await startApp(cluster, resources.apps, { ...FAST, ...options }, { build, logger })
  return { cluster, logs, entered: enteredPromise, release, ...started }
}

const total = (cluster: MemoryCluster, stat: 'cmd_set' | 'cmd_touch'): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats()[stat], 0)

test('an unchanged session is touched once touchInterval has passed, and rewritten once its stored lastAccessedAt is maxInactiveInterval old', async (t) => {
  const advance = mockedClock(t)
  const { cluster, app, base } = await setup(2, { maxInactiveInterval: 10, touchInterval: 5 })
  const client = await sessionOn(base, 'n1')
  const id = idOf(client)
  const written = cluster.node('n1').server.peek(id)

  await advance(6_000)
  let sets = total(cluster, 'cmd_set')
  assert.equal((await client.get('/read')).body.n, 1)
  let stats = app.msm.stats()
  assert.equal(stats.touched, 1, 'touchInterval passed: touched')
  assert.equal(stats.refreshed, 0)
  assert.equal(total(cluster, 'cmd_set'), sets, 'a touch writes nothing')
  assert.equal(cluster.node('n1').server.peek(id), written, 'a touch leaves the stored value as it was')

  await advance(6_000)
  sets = total(cluster, 'cmd_set')
  const touches = total(cluster, 'cmd_touch')
  const saved = stats.saved
  assert.equal((await client.get('/read')).status, 200)
  stats = app.msm.stats()
  assert.equal(stats.refreshed, 1, '12 s after the write, with maxInactiveInterval 10: rewritten')
  assert.equal(stats.saved - saved, 1, 'a refresh is a write')
  assert.equal(stats.touched, 1, 'not touched as well')
  assert.equal(total(cluster, 'cmd_set') - sets, 2, 'both copies rewritten')
  assert.equal(total(cluster, 'cmd_touch'), touches)
  const refreshed = cluster.node('n1').server.peek(id)
  assert.notEqual(refreshed, written, 'with the new lastAccessedAt')
  assert.equal(cluster.node('n2').server.peek(`bak:${id}`), refreshed)
  assert.equal((await client.get('/read')).body.n, 1, 'and the same attributes')
})

test('a session stored with another writer schema, due for a rewrite of its lastAccessedAt, is rewritten with its attributes', async () => {
  const { cluster, app, client } = await setup(2, { maxInactiveInterval: 1800 })
  const fingerprint = await publishWriterSchema(cluster)
  const id = formatSessionId(generateRandomPart(), 'n1')
  // Stored a whole maxInactiveInterval ago (not yet past the idle limit): the next extension rewrites it
  await storeBoth(cluster, id, storedByOtherWriter(fingerprint, id, { n: 1 }, Date.now() - 1801_000))
  client.cookies.set('sessionId', id)
  const response = await client.get('/read')
  assert.equal(response.status, 200)
  assert.equal(response.body.n, 1)
  assert.equal(app.msm.stats().refreshed, 1)
  const stored = Buffer.from(cluster.node('n1').server.peek(id) as string, 'base64')
  assert.equal(stored.subarray(3, HEADER_LENGTH).toString('hex'), plainWriterSchema(codec).fingerprintHex, 'rewritten with this process\'s schema (of sessions without lifetimes of their own)')
  assert.equal((await client.get('/read')).body.n, 1)
})

test('a touch of a session destroyed by a concurrent request brings back neither copy', async () => {
  const { cluster, app, base, entered, release } = await setup(2)
  const client = await sessionOn(base, 'n1')
  const id = idOf(client)
  const reading = copyOf(client).get('/held-touch')
  await within(entered, 5_000, 'GET /held-touch to enter its handler')
  assert.equal((await copyOf(client).post('/destroy')).status, 200)
  release()
  assert.equal((await reading).status, 200)
  for (const node of cluster.nodes) {
    assert.equal(node.server.peek(id), undefined, `no primary copy on ${node.id}`)
    assert.equal(node.server.peek(`bak:${id}`), undefined, `no backup copy on ${node.id}`)
  }
  const read = await copyOf(client).get('/read')
  assert.equal(read.body.n, null, 'the old cookie finds no session')
  assert.equal(read.body.isNew, true)
  const stats = app.msm.stats()
  assert.equal(stats.backupsRecreated + stats.restored, 0)
})

test('a touch that fails on the primary does not renew a rolling cookie, and is counted', async () => {
  const { app, base, logs } = await setup(2, { cookie: { maxAge: 600 } })
  const client = await sessionOn(base, 'n1')
  const response = await client.get('/kill-then-touch?node=n1')
  assert.equal(response.status, 200)
  assert.equal(response.headers.get('set-cookie'), null, 'the lifetime was not extended')
  const stats = app.msm.stats()
  assert.equal(stats.touchFailures, 1)
  assert.equal(stats.touched, 0)
  assert.ok(logs.some((entry) => /could not extend the session lifetime/.test(entry.msg)))
})

test('a cookie with a maxAge rolls with the session: a read-only request that extends it sends the cookie again with its Max-Age', async (t) => {
  const advance = mockedClock(t)
  const { client } = await setup(2, { cookie: { maxAge: 60 }, maxInactiveInterval: 10, touchInterval: 1 })
  await client.get('/count')
  assert.match(client.lastSetCookie.join('\n'), /Max-Age=60(;|$)/m)
  await advance(1200)
  const read = await client.get('/read')
  assert.equal(read.body.n, 1)
  assert.match(client.lastSetCookie.join('\n'), /sessionId=[^;]+;.*Max-Age=60(;|$)/m, 'the touch sends a fresh cookie with Max-Age')
})

test('a touch that failed is not remembered as an extension: the next request touches the session again', async (t) => {
  const advance = mockedClock(t)
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  let failPrimaryTouches = false
  const factory = failingTransport(cluster, 'touch', (key) => failPrimaryTouches && !key.startsWith('bak:'), 'SERVER_ERROR temporary failure')
  const options = { ...FAST, maxInactiveInterval: 60, touchInterval: 10, [kTransport]: factory } as Partial<MsmOptions>
  const { app, base } = await startApp(cluster, resources.apps, options)
  const client = await sessionOn(base, 'n1')
  await advance(11_000)
  failPrimaryTouches = true
  assert.equal((await client.get('/read')).status, 200)
  assert.equal(app.msm.stats().touchFailures, 1)
  failPrimaryTouches = false
  await waitFor(() => nodeState(app, 'n1') === 'up', 'n1 to be up again')
  await advance(1000)
  const touches = total(cluster, 'cmd_touch')
  const touched = app.msm.stats().touched
  assert.equal((await client.get('/read')).body.n, 1)
  assert.equal(app.msm.stats().touched - touched, 1, 'touched again')
  assert.equal(total(cluster, 'cmd_touch') - touches, 2, 'primary and backup')
})

test('backupAsync: a rolling cookie is sent again when the session is written or touched after the response', async () => {
  const { app, base } = await setup(2, { backupAsync: true, cookie: { maxAge: 600 } })
  const client = await sessionOn(base, 'n1')
  await drained(app)
  const queued = app.msm.stats().backupsQueued
  assert.match((await client.get('/count')).headers.get('set-cookie') ?? '', /Max-Age=600/, 'written')
  assert.match((await client.get('/touch')).headers.get('set-cookie') ?? '', /Max-Age=600/, 'touched')
  assert.equal((await client.get('/read')).headers.get('set-cookie'), null, 'neither: nothing to renew')
  await drained(app)
  assert.equal(app.msm.stats().backupsQueued - queued, 2, 'the write and the touch went through the queue')
})

test('backupAsync: a queued touch that finds the backup lost writes it again with the value as stored', async () => {
  const { cluster, app, base } = await setup(2, { backupAsync: true })
  const client = await sessionOn(base, 'n1')
  await drained(app)
  const id = idOf(client)
  const stored = cluster.node('n1').server.peek(id)
  cluster.node('n2').server.restart()
  assert.equal((await client.get('/touch')).status, 200)
  await drained(app)
  assert.equal(app.msm.stats().touched, 1)
  assert.equal(app.msm.stats().backupsRecreated, 1)
  assert.equal(cluster.node('n2').server.peek(`bak:${id}`), stored, 'the same lastAccessedAt and attributes as the primary')
  assert.equal(cluster.node('n1').server.peek(id), stored)
})

test('sticky: a healthy touch writes nothing and restores nothing', async () => {
  const { cluster, app, base } = await setup(2, { sticky: true })
  const client = await sessionOn(base, 'n1')
  await drained(app)
  const sets = total(cluster, 'cmd_set')
  const touches = total(cluster, 'cmd_touch')
  assert.equal((await client.get('/touch')).status, 200)
  await drained(app)
  const stats = app.msm.stats()
  assert.equal(stats.touched, 1)
  assert.equal(stats.restored + stats.backupsRecreated, 0)
  assert.equal(total(cluster, 'cmd_touch') - touches, 2, 'both copies touched')
  assert.equal(total(cluster, 'cmd_set'), sets, 'nothing written')
})

/**
 * Stores `count` sessions { n: i } on the two nodes of `cluster` directly on
 * the servers (faster than requests), stored `age` ms ago; resolves their ids.
 */
async function storeSessions (cluster: MemoryCluster, count: number, age: number): Promise<string[]> {
  const servers = new Map(cluster.nodes.map((node) => [node.id, node.server.transport()]))
  const put = async (nodeId: string, key: string, value: string): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      servers.get(nodeId)?.set(key, value, 3600, (error) => { if (error !== undefined && error !== null) reject(error); else resolve() })
    })
  }
  const ids: string[] = []
  for (let i = 0; i < count; i++) {
    const id = formatSessionId(generateRandomPart(), i % 2 === 0 ? 'n1' : 'n2')
    const value = codec.encodeValue(metaOf(id, Date.now() - age), codec.encodeAttributes({ n: i }))
    await put(nodeOf(id), id, value)
    await put(nodeOf(id) === 'n1' ? 'n2' : 'n1', `bak:${id}`, value)
    ids.push(id)
  }
  return ids
}

/** GET /read of session `id` through app.inject (no socket: thousands of requests stay fast); resolves n. */
async function readN (app: FastifyInstance, id: string): Promise<unknown> {
  return (await app.inject({ url: '/read', headers: { cookie: `sessionId=${id}` } })).json<{ n: unknown }>().n
}

test('sticky mode with localSessions above 10,000: a session held in the process is touched at most once per touchInterval, also after 10,000 others were touched', async (t) => {
  const advance = mockedClock(t)
  const held = 10_001
  const { cluster, app } = await setup(2, { sticky: true, localSessions: 20_000, maxInactiveInterval: 600, touchInterval: 10 })
  // Stored 11 s ago (by another instance, say): each is due for a touch at its first request here
  const ids = await storeSessions(cluster, held, 11_000)
  for (const [i, id] of ids.entries()) assert.equal(await readN(app, id), i)
  await drained(app)
  assert.equal(app.msm.stats().touched, held, 'each touched once')
  await advance(1000)
  const touches = total(cluster, 'cmd_touch')
  assert.equal(await readN(app, ids[0] as string), 0)
  await drained(app)
  assert.equal(app.msm.stats().touched, held, 'the first one, touched 1 s ago, not again')
  assert.equal(total(cluster, 'cmd_touch'), touches)
})

test('the touch memory forgets destroyed sessions: 10,000 sessions touched and destroyed do not make a live one touched twice within touchInterval', async (t) => {
  const advance = mockedClock(t)
  const others = 10_000
  const { cluster, app } = await setup(2, { maxInactiveInterval: 600, touchInterval: 10 })
  // Stored 11 s ago: each is due for a touch at its first request
  const [live, ...ids] = await storeSessions(cluster, others + 1, 11_000) as [string, ...string[]]
  assert.equal(await readN(app, live), 0)
  for (const id of ids) {
    await readN(app, id)
    assert.equal((await app.inject({ method: 'POST', url: '/destroy', headers: { cookie: `sessionId=${id}` }, payload: {} })).statusCode, 200)
  }
  const stats = app.msm.stats()
  assert.equal(stats.touched, others + 1, 'each touched once')
  assert.equal(stats.deleted, others)
  await advance(1000)
  const touches = total(cluster, 'cmd_touch')
  assert.equal(await readN(app, live), 0)
  assert.equal(app.msm.stats().touched, others + 1, 'the live one, touched 1 s ago, not again')
  assert.equal(total(cluster, 'cmd_touch'), touches)
})
