// Tests that kill mutants which survived the rest of the suite: small,
// realistic bugs in lib/ (a lifetime not converted, the wrong backup copy,
// a sticky shortcut that skips a rule, a queued write that revives a destroyed
// session, a relocated copy left behind, a cookie
// that does not roll, a touch throttle that never records). All run on the
// in-memory memcached (test/helpers/memory-memcached.ts), no process started,
// with a mocked clock where a test waits for time to pass. Mutant 5 (an
// unlimited lock hand-over) needs real time: its test is in locking.seam.test.ts.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { operationsDuring } from '../helpers/memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, CookieClient, drained, idOf, sessionOn, startApp, type TestAppOptions } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'

const FAST = { operationTimeout: 300, nodeRetryInterval: 200 }
const resources = usePerTestCleanup()

async function nodes (count: number): Promise<MemoryCluster> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  return cluster
}

async function start (cluster: MemoryCluster, options: Partial<MsmOptions> = {}, build?: (options: TestAppOptions) => Promise<FastifyInstance>): Promise<{ app: FastifyInstance, base: string, client: CookieClient }> {
  return await startApp(cluster, resources.apps, { ...FAST, ...options }, build === undefined ? {} : { build })
}

/** A client that sends the same cookie as `client` does now. */
function copyOf (client: CookieClient): CookieClient {
  const copy = new CookieClient(client.base)
  copy.cookies = new Map(client.cookies)
  return copy
}

/** A promise and its resolve function. */
function signal (): { promise: Promise<void>, resolve: () => void } {
  let release = (): void => {}
  const promise = new Promise<void>((resolve) => { release = resolve })
  return { promise, resolve: release }
}

describe('mutant 1: lifetimes over 30 days are written as absolute times', () => {
  test('a session with maxInactiveInterval over 30 days is stored and read back', async () => {
    const cluster = await nodes(2)
    const { client } = await start(cluster, { maxInactiveInterval: 31 * 24 * 3600 })
    assert.equal((await client.get('/count')).body.n, 1)
    const id = idOf(client)
    const primary = cluster.node(id.split('-')[1]?.split('.')[0] as string)
    assert.ok(primary.server.peek(id) !== undefined, 'the primary copy is stored, not expired at once')
    const read = await client.get('/read')
    assert.equal(read.body.n, 1, 'the session is read back')
    assert.equal(read.body.id, id)
    assert.equal((await client.get('/count')).body.n, 2, 'and written again')
  })
})

describe('mutant 2: relocation serves the newest backup copy', () => {
  test('with an older copy on the first successor and a newer one on the next, the newer one is served', async () => {
    const cluster = await nodes(3)
    const { base } = await start(cluster)
    const client = await sessionOn(base, 'n1')
    const id = idOf(client)
    const older = await cluster.node('n2').get(`bak:${id}`)
    assert.ok(older !== undefined)
    await sleep(10)
    assert.equal((await client.get('/count')).body.n, 2)
    const newer = await cluster.node('n2').get(`bak:${id}`)
    assert.ok(newer !== undefined && newer !== older)
    // As after a backup that moved while a node was away: the newer copy on n3, an older one left on n2
    await cluster.node('n3').set(`bak:${id}`, newer)
    await cluster.node('n2').set(`bak:${id}`, older)
    await cluster.node('n1').kill()
    const read = await client.get('/read')
    assert.notEqual(read.body.id, id, 'relocated to a new id')
    assert.equal(read.body.n, 2, 'the newest backup copy is served, not the older one')
    assert.equal((await client.get('/count')).body.n, 3)
  })
})

describe('mutant 3: sticky local hits respect maxAge', () => {
  test('a session held in the process is a new session once maxAge has passed', async (t) => {
    const advance = mockedClock(t)
    const cluster = await nodes(2)
    const { app, client } = await start(cluster, { sticky: true, maxAge: 1 })
    assert.equal((await client.get('/count')).body.n, 1)
    assert.equal(app.msm.stats().localSessions, 1, 'held in the process')
    await advance(1300)
    const late = await client.get('/read')
    assert.equal(late.body.n, null, 'past maxAge the session is gone, even from the process')
    assert.equal(late.body.isNew, true)
    assert.ok(app.msm.stats().expired >= 1)
    assert.ok(app.msm.stats().localHits === 0, 'the late request was not served from the process')
  })
})

describe('mutant 4: a queued write (backupAsync) does not revive a destroyed session', () => {
  test('request A changes the session, request B destroys it meanwhile; A\'s queued write is dropped', async () => {
    const cluster = await nodes(2)
    const entered = signal()
    const release = signal()
    const build = async (options: TestAppOptions): Promise<FastifyInstance> => {
      const app = await buildApp(options)
      app.get('/held', async (request) => {
        const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
        entered.resolve()
        await release.promise
        request.session.set('n', n)
        return { n }
      })
      return app
    }
    const { app, client } = await start(cluster, { backupAsync: true }, build)
    await client.get('/count')
    await drained(app)
    const id = idOf(client)
    const oldCookie = copyOf(client)
    const a = copyOf(client).get('/held')
    await entered.promise
    assert.equal((await copyOf(client).post('/destroy')).status, 200)
    release.resolve()
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
})

describe('mutant 6: a relocated session leaves no backup copy under its old id', () => {
  test('after a relocation bak:<oldId> is gone everywhere, and the old cookie cannot bring back a destroyed session', async () => {
    const cluster = await nodes(3)
    const { base } = await start(cluster)
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

describe('mutant 7: a cookie with a maxAge rolls with the session', () => {
  test('a read-only request that extends the session sends the cookie again with its Max-Age', async (t) => {
    const advance = mockedClock(t)
    const cluster = await nodes(2)
    const { client } = await start(cluster, { cookie: { maxAge: 60 }, maxInactiveInterval: 10, touchInterval: 1 })
    await client.get('/count')
    assert.match(client.lastSetCookie.join('\n'), /Max-Age=60(;|$)/m)
    await advance(1200)
    const read = await client.get('/read')
    assert.equal(read.body.n, 1)
    assert.match(client.lastSetCookie.join('\n'), /sessionId=[^;]+;.*Max-Age=60(;|$)/m, 'the touch sends a fresh cookie with Max-Age')
  })
})

describe('mutant 8: the sticky touch throttle records its touches', () => {
  test('sticky reads over more than two touch intervals touch memcached at most once per interval', async (t) => {
    const advance = mockedClock(t)
    const cluster = await nodes(2)
    const { app, client } = await start(cluster, { sticky: true, maxInactiveInterval: 10, touchInterval: 1 })
    await client.get('/count')
    await drained(app)
    let requests = 0
    let elapsed = 0
    const { ops } = await operationsDuring(cluster, async () => {
      const started = Date.now()
      // 60 reads 40 ms apart: more than two touch intervals
      for (; requests < 60; requests++) {
        assert.equal((await client.get('/read')).body.n, 1)
        await drained(app)
        await advance(40)
      }
      elapsed = Date.now() - started
    })
    const intervals = Math.ceil(elapsed / 1000) + 1
    assert.ok(ops.touch >= 2, `${ops.touch} touches: the session is extended`)
    assert.ok(ops.touch <= 2 * intervals, `${ops.touch} touches for ${requests} requests over ${elapsed} ms: at most one pair per touchInterval`)
    assert.equal(ops.set, 0, 'nothing written')
  })
})
