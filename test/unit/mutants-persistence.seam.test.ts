// Tests for mutants of lib/session/persistence.ts that survived the rest of
// the suite (test/mutation/REPORT.md), on the in-memory memcached with fresh
// nodes per test, counted with the servers' own counters and app.msm.stats(),
// with a mocked clock where time must pass:
// - save(): counted as a save, not a refresh; a new typed session without an
//   id; sticky mode, where save() of a request that loaded the session from
//   memcached is what the process holds, also after a save() refused as too
//   large;
// - change detection of Dates read (the per-key shortcut): a session stored by
//   another Avro writer, in several map blocks or with another writer schema,
//   and the rewrite ("refresh") of such a session;
// - touches: a touch that failed is not remembered as an extension;
// - writes that find the session gone (destroyed or removed by a concurrent
//   request): no 503 with storeFailurePolicy 'fail', no rolling cookie and
//   not reported saved; a value read before reload() found it removed is
//   not the session's any more, so changing it writes nothing;
// - a new session whose only node fails is not tried again on that node;
// - maxSessionSize is the largest stored value accepted, not the first refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { kTransport, type MemcachedTransport, type TransportFactory } from '../../lib/memcached/transport.js'
import { schemaKey } from '../../lib/memcached/keys.js'
import { formatSessionId, generateRandomPart } from '../../lib/ids/session-id.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { buildWriterType, canonicalForm } from '../../lib/serialization/avro-types.js'
import { crc64Avro } from '../../lib/serialization/crc64-avro.js'
import type { Attributes } from '../../lib/types/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, CookieClient, drained, idOf, nodeOf, nodeState, sessionOn, startApp, type StartAppExtra, type StartedApp, type TestAppOptions, waitFor } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'

const FAST = { operationTimeout: 300, nodeRetryInterval: 100 }
const resources = usePerTestCleanup()

interface Log { level: number, msg: string, err?: { message?: string } }

async function nodes (count: number): Promise<MemoryCluster> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  return cluster
}

/** The test app with the routes of `routes` added; `logs` collects its warnings and errors. */
function withRoutes (routes: (app: FastifyInstance) => void, logs?: Log[]): StartAppExtra {
  return {
    build: async (options: TestAppOptions): Promise<FastifyInstance> => {
      const app = await buildApp(options)
      routes(app)
      return app
    },
    ...(logs === undefined ? {} : { logger: { level: 'warn', stream: { write: (line: string) => { logs.push(JSON.parse(line) as Log) } } } })
  }
}

/**
 * Gates that route handlers wait on. Tests open them all in a `finally`: a
 * request left waiting after a failed assertion would keep app.close() waiting.
 */
function gates (count: number): { wait: (index: number) => Promise<void>, open: (index: number) => void, openAll: () => void } {
  const opens: Array<() => void> = []
  const opened = Array.from({ length: count }, () => new Promise<void>((resolve) => { opens.push(resolve) }))
  return {
    wait: async (index) => { await opened[index] },
    open: (index) => { opens[index]?.() },
    openAll: () => { for (const open of opens) open() }
  }
}

const total = (cluster: MemoryCluster, stat: 'cmd_set' | 'cmd_touch'): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats()[stat], 0)

function copyOf (client: CookieClient, base = client.base): CookieClient {
  const copy = new CookieClient(base)
  for (const [name, value] of client.cookies) copy.cookies.set(name, value)
  return copy
}

/** GET /date-read reads the Date `when` and nothing else. */
function dateRoutes (app: FastifyInstance): void {
  app.get('/date-read', async (request) => ({ when: (request.session.get('when') as Date).getTime() }))
}

// Stored values as another Avro writer stores them: the same header, meta and
// attribute encoding as this package, built with its codec.
const codec = new AvroSessionCodec()
const HEADER_LENGTH = 11

function metaOf (id: string, lastAccessedAt = Date.now()): { id: string, createdAt: number, lastAccessedAt: number, maxInactiveInterval: number } {
  return { id, createdAt: lastAccessedAt, lastAccessedAt, maxInactiveInterval: 1800 }
}

/** Writes both copies of `id` (primary on its node, backup on the other of two). */
async function storeBoth (cluster: MemoryCluster, id: string, value: string): Promise<void> {
  const primary = nodeOf(id)
  const backup = primary === 'n1' ? 'n2' : 'n1'
  await cluster.node(primary).set(id, value, 3600)
  await cluster.node(backup).set(`bak:${id}`, value, 3600)
}

/**
 * This package's session schema with one more field at the end (as a newer
 * writer could add): another fingerprint, which readers resolve by Avro's
 * rules. Published on every node, as a writer does.
 */
async function publishWriterSchema (cluster: MemoryCluster): Promise<Buffer> {
  const schema = JSON.parse(codec.schemaText) as { fields: object[] }
  schema.fields.push({ name: 'tenant', type: 'string' })
  const fingerprint = crc64Avro(canonicalForm(buildWriterType(schema)))
  for (const node of cluster.nodes) await node.set(schemaKey(fingerprint.toString('hex')), JSON.stringify(schema), 0)
  return fingerprint
}

/** A session stored by the writer of publishWriterSchema: its fingerprint, then the record with tenant 'x'. */
function storedByOtherWriter (fingerprint: Buffer, id: string, attributes: Attributes, lastAccessedAt?: number): string {
  const ours = Buffer.from(codec.encodeValue(metaOf(id, lastAccessedAt), codec.encodeAttributes(attributes)), 'base64')
  return Buffer.concat([ours.subarray(0, 3), fingerprint, ours.subarray(HEADER_LENGTH), Buffer.from([2, 0x78])]).toString('base64')
}

test('save() of a new typed session changed without set() (a default deleted), which has no id yet, resolves', async () => {
  const cluster = await nodes(2)
  const schema = { type: 'record', name: 'Attributes', namespace: 'shop', fields: [{ name: 'visits', type: 'int', default: 0 }] }
  const { client } = await startApp(cluster, resources.apps, { ...FAST, schema }, withRoutes((app) => {
    app.get('/forget-visits-and-save', async (request) => {
      request.session.delete('visits')
      const failed = await request.session.save().then(() => null, (error: Error) => error.message)
      return { failed }
    })
  }))
  const response = await client.get('/forget-visits-and-save')
  assert.equal(response.status, 200)
  assert.deepEqual(response.body, { failed: null })
})

test('save() is counted as a save, not as a refresh of lastAccessedAt (stats().refreshed counts only rewrites of unchanged sessions)', async () => {
  const cluster = await nodes(2)
  const { app, client } = await startApp(cluster, resources.apps, FAST, withRoutes((app) => {
    app.get('/save', async (request) => {
      request.session.set('n', 1)
      await request.session.save()
      return {}
    })
  }))
  assert.equal((await client.get('/save')).status, 200)
  await drained(app)
  const { saved, refreshed } = app.msm.stats()
  assert.deepEqual({ saved, refreshed }, { saved: 1, refreshed: 0 })
})

test('sticky mode: after a save() refused as too large, a concurrent request of the process builds on the session and its change is stored', async () => {
  const cluster = await nodes(2)
  const sticky = { ...FAST, sticky: true, maxSessionSize: 2048 }
  const gate = gates(1)
  let refused: string | null = null
  const writer = await startApp(cluster, resources.apps, sticky)
  const other = await startApp(cluster, resources.apps, sticky, withRoutes((app) => {
    app.get('/refused-save-then-wait', async (request) => {
      request.session.set('blob', 'x'.repeat(4096))
      refused = await request.session.save().then(() => 'none', (error: { code: string }) => error.code)
      request.session.delete('blob')
      await gate.wait(0)
      return { ok: true }
    })
  }))
  const client = new CookieClient(writer.base)
  await client.get('/count')
  await drained(writer.app)
  // The other instance does not hold the session yet: it loads it from memcached
  client.base = other.base
  const refusing = client.get('/refused-save-then-wait')
  try {
    await waitFor(() => refused !== null, 'the save() to be refused')
    assert.equal(refused, 'FST_MSM_SESSION_TOO_LARGE')
    // The refusing request is still in flight: this one shares the session the process holds
    const counted = await client.get('/count')
    assert.equal(counted.status, 200)
    assert.equal(counted.body.n, 2)
    await drained(other.app)
    // A fresh instance reads memcached (the writer instance still holds n = 1 in its process)
    const fresh = await startApp(cluster, resources.apps, sticky)
    assert.equal((await copyOf(client, fresh.base).get('/read')).body.n, 2, 'memcached holds the change')
  } finally {
    gate.openAll()
    await refusing
  }
  assert.equal((await refusing).status, 200)
})

test('sticky mode: save() of a request that loaded the session from memcached is what the process holds, over an earlier save() of a concurrent request', async () => {
  const cluster = await nodes(2)
  const sticky = { ...FAST, sticky: true }
  // 0, 1: A and B may save; 2: both may end
  const gate = gates(3)
  let loaded = 0
  const saved: string[] = []
  const writer = await startApp(cluster, resources.apps, sticky)
  const other = await startApp(cluster, resources.apps, sticky, withRoutes((app) => {
    app.get('/save-as/:who', async (request) => {
      const { who } = request.params as { who: 'A' | 'B' }
      request.session.get('n')
      loaded++
      await gate.wait(who === 'A' ? 0 : 1)
      request.session.set('who', who)
      await request.session.save()
      saved.push(who)
      await gate.wait(2)
      return { ok: true }
    })
    app.get('/who', async (request) => ({ who: request.session.get('who') ?? null }))
  }))
  const client = new CookieClient(writer.base)
  await client.get('/count')
  await drained(writer.app)
  // Both requests load the session from memcached: the other instance does not hold it yet
  client.base = other.base
  const first = client.get('/save-as/A')
  const second = client.get('/save-as/B')
  try {
    await waitFor(() => loaded === 2, 'both requests to load the session')
    gate.open(0)
    await waitFor(() => saved.length === 1, 'A to save')
    gate.open(1)
    await waitFor(() => saved.length === 2, 'B to save')
    // Both are still in flight, each keeping its own attributes object alive
    assert.deepEqual((await client.get('/who')).body, { who: 'B' }, 'the process serves the last save()')
    const fresh = await startApp(cluster, resources.apps, sticky, withRoutes((app) => {
      app.get('/who', async (request) => ({ who: request.session.get('who') ?? null }))
    }))
    assert.deepEqual((await copyOf(client, fresh.base).get('/who')).body, { who: 'B' }, 'as memcached holds it')
  } finally {
    gate.openAll()
    await Promise.allSettled([first, second])
  }
  assert.equal((await first).status, 200)
  assert.equal((await second).status, 200)
})

test('a Date read unchanged from a session that another Avro writer stored in several map blocks writes nothing', async () => {
  const cluster = await nodes(2)
  const { app, base } = await startApp(cluster, resources.apps, FAST, withRoutes(dateRoutes))
  const client = await sessionOn(base, 'n1')
  const id = idOf(client)
  // Avro lets a writer split a map into blocks; this package writes one: { when } then { n }
  const when = codec.encodeAttributes({ when: new Date(1_000_000) } as Attributes)
  const n = codec.encodeAttributes({ n: 1 })
  const blocks = Buffer.concat([when.subarray(0, when.length - 1), n])
  await storeBoth(cluster, id, codec.encodeValue(metaOf(id), blocks))
  const sets = total(cluster, 'cmd_set')
  const saved = app.msm.stats().saved
  const response = await client.get('/date-read')
  assert.equal(response.status, 200)
  assert.equal(response.body.when, 1_000_000)
  assert.equal(total(cluster, 'cmd_set'), sets, 'nothing written')
  assert.equal(app.msm.stats().saved, saved)
  assert.equal((await client.get('/read')).body.n, 1)
})

test('a Date read from a session stored with another writer schema is served, and the session stays readable', async () => {
  const cluster = await nodes(2)
  const { app, client } = await startApp(cluster, resources.apps, FAST, withRoutes(dateRoutes))
  const fingerprint = await publishWriterSchema(cluster)
  const id = formatSessionId(generateRandomPart(), 'n1')
  await storeBoth(cluster, id, storedByOtherWriter(fingerprint, id, { when: new Date(1_000_000), n: 1 } as Attributes))
  client.cookies.set('sessionId', id)
  const response = await client.get('/date-read')
  assert.equal(response.status, 200)
  assert.equal(response.body.when, 1_000_000)
  assert.equal(app.msm.stats().schemaResolved, 1, 'read by resolution')
  const read = await client.get('/read')
  assert.deepEqual([read.body.n, read.body.isNew], [1, false])
})

test('a session stored with another writer schema, due for a rewrite of its lastAccessedAt, is rewritten with its attributes', async () => {
  const cluster = await nodes(2)
  const { app, client } = await startApp(cluster, resources.apps, { ...FAST, maxInactiveInterval: 1800 })
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
  assert.ok(stored.subarray(3, HEADER_LENGTH).equals(codec.fingerprint), 'rewritten with this process\'s schema')
  assert.equal((await client.get('/read')).body.n, 1)
})

test('a touch that failed is not remembered as an extension: the next request touches the session again', async (t) => {
  const advance = mockedClock(t)
  const cluster = await nodes(2)
  let failPrimaryTouches = false
  const seam = cluster.seam[kTransport] as TransportFactory
  const factory: TransportFactory = (spec) => {
    const transport = seam(spec)
    const touch: MemcachedTransport['touch'] = (key, lifetime, done) => {
      if (failPrimaryTouches && !key.startsWith('bak:')) setImmediate(() => { done(new Error('SERVER_ERROR temporary failure')) })
      else transport.touch(key, lifetime, done)
    }
    return { ...transport, touch }
  }
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

/** GET /held-set waits for the gate, then sets n: a write after whatever happened meanwhile. */
async function heldWrites (options: Partial<MsmOptions>): Promise<StartedApp & { cluster: MemoryCluster, entered: Promise<void>, release: () => void, savedAtResponse: boolean[] }> {
  const cluster = await nodes(2)
  const gate = gates(2)
  const savedAtResponse: boolean[] = []
  const started = await startApp(cluster, resources.apps, { ...FAST, ...options }, withRoutes((app) => {
    app.addHook('onResponse', async (request) => {
      if (request.url === '/held-set') savedAtResponse.push(request.session.isSaved())
    })
    app.get('/held-set', async (request) => {
      request.session.get('n')
      gate.open(0)
      await gate.wait(1)
      request.session.set('n', 11)
      return { ok: true }
    })
  }))
  return { ...started, cluster, entered: gate.wait(0), release: () => { gate.open(1) }, savedAtResponse }
}

/** A write held until a concurrent request of the same client destroyed the session; its response. */
async function writeRacingDestroy (held: Awaited<ReturnType<typeof heldWrites>>): Promise<Awaited<ReturnType<CookieClient['get']>>> {
  const client = await sessionOn(held.base, 'n1')
  const writing = copyOf(client).get('/held-set')
  try {
    await held.entered
    assert.equal((await copyOf(client).post('/destroy')).status, 200)
  } finally {
    held.release()
  }
  return await writing
}

test("storeFailurePolicy 'fail': a write that finds the session destroyed by a concurrent request is no store failure (no 503)", async () => {
  const held = await heldWrites({ storeFailurePolicy: 'fail' })
  const { app } = held
  const response = await writeRacingDestroy(held)
  assert.equal(response.status, 200)
  const stats = app.msm.stats()
  assert.equal(stats.revivalsPrevented, 1)
  assert.equal(stats.saveFailures, 0)
})

test('a write that finds the session destroyed by a concurrent request renews no rolling cookie and is not reported saved', async () => {
  const held = await heldWrites({ cookie: { maxAge: 600 } })
  const { app, savedAtResponse } = held
  const response = await writeRacingDestroy(held)
  assert.equal(response.status, 200)
  assert.equal(response.headers.get('set-cookie'), null, 'no cookie for the destroyed session')
  await waitFor(() => savedAtResponse.length === 1, 'the onResponse hook of the writing request')
  assert.deepEqual(savedAtResponse, [false], 'isSaved() of the writing request')
  assert.equal(app.msm.stats().revivalsPrevented, 1)
})

test('a value read before reload() found the session removed is no longer the session: changing it writes nothing, under no id', async () => {
  const cluster = await nodes(2)
  const routes = withRoutes((app) => {
    app.get('/reload-removed-then-change', async (request) => {
      const user = request.session.get('user') as { visits: number }
      const id = request.session.id as string
      await cluster.node(nodeOf(id)).command(`delete ${id}\r\n`)
      for (const node of cluster.nodes) await node.command(`delete bak:${id}\r\n`)
      await request.session.reload()
      const isNew = request.session.isNew
      // Still the object read before reload(): a change in place, without set()
      user.visits++
      return { isNew, id: request.session.id }
    })
  })
  const creator = await startApp(cluster, resources.apps, FAST, routes)
  // n1 is a failover node for this instance: a new id it gives is always on n2
  const instance = await startApp(cluster, resources.apps, { ...FAST, failoverNodes: ['n1'] }, routes)
  const client = await sessionOn(creator.base, 'n1')
  await client.post('/set', { key: 'user', value: { visits: 1 } })
  const id = idOf(client)
  client.base = instance.base
  const sets = total(cluster, 'cmd_set')
  const response = await client.get('/reload-removed-then-change')
  assert.equal(response.status, 200)
  assert.deepEqual(response.body, { isNew: true, id })
  assert.equal(total(cluster, 'cmd_set') - sets, 0, 'no empty session written, here or under another id')
  assert.equal(response.headers.get('set-cookie'), null)
  assert.equal(instance.app.msm.stats().revivalsPrevented, 0)
  assert.equal(instance.app.msm.stats().saveFailures, 0)
})

test('a new session whose only node fails is not tried again on that node: the log names the failure of its write', async () => {
  const cluster = await nodes(1)
  const logs: Log[] = []
  const { app, client } = await startApp(cluster, resources.apps, FAST, withRoutes((app) => {
    app.get('/kill-then-set', async (request) => {
      await cluster.node('n1').kill()
      request.session.set('n', 1)
      return { ok: true }
    })
  }, logs))
  const response = await client.get('/kill-then-set')
  assert.equal(response.status, 200)
  assert.deepEqual(client.lastSetCookie, [], 'not stored: no cookie')
  assert.equal(app.msm.stats().saveFailures, 1)
  const entry = logs.find((log) => /could not save the session/.test(log.msg))
  assert.ok(entry !== undefined)
  assert.match(entry.err?.message ?? '', /ECONNREFUSED/)
})

test('maxSessionSize is the largest stored value accepted: a value of exactly that size is stored, one 4 bytes larger is refused', async () => {
  const cluster = await nodes(2)
  const measuring = await startApp(cluster, resources.apps, FAST)
  await measuring.client.get('/big?size=1500')
  const id = idOf(measuring.client)
  const size = (cluster.node(nodeOf(id)).server.peek(id) as string).length
  const { app, client } = await startApp(cluster, resources.apps, { ...FAST, maxSessionSize: size })
  const exact = await client.get('/big?size=1500')
  assert.equal(exact.status, 200, `a stored value of ${size} characters`)
  assert.equal(client.lastSetCookie.length, 1)
  const larger = await new CookieClient(client.base).get('/big?size=1503')
  assert.equal(larger.status, 500)
  assert.equal(larger.body.code, 'FST_MSM_SESSION_TOO_LARGE')
  assert.equal(app.msm.stats().oversized, 1)
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
  const cluster = await nodes(2)
  const held = 10_001
  const { app } = await startApp(cluster, resources.apps, { ...FAST, sticky: true, localSessions: 20_000, maxInactiveInterval: 600, touchInterval: 10 })
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
  const cluster = await nodes(2)
  const others = 10_000
  const { app } = await startApp(cluster, resources.apps, { ...FAST, maxInactiveInterval: 600, touchInterval: 10 })
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
