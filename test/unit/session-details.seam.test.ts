// Details of request.session on the in-memory memcached: the cookie view
// (domain, secure 'auto', expires, maxAge checks), the session cookie as sent
// and read (length limit, invalid cookies, signatures, clearing), and which
// API calls store, send or delete something. Written for mutants that
// survived the rest of the suite (test/mutation/REPORT.md).
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm, { type MsmOptions } from '../../lib/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { useClusterPerTest } from '../helpers/fixtures.js'
import { CookieClient, idOf, startApp, type StartedApp, type TestAppOptions } from '../helpers/app.js'

let cluster: MemoryCluster
const apps = useClusterPerTest(2, (started) => { cluster = started }, startMemoryCluster)

type Handler = (request: any, reply: any) => Promise<unknown>

/** An app with the given routes (and /count); `secret` signs the cookie. */
async function appWith (options: Partial<MsmOptions>, routes: Record<string, Handler>, secret?: string | string[]): Promise<StartedApp> {
  const build = async (app: TestAppOptions): Promise<FastifyInstance> => {
    const fastify = Fastify()
    await fastify.register(cookie, secret === undefined ? {} : { secret })
    await fastify.register(msm, app.msm)
    fastify.get('/count', async (request) => {
      const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
      request.session.set('n', n)
      return { n }
    })
    for (const [route, handler] of Object.entries(routes)) {
      const [method, url] = route.split(' ') as [string, string]
      fastify.route({ method: method as 'GET', url, handler })
    }
    return fastify
  }
  return await startApp(cluster, apps, { operationTimeout: 300, ...options }, { build })
}

/** memcached commands that change something, on every node. */
const writes = (): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats().cmd_set, 0)
const gets = (): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats().cmd_get, 0)

describe('session.cookie', () => {
  test('domain is null when none is configured, and the configured one otherwise', async () => {
    const route = { 'GET /domain': async (request: any) => ({ domain: request.session.cookie.domain }) }
    assert.deepEqual((await (await appWith({}, route)).client.get('/domain')).body, { domain: null })
    assert.deepEqual((await (await appWith({ cookie: { domain: 'example.com' } }, route)).client.get('/domain')).body, { domain: 'example.com' })
  })

  test("secure: 'auto' is true on https only; true and false are what they say", async () => {
    const route = { 'GET /secure': async (request: any) => ({ secure: request.session.cookie.secure }) }
    assert.equal((await (await appWith({ cookie: { secure: 'auto' } }, route)).client.get('/secure')).body.secure, false, 'plain http')
    assert.equal((await (await appWith({ cookie: { secure: true } }, route)).client.get('/secure')).body.secure, true)
    assert.equal((await (await appWith({ cookie: { secure: false } }, route)).client.get('/secure')).body.secure, false)
  })

  test('expires lies maxAge in the future, and setting expires sets maxAge', async () => {
    const { client } = await appWith({ cookie: { maxAge: 3600 } }, {
      'GET /expires': async (request: any) => {
        const before = request.session.cookie.expires.getTime() - Date.now()
        request.session.cookie.expires = new Date(Date.now() + 120_000)
        const maxAge = request.session.cookie.maxAge as number
        request.session.cookie.expires = null
        return { before, maxAge, reset: request.session.cookie.maxAge }
      }
    })
    const { before, maxAge, reset } = (await client.get('/expires')).body
    assert.ok(before > 3_590_000 && before <= 3_600_000, `about an hour: ${before}`)
    assert.ok(maxAge > 110_000 && maxAge <= 120_000, `about two minutes: ${maxAge}`)
    assert.equal(reset, null, 'null: a browser-session cookie, as in @fastify/session')
  })

  test('maxAge takes milliseconds from 0 to 400 days, or null; anything else is refused with a coded error', async () => {
    const { client } = await appWith({}, {
      'POST /max-age': async (request: any) => {
        try {
          request.session.cookie.maxAge = (request.body as { value: unknown }).value
          return { maxAge: request.session.cookie.maxAge }
        } catch (error) {
          return { error: (error as { code?: string }).code }
        }
      }
    })
    const set = async (value: unknown): Promise<unknown> => (await client.post('/max-age', { value })).body
    assert.deepEqual(await set(0), { maxAge: 0 })
    assert.deepEqual(await set(1500), { maxAge: 1500 })
    assert.deepEqual(await set(null), { maxAge: null })
    assert.deepEqual(await set(-1), { error: 'FST_MSM_OPTION_INVALID' })
    assert.deepEqual(await set('1e400'), { error: 'FST_MSM_OPTION_INVALID' }, 'not a number')
    assert.deepEqual(await set(400 * 86_400_000 + 1), { error: 'FST_MSM_OPTION_INVALID' }, 'past 400 days, which no browser keeps')
  })

  test('options() without maxAge changes nothing and sends no cookie', async () => {
    const { client } = await appWith({}, {
      'GET /options': async (request: any) => {
        request.session.options({})
        return { maxAge: request.session.cookie.maxAge }
      }
    })
    await client.get('/count')
    const response = await client.get('/options')
    assert.deepEqual(response.body, { maxAge: null })
    assert.equal(response.headers.get('set-cookie'), null)
  })
})

describe('the session cookie', () => {
  test('a cookie over the length of a signed id is refused without a lookup, and counted', async () => {
    const { app, client } = await appWith({}, {}, 'a secret that is long enough')
    await client.get('/count')
    const long = new CookieClient(client.base)
    long.cookies.set('sessionId', `${idOf(client)}${'x'.repeat(300)}`)
    const before = gets()
    assert.equal((await long.get('/count')).body.n, 1)
    assert.equal(gets(), before)
    assert.equal(app.msm.stats().invalidCookies, 1)
  })

  test('a valid cookie is not counted as invalid; each invalid one is', async () => {
    const { app, client } = await appWith({}, {})
    await client.get('/count')
    await client.get('/count')
    assert.equal(app.msm.stats().invalidCookies, 0)
    const bad = new CookieClient(client.base)
    bad.cookies.set('sessionId', 'not-an-id')
    await bad.get('/count')
    assert.equal(app.msm.stats().invalidCookies, 1)
  })

  test('a cookie signed with an older secret is accepted and sent again, signed with the current one', async () => {
    const old = await appWith({}, {}, 'the old secret, long enough')
    const client = old.client
    await client.get('/count')
    const oldValue = idOf(client)
    const rotated = await appWith({}, {}, ['the new secret, long enough', 'the old secret, long enough'])
    client.base = rotated.base
    const first = await client.get('/count')
    assert.equal(first.body.n, 2)
    assert.notEqual(idOf(client), oldValue, 'sent again')
    assert.equal(idOf(client).split('.')[0], oldValue.split('.')[0], 'the same session')
    const again = await client.get('/count')
    assert.equal(again.body.n, 3)
    assert.equal(again.headers.get('set-cookie'), null, 'once')
    const stale = new CookieClient(rotated.base)
    stale.cookies.set('sessionId', oldValue)
    assert.notEqual((await stale.get('/count')).headers.get('set-cookie'), null, 'every request with the old signature gets the new one')
  })

  test("SameSite=None is sent as Lax on plain http only with secure: 'auto'", async () => {
    const sameSite = async (cookieOptions: MsmOptions['cookie']): Promise<string | undefined> => {
      const { client } = await appWith({ cookie: cookieOptions }, {})
      const header = (await client.get('/count')).headers.get('set-cookie') ?? ''
      return /SameSite=(\w+)/.exec(header)?.[1]
    }
    assert.equal(await sameSite({ secure: 'auto', sameSite: 'none' }), 'Lax')
    assert.equal(await sameSite({ secure: true, sameSite: 'none' }), 'None')
    assert.equal(await sameSite({ secure: 'auto', sameSite: 'strict' }), 'Strict')
  })

  test('a cookie with a maxAge is sent again when the session is extended; one without is not', async () => {
    const rolling = await appWith({ cookie: { maxAge: 600 } }, { 'GET /touch': async (request: any) => { request.session.touch(); return { ok: true } } })
    await rolling.client.get('/count')
    assert.match((await rolling.client.get('/touch')).headers.get('set-cookie') ?? '', /Max-Age=600/)
    const plain = await appWith({}, { 'GET /touch': async (request: any) => { request.session.touch(); return { ok: true } } })
    await plain.client.get('/count')
    assert.equal((await plain.client.get('/touch')).headers.get('set-cookie'), null)
  })

  test('without a cookie secret, encryptedSessionId is the id itself', async () => {
    const { client } = await appWith({}, { 'GET /ids': async (request: any) => ({ same: request.session.encryptedSessionId === request.session.sessionId }) })
    assert.deepEqual((await client.get('/ids')).body, { same: true })
  })

  test('destroy clears the cookie on the configured path and domain', async () => {
    const { client } = await appWith({ cookie: { path: '/app', domain: 'example.com' } }, {
      'POST /app/destroy': async (request: any) => { await request.session.destroy(); return { ok: true } },
      'GET /app/count': async (request: any) => { request.session.set('n', 1); return { ok: true } }
    })
    await client.get('/app/count')
    const cleared = (await client.post('/app/destroy')).headers.get('set-cookie') ?? ''
    assert.match(cleared, /Path=\/app/)
    assert.match(cleared, /Domain=example\.com/)
    assert.match(cleared, /Expires=Thu, 01 Jan 1970/)
  })
})

describe('what the API stores and deletes', () => {
  test('deleting an attribute the session does not have writes nothing', async () => {
    const { client } = await appWith({}, { 'GET /delete-missing': async (request: any) => { request.session.delete('nope'); return { ok: true } } })
    await client.get('/count')
    const before = writes()
    await client.get('/delete-missing')
    assert.equal(writes(), before)
  })

  test('set(key, undefined) deletes the attribute', async () => {
    const { client } = await appWith({}, { 'GET /unset': async (request: any) => { request.session.set('n', undefined); return { has: 'n' in request.session } } })
    await client.get('/count')
    assert.deepEqual((await client.get('/unset')).body, { has: false })
    assert.equal((await client.get('/count')).body.n, 1, 'it was stored without n')
  })

  test('destroy of a session that was never stored deletes nothing and sends no cookie', async () => {
    const { client } = await appWith({}, { 'POST /destroy': async (request: any) => { await request.session.destroy(); return { ok: true } } })
    const response = await client.post('/destroy')
    assert.equal(response.headers.get('set-cookie'), null)
    assert.equal(cluster.nodes.reduce((sum, node) => sum + node.server.stats().delete_hits + node.server.stats().delete_misses, 0), 0)
  })

  test('regenerate keeps only the named attributes that exist, under a new id', async () => {
    const { client } = await appWith({}, {
      'POST /setup': async (request: any) => { request.session.a = 1; request.session.b = 2; return { ok: true } },
      'POST /regenerate': async (request: any) => { await request.session.regenerate(['a', 'missing']); return { keys: Object.keys(request.session) } },
      'GET /keys': async (request: any) => ({ keys: Object.keys(request.session) })
    })
    await client.post('/setup')
    const before = idOf(client)
    assert.deepEqual((await client.post('/regenerate')).body, { keys: ['a'] })
    assert.notEqual(idOf(client), before)
    assert.deepEqual((await client.get('/keys')).body, { keys: ['a'] })
  })

  test('changeSessionId of a session that was never stored removes nothing and stores it under the new id', async () => {
    const { app, client } = await appWith({}, {
      'POST /fresh': async (request: any) => { request.session.set('n', 7); await request.session.changeSessionId(); return { id: request.session.id } }
    })
    const { id } = (await client.post('/fresh')).body
    assert.equal(idOf(client), id)
    assert.equal(app.msm.stats().deleted, 0)
    assert.equal((await client.get('/count')).body.n, 8)
  })

  test('a session whose id was read before it held data is stored and gets its cookie once it does', async () => {
    const { client } = await appWith({}, {
      'GET /id-then-set': async (request: any) => { const id = request.session.sessionId as string; request.session.set('n', 41); return { id } }
    })
    const { id } = (await client.get('/id-then-set')).body
    assert.equal(idOf(client), id)
    assert.equal((await client.get('/count')).body.n, 42)
  })

  test('reload of a new session, even one with an id, asks no node and leaves it new and empty', async () => {
    const { client } = await appWith({}, {
      'GET /reload-new': async (request: any) => { const id = request.session.sessionId as string; await request.session.reload(); return { id: typeof id, keys: Object.keys(request.session), isNew: request.session.isNew } }
    })
    const before = gets()
    assert.deepEqual((await client.get('/reload-new')).body, { id: 'string', keys: [], isNew: true })
    assert.equal(gets(), before)
  })

  test('a Date read from the session and changed in place is saved', async () => {
    const { client } = await appWith({}, {
      'GET /date': async (request: any) => { request.session.set('when', new Date(0)); return { ok: true } },
      'GET /date/bump': async (request: any) => { (request.session.get('when') as Date).setTime(1000); return { ok: true } },
      'GET /date/read': async (request: any) => ({ time: (request.session.get('when') as Date).getTime() })
    })
    await client.get('/date')
    await client.get('/date/bump')
    assert.deepEqual((await client.get('/date/read')).body, { time: 1000 })
  })
})
