// Tests of the plugin's own logic (operation counts per request, change
// detection, touch throttling, regenerate/destroy, cookie validation) on the
// in-memory memcached (test/helpers/memory-memcached.ts): no process is
// started. Moved from test/integration/core.test.ts; the same assertions hold
// on real memcached (switch startNodes to startCluster).
import { after, before, describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm from '../../lib/index.js'
import { operationsDuring } from '../helpers/memcached.js'
import { startMemoryCluster } from '../helpers/memory-memcached.js'
import { useClusterPerTest } from '../helpers/fixtures.js'
import { buildApp, CookieClient, idOf, msmOptions, startApp } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'

const startNodes = startMemoryCluster
const codec = new AvroSessionCodec()
let cluster: Awaited<ReturnType<typeof startNodes>>
const apps = useClusterPerTest(3, (started) => { cluster = started }, startNodes)
const delta = <T>(action: () => Promise<T>): ReturnType<typeof operationsDuring<T>> => operationsDuring(cluster, action)

describe('a session shared by two app instances', () => {
  test('request 1 on app A, request 2 on app B, request 3 on A again', async () => {
    const a = await startApp(cluster, apps, {}, { name: 'A' })
    const b = await startApp(cluster, apps, {}, { name: 'B' })
    const first = await a.client.get('/count')
    assert.deepEqual(first.body, { n: 1, id: first.body.id, served: 'A' })
    b.client.cookies = a.client.cookies
    const second = await b.client.get('/count')
    assert.deepEqual(second.body, { n: 2, id: first.body.id, served: 'B' })
    const third = await a.client.get('/count')
    assert.deepEqual(third.body, { n: 3, id: first.body.id, served: 'A' })
    assert.equal(a.app.msm.stats().created, 1)
    assert.equal(b.app.msm.stats().created, 0)
    assert.equal(b.app.msm.stats().loaded, 1)
  })
})

describe('memcached operations per request, counted by memcached itself', () => {
  // One session through these steps, on nodes of their own
  let client: CookieClient
  let app: FastifyInstance
  let nodes: Awaited<ReturnType<typeof startNodes>>
  const ownApps: FastifyInstance[] = []
  const delta = <T>(action: () => Promise<T>): ReturnType<typeof operationsDuring<T>> => operationsDuring(nodes, action)

  before(async () => {
    nodes = await startNodes(3)
    ;({ app, client } = await startApp(nodes, ownApps))
  })
  after(async () => {
    await Promise.all(ownApps.map((own) => own.close()))
    await nodes.stop()
  })

  test('a request that never writes creates nothing: no id, no cookie, no operation', async () => {
    const { result, ops } = await delta(() => client.get('/nothing'))
    assert.deepEqual(ops, { get: 0, set: 0, touch: 0, delete: 0, flush: 0 })
    assert.deepEqual(client.lastSetCookie, [])
    const read = await delta(() => client.get('/read'))
    assert.deepEqual(read.result.body, { n: null, isNew: true, id: null })
    assert.deepEqual(read.ops, { get: 0, set: 0, touch: 0, delete: 0, flush: 0 })
    assert.equal(result.status, 200)
  })

  test('a new session costs 2 sets (primary and backup) and sends the cookie', async () => {
    const { result, ops } = await delta(() => client.get('/count'))
    assert.equal(result.body.n, 1)
    assert.deepEqual(ops, { get: 0, set: 2, touch: 0, delete: 0, flush: 0 })
    assert.equal(client.lastSetCookie.length, 1)
    assert.match(client.lastSetCookie[0] as string, /^sessionId=[0-9a-f]{32}-n[123]; Path=\/; HttpOnly; SameSite=Lax$/)
  })

  test('a read-only request costs 1 get, no write, no touch, no cookie', async () => {
    const { result, ops } = await delta(() => client.get('/read'))
    assert.equal(result.body.n, 1)
    assert.deepEqual(ops, { get: 1, set: 0, touch: 0, delete: 0, flush: 0 })
    assert.deepEqual(client.lastSetCookie, [])
  })

  test('a modifying request costs 1 get and 2 sets, and sends no new cookie', async () => {
    const { result, ops } = await delta(() => client.get('/count'))
    assert.equal(result.body.n, 2)
    assert.deepEqual(ops, { get: 1, set: 2, touch: 0, delete: 0, flush: 0 })
    assert.deepEqual(client.lastSetCookie, [])
  })

  test('setting an unchanged value writes nothing: change detection compares Avro bytes', async () => {
    const { ops } = await delta(() => client.post('/set', { key: 'n', value: 2 }))
    assert.deepEqual(ops, { get: 1, set: 0, touch: 0, delete: 0, flush: 0 })
  })

  test('an object mutated in place after get() is detected and written', async () => {
    await client.get('/mutate-in-place')
    const { result, ops } = await delta(() => client.get('/mutate-in-place'))
    assert.deepEqual(result.body.list, [0, 1])
    assert.deepEqual(ops, { get: 1, set: 2, touch: 0, delete: 0, flush: 0 })
    assert.deepEqual((await client.get('/read')).body.n, 2)
  })

  test('ignored routes cost zero operations even with a valid cookie', async () => {
    const { ops } = await delta(() => client.get('/ignored'))
    assert.deepEqual(ops, { get: 0, set: 0, touch: 0, delete: 0, flush: 0 })
  })

  test('using the session on an ignored route fails with a coded error', async () => {
    const response = await client.get('/ignored-but-used')
    assert.equal(response.status, 500)
    assert.equal(response.body.code, 'FST_MSM_SESSION_DISABLED')
  })

  test('the counters agree with memcached', () => {
    const stats = app.msm.stats()
    assert.equal(stats.created, 1)
    assert.equal(stats.saved, 4)
    assert.equal(stats.backupWrites, 4)
    assert.equal(stats.requestsIgnored, 2)
    assert.equal(stats.touched, 0)
    assert.ok(stats.skippedUnchanged >= 2)
    const sets = stats.nodes.reduce((sum, node) => sum + node.set, 0)
    assert.equal(sets, 8)
  })
})

describe('the ignore option', () => {
  test('matching requests cost zero operations', async () => {
    const { client } = await startApp(cluster, apps, { ignore: /^GET \/(nothing|count)\b/ })
    const { result, ops } = await delta(() => client.get('/count'))
    assert.equal(result.status, 500)
    assert.equal(result.body.code, 'FST_MSM_SESSION_DISABLED')
    assert.deepEqual(ops, { get: 0, set: 0, touch: 0, delete: 0, flush: 0 })
  })
})

describe('lifetimes', () => {
  test('touch extends the TTL of an unchanged session, at most once per touchInterval', async (t) => {
    const advance = mockedClock(t)
    const { app, client } = await startApp(cluster, apps, { maxInactiveInterval: 4, touchInterval: 1 })
    const control = new CookieClient(client.base)
    await client.get('/count')
    await control.get('/count')
    const start = Date.now()
    const at = async (seconds: number): Promise<void> => { await advance(Math.max(0, start + seconds * 1000 - Date.now())) }

    const soon = await delta(() => client.get('/read'))
    assert.deepEqual(soon.ops, { get: 1, set: 0, touch: 0, delete: 0, flush: 0 }, 'no touch within touchInterval')
    await at(1.2)
    const first = await delta(() => client.get('/read'))
    assert.deepEqual(first.ops, { get: 1, set: 0, touch: 2, delete: 0, flush: 0 }, 'primary and backup touched')
    const again = await delta(() => client.get('/read'))
    assert.deepEqual(again.ops, { get: 1, set: 0, touch: 0, delete: 0, flush: 0 }, 'not touched twice within touchInterval')
    await at(2.4)
    const second = await delta(() => client.get('/read'))
    assert.deepEqual(second.ops, { get: 1, set: 0, touch: 2, delete: 0, flush: 0 })

    // Idle since its only write for more than maxInactiveInterval + touchInterval + 1 s
    // (4 + 1 + 1: the upper bound of the idle timeout, docs/how-it-works.md#idle-expiry)
    await at(6.3)
    assert.equal((await control.get('/read')).body.n, null, 'the untouched control session expired')
    const late = await delta(() => client.get('/read'))
    assert.equal(late.result.body.n, 1, 'the touched session is alive')
    assert.deepEqual(late.ops, { get: 1, set: 2, touch: 0, delete: 0, flush: 0 }, 'a whole idle interval after its last write it is refreshed by a write')
    const stats = app.msm.stats()
    assert.equal(stats.touched, 2)
    assert.equal(stats.refreshed, 1)
  })

  test('session.touch() extends the TTL at once', async () => {
    const { client } = await startApp(cluster, apps)
    await client.get('/count')
    const { ops } = await delta(() => client.get('/touch'))
    assert.deepEqual(ops, { get: 1, set: 0, touch: 2, delete: 0, flush: 0 })
  })

  test('an idle session expires', async (t) => {
    const advance = mockedClock(t)
    const { client } = await startApp(cluster, apps, { maxInactiveInterval: 2 })
    await client.get('/count')
    // Gone at most maxInactiveInterval + touchInterval + 1 s (2 + 1 + 1) after the last request
    await advance(4200)
    const response = await client.get('/read')
    assert.deepEqual(response.body, { n: null, isNew: true, id: null })
  })

  test('the server rejects a stored session past its idle limit even if memcached still holds it', async () => {
    const { app, client } = await startApp(cluster, apps, { maxInactiveInterval: 60 })
    await client.get('/count')
    const id = idOf(client)
    const primary = cluster.node(id.split('-')[1] as string)
    const stale = codec.encodeValue(
      { id, createdAt: Date.now() - 3_600_000, lastAccessedAt: Date.now() - 3_600_000, maxInactiveInterval: 60, ownMaxInactiveInterval: null, ownCookieMaxAge: null },
      codec.encodeAttributes({ n: 99 })
    )
    await primary.set(id, stale, 0)
    const response = await client.get('/read')
    assert.deepEqual(response.body, { n: null, isNew: true, id: null })
    assert.equal(app.msm.stats().expired, 1)
    assert.equal(await primary.get(id), undefined, 'the stale copy was deleted')
  })

  test('a maxInactiveInterval over 30 days is written as an absolute time: the session is stored, read back and written again', async () => {
    const { client } = await startApp(cluster, apps, { maxInactiveInterval: 31 * 24 * 3600 })
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

describe('regenerate and destroy', () => {
  test('changeSessionId() keeps the data under a new id and removes both old copies', async () => {
    const { client } = await startApp(cluster, apps)
    await client.get('/count')
    const oldId = idOf(client)
    const oldCookie = client.cookieHeader
    const { result, ops } = await delta(() => client.post('/change-id'))
    const newId = result.body.id as string
    assert.notEqual(newId, oldId)
    assert.equal(idOf(client), newId)
    assert.deepEqual(ops, { get: 1, set: 2, touch: 0, delete: 2, flush: 0 })
    for (const node of cluster.nodes) {
      assert.equal(await node.get(oldId), undefined)
      assert.equal(await node.get(`bak:${oldId}`), undefined)
    }
    assert.equal((await client.get('/read')).body.n, 1)
    const stale = await client.request('/read', { headers: { cookie: oldCookie } })
    assert.deepEqual(stale.body, { n: null, isNew: true, id: null })
  })

  test('regenerate() gives a new id and drops every attribute except the ones it keeps (@fastify/session)', async () => {
    const { client } = await startApp(cluster, apps)
    await client.post('/set', { key: 'cart', value: ['apple'] })
    await client.get('/count')
    const oldId = idOf(client)
    const { ops } = await delta(() => client.post('/regenerate'))
    assert.notEqual(idOf(client), oldId)
    assert.deepEqual(ops, { get: 1, set: 2, touch: 0, delete: 2, flush: 0 }, 'the new, empty session is stored; the old copies deleted')
    assert.deepEqual((await client.get('/read')).body, { n: null, isNew: false, id: idOf(client) })
    await client.get('/count')
    await client.post('/regenerate', { keep: ['n'] })
    assert.equal((await client.get('/read')).body.n, 1, 'kept')
    assert.equal((await client.get('/read-cart')).body.cart, null, 'dropped')
  })

  test('destroy() removes both copies and expires the cookie', async () => {
    const { client } = await startApp(cluster, apps)
    await client.get('/count')
    const id = idOf(client)
    const oldCookie = client.cookieHeader
    const { ops } = await delta(() => client.post('/destroy'))
    assert.deepEqual(ops, { get: 1, set: 0, touch: 0, delete: 2, flush: 0 })
    assert.match(client.lastSetCookie[0] as string, /^sessionId=; .*Expires=Thu, 01 Jan 1970/)
    assert.equal(client.cookies.size, 0)
    for (const node of cluster.nodes) {
      assert.equal(await node.get(id), undefined)
      assert.equal(await node.get(`bak:${id}`), undefined)
    }
    const revived = await client.request('/read', { headers: { cookie: oldCookie } })
    assert.deepEqual(revived.body, { n: null, isNew: true, id: null })
  })
})

describe('hostile cookies', () => {
  test('forged, malformed and injection-shaped cookies cause no memcached command', async () => {
    const { app, client } = await startApp(cluster, apps)
    await cluster.node('n1').set('canary', 'alive')
    const random = '0123456789abcdef0123456789abcdef'
    const hostile = [
      `${random}-n1$'`, `${random}-n1$\``, `${random}-n1$&`, "$'", '$`', '$&',
      `${random}-n1%0D%0Aflush_all`, '%0D%0Aflush_all%0D%0A', `${random}-n9`, `${random}-nX`,
      `${random.toUpperCase()}-n1`, `${random.slice(2)}-n1`, 'x'.repeat(10 * 1024),
      `${random}-n1.app-1`, `${random}-n1.a.b`, '%00', encodeURIComponent('ünïcödé'), `${random}-n1%20`, `%22${random}-n1%22`,
      `s:${random}-n1.signature`, ''
    ]
    const { ops } = await delta(async () => {
      for (const value of hostile) {
        const before = await cluster.operations()
        const response = await client.request('/read', { headers: { cookie: `sessionId=${value}` } })
        assert.equal(response.status, 200, value.slice(0, 40))
        assert.equal((await cluster.operations()).get, before.get, `no get for ${value.slice(0, 40)}`)
        assert.equal(response.body.isNew, true)
      }
    })
    assert.deepEqual(ops, { get: 0, set: 0, touch: 0, delete: 0, flush: 0 })
    assert.equal(await cluster.node('n1').get('canary'), 'alive')
    assert.ok(app.msm.stats().invalidCookies >= hostile.length - 2)
  })

  test('with duplicated cookies the first one counts, and only a well-formed id is looked up', async () => {
    const { client } = await startApp(cluster, apps)
    const random = '0123456789abcdef0123456789abcdef'
    const { result, ops } = await delta(() => client.request('/read', { headers: { cookie: `sessionId=$'; sessionId=${random}-n1` } }))
    assert.equal(result.body.isNew, true)
    assert.deepEqual(ops, { get: 0, set: 0, touch: 0, delete: 0, flush: 0 })
    const second = await delta(() => client.request('/read', { headers: { cookie: `sessionId=${random}-n1; sessionId=$'` } }))
    assert.equal(second.ops.get, 2, 'the primary, then the backup')
  })

  test('a valid-looking id that is not stored costs two gets, then none for a while, and starts a fresh id on write', async () => {
    const { app, client } = await startApp(cluster, apps)
    const unknown = 'fedcba9876543210fedcba9876543210-n2'
    const { result, ops } = await delta(() => client.request('/count', { headers: { cookie: `sessionId=${unknown}` } }))
    assert.equal(result.body.n, 1)
    assert.notEqual(result.body.id, unknown, 'an id the server did not issue is never adopted')
    assert.deepEqual(ops, { get: 2, set: 2, touch: 0, delete: 0, flush: 0 }, 'primary and backup looked up')
    const repeated = await delta(async () => {
      for (let i = 0; i < 10; i++) await client.request('/read', { headers: { cookie: `sessionId=${unknown}` } })
    })
    assert.equal(repeated.ops.get, 0, 'a recent miss is remembered')
    assert.equal(app.msm.stats().recentMisses, 10)
  })
})

describe('signed cookies', () => {
  test('cookies are signed, tampering is no session, and an old secret re-issues the cookie', async () => {
    const old = await startApp(cluster, apps, {}, { secret: 'an old secret that is long enough!' })
    await old.client.get('/count')
    const signed = idOf(old.client)
    assert.match(signed, /^[0-9a-f]{32}-n\d\.[A-Za-z0-9%+/]+$/)

    const tampered = signed.slice(0, -2) + (signed.endsWith('AA') ? 'BB' : 'AA')
    const { result, ops } = await delta(() => old.client.request('/read', { headers: { cookie: `sessionId=${tampered}` } }))
    assert.equal(result.body.isNew, true)
    assert.deepEqual(ops, { get: 0, set: 0, touch: 0, delete: 0, flush: 0 })

    const unsigned = decodeURIComponent(signed).split('.')[0] as string
    const bare = await old.client.request('/read', { headers: { cookie: `sessionId=${unsigned}` } })
    assert.equal(bare.body.isNew, true, 'an unsigned id is refused once a secret is set')

    const rotated = await startApp(cluster, apps, {}, { secret: ['a new secret that is long enough!!', 'an old secret that is long enough!'] })
    rotated.client.cookies = new Map(old.client.cookies)
    const reissued = await rotated.client.get('/read')
    assert.equal(reissued.body.n, 1)
    assert.equal(reissued.body.id, unsigned)
    assert.equal(rotated.client.lastSetCookie.length, 1, 'the cookie is re-signed with the new secret')
    assert.notEqual(idOf(rotated.client), signed)
    const again = await rotated.client.get('/read')
    assert.equal(again.body.n, 1)
    assert.deepEqual(rotated.client.lastSetCookie, [])
  })

  test('a cookie is verified once, then remembered; one signed with an old secret is re-issued every time it comes', async () => {
    const secrets = ['a new secret that is long enough!!', 'an old secret that is long enough!']
    let verifications = 0
    const app = Fastify()
    await app.register(cookie, { secret: secrets })
    app.addHook('onRequest', async (request) => {
      const unsign = request.unsignCookie.bind(request)
      request.unsignCookie = (value) => { verifications++; return unsign(value) }
    })
    await app.register(msm, msmOptions(cluster))
    app.get('/count', async (request) => {
      request.session.n = ((request.session.n as number | undefined) ?? 0) + 1
      return { n: request.session.n }
    })
    apps.push(app)
    const fresh = await app.inject({ url: '/count' })
    const cookieHeader = `sessionId=${fresh.cookies[0]?.value as string}`
    verifications = 0
    for (let n = 2; n <= 4; n++) assert.equal((await app.inject({ url: '/count', headers: { cookie: cookieHeader } })).json().n, n)
    assert.equal(verifications, 1, 'the second and third requests skip the HMAC')
    const tampered = cookieHeader.slice(0, -3) + (cookieHeader.endsWith('AAA') ? 'BBB' : 'AAA')
    for (let i = 0; i < 2; i++) assert.equal((await app.inject({ url: '/count', headers: { cookie: tampered } })).json().n, 1, 'a forged signature is never remembered')

    const old = await startApp(cluster, apps, {}, { secret: secrets[1] })
    await old.client.get('/count')
    const oldCookie = `sessionId=${idOf(old.client)}`
    for (let n = 5; n <= 6; n++) {
      const renewed = await app.inject({ url: '/count', headers: { cookie: oldCookie } })
      assert.equal(renewed.json().n, n - 3)
      assert.equal(renewed.cookies.length, 1, 'each request with the old signature gets the cookie signed with the new secret')
    }
  })
})

describe('cookie attributes', () => {
  test('Secure is added on HTTPS requests only, with secure: auto', async () => {
    const app = await buildApp({ msm: msmOptions(cluster, { cookie: { maxAge: 600 } }) })
    apps.push(app)
    const plain = await app.inject({ url: '/count' })
    assert.doesNotMatch(String(plain.headers['set-cookie']), /Secure/)
    assert.match(String(plain.headers['set-cookie']), /Max-Age=600/)
    const secureApp = Fastify({ trustProxy: true })
    await secureApp.register(cookie)
    await secureApp.register(msm, msmOptions(cluster))
    secureApp.get('/count', async (request) => { request.session.set('n', 1); return {} })
    apps.push(secureApp)
    const https = await secureApp.inject({ url: '/count', headers: { 'x-forwarded-proto': 'https' } })
    assert.match(String(https.headers['set-cookie']), /; Secure/)
  })
})
