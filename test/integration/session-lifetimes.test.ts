// Per-session lifetimes ("remember me"): request.session.maxInactiveInterval
// and the session's cookie lifetime are stored with the session and followed
// by every instance, in non-sticky and sticky mode, through relocation and
// takeover. Real memcached, real HTTP, real waiting: the memcached lifetimes
// are also read back from the nodes (meta get), so that each bound is checked
// without relying on timing alone. The plugin's own values are the control:
// a session without values of its own is gone where the other one lives.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { MsmOptions } from '../../lib/index.js'
import type { MemcachedCluster } from '../helpers/memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { CookieClient, drained, idOf, nodeOf, startApp, type StartedApp } from '../helpers/app.js'

const { apps, cluster } = usePerTestCleanup()
/** The plugin's idle timeout; its touchInterval follows it (1 s), so its sessions live 2 + 1 + 1 s in memcached. */
const PLUGIN = { maxInactiveInterval: 2, operationTimeout: 300, nodeRetryInterval: 200 }

async function instances (nodes: MemcachedCluster, options: Partial<MsmOptions> = {}): Promise<[StartedApp, StartedApp]> {
  return [await startApp(nodes, apps, { ...PLUGIN, ...options }), await startApp(nodes, apps, { ...PLUGIN, ...options })]
}

/** A new session on `base` holding n = 1, with an idle timeout of its own when `mii` is given. */
async function session (base: string, mii?: number): Promise<CookieClient> {
  const client = new CookieClient(base)
  await client.get('/count')
  if (mii !== undefined) assert.equal((await client.post('/remember', { mii })).status, 200)
  return client
}

/** The seconds each stored copy of the client's session has left in memcached (primary, then backup). */
async function ttls (nodes: MemcachedCluster, client: CookieClient): Promise<Array<number | null>> {
  const id = idOf(client).split('.').slice(0, 2).join('.')
  const primary = nodeOf(id)
  const backups = await Promise.all(nodes.nodes.filter((node) => node.id !== primary && !node.stopped).map((node) => node.ttl(`bak:${id}`)))
  return [await nodes.node(primary).ttl(id), backups.find((ttl) => ttl !== null) ?? null]
}

function within (ttl: Array<number | null>, low: number, high: number, what: string): void {
  for (const seconds of ttl) assert.ok(seconds !== null && seconds >= low && seconds <= high, `${what}: ${JSON.stringify(ttl)} not within ${low}..${high} s`)
}

const isPresent = async (client: CookieClient, base: string): Promise<boolean> => {
  client.base = base
  return (await client.get('/read')).body.n !== null
}

describe('a session\'s own idle timeout, across two instances', () => {
  test('4 s on a plugin of 2 s: present on the other instance after more idle time than the plugin allows, gone by 4 + 2 + 1 s', async () => {
    const nodes = await cluster(2)
    const [a, b] = await instances(nodes)
    const remembered = await session(a.base, 4)
    const control = await session(a.base)
    within(await ttls(nodes, remembered), 6, 7, 'its own lifetime: mII 4 + tI 2 (the default rule of 4) + 1')
    within(await ttls(nodes, control), 3, 4, 'the plugin\'s: 2 + 1 + 1')
    assert.equal((await remembered.get('/lifetimes')).body.maxInactiveInterval, 4)
    await sleep(4500)
    assert.equal(await isPresent(control, b.base), false, 'the control is gone: the plugin\'s timeout applies to it')
    assert.equal(await isPresent(remembered, b.base), true, 'present after 4.5 s idle, read by the other instance')
    assert.equal((await remembered.get('/lifetimes')).body.maxInactiveInterval, 4, 'the other instance follows it')
    within(await ttls(nodes, remembered), 6, 7, 'extended by the other instance with its own lifetime')
    await sleep(7500)
    assert.equal(await isPresent(remembered, a.base), false, 'gone 7.5 s after its last request')
  })

  test('1 s on a plugin of 2 s: gone by its own bound (1 + 1 + 1 s), where the plugin\'s session is kept', async () => {
    const nodes = await cluster(2)
    const [a, b] = await instances(nodes)
    const short = await session(a.base, 1)
    const control = await session(a.base)
    within(await ttls(nodes, short), 2, 3, 'mII 1 + tI 1 + 1')
    within(await ttls(nodes, control), 3, 4, 'the plugin\'s')
    await sleep(3200)
    assert.equal(await isPresent(short, b.base), false, 'gone by its own bound')
  })

  test('a value the option would refuse is refused, naming it; the session is unchanged', async () => {
    const nodes = await cluster(2)
    const [a] = await instances(nodes, { touchInterval: 1, maxInactiveInterval: 10 })
    const client = await session(a.base)
    for (const mii of [0, -1, 1.5, 2 ** 31]) {
      const response = await client.post('/remember', { mii })
      assert.equal(response.status, 500, String(mii))
      assert.equal(response.body.code, 'FST_MSM_OPTION_INVALID')
      assert.match(response.body.message, /session\.maxInactiveInterval/)
    }
    const equalToTouch = await client.post('/remember', { mii: 1 })
    assert.equal(equalToTouch.status, 200, 'mII 1 is allowed, as for the option')
    const belowTouch = await new CookieClient(a.base).post('/remember', { mii: 1 })
    assert.equal(belowTouch.status, 200)
    assert.equal((await client.get('/lifetimes')).body.maxInactiveInterval, 1)
  })
})

describe('memcached\'s 30-day boundary: a relative lifetime above 2,592,000 s is read as a unix time', () => {
  // The values are memcached's protocol (protocol.txt, "Expiration times"), not the plugin's constant
  test('maxInactiveInterval of exactly 2,592,000 s (30 days): the session is stored, read back by the other instance, and lives 30 days in memcached', async () => {
    const nodes = await cluster()
    const [one, two] = await instances(nodes, { maxInactiveInterval: 2_592_000, touchInterval: 60 })
    const client = new CookieClient(one.base)
    await client.get('/count')
    assert.equal(await isPresent(client, two.base), true, 'read back: not expired as a time in 1970')
    // 2,592,000 + 60 + 1 s, sent as a unix time; memcached reports the seconds left on its own
    // whole-second clock, which may be up to 1 s behind ours
    within(await ttls(nodes, client), 2_592_000, 2_592_062, 'the lifetime left on each copy')
  })

  test('a session\'s own maxInactiveInterval of exactly 2,592,000 s, on a plugin of 2 s: stored, read back, 30 days in memcached', async () => {
    const nodes = await cluster()
    const [one, two] = await instances(nodes)
    const client = await session(one.base, 2_592_000)
    assert.equal(await isPresent(client, two.base), true, 'read back: not expired as a time in 1970')
    // its own 2,592,000 s + 60 s (touchInterval by the default rule, min(60, mII / 2), on its own value) + 1 s
    within(await ttls(nodes, client), 2_592_000, 2_592_062, 'the lifetime left on each copy (memcached\'s clock: up to 1 s more)')
  })
})

describe('a session\'s own cookie lifetime', () => {
  test('is sent by the other instance at the next renewal, and after changeSessionId', async () => {
    const nodes = await cluster(2)
    const [a, b] = await instances(nodes, { cookie: { maxAge: 3600 } })
    const client = await session(a.base)
    assert.match(client.lastSetCookie[0] ?? '', /Max-Age=3600/, 'the configured lifetime')
    await client.post('/remember', { cookieMaxAgeMs: 60_000 })
    assert.match(client.lastSetCookie[0] ?? '', /Max-Age=60\b/)
    client.base = b.base
    await client.get('/touch')
    assert.match(client.lastSetCookie[0] ?? '', /Max-Age=60\b/, 'the renewal on the other instance')
    await client.post('/change-id')
    assert.match(client.lastSetCookie[0] ?? '', /Max-Age=60\b/, 'the new id\'s cookie')
    assert.equal((await client.get('/lifetimes')).body.cookieMaxAge, 60_000)
  })
})

describe('sticky mode', () => {
  const sticky = (route: string): Partial<MsmOptions> => ({ sticky: true, route })

  test('the process follows the session\'s own idle timeout, and another instance that takes it over keeps it', async () => {
    const nodes = await cluster(2)
    const one = await startApp(nodes, apps, { ...PLUGIN, ...sticky('app1') })
    const two = await startApp(nodes, apps, { ...PLUGIN, ...sticky('app2') })
    const remembered = await session(one.base, 4)
    const control = await session(one.base)
    await drained(one.app)
    within(await ttls(nodes, remembered), 6, 7, 'its backup in memcached has its own lifetime')
    await sleep(3000)
    assert.equal(await isPresent(control, one.base), false, 'the process expired the control after 2 s')
    assert.equal(await isPresent(remembered, one.base), true, 'but not the session idle for 3 s of its 4')
    await drained(one.app)
    await one.app.close()
    assert.equal(await isPresent(remembered, two.base), true, 'taken over by the other instance')
    assert.match(idOf(remembered), /\.app2$/)
    assert.equal((await remembered.get('/lifetimes')).body.maxInactiveInterval, 4, 'with its own idle timeout')
    await drained(two.app)
    within(await ttls(nodes, remembered), 6, 7, 'written under its new id with its own lifetime')
    await sleep(4500)
    assert.equal(await isPresent(remembered, two.base), false, 'idle past its own 4 s in the new process')
  })
})

describe('relocation', () => {
  test('a session moved off a dead node keeps its lifetimes', async () => {
    const nodes = await cluster(3)
    const [a, b] = await instances(nodes, { cookie: { maxAge: 3600 } })
    const client = await session(a.base, 4)
    await client.post('/remember', { cookieMaxAgeMs: 60_000 })
    const before = idOf(client)
    await nodes.node(nodeOf(before)).stop() // SIGKILL, and marked stopped for ttls()
    client.base = b.base
    assert.equal((await client.get('/read')).body.n, 1, 'read from its backup')
    assert.notEqual(idOf(client), before, 'moved to a new id')
    assert.match(client.lastSetCookie[0] ?? '', /Max-Age=60\b/, 'its cookie keeps its own lifetime')
    assert.deepEqual((await client.get('/lifetimes')).body, { maxInactiveInterval: 4, cookieMaxAge: 60_000 })
    within(await ttls(nodes, client), 6, 7, 'the moved copies have its own lifetime')
  })
})
