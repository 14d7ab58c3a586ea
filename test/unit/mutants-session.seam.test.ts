// Tests for mutants of the session layer that survived the rest of the suite
// (test/mutation/REPORT.md), on the in-memory memcached, with a mocked clock
// where time must pass:
// - request.session as an object (lib/session/tracking.ts): a value read and
//   set again is the object read, not a second proxy over it; a symbol-keyed
//   property is no attribute, so it can be neither assigned nor deleted;
// - sticky mode (lib/sticky/sticky-sessions.ts keep()): what the process holds
//   after concurrent requests that loaded the session from memcached: the
//   last write, the newer of two loaded versions (also for the touch
//   interval), and a touch that is kept;
// - the session API (lib/session/session.ts, session-services.ts): a
//   callback hears of a failure; reload() of a session gone from memcached
//   decodes nothing; changeSessionId() counts as a write for 'auto' locking
//   even when the write is refused;
// - lib/session/copy-keeper.ts: a lost primary that cannot be written back is
//   a warning in the log.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { kTransport, type MemcachedTransport, type TransportFactory } from '../../lib/memcached/transport.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, CookieClient, drained, idOf, nodeOf, startApp, type StartAppExtra, type StartedApp, type TestAppOptions, waitFor } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'

const FAST = { operationTimeout: 300, nodeRetryInterval: 100 }
const resources = usePerTestCleanup()

async function nodes (count: number): Promise<MemoryCluster> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  return cluster
}

/** The test app with the routes of `routes` added. */
function withRoutes (routes: (app: FastifyInstance) => void): StartAppExtra {
  return {
    build: async (options: TestAppOptions): Promise<FastifyInstance> => {
      const app = await buildApp(options)
      routes(app)
      return app
    }
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

/** GET /slow-read/:gate reads n, then waits for that gate. `loaded` counts the reads that got there. */
function slowReads (gate: ReturnType<typeof gates>, counter: { loaded: number }): StartAppExtra {
  return withRoutes((app) => {
    app.get('/slow-read/:gate', async (request) => {
      const n = request.session.get('n')
      counter.loaded++
      await gate.wait(Number((request.params as { gate: string }).gate))
      return { n }
    })
  })
}

const touches = (cluster: MemoryCluster): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats().cmd_touch, 0)

test('an object read from the session and set again, as an attribute or inside one, reads back as that same object', async () => {
  const cluster = await nodes(2)
  const { client } = await startApp(cluster, resources.apps, FAST, withRoutes((app) => {
    app.post('/setup', async (request) => {
      request.session.set('user', { name: 'ada' })
      request.session.set('cart', { items: [] })
      return { ok: true }
    })
    app.get('/alias', async (request) => {
      const user = request.session.get('user') as { name: string }
      request.session.set('owner', user)
      const cart = request.session.get('cart') as { items: unknown[], owner?: unknown }
      cart.owner = user
      return {
        attribute: request.session.get('owner') === user,
        nested: (request.session.get('cart') as { owner: unknown }).owner === user
      }
    })
  }))
  await client.post('/setup')
  assert.deepEqual((await client.get('/alias')).body, { attribute: true, nested: true })
})

test('a symbol-keyed property of request.session can be neither assigned nor deleted: FST_MSM_RESERVED_NAME, and nothing is stored', async () => {
  const cluster = await nodes(2)
  const marker = Symbol('marker')
  const { client } = await startApp(cluster, resources.apps, FAST, withRoutes((app) => {
    app.get('/symbol', async (request) => {
      const session = request.session as unknown as Record<symbol, unknown>
      const codes: string[] = []
      const attempts = [() => { session[marker] = 1 }, () => { delete session[marker] }]
      for (const attempt of attempts) {
        try {
          attempt()
          codes.push('none')
        } catch (error) {
          codes.push((error as { code: string }).code)
        }
      }
      return { codes }
    })
  }))
  const sets = (): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats().cmd_set, 0)
  const before = sets()
  const response = await client.get('/symbol')
  assert.deepEqual(response.body, { codes: ['FST_MSM_RESERVED_NAME', 'FST_MSM_RESERVED_NAME'] })
  assert.deepEqual(response.headers.getSetCookie(), [], 'no session was created')
  assert.equal(sets() - before, 0, 'nothing was written')
})

test('sticky mode: a write of a request that loaded the session from memcached replaces what a concurrent request saved in the process meanwhile', async () => {
  const cluster = await nodes(2)
  const sticky = { ...FAST, sticky: true }
  const gate = gates(2)
  let loaded = 0
  let saved = false
  const writer = await startApp(cluster, resources.apps, sticky)
  const other = await startApp(cluster, resources.apps, sticky, withRoutes((app) => {
    app.get('/slow-write', async (request) => {
      request.session.get('n')
      loaded++
      await gate.wait(0)
      request.session.set('who', 'slow')
      return { ok: true }
    })
    app.get('/save-then-wait', async (request) => {
      request.session.get('n')
      loaded++
      request.session.set('who', 'saver')
      await request.session.save()
      saved = true
      await gate.wait(1)
      return { ok: true }
    })
    app.get('/who', async (request) => ({ who: request.session.get('who') ?? null }))
  }))
  const client = new CookieClient(writer.base)
  await client.get('/count')
  await drained(writer.app)
  // Both requests load the session from memcached: the other instance does not hold it yet
  client.base = other.base
  const slow = client.get('/slow-write')
  const saver = client.get('/save-then-wait')
  try {
    await waitFor(() => loaded === 2 && saved, 'both requests to load the session, and the saver to save it')
    gate.open(0)
    assert.equal((await slow).status, 200)
    await drained(other.app)
    const fresh = await startApp(cluster, resources.apps, sticky, withRoutes((app) => {
      app.get('/who', async (request) => ({ who: request.session.get('who') ?? null }))
    }))
    const elsewhere = new CookieClient(fresh.base)
    elsewhere.cookies = new Map(client.cookies)
    assert.deepEqual((await elsewhere.get('/who')).body, { who: 'slow' }, 'memcached has the last write')
    // The saver, still in flight, keeps its attributes object alive
    assert.deepEqual((await client.get('/who')).body, { who: 'slow' }, 'the process serves the last write too')
  } finally {
    gate.openAll()
    await Promise.allSettled([slow, saver])
  }
  assert.equal((await saver).status, 200)
})

/**
 * Sticky mode: two read-only requests of the reader instance load the session
 * from memcached, the first n = 1, the second n = 2 (written a second later
 * by the writer instance); the older one finishes first. The client ends on
 * the reader.
 */
async function twoReadsOfTwoVersions (t: TestContext, options: Partial<MsmOptions> = {}): Promise<{ advance: (ms: number) => Promise<void>, cluster: MemoryCluster, client: CookieClient, reader: StartedApp }> {
  const advance = mockedClock(t)
  const cluster = await nodes(2)
  const sticky = { ...FAST, sticky: true, ...options }
  const gate = gates(2)
  const counter = { loaded: 0 }
  const writer = await startApp(cluster, resources.apps, sticky)
  const reader = await startApp(cluster, resources.apps, sticky, slowReads(gate, counter))
  const client = new CookieClient(writer.base)
  await client.get('/count')
  await drained(writer.app)
  client.base = reader.base
  const older = client.get('/slow-read/0')
  let newer: ReturnType<CookieClient['get']> | undefined
  try {
    await waitFor(() => counter.loaded === 1, 'the first read to load n = 1')
    await advance(1000)
    client.base = writer.base
    assert.equal((await client.get('/count')).body.n, 2, 'stored a second later')
    await drained(writer.app)
    client.base = reader.base
    newer = client.get('/slow-read/1')
    await waitFor(() => counter.loaded === 2, 'the second read to load n = 2')
    gate.open(0)
    assert.equal((await older).body.n, 1)
    gate.open(1)
    assert.equal((await newer).body.n, 2)
  } finally {
    gate.openAll()
    await Promise.allSettled([older, newer])
  }
  await drained(reader.app)
  return { advance, cluster, client, reader }
}

test('sticky mode: of two read-only requests that loaded the session from memcached, the process keeps the newer version', async (t) => {
  const { client } = await twoReadsOfTwoVersions(t)
  assert.equal((await client.get('/read')).body.n, 2, 'the process holds the newer version')
  assert.equal((await client.get('/count')).body.n, 3, 'and builds on it')
})

test('sticky mode: of two read-only requests that loaded the session from memcached, the newer version is also what the touch interval counts from', async (t) => {
  const { advance, cluster, client, reader } = await twoReadsOfTwoVersions(t, { maxInactiveInterval: 60, touchInterval: 10 })
  // 9.5 s after the newer version was stored, 10.5 s after the older one
  await advance(9500)
  const before = touches(cluster)
  assert.equal((await client.get('/read')).body.n, 2)
  await drained(reader.app)
  assert.equal(touches(cluster) - before, 0, 'within touchInterval of the version the process holds: no touch')
  await advance(1000)
  assert.equal((await client.get('/read')).body.n, 2)
  await drained(reader.app)
  assert.equal(touches(cluster) - before, 2, 'past it: primary and backup touched')
})

test('sticky mode: a read-only request that loaded the version the process already holds keeps its touch: no second touch within touchInterval', async (t) => {
  const advance = mockedClock(t)
  const cluster = await nodes(2)
  const sticky = { ...FAST, sticky: true, maxInactiveInterval: 60, touchInterval: 10 }
  const gate = gates(2)
  const counter = { loaded: 0 }
  const writer = await startApp(cluster, resources.apps, sticky)
  const reader = await startApp(cluster, resources.apps, sticky, slowReads(gate, counter))
  const client = new CookieClient(writer.base)
  await client.get('/count')
  await drained(writer.app)
  await advance(11_000)
  // Both load the same stored version from memcached: the reader does not hold it yet
  client.base = reader.base
  const first = client.get('/slow-read/0')
  const second = client.get('/slow-read/1')
  try {
    await waitFor(() => counter.loaded === 2, 'both reads to load the session')
    const before = touches(cluster)
    gate.open(0)
    assert.equal((await first).body.n, 1)
    await drained(reader.app)
    assert.equal(touches(cluster) - before, 2, 'touchInterval passed: primary and backup touched')
    gate.open(1)
    assert.equal((await second).body.n, 1)
    await drained(reader.app)
    assert.equal(touches(cluster) - before, 2, 'the second read finds that touch: none more')
  } finally {
    gate.openAll()
    await Promise.allSettled([first, second])
  }
})

test("lockingMode 'auto': a route whose changeSessionId() was not stored (refused as too large) is still learned as writing, so it keeps its lock", async () => {
  const cluster = await nodes(2)
  const { app, client } = await startApp(cluster, resources.apps, { ...FAST, lockingMode: 'auto', maxSessionSize: 4096 }, withRoutes((app) => {
    app.get('/rotate', async (request) => {
      await request.session.changeSessionId()
      request.session.set('note', (request.query as { big?: string }).big === undefined ? 'small' : 'x'.repeat(8192))
      return {}
    })
  }))
  await client.get('/count')
  const before = app.msm.stats().lockAcquired
  assert.equal((await client.get('/rotate?big=1')).body.code, 'FST_MSM_SESSION_TOO_LARGE')
  assert.equal(app.msm.stats().lockAcquired - before, 1, 'an unknown route locks')
  assert.equal((await client.get('/rotate')).status, 200)
  assert.equal(app.msm.stats().lockAcquired - before, 2, 'the route changed the session id: it locks again')
})

test('save(callback) that fails calls the callback with the error', async () => {
  const cluster = await nodes(2)
  const { client } = await startApp(cluster, resources.apps, { ...FAST, maxSessionSize: 2000 }, withRoutes((app) => {
    app.get('/save-too-big', async (request) => {
      request.session.set('big', 'x'.repeat(5000))
      let heard = 'not called'
      await request.session.save((error) => { heard = (error as { code?: string } | undefined)?.code ?? 'no error' })
      request.session.set('big', 'small')
      return { heard }
    })
  }))
  assert.deepEqual((await client.get('/save-too-big')).body, { heard: 'FST_MSM_SESSION_TOO_LARGE' })
})

test('reload() of a session gone from memcached leaves it empty and new, and deserializes nothing', async () => {
  const cluster = await nodes(2)
  const { client } = await startApp(cluster, resources.apps, FAST, withRoutes((app) => {
    app.get('/vanish-and-reload', async (request) => {
      const id = request.session.id as string
      await cluster.node(nodeOf(id)).command(`delete ${id}\r\n`)
      const decoded = (): number => app.msm.stats().timings.deserialize.count
      const before = decoded()
      await request.session.reload()
      return { decoded: decoded() - before, n: request.session.get('n') ?? null, isNew: request.session.isNew }
    })
  }))
  await client.get('/count')
  assert.deepEqual((await client.get('/vanish-and-reload')).body, { decoded: 0, n: null, isNew: true })
})

test('sticky mode: a primary copy that a touch found missing and that cannot be written again is a warning in the log', async (t) => {
  const advance = mockedClock(t)
  const cluster = await nodes(2)
  let failSets = false
  const seam = cluster.seam[kTransport] as TransportFactory
  const factory: TransportFactory = (spec) => {
    const transport = seam(spec)
    const set: MemcachedTransport['set'] = (key, value, lifetime, done) => {
      if (failSets) setImmediate(() => { done(new Error('SERVER_ERROR out of memory storing object')) })
      else transport.set(key, value, lifetime, done)
    }
    return { ...transport, set }
  }
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
