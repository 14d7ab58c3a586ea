// How SessionManager loads a session and what it does with the outcome, on the
// in-memory memcached: an expired stored session, a session that is gone, a
// load that failed (the stored session is never overwritten by that request),
// a restore and a relocation from the backup (counted, the old backup copy
// deleted), a concurrent destroy that a loaded session's write must not undo,
// a lock that does not come (lockTimeoutPolicy), a primary that fails between
// the lock and the read (regression: the session is locked again where it
// moves, and the first lock released), and a new session that holds nothing.
// Each case checks the response, the stored copies (server.peek) and the
// counters of app.msm.stats() (docs/monitoring.md, docs/failover.md,
// docs/locking.md).
import { describe, test, within } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, CookieClient, idOf, nodeState, sessionOn, startApp, type StartedApp, type TestAppOptions, waitFor } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'
import { copyOf } from '../helpers/requests.js'

const FAST = { operationTimeout: 300, nodeRetryInterval: 100 }
const resources = usePerTestCleanup()

interface Log { level: number, msg: string }

/** A promise and the function that settles it: lets a handler wait for the test. */
function gate (): { opened: Promise<void>, open: () => void } {
  let open = (): void => {}
  const opened = new Promise<void>((resolve) => { open = resolve })
  return { opened, open }
}

interface Gates { entered: ReturnType<typeof gate>, proceed: ReturnType<typeof gate> }

/** buildApp's routes, plus GET /held: reads n, waits for the test, then writes n + 1 (or `set` from the query). */
function withHeldRoute (gates: Gates): (options: TestAppOptions) => Promise<FastifyInstance> {
  return async (options) => {
    const app = await buildApp(options)
    app.get('/held', async (request) => {
      const n = request.session.get('n') as number | undefined
      const isNew = request.session.isNew
      gates.entered.open()
      await gates.proceed.opened
      request.session.set('n', (n ?? 0) + 1)
      return { n, isNew }
    })
    return app
  }
}

async function setup (count: number, options: Partial<MsmOptions> = {}, build?: (options: TestAppOptions) => Promise<FastifyInstance>): Promise<StartedApp & { cluster: MemoryCluster, logs: Log[] }> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  const logs: Log[] = []
  const logger = { level: 'warn', stream: { write: (line: string) => { logs.push(JSON.parse(line) as Log) } } }
  return { cluster, logs, ...await startApp(cluster, resources.apps, { ...FAST, ...options }, { logger, ...(build === undefined ? {} : { build }) }) }
}

/** The nodes that hold `key`. */
function storedOn (cluster: MemoryCluster, key: string): string[] {
  return cluster.nodes.filter((node) => node.server.peek(key) !== undefined).map((node) => node.id)
}

describe('what a load finds', () => {
  test('a stored session past maxAge is expired on its next request: counted once, deleted, and the request starts without a session', async (t) => {
    const advance = mockedClock(t)
    const { cluster, app, client } = await setup(2, { maxAge: 60 })
    await client.get('/count')
    const id = idOf(client)
    const before = app.msm.stats()
    await advance(61_000)
    const read = await client.get('/read')
    assert.deepEqual({ n: read.body.n, isNew: read.body.isNew }, { n: null, isNew: true })
    const stats = app.msm.stats()
    assert.equal(stats.expired - before.expired, 1)
    assert.equal(stats.requestsWithoutSession - before.requestsWithoutSession, 1)
    assert.equal(stats.requestsWithSession - before.requestsWithSession, 0)
    assert.deepEqual([...storedOn(cluster, id), ...storedOn(cluster, `bak:${id}`)], [], 'both copies deleted')
  })

  test('a session that no node holds any more is a new session: counted without a session, not as unreadable', async () => {
    const { cluster, app, client, logs } = await setup(2)
    await client.get('/count')
    for (const node of cluster.nodes) node.server.restart()
    const before = app.msm.stats()
    const read = await client.get('/read')
    assert.deepEqual({ n: read.body.n, isNew: read.body.isNew }, { n: null, isNew: true })
    const stats = app.msm.stats()
    assert.equal(stats.requestsWithoutSession - before.requestsWithoutSession, 1)
    assert.equal(stats.deserializationFailures, 0)
    assert.equal(stats.loadFailures, 0)
    assert.deepEqual(logs.filter((entry) => /unreadable/.test(entry.msg)), [])
  })

  test('a session that could not be loaded is not overwritten by that request, even once its node answers again', async () => {
    const gates: Gates = { entered: gate(), proceed: gate() }
    const { cluster, app, base, logs } = await setup(1, {}, withHeldRoute(gates))
    const client = new CookieClient(base)
    await client.get('/count')
    const id = idOf(client)
    const stored = cluster.node('n1').server.peek(id)
    cluster.node('n1').server.hang()
    const held = client.get('/held')
    await within(gates.entered.opened, 10_000, 'GET /held to enter its handler (after its read timed out on the hung n1)')
    // The read timed out: n1 is down and has no relocation target
    cluster.node('n1').server.resume()
    await waitFor(() => nodeState(app, 'n1') === 'up', 'n1 to be probed up again')
    gates.proceed.open()
    const response = await held
    assert.equal(response.status, 200)
    assert.deepEqual(response.body, { isNew: false }, 'the session exists; its attributes are unknown')
    assert.equal(cluster.node('n1').server.peek(id), stored, 'the stored session is unchanged')
    assert.equal(response.headers.getSetCookie().length, 0, 'the client keeps its cookie')
    const stats = app.msm.stats()
    assert.equal(stats.loadFailures, 1)
    assert.equal(stats.saveFailures, 1, 'the lost change is counted')
    assert.equal(stats.requestsWithoutSession, 2, 'the first request, and this one')
    assert.ok(logs.some((entry) => /changes not saved because the session could not be loaded/.test(entry.msg)), logs.map((entry) => entry.msg).join('\n'))
    assert.equal((await client.get('/read')).body.n, 1, 'the next request reads the session as it was')
  })

  test('a session restored from its backup onto an empty primary is counted as loaded from the backup', async () => {
    const { cluster, app, base } = await setup(2)
    const client = await sessionOn(base, 'n1')
    cluster.node('n1').server.restart()
    const before = app.msm.stats()
    assert.equal((await client.get('/count')).body.n, 2)
    const stats = app.msm.stats()
    assert.equal(stats.restored - before.restored, 1)
    assert.equal(stats.loadedFromBackup - before.loadedFromBackup, 1)
    assert.deepEqual(storedOn(cluster, idOf(client)), ['n1'], 'written back to its primary')
  })

  test('a relocated session is stored under its new id and the old backup copy is deleted', async () => {
    const { cluster, app, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    const oldId = idOf(client)
    assert.deepEqual(storedOn(cluster, `bak:${oldId}`), ['n2'])
    cluster.node('n1').server.kill()
    assert.equal((await client.get('/count')).body.n, 2)
    const newId = idOf(client)
    assert.notEqual(newId, oldId)
    assert.deepEqual(storedOn(cluster, newId), ['n2'])
    assert.deepEqual(storedOn(cluster, `bak:${oldId}`), [], 'the old backup copy is gone')
    const stats = app.msm.stats()
    assert.equal(stats.relocated, 1)
    assert.equal(stats.loadedFromBackup, 1)
  })

  test('a relocation leaves no backup copy under the old id: the old cookie cannot bring back the session once it is destroyed', async () => {
    const { cluster, base } = await setup(3)
    const client = await sessionOn(base, 'n1')
    const oldId = idOf(client)
    const oldCookie = copyOf(client)
    await cluster.node('n1').kill()
    const read = await client.get('/read')
    assert.equal(read.body.n, 1)
    assert.notEqual(idOf(client), oldId, 'relocated to a new id')
    for (const node of cluster.nodes.filter((candidate) => candidate.id !== 'n1')) {
      assert.equal(node.server.peek(`bak:${oldId}`), undefined, `bak:<oldId> deleted on ${node.id}`)
    }
    assert.equal((await client.post('/destroy')).status, 200)
    const revived = await oldCookie.get('/read')
    assert.equal(revived.body.n, null, 'the old cookie finds no session')
    assert.equal(revived.body.isNew, true)
  })
})

describe('writes of a loaded session', () => {
  test('a session destroyed by a concurrent request is not revived by the write of a request that loaded it', async () => {
    const gates: Gates = { entered: gate(), proceed: gate() }
    const { cluster, app, base } = await setup(2, {}, withHeldRoute(gates))
    const client = new CookieClient(base)
    await client.get('/count')
    const id = idOf(client)
    const held = client.get('/held')
    await within(gates.entered.opened, 5_000, 'GET /held to enter its handler')
    const other = new CookieClient(base)
    other.cookies.set('sessionId', id)
    assert.equal((await other.post('/destroy')).status, 200)
    gates.proceed.open()
    assert.equal((await held).status, 200)
    assert.deepEqual(storedOn(cluster, id), [], 'not written again')
    assert.equal(app.msm.stats().revivalsPrevented, 1)
  })
  test('regression: nor by a request that came with the old cookie of a relocated session', async () => {
    const gates: Gates = { entered: gate(), proceed: gate() }
    const { cluster, app, base } = await setup(3, {}, withHeldRoute(gates))
    const client = await sessionOn(base, 'n1')
    const oldId = idOf(client)
    cluster.node('n1').server.kill()
    assert.equal((await client.get('/count')).body.n, 2, 'relocated by this request')
    const newId = idOf(client)
    // A tab that still has the old cookie finds the session already under its new id
    const stale = new CookieClient(base)
    stale.cookies.set('sessionId', oldId)
    const held = stale.get('/held')
    await within(gates.entered.opened, 5_000, 'GET /held with the old cookie to enter its handler')
    assert.equal((await client.post('/destroy')).status, 200)
    gates.proceed.open()
    const response = await held
    assert.equal(response.status, 200)
    assert.equal(response.body.n, 2, 'it read the relocated session')
    assert.deepEqual(storedOn(cluster, newId), [], 'the destroyed session is not written again')
    assert.deepEqual(storedOn(cluster, `bak:${newId}`), [])
    assert.equal(app.msm.stats().revivalsPrevented, 1)
  })
})

describe('lockTimeoutPolicy', () => {
  /** A lock on the session's primary that some other request holds. */
  async function lockHeldElsewhere (cluster: MemoryCluster, id: string, nodeId: string): Promise<void> {
    await cluster.node(nodeId).set(`lock:${id}`, 'someone-else', 5)
  }

  test("'proceed': the request goes on without the lock, counted, and its change is saved", async () => {
    const { cluster, app, base } = await setup(2, { lockingMode: 'all', lockTimeout: 60, lockTimeoutPolicy: 'proceed' })
    const client = await sessionOn(base, 'n1')
    await lockHeldElsewhere(cluster, idOf(client), 'n1')
    const response = await client.get('/count')
    assert.equal(response.status, 200)
    assert.equal(response.body.n, 2)
    assert.equal(app.msm.stats().lockProceeded, 1)
  })

  test("'fail': a timed-out request answers 503 and teaches 'auto' locking nothing about its route", async () => {
    const { cluster, base } = await setup(2, { lockingMode: 'auto', lockTimeout: 60 })
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    await lockHeldElsewhere(cluster, id, 'n1')
    const refused = await client.get('/read')
    assert.equal(refused.status, 503)
    assert.equal(refused.body.code, 'FST_MSM_LOCK_TIMEOUT')
    assert.equal(refused.headers.get('retry-after'), '1')
    assert.equal(await cluster.node('n1').command(`delete lock:${id}\r\n`), 'DELETED\r\n')
    // The route has not completed once: it still locks
    const adds = cluster.node('n1').server.stats().cmd_set
    assert.equal((await client.get('/read')).status, 200)
    assert.ok(cluster.node('n1').server.stats().cmd_set > adds, 'the lock was taken (an add on the primary)')
  })
})

describe('locking during a relocation', () => {
  /** Kills `node` right after it answered the next lock `add`: the read that follows fails. */
  function killAfterNextLock (cluster: MemoryCluster, nodeId: string): void {
    const server = cluster.node(nodeId).server
    const transport = server.transport.bind(server)
    let armed = true
    server.transport = () => {
      const inner = transport()
      return {
        ...inner,
        add: (key, value, lifetime, done) => {
          inner.add(key, value, lifetime, (error, added) => {
            done(error, added)
            if (armed && key.startsWith('lock:')) {
              armed = false
              server.kill()
            }
          })
        }
      }
    }
  }

  test('a primary that fails between the lock and the read: the session is locked again where it moves, so concurrent requests are serialised', async () => {
    const gates: Gates = { entered: gate(), proceed: gate() }
    const cluster = await startMemoryCluster(2)
    resources.clusters.push(cluster)
    killAfterNextLock(cluster, 'n1')
    const { app, base } = await startApp(cluster, resources.apps, { ...FAST, lockingMode: 'all', lockTimeout: 1000 }, { build: withHeldRoute(gates) })
    // Requests without a cookie lock nothing: the first lock is that of /held
    const first = await sessionOn(base, 'n1')
    const oldId = idOf(first)
    const second = new CookieClient(base)
    second.cookies.set('sessionId', oldId)
    const held = first.get('/held')
    await within(gates.entered.opened, 10_000, 'GET /held to enter its handler (after n1 failed between the lock and the read)')
    assert.equal(nodeState(app, 'n1'), 'down')
    const counted = second.get('/count')
    await new Promise((resolve) => setTimeout(resolve, 100))
    gates.proceed.open()
    assert.equal((await held).status, 200)
    assert.equal((await counted).status, 200)
    assert.equal(idOf(first), idOf(second), 'one new id')
    assert.equal((await first.get('/read')).body.n, 3, 'both increments kept')
    // n1 back, empty: a client that still has the old id is not blocked by a lock left behind in this process
    await cluster.node('n1').start()
    await waitFor(() => nodeState(app, 'n1') === 'up', 'n1 to be probed up again')
    const late = new CookieClient(base)
    late.cookies.set('sessionId', oldId)
    assert.equal((await late.get('/read')).status, 200)
  })
})

describe('a new session that holds nothing', () => {
  test('is neither stored nor touched, and gets no cookie, even when its id was read and touch() called', async () => {
    const { cluster, app, base } = await setup(2, {}, async (options) => {
      const built = await buildApp(options)
      built.get('/id-and-touch', async (request) => {
        const id = request.session.sessionId
        request.session.touch()
        return { id }
      })
      return built
    })
    const sent = (): number[] => cluster.nodes.map((node) => node.server.stats()).map((stats) => stats.cmd_set + stats.cmd_touch + stats.curr_items)
    const before = sent()
    const response = await new CookieClient(base).get('/id-and-touch')
    assert.equal(response.status, 200)
    assert.equal(response.headers.getSetCookie().length, 0)
    assert.deepEqual(sent(), before, 'no write or touch on any node')
    assert.equal(app.msm.stats().skippedUnchanged, 0, 'not counted as an unchanged stored session')
  })
})

test('using the session of a request that matches "ignore" fails, and the error names the option', async () => {
  const { client } = await setup(1, { ignore: /^GET \/read/ })
  const used = await client.get('/read')
  assert.equal(used.status, 500)
  assert.equal(used.body.code, 'FST_MSM_SESSION_DISABLED')
  assert.match(used.body.message, /\(the request matches the "ignore" option\)/)
})
