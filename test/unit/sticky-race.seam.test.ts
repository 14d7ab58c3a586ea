// Concurrent requests of one process in sticky mode: what the process holds
// once they end (lib/sticky/sticky-sessions.ts keep()), on the in-memory
// memcached.
// - Regression: a read-only request that loaded a session from memcached must
//   not replace the copy a concurrent request of the same process wrote and
//   holds since. Before the fix the slow reader put its older bytes back in
//   the process, the process served them, and its next write built on them:
//   a completed write was lost. The same race for a read-only request served
//   from the process itself.
// - Of two read-only requests that loaded two versions from memcached, the
//   process keeps the newer one, and counts touchInterval from it; one that
//   loaded the version already held keeps the touch that version got.
// - A write or save() of a request that loaded the session from memcached
//   replaces what a concurrent request saved in the process meanwhile; a
//   save() refused as too large leaves the held session usable.
// With a mocked clock (test/helpers/clock.ts) where time must pass; handlers
// wait on gates (test/helpers/requests.ts) to order the requests.
import { test, type TestContext } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, CookieClient, drained, startApp, type StartAppExtra, type StartedApp, type TestAppOptions, waitFor } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'
import { copyOf, type Gates, gates, withRoutes } from '../helpers/requests.js'

const FAST = { operationTimeout: 300, nodeRetryInterval: 100 }
const resources = usePerTestCleanup()

/** GET /slow-read/:gate reads n, then waits for that gate. `loaded` counts the reads that got there. */
function slowReads (gate: Gates, counter: { loaded: number }): StartAppExtra {
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

/** GET /who: the attribute `who`, or null. */
const whoRoute = (app: FastifyInstance): void => { app.get('/who', async (request) => ({ who: request.session.get('who') ?? null })) }

/**
 * Two sticky instances on fresh nodes. The writer created the session (n = 1)
 * and holds it; `other` (with `extra`'s routes) does not hold it yet, so its
 * requests load it from memcached. The client ends on `other`.
 */
async function heldByTheOther (options: Partial<MsmOptions>, extra: StartAppExtra): Promise<{ cluster: MemoryCluster, sticky: Partial<MsmOptions>, writer: StartedApp, other: StartedApp, client: CookieClient }> {
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  const sticky = { ...FAST, sticky: true, ...options }
  const writer = await startApp(cluster, resources.apps, sticky)
  const other = await startApp(cluster, resources.apps, sticky, extra)
  const client = new CookieClient(writer.base)
  await client.get('/count')
  await drained(writer.app)
  client.base = other.base
  return { cluster, sticky, writer, other, client }
}

test('a slow read-only request does not put older data back over a concurrent write it did not see', async () => {
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  let waiting = 0
  const build = async (options: TestAppOptions): Promise<FastifyInstance> => {
    const app = await buildApp(options)
    app.get('/slow-read', async (request) => {
      const n = request.session.get('n')
      waiting++
      await gate
      return { n }
    })
    return app
  }
  const options = { sticky: true, operationTimeout: 300 }
  const writer = await startApp(cluster, resources.apps, options)
  const reader = await startApp(cluster, resources.apps, options, { build })
  const client = new CookieClient(writer.base)
  await client.get('/count')
  await drained(writer.app)
  // The second instance does not hold the session: both requests load it from memcached
  client.base = reader.base
  const slow = client.get('/slow-read')
  await waitFor(() => waiting === 1, 'the slow read to load the session')
  assert.equal((await client.get('/count')).body.n, 2, 'a concurrent write')
  await drained(reader.app)
  release()
  assert.equal((await slow).body.n, 1, 'the slow read saw what it loaded')
  await drained(reader.app)
  assert.equal((await client.get('/read')).body.n, 2, 'the process still holds the write')
  assert.equal((await client.get('/count')).body.n, 3, 'and builds on it')
  await drained(reader.app)
  const fresh = await startApp(cluster, resources.apps, options)
  client.base = fresh.base
  assert.equal((await client.get('/read')).body.n, 3, 'memcached has it too')
})

// Regression: a read-only request served from the process (not loaded from
// memcached) that finished after a concurrent write of the same process
// pointed the held entry back at its own older attributes object
test('a slow read-only request served from the process does not put older data back over a concurrent write', async () => {
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  const gates = [0, 1, 2].map(() => {
    let open: () => void = () => {}
    const promise = new Promise<void>((resolve) => { open = resolve })
    return { promise, resolve: open }
  })
  let entered = 0
  const build = async (options: TestAppOptions): Promise<FastifyInstance> => {
    const app = await buildApp(options)
    app.get('/slow-write', async (request) => {
      request.session.get('n')
      entered++
      await gates[0]?.promise
      request.session.set('who', 'writer')
      return {}
    })
    app.get('/slow-read/:gate', async (request) => {
      const who = request.session.get('who') ?? null
      entered++
      await gates[Number((request.params as { gate: string }).gate)]?.promise
      return { who }
    })
    app.get('/who', async (request) => ({ who: request.session.get('who') ?? null }))
    return app
  }
  const options = { sticky: true, operationTimeout: 300 }
  const first = await startApp(cluster, resources.apps, options)
  const second = await startApp(cluster, resources.apps, options, { build })
  const client = new CookieClient(first.base)
  await client.get('/count')
  await drained(first.app)
  client.base = second.base
  const write = client.get('/slow-write')
  await waitFor(() => entered === 1, 'the slow write to load the session')
  await client.get('/read') // the second instance now holds the session
  const servedLocally = client.get('/slow-read/1')
  // a second local reader keeps the older attributes object alive
  const keepsOldObject = client.get('/slow-read/2')
  await waitFor(() => entered === 3, 'both readers to be served from the process')
  gates[0]?.resolve()
  await write
  await drained(second.app)
  gates[1]?.resolve()
  assert.equal((await servedLocally).body.who, null, 'the slow read saw what it was served')
  await drained(second.app)
  try {
    assert.equal((await client.get('/who')).body.who, 'writer', 'the process still holds the write')
  } finally {
    gates[2]?.resolve()
    await keepsOldObject
  }
  await drained(second.app)
  const fresh = await startApp(cluster, resources.apps, options, { build })
  client.base = fresh.base
  assert.equal((await client.get('/who')).body.who, 'writer', 'memcached has it too')
})

/**
 * Two read-only requests of the reader instance load the session from
 * memcached, the first n = 1, the second n = 2 (written a second later by the
 * writer instance); the older one finishes first. The client ends on the reader.
 */
async function twoReadsOfTwoVersions (t: TestContext, options: Partial<MsmOptions> = {}): Promise<{ advance: (ms: number) => Promise<void>, cluster: MemoryCluster, client: CookieClient, reader: StartedApp }> {
  const advance = mockedClock(t)
  const gate = gates(2)
  const counter = { loaded: 0 }
  const { cluster, writer, other: reader, client } = await heldByTheOther(options, slowReads(gate, counter))
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

test('of two read-only requests that loaded the session from memcached, the process keeps the newer version', async (t) => {
  const { client } = await twoReadsOfTwoVersions(t)
  assert.equal((await client.get('/read')).body.n, 2, 'the process holds the newer version')
  assert.equal((await client.get('/count')).body.n, 3, 'and builds on it')
})

test('of two read-only requests that loaded the session from memcached, the newer version is also what the touch interval counts from', async (t) => {
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

test('a read-only request that loaded the version the process already holds keeps its touch: no second touch within touchInterval', async (t) => {
  const advance = mockedClock(t)
  const gate = gates(2)
  const counter = { loaded: 0 }
  // Both load the same stored version from memcached: the reader does not hold it yet
  const { cluster, other: reader, client } = await heldByTheOther({ maxInactiveInterval: 60, touchInterval: 10 }, slowReads(gate, counter))
  await advance(11_000)
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

test('a write of a request that loaded the session from memcached replaces what a concurrent request saved in the process meanwhile', async () => {
  const gate = gates(2)
  let loaded = 0
  let saved = false
  // Both requests load the session from memcached: the other instance does not hold it yet
  const { cluster, sticky, other, client } = await heldByTheOther({}, withRoutes((app) => {
    whoRoute(app)
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
  }))
  const slow = client.get('/slow-write')
  const saver = client.get('/save-then-wait')
  try {
    await waitFor(() => loaded === 2 && saved, 'both requests to load the session, and the saver to save it')
    gate.open(0)
    assert.equal((await slow).status, 200)
    await drained(other.app)
    const fresh = await startApp(cluster, resources.apps, sticky, withRoutes(whoRoute))
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

test('save() of a request that loaded the session from memcached is what the process holds, over an earlier save() of a concurrent request', async () => {
  // 0, 1: A and B may save; 2: both may end
  const gate = gates(3)
  let loaded = 0
  const saved: string[] = []
  // Both requests load the session from memcached: the other instance does not hold it yet
  const { cluster, sticky, client } = await heldByTheOther({}, withRoutes((app) => {
    whoRoute(app)
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
  }))
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
    const fresh = await startApp(cluster, resources.apps, sticky, withRoutes(whoRoute))
    assert.deepEqual((await copyOf(client, fresh.base).get('/who')).body, { who: 'B' }, 'as memcached holds it')
  } finally {
    gate.openAll()
    await Promise.allSettled([first, second])
  }
  assert.equal((await first).status, 200)
  assert.equal((await second).status, 200)
})

test('after a save() refused as too large, a concurrent request of the process builds on the session and its change is stored', async () => {
  const gate = gates(1)
  let refused: string | null = null
  // The other instance does not hold the session yet: it loads it from memcached
  const { cluster, sticky, other, client } = await heldByTheOther({ maxSessionSize: 2048 }, withRoutes((app) => {
    app.get('/refused-save-then-wait', async (request) => {
      request.session.set('blob', 'x'.repeat(4096))
      refused = await request.session.save().then(() => 'none', (error: { code: string }) => error.code)
      request.session.delete('blob')
      await gate.wait(0)
      return { ok: true }
    })
  }))
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
