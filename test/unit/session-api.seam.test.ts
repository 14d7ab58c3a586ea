// The @fastify/session-shaped request.session API on the in-memory memcached:
// attributes as properties, the async methods with promises and callbacks,
// cookie, and change detection by tracking proxies (no re-encoding of
// objects that were only read), proven with memcached's counters and the
// serializer's own call count.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm, { jsonSerializer, type Serializer } from '../../lib/index.js'
import { operationsDuring } from '../helpers/memcached.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { useClusterPerTest } from '../helpers/fixtures.js'
import { type StartAppExtra, startApp, type TestAppOptions } from '../helpers/app.js'

let cluster: MemoryCluster
const apps = useClusterPerTest(2, (started) => { cluster = started }, startMemoryCluster)

/** A JSON serializer that counts its encodes: the cost change detection must avoid. */
const encodes = { count: 0 }
const countingSerializer: Serializer = {
  name: 'counting-json',
  encode: (attributes) => { encodes.count++; return jsonSerializer.encode(attributes) },
  decode: (bytes) => jsonSerializer.decode(bytes)
}

type Handler = (request: any, reply: any) => Promise<unknown>

/** An app whose routes are given by the test. */
function appWith (routes: Record<string, Handler>, secret?: string): StartAppExtra {
  return {
    build: async (options: TestAppOptions): Promise<FastifyInstance> => {
      const app = Fastify()
      await app.register(cookie, secret === undefined ? {} : { secret })
      await app.register(msm, options.msm)
      for (const [route, handler] of Object.entries(routes)) {
        const [method, url] = route.split(' ') as [string, string]
        app.route({ method: method as 'GET', url, handler })
      }
      return app
    }
  }
}

describe('attributes as properties', () => {
  test('assign, read, delete, in and Object.keys work on attributes, across requests', async () => {
    const { client } = await startApp(cluster, apps, {}, appWith({
      'POST /login': async (request) => {
        request.session.user = { id: 'ada', roles: ['admin'] }
        request.session.visits = 1
        return { ok: true }
      },
      'GET /me': async (request) => ({ id: request.session.user?.id ?? null, keys: Object.keys(request.session), has: 'user' in request.session, json: JSON.parse(JSON.stringify(request.session)) }),
      'POST /forget': async (request) => {
        delete request.session.user
        return { has: 'user' in request.session }
      }
    }))
    await client.post('/login')
    assert.deepEqual((await client.get('/me')).body, { id: 'ada', keys: ['user', 'visits'], has: true, json: { user: { id: 'ada', roles: ['admin'] }, visits: 1 } })
    assert.deepEqual((await client.post('/forget')).body, { has: false })
    assert.deepEqual((await client.get('/me')).body.keys, ['visits'])
  })

  test('assigning a name of the API throws FST_MSM_RESERVED_NAME, and set() stores an attribute of that name', async () => {
    const { client } = await startApp(cluster, apps, {}, appWith({
      'GET /assign': async (request) => { request.session.cookie = 'x'; return { ok: true } },
      'GET /delete': async (request) => { delete request.session.regenerate; return { ok: true } },
      'GET /then': async (request) => { request.session.then = 1; return { ok: true } },
      'GET /set': async (request) => {
        request.session.set('cookie', 'chocolate')
        return { stored: request.session.get('cookie'), api: typeof request.session.cookie }
      }
    }))
    for (const path of ['/assign', '/delete', '/then']) {
      const response = await client.get(path)
      assert.equal(response.status, 500)
      assert.equal(response.body.code, 'FST_MSM_RESERVED_NAME')
      assert.match(response.body.message, /use request\.session\.set\(/)
    }
    assert.deepEqual((await client.get('/set')).body, { stored: 'chocolate', api: 'object' })
  })

  test('a value that would not round-trip is refused through a property too', async () => {
    const { client } = await startApp(cluster, apps, {}, appWith({ 'GET /big': async (request) => { request.session.n = 10n; return {} } }))
    assert.equal((await client.get('/big')).body.code, 'FST_MSM_VALUE_UNSUPPORTED')
  })

  // Regression: set() with a symbol key (plain JavaScript) threw a TypeError, a 500 without a code
  test('set() with a symbol key is refused with a coded error, not a TypeError', async () => {
    const { client } = await startApp(cluster, apps, {}, appWith({ 'GET /symbol': async (request) => { request.session.set(Symbol('k'), 1); return {} } }))
    const response = await client.get('/symbol')
    assert.equal(response.body.code, 'FST_MSM_VALUE_UNSUPPORTED')
    assert.match(response.body.message, /session keys are strings/)
  })
})

describe('change detection without re-encoding', () => {
  const routes = appWith({
    'POST /login': async (request) => { request.session.user = { id: 'ada', roles: ['a'], profile: { city: 'Paris' } }; return {} },
    'GET /read': async (request) => ({ id: request.session.user.id, city: request.session.get('user').profile.city, roles: request.session.user.roles.length }),
    'GET /push': async (request) => { request.session.user.roles.push('b'); return {} },
    'GET /nested': async (request) => { request.session.user.profile.city = 'Lyon'; return {} },
    'GET /all': async (request) => ({ user: request.session.user })
  })

  test('a read-only request that reads object attributes encodes nothing and writes nothing', async () => {
    const { client } = await startApp(cluster, apps, { serializer: countingSerializer, touchInterval: 60, maxInactiveInterval: 600 }, routes)
    await client.post('/login')
    const before = encodes.count
    const { result, ops } = await operationsDuring(cluster, () => client.get('/read'))
    assert.deepEqual(result.body, { id: 'ada', city: 'Paris', roles: 1 })
    assert.equal(encodes.count - before, 0, 'the serializer was not called')
    assert.deepEqual(ops, { get: 1, set: 0, touch: 0, delete: 0, flush: 0 })
  })

  test('a mutation in place, nested included, is saved', async () => {
    const { client } = await startApp(cluster, apps, { serializer: countingSerializer }, routes)
    await client.post('/login')
    const push = await operationsDuring(cluster, () => client.get('/push'))
    assert.equal(push.ops.set, 2, 'primary and backup')
    const before = encodes.count
    await client.get('/nested')
    assert.equal(encodes.count - before, 1, 'one encode for the write')
    assert.deepEqual((await client.get('/all')).body.user, { id: 'ada', roles: ['a', 'b'], profile: { city: 'Lyon' } })
  })

  test('a nested null read through an object read from the session is null', async () => {
    const { client } = await startApp(cluster, apps, {}, appWith({
      'POST /login': async (request) => { request.session.user = { id: 'x', address: null, tags: [null] }; return {} },
      'GET /address': async (request) => ({ address: request.session.user.address, tag: request.session.user.tags[0] })
    }))
    await client.post('/login')
    const response = await client.get('/address')
    assert.equal(response.status, 200)
    assert.deepEqual(response.body, { address: null, tag: null })
  })

  test('the same object read twice is the same object', async () => {
    const { client } = await startApp(cluster, apps, {}, appWith({
      'POST /login': async (request) => { request.session.user = { id: 'x' }; return {} },
      'GET /same': async (request) => ({ same: request.session.user === request.session.get('user') })
    }))
    await client.post('/login')
    assert.deepEqual((await client.get('/same')).body, { same: true })
  })
})

describe('values read before destroy() or regenerate()', () => {
  /** The Set-Cookie of a cookie the browser must drop. */
  const EXPIRED = /Max-Age=0|Expires=Thu, 01 Jan 1970/i
  const routes = appWith({
    'POST /login': async (request) => { request.session.user = { id: 'ada', cart: ['a'], since: new Date(0) }; return {} },
    'POST /logout': async (request) => {
      const user = request.session.user
      await request.session.destroy()
      const id = request.session.sessionId
      // A Date, which no proxy can watch, read through an object read before destroy()
      user.since.setTime(1000)
      user.cart.push('b')
      user.profile = { city: 'Lyon' }
      return { id, modified: request.session.isModified() }
    },
    'POST /regenerate': async (request) => {
      const user = request.session.user
      await request.session.regenerate(['user'])
      await request.session.save()
      user.cart.push('c')
      return {}
    },
    'POST /logout-audited': async (request) => {
      await request.session.destroy()
      return { id: request.session.sessionId }
    },
    'GET /me': async (request) => ({ isNew: request.session.isNew, user: request.session.user ?? null })
  })

  test('destroy() expires the cookie even when sessionId is read after it', async () => {
    const { client } = await startApp(cluster, apps, {}, routes)
    await client.post('/login')
    const { result, ops } = await operationsDuring(cluster, () => client.post('/logout-audited'))
    assert.match(result.body.id, /^[0-9a-f]{32}-n[12]$/)
    assert.match(result.headers.get('set-cookie') ?? '', EXPIRED)
    assert.equal(client.cookies.size, 0)
    assert.deepEqual(ops, { get: 1, set: 0, touch: 0, delete: 2, flush: 0 })
  })

  test('changing a value read before destroy() does not store a new session', async () => {
    const { client } = await startApp(cluster, apps, {}, routes)
    await client.post('/login')
    const { result, ops } = await operationsDuring(cluster, () => client.post('/logout'))
    assert.equal(result.body.modified, false, 'the destroyed data is no longer the session')
    assert.equal(ops.set, 0, 'nothing written: no empty session under a new id')
    assert.equal(ops.delete, 2, 'both copies deleted')
    assert.match(result.headers.get('set-cookie') ?? '', EXPIRED, 'the cookie is expired')
    assert.equal(client.cookies.size, 0)
    assert.deepEqual((await client.get('/me')).body, { isNew: true, user: null })
  })

  test('a value kept by regenerate() and read before it is still tracked after a save()', async () => {
    const { client } = await startApp(cluster, apps, {}, routes)
    await client.post('/login')
    await client.post('/regenerate')
    assert.deepEqual((await client.get('/me')).body, { isNew: false, user: { id: 'ada', cart: ['a', 'c'], since: new Date(0).toISOString() } })
  })
})

describe('@fastify/session methods', () => {
  test('every async method takes a callback, always called, and returns a promise', async () => {
    const { client } = await startApp(cluster, apps, {}, appWith({
      'GET /callbacks': async (request) => {
        request.session.a = 1
        const called: string[] = []
        const via = (name: string) => (error?: Error) => { called.push(`${name}:${error === undefined ? 'ok' : error.message}`) }
        await request.session.save(via('save'))
        await request.session.reload(via('reload'))
        await request.session.regenerate(['a'], via('regenerate'))
        await request.session.regenerate(via('regenerate-cb-only'))
        await request.session.destroy(via('destroy'))
        return { called }
      }
    }))
    assert.deepEqual((await client.get('/callbacks')).body.called, ['save:ok', 'reload:ok', 'regenerate:ok', 'regenerate-cb-only:ok', 'destroy:ok'])
  })

  test('save(callback) that fails calls the callback with the error', async () => {
    const { client } = await startApp(cluster, apps, { maxSessionSize: 2000 }, appWith({
      'GET /save-too-big': async (request) => {
        request.session.set('big', 'x'.repeat(5000))
        let heard = 'not called'
        await request.session.save((error?: Error) => { heard = (error as { code?: string } | undefined)?.code ?? 'no error' })
        request.session.set('big', 'small')
        return { heard }
      }
    }))
    assert.deepEqual((await client.get('/save-too-big')).body, { heard: 'FST_MSM_SESSION_TOO_LARGE' })
  })

  test('save() writes before the response: another instance reads it while the request is still running', async () => {
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => { release = resolve })
    const a = await startApp(cluster, apps, {}, appWith({
      'POST /create': async (request) => { request.session.n = 1; return {} },
      'GET /save-and-wait': async (request) => {
        request.session.n = 2
        await request.session.save()
        await held
        return { saved: request.session.isSaved(), modified: request.session.isModified() }
      }
    }))
    const b = await startApp(cluster, apps, {}, appWith({ 'GET /n': async (request) => ({ n: request.session.n ?? null }) }))
    await a.client.post('/create')
    const pending = a.client.get('/save-and-wait')
    b.client.cookies = a.client.cookies
    let seen: unknown = null
    for (let attempt = 0; attempt < 100 && seen !== 2; attempt++) {
      seen = (await b.client.get('/n')).body.n
      if (seen !== 2) await new Promise((resolve) => setTimeout(resolve, 10))
    }
    assert.equal(seen, 2, 'B read the saved value before A answered')
    release()
    assert.deepEqual((await pending).body, { saved: true, modified: false })
  })

  test('reload() drops the unsaved changes of this request', async () => {
    const { client } = await startApp(cluster, apps, {}, appWith({
      'POST /create': async (request) => { request.session.n = 1; return {} },
      'GET /reload': async (request) => {
        request.session.n = 99
        const modified = request.session.isModified()
        await request.session.reload()
        return { n: request.session.n, modified, after: request.session.isModified() }
      }
    }))
    await client.post('/create')
    assert.deepEqual((await client.get('/reload')).body, { n: 1, modified: true, after: false })
  })

  test('sessionId of a new session stores nothing and sends no cookie; encryptedSessionId is the signed cookie value', async () => {
    const { client } = await startApp(cluster, apps, {}, appWith({
      'GET /peek': async (request) => ({ id: request.session.sessionId }),
      'GET /login': async (request) => { request.session.user = 'ada'; return { id: request.session.sessionId, encrypted: request.session.encryptedSessionId } }
    }, 'a secret of at least thirty-two characters!!'))
    const { result, ops } = await operationsDuring(cluster, () => client.get('/peek'))
    assert.match(result.body.id, /^[0-9a-f]{32}-n[12]$/)
    assert.equal(result.headers.get('set-cookie'), null)
    assert.deepEqual(ops, { get: 0, set: 0, touch: 0, delete: 0, flush: 0 })
    const login = await client.get('/login')
    assert.match(login.body.encrypted, new RegExp(`^${login.body.id as string}\\.[A-Za-z0-9+/_-]+$`))
    assert.equal(client.cookies.get('sessionId'), login.body.encrypted)
  })

  test('cookie reports the attributes in milliseconds, and options({ maxAge }) sets this session\'s cookie lifetime', async () => {
    const { client } = await startApp(cluster, apps, { cookie: { maxAge: 3600 } }, appWith({
      'GET /cookie': async (request) => {
        request.session.n = 1
        const before = { maxAge: request.session.cookie.maxAge, originalMaxAge: request.session.cookie.originalMaxAge, path: request.session.cookie.path, httpOnly: request.session.cookie.httpOnly, sameSite: request.session.cookie.sameSite, expires: request.session.cookie.expires instanceof Date }
        request.session.options({ maxAge: 60_000 })
        return { before, after: request.session.cookie.maxAge }
      }
    }))
    const response = await client.get('/cookie')
    assert.deepEqual(response.body, { before: { maxAge: 3_600_000, originalMaxAge: 3_600_000, path: '/', httpOnly: true, sameSite: 'lax', expires: true }, after: 60_000 })
    assert.match(response.headers.get('set-cookie') ?? '', /Max-Age=60(;|$)/)
  })
})
