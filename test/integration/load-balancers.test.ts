// Sticky mode behind real load balancers, with the exact configs of
// docs/sticky.md: nginx and HAProxy, unsigned and signed cookies, two app
// processes (routes app1 and app2) and real memcached. For each: a session's
// requests stick to one instance; after a SIGKILL of that instance the next
// requests reach the other one, which takes the session over; after a
// restart new sessions spread again and existing ones stay put. Then a
// memcached relocation (a new node suffix, the same route) behind both, and
// the non-sticky recipe (round robin) behind nginx.
// nginx and HAProxy must be installed (.ci/run installs them): a missing one
// fails this file with what to install, never skips it.
import { after, before, describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'
import { type AppProcess, startAppProcess } from '../helpers/processes.js'
import { CookieClient } from '../helpers/app.js'
import { type Balancer, type BalancerKind, configFromDocs, freePort, startBalancer } from '../helpers/balancers.js'

const SECRET = 'a cookie secret for the balancer tests, 32+ chars'
const FAST = { operationTimeout: 300, nodeRetryInterval: 200 }
const ROUTES = ['app1', 'app2'] as const
type Route = typeof ROUTES[number]

/** What each failover measured, printed at the end (the note and docs/sticky.md carry these figures). */
const failovers: Array<{ balancer: string, cookies: string, errors: number, gapMs: number, requests: number }> = []

interface Instances {
  ports: Record<Route, number>
  running: Record<Route, AppProcess>
  addresses: { app1: string, app2: string }
  start: (route: Route) => Promise<void>
}

/** Two app processes on fixed ports (a balancer's config names them; a restart reuses them). */
function instances (nodes: () => MemcachedCluster, options: object, cookieSecret?: string): Instances {
  const state = { ports: {}, running: {}, addresses: { app1: '', app2: '' } } as Instances
  state.start = async (route) => {
    state.running[route] = await startAppProcess({ nodes: nodes().spec, ...FAST, ...options, ...('sticky' in options ? { route } : {}) }, {
      ...(cookieSecret === undefined ? {} : { cookieSecret }),
      env: { MSM_TEST_PORT: String(state.ports[route]), MSM_TEST_NAME: route }
    })
  }
  before(async () => {
    for (const route of ROUTES) {
      state.ports[route] = await freePort()
      state.addresses[route] = `127.0.0.1:${state.ports[route]}`
      await state.start(route)
    }
  })
  after(async () => {
    await Promise.all(Object.values(state.running).map((app) => app.stop()))
  })
  return state
}

interface Whoami { status: number, served: Route | null, n: number | null, id: string | null, setCookie: boolean }

/** One request; a connection the balancer closed without an answer counts as status 0. */
async function whoami (client: CookieClient, path = '/whoami'): Promise<Whoami> {
  const response = await client.get(path).catch(() => ({ status: 0, body: null }))
  const ok = response.status === 200 && typeof response.body === 'object'
  return {
    status: response.status,
    served: ok ? response.body.served : null,
    n: ok ? response.body.n : null,
    id: ok ? response.body.id : null,
    setCookie: client.lastSetCookie.some((line) => line.startsWith('sessionId='))
  }
}

/** A new session through the balancer, with n = 1 stored, and the instance that holds it. */
async function newSession (balancer: Balancer): Promise<{ client: CookieClient, owner: Route }> {
  const client = new CookieClient(balancer.base)
  const created = await client.get('/count')
  assert.equal(created.status, 200, JSON.stringify(created.body))
  return { client, owner: created.body.served as Route }
}

/** Waits until `instance` wrote its queued sessions (sticky mode writes after the response). */
async function flushed (base: string): Promise<void> {
  for (let tries = 0; tries < 100; tries++) {
    const { stats } = await (await fetch(`${base}/__process`)).json() as { stats: { backupQueue: number, saved: number } }
    if (stats.backupQueue === 0 && stats.saved > 0) return
    await sleep(20)
  }
  throw new Error(`${base} did not write its queued sessions within 2 s`)
}

/** Waits until the instance at `base` has noticed that node `id` is down (its health check, within about 20 ms of the kill). */
async function noticedDown (base: string, id: string): Promise<void> {
  for (let tries = 0; tries < 100; tries++) {
    const { stats } = await (await fetch(`${base}/__process`)).json() as { stats: { nodes: Array<{ id: string, state: string }> } }
    if (stats.nodes.find((node) => node.id === id)?.state === 'down') return
    await sleep(20)
  }
  throw new Error(`${base} did not notice within 2 s that node ${id} was killed`)
}

function other (route: Route): Route {
  return route === 'app1' ? 'app2' : 'app1'
}

for (const cookies of ['unsigned', 'signed'] as const) {
  describe(`sticky mode behind a balancer, ${cookies} cookies`, () => {
    let nodes: MemcachedCluster
    before(async () => { nodes = await startCluster(2) })
    after(async () => { await nodes?.stop() })
    const apps = instances(() => nodes, { sticky: true }, cookies === 'signed' ? SECRET : undefined)

    for (const kind of ['nginx', 'haproxy'] as const) {
      describe(`${kind}, the config of docs/sticky.md`, () => {
        let balancer: Balancer
        let session: { client: CookieClient, owner: Route }
        before(async () => { balancer = await startBalancer(kind, configFromDocs(`${kind}-sticky`), apps.addresses) })
        after(async () => { await balancer?.stop() })

        test('20 requests of a session reach the instance that created it, and no new cookie is sent', async () => {
          session = await newSession(balancer)
          assert.ok(session.client.lastSetCookie.length > 0, 'the new session got its cookie')
          for (let i = 0; i < 20; i++) {
            const seen = await whoami(session.client)
            assert.deepEqual({ status: seen.status, served: seen.served, n: seen.n, setCookie: seen.setCookie },
              { status: 200, served: session.owner, n: 1, setCookie: false }, `request ${i + 1}`)
          }
        })

        test('after a SIGKILL of that instance, the other one takes the session over: data kept, a new route cookie', async () => {
          const { client, owner } = session
          await flushed(apps.running[owner].base)
          const killedAt = performance.now()
          apps.running[owner].child.kill('SIGKILL')
          const result = await requestsAfterKill(client, killedAt)
          failovers.push({ balancer: kind, cookies, ...result.figures })
          assert.equal(result.figures.errors, 0, 'docs/sticky.md promises that no request fails: the balancer passes it on at once')
          const first = result.firstServed
          assert.equal(first.served, other(owner), 'served by the other instance')
          assert.equal(first.n, 1, 'the session data, taken over from memcached')
          assert.ok(first.setCookie, 'a new cookie, with the new route')
          assert.match(first.id ?? '', new RegExp(`\\.${other(owner)}$`))
          const after = await whoami(client)
          assert.deepEqual({ served: after.served, setCookie: after.setCookie }, { served: other(owner), setCookie: false }, 'the session sticks to its new instance')
        })

        test('after the instance restarts, new sessions spread again and existing ones stay put', async () => {
          const { client, owner } = session
          await apps.start(owner)
          // The balancer finds the instance again within its health-check or fail_timeout interval
          const spread = new Set<Route>()
          const deadline = Date.now() + 15_000
          while (spread.size < 2 && Date.now() < deadline) {
            spread.add((await newSession(balancer)).owner)
            await sleep(100)
          }
          assert.deepEqual([...spread].sort(), ['app1', 'app2'], 'new sessions reach both instances')
          for (let i = 0; i < 10; i++) {
            const seen = await whoami(client)
            assert.deepEqual({ served: seen.served, setCookie: seen.setCookie, n: seen.n }, { served: other(owner), setCookie: false, n: 1 }, `request ${i + 1} of the taken-over session`)
          }
        })
      })
    }
  })
}

/** Requests every 50 ms after the kill until 5 in a row succeed (at most 20 s): the failed ones (5xx, or closed without an answer) and the gap until the first success. */
async function requestsAfterKill (client: CookieClient, killedAt: number): Promise<{ figures: { errors: number, gapMs: number, requests: number }, firstServed: Whoami }> {
  let errors = 0
  let requests = 0
  let streak = 0
  let firstServed: Whoami | undefined
  let gapMs = 0
  while (streak < 5) {
    assert.ok(performance.now() - killedAt < 20_000, `no instance served the session within 20 s of the kill (${errors} failed requests)`)
    const seen = await whoami(client)
    requests++
    if (seen.status >= 500 || seen.status === 0) {
      errors++
      streak = 0
    } else {
      assert.equal(seen.status, 200)
      if (firstServed === undefined) {
        firstServed = seen
        gapMs = Math.round(performance.now() - killedAt)
      }
      streak++
    }
    await sleep(50)
  }
  return { figures: { errors, gapMs, requests }, firstServed: firstServed as Whoami }
}

describe('a memcached relocation keeps a sticky session on its instance, behind both balancers', () => {
  let nodes: MemcachedCluster
  before(async () => { nodes = await startCluster(3) })
  after(async () => { await nodes?.stop() })
  const apps = instances(() => nodes, { sticky: true }, SECRET)
  const balancers: Partial<Record<BalancerKind, Balancer>> = {}
  before(async () => {
    for (const kind of ['nginx', 'haproxy'] as const) balancers[kind] = await startBalancer(kind, configFromDocs(`${kind}-sticky`), apps.addresses)
  })
  after(async () => { await Promise.all(Object.values(balancers).map((balancer) => balancer.stop())) })

  test('the session gets a new node suffix and keeps its route; both balancers still send it to its instance', async () => {
    const nginx = balancers.nginx as Balancer
    const haproxy = balancers.haproxy as Balancer
    const { client, owner } = await newSession(nginx)
    await flushed(apps.running[owner].base)
    const before = await whoami(client)
    const primary = /-(\w+)\.\w+$/.exec(before.id ?? '')?.[1] as string
    await nodes.node(primary).kill()
    await noticedDown(apps.running[owner].base, primary)
    const moved = await whoami(client)
    assert.equal(moved.served, owner, 'the same instance')
    assert.equal(moved.n, 1, 'the data, from the backup copy')
    assert.ok(moved.setCookie, 'a new cookie for the new id')
    const [, movedNode, movedRoute] = /-(\w+)\.(\w+)$/.exec(moved.id ?? '') ?? []
    assert.notEqual(movedNode, primary, 'a new node suffix')
    assert.equal(movedRoute, owner, 'the same route')
    for (const balancer of [nginx, haproxy]) {
      client.base = balancer.base
      for (let i = 0; i < 5; i++) {
        const seen = await whoami(client)
        assert.deepEqual({ served: seen.served, id: seen.id, setCookie: seen.setCookie }, { served: owner, id: moved.id, setCookie: false }, `${balancer.kind}, request ${i + 1}`)
      }
    }
  })
})

describe('non-sticky mode behind round robin (nginx, the config of docs/sticky.md)', () => {
  let nodes: MemcachedCluster
  before(async () => { nodes = await startCluster(2) })
  after(async () => { await nodes?.stop() })
  const apps = instances(() => nodes, {})
  let balancer: Balancer
  before(async () => { balancer = await startBalancer('nginx', configFromDocs('nginx-round-robin'), apps.addresses) })
  after(async () => { await balancer?.stop() })

  test('a session\'s requests go to both instances, and each reads what the other wrote', async () => {
    const client = new CookieClient(balancer.base)
    const served = new Set<string>()
    for (let n = 1; n <= 10; n++) {
      const response = await client.get('/count')
      assert.equal(response.status, 200)
      assert.equal(response.body.n, n, 'every instance reads the session from memcached')
      served.add(response.body.served as string)
      if (n > 1) assert.equal(client.lastSetCookie.length, 0, 'no new cookie')
    }
    assert.deepEqual([...served].sort(), ['app1', 'app2'])
  })

  test('an instance killed mid-run costs no request: nginx passes it to the other one', async () => {
    const client = new CookieClient(balancer.base)
    await client.get('/count')
    apps.running.app1.child.kill('SIGKILL')
    for (let n = 2; n <= 6; n++) {
      const response = await client.get('/count')
      assert.deepEqual({ status: response.status, n: response.body.n, served: response.body.served }, { status: 200, n, served: 'app2' })
    }
    await apps.start('app1')
  })
})

after(() => {
  if (failovers.length > 0) {
    console.log('Failover after a SIGKILL of the session\'s instance (requests every 50 ms):')
    for (const row of failovers) console.log(`  ${row.balancer}, ${row.cookies} cookies: ${row.errors} failed (5xx or no answer) of ${row.requests} requests; first success ${row.gapMs} ms after the kill`)
  }
})
