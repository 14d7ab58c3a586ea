// When a session is written, and how (lib/session/persistence.ts,
// lib/session/session-services.ts), on the in-memory memcached with fresh
// nodes per test, counted with the servers' own counters and app.msm.stats():
// - change detection of Dates read from the session (no proxy can watch
//   them): isModified(), and what the end of the request writes, also for a
//   session another Avro writer stored (several map blocks, another writer
//   schema);
// - values refused: by set() at once, by the end of the request when put in
//   place into an object read from the session, and above maxSessionSize;
// - save() and reload() in the middle of a request; a value read before a
//   reload() that found the session removed is no longer the session's;
// - a new session whose nodes fail during its request gets one more try on a
//   node that came back, but not on the node that failed;
// - a write that finds the session destroyed by a concurrent request: no 503,
//   no rolling cookie, not reported saved;
// - backupAsync: what the writes queued after the response report (isSaved,
//   'auto' locking learning that a route modifies sessions).
// docs/how-it-works.md (the request lifecycle), docs/security.md,
// docs/locking.md ('auto').
import { describe, test, within } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { formatSessionId, generateRandomPart } from '../../lib/ids/session-id.js'
import type { Attributes } from '../../lib/types/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, CookieClient, drained, idOf, nodeOf, nodeState, sessionOn, startApp, type StartedApp, type TestAppOptions, waitFor } from '../helpers/app.js'
import { copyOf, gates, withRoutes } from '../helpers/requests.js'
import { codec, metaOf, publishWriterSchema, storeBoth, storedByOtherWriter } from '../helpers/stored-values.js'

const FAST = { operationTimeout: 300, nodeRetryInterval: 100 }
const resources = usePerTestCleanup()

interface Log { level: number, msg: string, err?: { message?: string } }

interface Setup extends StartedApp {
  cluster: MemoryCluster
  /** Another app with the same routes on the same nodes. */
  another: (options: Partial<MsmOptions>) => Promise<StartedApp>
  logs: Log[]
  /** request.session.isSaved() of every response, seen by an onResponse hook. */
  savedAtResponse: boolean[]
  /** A route that waits (GET /held-*) has entered its handler and waits for release(). */
  entered: Promise<void>
  release: () => void
}

/** The test app with routes of this file on `count` fresh nodes; `logs` holds its warnings and errors. */
async function setup (count: number, options: Partial<MsmOptions> = {}): Promise<Setup> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  const logs: Log[] = []
  const savedAtResponse: boolean[] = []
  let entered = (): void => {}
  let release = (): void => {}
  const enteredPromise = new Promise<void>((resolve) => { entered = resolve })
  const released = new Promise<void>((resolve) => { release = resolve })
  const removeCopies = async (id: string): Promise<void> => {
    for (const node of cluster.nodes) {
      await node.command(`delete ${id}\r\n`)
      await node.command(`delete bak:${id}\r\n`)
    }
  }
  const build = async (app: TestAppOptions): Promise<FastifyInstance> => {
    const fastify = await buildApp(app)
    fastify.addHook('onResponse', async (request) => { savedAtResponse.push(request.session.isSaved()) })
    fastify.get('/date', async (request) => {
      request.session.set('when', new Date(1_000_000))
      return { ok: true }
    })
    fastify.get('/date-read', async (request) => {
      const { shift, set } = request.query as { shift?: string, set?: string }
      const when = request.session.get('when') as Date
      if (shift !== undefined) when.setTime(when.getTime() + Number(shift))
      if (set !== undefined) request.session.set('n', Number(set))
      return { modified: request.session.isModified(), when: when.getTime() }
    })
    fastify.get('/date-only', async (request) => ({ when: (request.session.get('when') as Date).getTime() }))
    fastify.post('/date-read-change-id', async (request) => {
      (request.session.get('when') as Date).getTime()
      await request.session.changeSessionId()
      return { id: request.session.id }
    })
    fastify.get('/put-in-place', async (request) => {
      const user = request.session.get('user') as Record<string, unknown>
      user.tags = new Map([['a', 1]])
      return { ok: true }
    })
    fastify.get('/set-refused', async (request) => {
      try {
        request.session.set('tags', new Map([['a', 1]]) as never)
      } catch (error) {
        return { code: (error as { code: string }).code }
      }
      return { code: null }
    })
    fastify.get('/id-then-save', async (request) => {
      const id = request.session.sessionId
      await request.session.save()
      return { id, saved: request.session.isSaved() }
    })
    fastify.get('/id-then-reload', async (request) => {
      const id = request.session.sessionId
      await request.session.reload()
      return { id, isNew: request.session.isNew }
    })
    fastify.get('/save-unchanged', async (request) => {
      await request.session.save()
      return { saved: request.session.isSaved() }
    })
    fastify.get('/set-save-peek', async (request) => {
      request.session.set('n', 7)
      await request.session.save()
      const id = request.session.id as string
      return { stored: cluster.nodes.some((node) => node.server.peek(id) !== undefined) }
    })
    fastify.get('/reload-after-removed', async (request) => {
      await removeCopies(request.session.id as string)
      await request.session.reload()
      const after = { isNew: request.session.isNew, n: request.session.get('n') ?? null }
      request.session.set('m', 5)
      return after
    })
    fastify.get('/vanish-and-reload', async (request) => {
      const id = request.session.id as string
      await cluster.node(nodeOf(id)).command(`delete ${id}\r\n`)
      const decoded = (): number => fastify.msm.stats().timings.deserialize.count
      const before = decoded()
      await request.session.reload()
      return { decoded: decoded() - before, n: request.session.get('n') ?? null, isNew: request.session.isNew }
    })
    fastify.get('/reload-removed-then-change', async (request) => {
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
    fastify.get('/held-save-then-set', async (request) => {
      request.session.set('n', 10)
      await request.session.save()
      entered()
      await released
      request.session.set('n', 11)
      return { ok: true }
    })
    fastify.get('/new-then-fail', async (request) => {
      request.session.set('n', 1)
      const { hang, back } = request.query as { hang: string, back: string }
      await cluster.node(hang).suspend()
      // Comes back while the write waits for the hung node, before the retry
      setTimeout(() => { cluster.node(back).start().catch(() => {}) }, 30)
      return { firstNode: nodeOf(request.session.id as string) }
    })
    fastify.get('/kill-all-then-set', async (request) => {
      for (const node of cluster.nodes) await node.kill()
      request.session.set('n', 100)
      return { ok: true }
    })
    fastify.get('/empty-primary-then-set', async (request) => {
      cluster.node(nodeOf(request.session.id as string)).server.restart()
      request.session.set('n', 20)
      return { ok: true }
    })
    fastify.get('/maybe-set', async (request) => {
      if ((request.query as { write?: string }).write !== undefined) request.session.set('n', 30)
      return { ok: true }
    })
    return fastify
  }
  const logger = { level: 'warn', stream: { write: (line: string) => { logs.push(JSON.parse(line) as Log) } } }
  const started = await startApp(cluster, resources.apps, { ...FAST, ...options }, { build, logger })
  const another = async (more: Partial<MsmOptions>): Promise<StartedApp> => await startApp(cluster, resources.apps, { ...FAST, ...more }, { build })
  return { cluster, another, logs, savedAtResponse, entered: enteredPromise, release, ...started }
}

const sets = (cluster: MemoryCluster): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats().cmd_set, 0)

describe('Dates read from the session', () => {
  test('a Date read and left alone is not a change: isModified() is false and nothing is written', async () => {
    const { cluster, app, client } = await setup(2)
    await client.get('/date')
    const before = sets(cluster)
    const saved = app.msm.stats().saved
    const response = await client.get('/date-read')
    assert.deepEqual(response.body, { modified: false, when: 1_000_000 })
    assert.equal(sets(cluster), before)
    assert.equal(app.msm.stats().saved, saved)
  })

  test('a Date changed in place is a change: isModified() is true and it is written', async () => {
    const { cluster, client } = await setup(2)
    await client.get('/date')
    const before = sets(cluster)
    assert.deepEqual((await client.get('/date-read?shift=5')).body, { modified: true, when: 1_000_005 })
    assert.equal(sets(cluster) - before, 2)
    assert.equal((await client.get('/date-read')).body.when, 1_000_005)
  })

  test('another attribute set while a Date was read unchanged is written', async () => {
    const { cluster, client } = await setup(2)
    await client.get('/date')
    const before = sets(cluster)
    assert.equal((await client.get('/date-read?set=42')).body.modified, true)
    assert.equal(sets(cluster) - before, 2)
    assert.equal((await client.get('/read')).body.n, 42)
  })

  test('changeSessionId after reading a Date stores the session under its new id', async () => {
    const { cluster, client } = await setup(2)
    await client.get('/date')
    const old = idOf(client)
    const { id } = (await client.post('/date-read-change-id')).body as { id: string }
    assert.notEqual(id, old)
    assert.equal(idOf(client), id, 'the new cookie')
    assert.ok(cluster.nodes.some((node) => node.server.peek(id) !== undefined), 'stored under the new id')
    assert.equal((await client.get('/date-read')).body.when, 1_000_000)
  })

  test('a Date read unchanged from a session that another Avro writer stored in several map blocks writes nothing', async () => {
    const { cluster, app, base } = await setup(2)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    // Avro lets a writer split a map into blocks; this package writes one: { when } then { n }
    const when = codec.encodeAttributes({ when: new Date(1_000_000) } as Attributes)
    const n = codec.encodeAttributes({ n: 1 })
    const blocks = Buffer.concat([when.subarray(0, when.length - 1), n])
    await storeBoth(cluster, id, codec.encodeValue(metaOf(id), blocks))
    const before = sets(cluster)
    const saved = app.msm.stats().saved
    const response = await client.get('/date-only')
    assert.equal(response.status, 200)
    assert.equal(response.body.when, 1_000_000)
    assert.equal(sets(cluster), before, 'nothing written')
    assert.equal(app.msm.stats().saved, saved)
    assert.equal((await client.get('/read')).body.n, 1)
  })

  test('a Date read from a session stored with another writer schema is served, and the session stays readable', async () => {
    const { cluster, app, client } = await setup(2)
    const fingerprint = await publishWriterSchema(cluster)
    const id = formatSessionId(generateRandomPart(), 'n1')
    await storeBoth(cluster, id, storedByOtherWriter(fingerprint, id, { when: new Date(1_000_000), n: 1 } as Attributes))
    client.cookies.set('sessionId', id)
    const response = await client.get('/date-only')
    assert.equal(response.status, 200)
    assert.equal(response.body.when, 1_000_000)
    assert.equal(app.msm.stats().schemaResolved, 1, 'read by resolution')
    const read = await client.get('/read')
    assert.deepEqual([read.body.n, read.body.isNew], [1, false])
  })
})

describe('values refused', () => {
  test('set() of a value that cannot be stored throws at once, so the handler can catch it', async () => {
    const { client } = await setup(2)
    await client.get('/count')
    const response = await client.get('/set-refused')
    assert.equal(response.status, 200)
    assert.equal(response.body.code, 'FST_MSM_VALUE_UNSUPPORTED')
  })

  test('such a value put in place into an object read from the session fails the request, and nothing is written', async () => {
    const { cluster, client } = await setup(2)
    await client.post('/set', { key: 'user', value: { name: 'ada' } })
    const before = sets(cluster)
    const response = await client.get('/put-in-place')
    assert.equal(response.status, 500)
    assert.equal(response.body.code, 'FST_MSM_VALUE_UNSUPPORTED')
    assert.equal(sets(cluster), before)
  })

  test('a new session over maxSessionSize gets no cookie', async () => {
    const { app, client } = await setup(2, { maxSessionSize: 2048 })
    const response = await client.get('/big?size=4000')
    assert.equal(response.status, 500)
    assert.equal(response.body.code, 'FST_MSM_SESSION_TOO_LARGE')
    assert.deepEqual(client.lastSetCookie, [])
    assert.equal(app.msm.stats().oversized, 1)
    assert.equal(app.msm.stats().created, 0)
  })
})

describe('save() and reload() in a request', () => {
  test('save() of a new session that only had its id read stores nothing and sends no cookie', async () => {
    const { cluster, client } = await setup(2)
    const before = sets(cluster)
    const response = await client.get('/id-then-save')
    assert.equal(response.status, 200)
    assert.equal(typeof response.body.id, 'string')
    assert.equal(sets(cluster), before)
    assert.deepEqual(client.lastSetCookie, [])
  })

  test('save() with nothing to write reports the session as saved', async () => {
    const { cluster, client } = await setup(2)
    await client.get('/count')
    const before = sets(cluster)
    assert.deepEqual((await client.get('/save-unchanged')).body, { saved: true })
    assert.equal(sets(cluster), before)
  })

  test('backupAsync: save() still writes before the response', async () => {
    const { app, client } = await setup(2, { backupAsync: true })
    await client.get('/count')
    await drained(app)
    assert.deepEqual((await client.get('/set-save-peek')).body, { stored: true })
  })

  test('a session restored from its backup and saved early stays destroyed when a concurrent request destroys it', async () => {
    const { cluster, app, base, entered, release } = await setup(2)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    cluster.node('n1').server.restart()
    const changing = copyOf(client).get('/held-save-then-set')
    await within(entered, 5_000, 'the held request to enter its handler (GET /held-save-then-set)')
    assert.ok(cluster.node('n1').server.peek(id) !== undefined, 'save() wrote it back to its primary')
    assert.equal((await copyOf(client).post('/destroy')).status, 200)
    release()
    assert.equal((await changing).status, 200)
    for (const node of cluster.nodes) {
      assert.equal(node.server.peek(id), undefined, `no primary copy on ${node.id}`)
      assert.equal(node.server.peek(`bak:${id}`), undefined, `no backup copy on ${node.id}`)
    }
    assert.equal(app.msm.stats().revivalsPrevented, 1)
    assert.equal((await copyOf(client).get('/read')).body.isNew, true)
  })

  test('reload() of a new session that only had its id read stores nothing and sends no cookie', async () => {
    const { cluster, client } = await setup(2)
    const before = sets(cluster)
    const response = await client.get('/id-then-reload')
    assert.equal(response.body.isNew, true)
    assert.equal(sets(cluster), before)
    assert.deepEqual(client.lastSetCookie, [])
  })

  test('reload() of a session removed meanwhile leaves it new and empty; set after it, it is stored again', async () => {
    const { cluster, client } = await setup(2)
    await client.get('/count')
    const id = idOf(client)
    const response = await client.get('/reload-after-removed')
    assert.equal(response.status, 200)
    assert.deepEqual(response.body, { isNew: true, n: null })
    assert.ok(cluster.nodes.some((node) => node.server.peek(id) !== undefined), 'stored again')
    const read = await client.get('/read')
    assert.equal(read.body.isNew, false)
    assert.equal(read.body.n, null, 'with nothing of what was removed')
  })

  test('reload() of a session gone from memcached leaves it empty and new, and deserializes nothing', async () => {
    const { client } = await setup(2)
    await client.get('/count')
    assert.deepEqual((await client.get('/vanish-and-reload')).body, { decoded: 0, n: null, isNew: true })
  })

  test('a value read before reload() found the session removed is no longer the session: changing it writes nothing, under no id', async () => {
    const { cluster, base, another } = await setup(2)
    // n1 is a failover node for this instance: a new id it gives is always on n2
    const instance = await another({ failoverNodes: ['n1'] })
    const client = await sessionOn(base, 'n1')
    await client.post('/set', { key: 'user', value: { visits: 1 } })
    const id = idOf(client)
    client.base = instance.base
    const before = sets(cluster)
    const response = await client.get('/reload-removed-then-change')
    assert.equal(response.status, 200)
    assert.deepEqual(response.body, { isNew: true, id })
    assert.equal(sets(cluster) - before, 0, 'no empty session written, here or under another id')
    assert.equal(response.headers.get('set-cookie'), null)
    assert.equal(instance.app.msm.stats().revivalsPrevented, 0)
    assert.equal(instance.app.msm.stats().saveFailures, 0)
  })
})

describe('failures', () => {
  test('a new session whose nodes fail during its request is written on a node that came back, under an id of that node', async () => {
    const { cluster, app, base } = await setup(2, { nodeRetryInterval: 20 })
    await cluster.node('n2').kill()
    for (let i = 0; i < 30 && nodeState(app, 'n2') === 'up'; i++) await new CookieClient(base).get('/count')
    await waitFor(() => nodeState(app, 'n2') === 'down', 'n2 to be marked down')
    const before = app.msm.stats()
    const client = new CookieClient(base)
    const response = await client.get('/new-then-fail?hang=n1&back=n2')
    assert.equal(response.status, 200)
    assert.equal(response.body.firstNode, 'n1', 'the only node up when the id was given')
    const id = idOf(client)
    assert.equal(typeof id, 'string', 'a cookie was sent')
    assert.equal(nodeOf(id), 'n2')
    assert.ok(cluster.node('n2').server.peek(id) !== undefined)
    const stats = app.msm.stats()
    assert.equal(stats.created - before.created, 1)
    assert.equal(stats.saveFailures, before.saveFailures)
    assert.equal((await client.get('/read')).body.n, 1)
  })

  test('a write that no node takes is logged with its cause', async () => {
    const { app, base, logs } = await setup(2)
    const client = await sessionOn(base, 'n1')
    assert.equal((await client.get('/kill-all-then-set')).status, 200)
    assert.equal(app.msm.stats().saveFailures, 1)
    const entry = logs.find((log) => /could not save the session/.test(log.msg))
    assert.ok(entry !== undefined)
    assert.match(entry.err?.message ?? '', /ECONNREFUSED|killed/)
  })

  test('a new session whose only node fails is not tried again on that node: the log names the failure of its write', async () => {
    const { app, client, logs } = await setup(1)
    const response = await client.get('/kill-all-then-set')
    assert.equal(response.status, 200)
    assert.deepEqual(client.lastSetCookie, [], 'not stored: no cookie')
    assert.equal(app.msm.stats().saveFailures, 1)
    const entry = logs.find((log) => /could not save the session/.test(log.msg))
    assert.ok(entry !== undefined)
    assert.match(entry.err?.message ?? '', /ECONNREFUSED/)
  })
})

describe('a write that finds the session destroyed by a concurrent request', () => {
  /** GET /held-set waits for the gate, then sets n: a write after whatever happened meanwhile. */
  async function heldWrites (options: Partial<MsmOptions>): Promise<StartedApp & { cluster: MemoryCluster, entered: Promise<void>, release: () => void, savedAtResponse: boolean[] }> {
    const cluster = await startMemoryCluster(2)
    resources.clusters.push(cluster)
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
      await within(held.entered, 5_000, 'the held write to enter its handler (GET /held-set)')
      assert.equal((await copyOf(client).post('/destroy')).status, 200)
    } finally {
      held.release()
    }
    return await writing
  }

  test("is no store failure with storeFailurePolicy 'fail' (no 503)", async () => {
    const held = await heldWrites({ storeFailurePolicy: 'fail' })
    const { app } = held
    const response = await writeRacingDestroy(held)
    assert.equal(response.status, 200)
    const stats = app.msm.stats()
    assert.equal(stats.revivalsPrevented, 1)
    assert.equal(stats.saveFailures, 0)
  })

  test('renews no rolling cookie and is not reported saved', async () => {
    const held = await heldWrites({ cookie: { maxAge: 600 } })
    const { app, savedAtResponse } = held
    const response = await writeRacingDestroy(held)
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('set-cookie'), null, 'no cookie for the destroyed session')
    await waitFor(() => savedAtResponse.length === 1, 'the onResponse hook of the writing request')
    assert.deepEqual(savedAtResponse, [false], 'isSaved() of the writing request')
    assert.equal(app.msm.stats().revivalsPrevented, 1)
  })
})

describe('writes after the response (backupAsync, sticky)', () => {
  test('backupAsync: a session written through the queue is reported saved', async () => {
    const { app, client, savedAtResponse } = await setup(2, { backupAsync: true })
    await client.get('/count')
    await client.get('/count')
    await client.get('/read')
    await drained(app)
    assert.deepEqual(savedAtResponse, [true, true, false])
  })

  test("'auto' locking learns that a route modifies sessions from a write, before or after the response", async () => {
    for (const backupAsync of [false, true]) {
      const { app, client } = await setup(2, { lockingMode: 'auto', backupAsync })
      await client.get('/count')
      await client.get('/maybe-set')
      const locked = app.msm.stats().lockAcquired
      assert.ok(locked >= 1, 'a route locks until it ran once without modifying')
      await client.get('/maybe-set?write=1')
      assert.equal(app.msm.stats().lockAcquired, locked, `learned read-only (backupAsync ${String(backupAsync)})`)
      await drained(app)
      await client.get('/maybe-set')
      assert.equal(app.msm.stats().lockAcquired, locked + 1, `learned modifying (backupAsync ${String(backupAsync)})`)
      assert.equal((await client.get('/read')).body.n, 30)
    }
  })

  test('sticky: each change is written, also back to a value held before', async () => {
    const { app, base, another } = await setup(2, { sticky: true, route: 'a' })
    const client = new CookieClient(base)
    for (const n of [1, 2, 1]) {
      await client.post('/set', { key: 'n', value: n })
      await drained(app)
    }
    const other = await another({ sticky: true, route: 'a' })
    const reader = copyOf(client)
    reader.base = other.base
    assert.equal((await reader.get('/read')).body.n, 1, 'memcached holds the last change')
    assert.equal(app.msm.stats().saved, 3)
  })

  test('sticky: a session loaded from memcached and set to an equal value is not written', async () => {
    const { cluster, app, base, another } = await setup(2, { sticky: true, route: 'a' })
    const client = new CookieClient(base)
    await client.post('/set', { key: 'n', value: 1 })
    await drained(app)
    const other = await another({ sticky: true, route: 'a' })
    const reader = copyOf(client)
    reader.base = other.base
    assert.equal((await reader.get('/read')).body.n, 1, 'loaded from memcached, now held by the other instance')
    const before = sets(cluster)
    assert.equal((await reader.post('/set', { key: 'n', value: 1 })).status, 200)
    await drained(other.app)
    assert.equal(sets(cluster), before)
    assert.equal(other.app.msm.stats().skippedUnchanged, 2)
  })

  test('sticky: a change to a session loaded from memcached is written even when its primary lost it meanwhile', async () => {
    const { cluster, app, base, another } = await setup(2, { sticky: true, route: 'a' })
    const client = new CookieClient(base)
    await client.post('/set', { key: 'n', value: 1 })
    await drained(app)
    const other = await another({ sticky: true, route: 'a' })
    const moved = copyOf(client)
    moved.base = other.base
    assert.equal((await moved.get('/empty-primary-then-set')).status, 200)
    await drained(other.app)
    const id = idOf(client)
    assert.ok(cluster.node(nodeOf(id)).server.peek(id) !== undefined, 'the primary copy is back')
    assert.equal(other.app.msm.stats().revivalsPrevented, 0)
  })
})
