// Locking cases about time, on the in-memory memcached
// (test/helpers/memory-memcached.ts), no process started: a client that goes
// away, lock timeouts, a lock left by a crashed holder, a holder that overran
// lockExpiration, and the hand-over limit between two apps. Nothing waits in
// real time: a request is held in its handler, session lock taken, until the
// test lets it go, and a mocked clock (test/helpers/clock.ts) stands in for
// lockExpiration (lib/ and the in-memory memcached read every lock age and
// expiry from Date.now(); lockTimeout and the pauses between add attempts are
// real timers). The other locking cases are in locking-modes.seam.test.ts and
// lock-release.seam.test.ts. The cases without a mocked clock hold on real
// memcached too (switch startNodes to startCluster).
import { describe, test, within } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { startMemoryCluster } from '../helpers/memory-memcached.js'
import { useClusterPerTest } from '../helpers/fixtures.js'
import { buildApp, type CookieClient, idOf, nodeOf, startApp, type TestAppOptions, waitFor } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'

const startNodes = startMemoryCluster
let cluster: Awaited<ReturnType<typeof startNodes>>
const apps = useClusterPerTest(2, (started) => { cluster = started }, startNodes)

/** Holds `/held` requests inside their handler (the session lock taken) until release(). */
class Hold {
  entered = 0
  /** The server saw the connection of a held request close. */
  clientGone = false
  #release: () => void = () => {}
  readonly released = new Promise<void>((resolve) => { this.#release = resolve })
  release (): void { this.#release() }
  /** Until `pending` (a request to /held) is in its handler; fails at once if it is answered first. */
  async untilEntered (pending: Promise<{ status: number }>): Promise<void> {
    let answered: number | undefined
    pending.then((response) => { answered = response.status }, () => { answered = 0 })
    await waitFor(() => this.entered > 0 || answered !== undefined, 'a request held in its handler')
    assert.equal(answered, undefined, 'the held request was answered before its handler ran')
  }
}

/** The shared test app, plus GET /held: increments n once the test releases it. */
async function lockingApp (options: Partial<MsmOptions>): Promise<{ app: FastifyInstance, client: CookieClient, hold: Hold }> {
  const hold = new Hold()
  const build = async (appOptions: TestAppOptions): Promise<FastifyInstance> => {
    const app = await buildApp(appOptions)
    app.get('/held', async (request) => {
      const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
      request.raw.socket.once('close', () => { hold.clientGone = true })
      hold.entered++
      await hold.released
      request.session.set('n', n)
      return { n }
    })
    return app
  }
  return { ...await startApp(cluster, apps, options, { build }), hold }
}

/** Lock `add` commands the app has sent (the schema registry publishes with add at start-up too). */
function adds (app: FastifyInstance): number {
  return app.msm.stats().nodes.reduce((sum, node) => sum + node.add, 0)
}

describe('lock and release', () => {
  test('a client that goes away still releases the lock once the handler ends', async () => {
    const { app, client, hold } = await lockingApp({ lockingMode: 'all' })
    await client.get('/count')
    // A connection of its own, closed while the handler runs
    const request = httpRequest(`${client.base}/held`, { agent: false, headers: { cookie: client.cookieHeader } })
    const aborted = new Promise((resolve) => {
      request.on('response', () => { resolve('answered') })
      request.on('error', () => { resolve('aborted') })
    })
    request.end()
    await hold.untilEntered(aborted.then(() => ({ status: 0 })))
    request.destroy()
    assert.equal(await within(aborted, 5_000, 'the destroyed request to /held to end in an error'), 'aborted')
    await waitFor(() => hold.clientGone, 'the server to see the client go away')
    const next = client.get('/count')
    hold.release()
    assert.equal((await next).status, 200)
    assert.equal((await next).body.n, 3, 'the aborted request saved, then handed over the lock')
    assert.equal(app.msm.stats().lockTimeouts, 0)
  })

  test("a holder past lockTimeout: 'fail' answers 503 with Retry-After, and the holder keeps its lock", async () => {
    const { app, client, hold } = await lockingApp({ lockingMode: 'all', lockTimeout: 100 })
    await client.get('/count')
    const slow = client.get('/held')
    await hold.untilEntered(slow)
    const blocked = await client.get('/count')
    assert.equal(blocked.status, 503)
    assert.equal(blocked.body.code, 'FST_MSM_LOCK_TIMEOUT')
    assert.equal(blocked.headers.get('retry-after'), '1')
    hold.release()
    assert.equal((await slow).body.n, 2)
    assert.equal((await client.get('/read')).body.n, 2, 'the failed request wrote nothing')
    const stats = app.msm.stats()
    assert.equal(stats.lockTimeouts, 1)
    assert.equal(stats.lockReleased >= 1, true)
  })

  test("a holder past lockTimeout: 'proceed' goes on without the lock, warns and counts", async () => {
    const { app, client, hold } = await lockingApp({ lockingMode: 'all', lockTimeout: 100, lockTimeoutPolicy: 'proceed' })
    await client.get('/count')
    const slow = client.get('/held')
    await hold.untilEntered(slow)
    const proceeded = await client.get('/count')
    assert.equal(proceeded.status, 200)
    hold.release()
    assert.equal((await slow).status, 200)
    const stats = app.msm.stats()
    assert.equal(stats.lockTimeouts, 1)
    assert.equal(stats.lockProceeded, 1)
  })

  test('a lock left by a crashed holder delays the next request until it expires, then the request proceeds', async (t) => {
    const advance = mockedClock(t)
    // Add attempts at most 20 ms apart, so that the clock can move on after each
    const { app, client } = await lockingApp({ lockingMode: 'all', lockExpiration: 2, lockTimeout: 10_000, lockRetryMax: 20 })
    await client.get('/count')
    const id = idOf(client)
    const primary = cluster.node(nodeOf(id))
    await primary.set(`lock:${id}`, 'crashed-holder', 2)
    let answered = false
    const pending = client.get('/count').finally(() => { answered = true })
    // 250 ms pass on the clock after each add attempt (the next comes within lockRetryMax), until the request is answered
    const deadline = performance.now() + 10_000
    for (;;) {
      const attempts = adds(app)
      await waitFor(() => answered || adds(app) > attempts, 'another add attempt', 2000)
      if (answered) break
      if (performance.now() > deadline) throw new Error('waited 10000 ms (real time) for the request behind the crashed lock to be answered')
      await advance(250)
    }
    const response = await pending
    assert.equal(response.status, 200)
    assert.equal(response.body.n, 2)
    const stats = app.msm.stats()
    assert.equal(stats.lockWaited, 1)
    t.diagnostic(`waited ${stats.lockWaitMsMax} ms (mocked clock) for a lock with lockExpiration 2 s`)
    assert.ok(stats.lockWaitMsMax >= 1000, 'held back while the crashed lock lived (memcached expires it 1 to 2 s after it was set)')
    assert.ok(stats.lockWaitMsMax <= 4000, 'released by its expiry, long before lockTimeout')
  })

  test('a holder that overran lockExpiration does not delete the lock another request took since', async (t) => {
    const advance = mockedClock(t)
    const { app, client, hold } = await lockingApp({ lockingMode: 'all', lockExpiration: 1 })
    await client.get('/count')
    const id = idOf(client)
    const primary = cluster.node(nodeOf(id))
    const slow = client.get('/held')
    await hold.untilEntered(slow)
    await advance(1300)
    assert.equal(await primary.get(`lock:${id}`), undefined, "the slow request's lock expired")
    // Another server took the lock meanwhile
    await primary.set(`lock:${id}`, 'someone-else', 5)
    hold.release()
    assert.equal((await slow).status, 200)
    assert.equal(await primary.get(`lock:${id}`), 'someone-else')
    assert.equal(app.msm.stats().lockReleasesNotOwned, 1)
  })
})

describe('the in-process lock hand-over is limited to half of lockExpiration', () => {
  test('one instance busy past lockExpiration: the other never holds the lock at the same time, and no increment is lost', async (t) => {
    const advance = mockedClock(t)
    // The clock runs at least as fast as real time; each /tracked request adds 100 ms of work on it
    const ticker = setInterval(() => { t.mock.timers.tick(10) }, 10)
    try {
      let inside = 0
      let mostInside = 0
      const build = async (options: TestAppOptions): Promise<FastifyInstance> => {
        const app = await buildApp(options)
        app.get('/tracked', async (request) => {
          inside++
          mostInside = Math.max(mostInside, inside)
          try {
            const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
            await sleep(5)
            await advance(100)
            request.session.set('n', n)
            return { n }
          } finally {
            inside--
          }
        })
        return app
      }
      // A lock lives 3-4 s (whole seconds); hand-overs stop after 2 s, so the lock is taken again before it can expire.
      // Add attempts at most 20 ms (real time) apart: the other instance tries often while the first is busy.
      const options = { lockingMode: 'all' as const, lockExpiration: 4, lockTimeout: 20_000, lockRetryMax: 20 }
      const { app: first, client } = await startApp(cluster, apps, options, { build })
      const { app: second } = await startApp(cluster, apps, options, { build })
      await client.get('/count')
      const cookie = client.cookieHeader
      const call = async (app: FastifyInstance): Promise<number> =>
        (await app.inject({ method: 'GET', url: '/tracked', headers: { cookie } })).statusCode
      // 50 queued requests of 100 ms: the first instance is busy for at least 5 s
      const busy = Promise.all(Array.from({ length: 50 }, async () => await call(first)))
      const deadline = performance.now() + 5000
      while (first.msm.stats().lockAcquired < 2 && performance.now() < deadline) await sleep(10)
      const other = await call(second)
      const statuses = await busy
      assert.equal(other, 200, 'the other instance gets the lock within lockTimeout')
      assert.deepEqual(statuses, Array(50).fill(200))
      assert.equal(mostInside, 1, 'two instances never hold the session lock at once')
      assert.equal((await client.get('/read')).body.n, 52, 'no increment is lost')
      assert.ok(first.msm.stats().lockHandovers >= 10, 'the first instance handed the lock over')
    } finally {
      clearInterval(ticker)
    }
  })
})
