// The ecosystem's session plugins on fastify-msm, across TWO app processes on one real
// memcached cluster: a browser (one cookie jar) talks to instance A, then to B.
// @fastify/csrf-protection (sessionPlugin '@fastify/session': property access, and
// '@fastify/secure-session': get/set), @fastify/passport with passport-local (login
// regenerates the session, logout clears it) and @fastify/flash (brought by passport).
import { after, before, describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'
import { type AppProcess, startAppProcess } from '../helpers/processes.js'
import { CookieClient, idOf } from '../helpers/app.js'
import type { CsrfSessionPlugin, EcosystemAppOptions } from './ecosystem-app.js'

const APP = join(__dirname, 'ecosystem-app.ts')
const MODES: CsrfSessionPlugin[] = ['@fastify/session', '@fastify/secure-session']
const START_TIMEOUT = 60_000
const TEST_TIMEOUT = 30_000
const ADA = { username: 'ada', password: 'lovelace' }

/** A tab of the same browser on another instance: both clients share one cookie jar. */
function on (base: string, client: CookieClient): CookieClient {
  const other = new CookieClient(base)
  other.cookies = client.cookies
  return other
}

/** The session id in a (signed) cookie value: `<id>.<signature>`. */
function sessionIdIn (cookieValue: string): string {
  const value = decodeURIComponent(cookieValue)
  return value.slice(0, value.lastIndexOf('.'))
}

/** How many copies of the session (primary and backup) the memcached nodes hold. */
async function copiesOf (cluster: MemcachedCluster, cookieValue: string): Promise<number> {
  const id = sessionIdIn(cookieValue)
  let copies = 0
  for (const node of cluster.nodes) {
    for (const key of [id, `bak:${id}`]) if (await node.get(key) !== undefined) copies++
  }
  return copies
}

/** A browser that kept an old session cookie. */
function withCookie (base: string, cookieValue: string): CookieClient {
  const client = new CookieClient(base)
  client.cookies.set('sessionId', cookieValue)
  return client
}

for (const mode of MODES) {
  describe(`@fastify/csrf-protection with sessionPlugin '${mode}', @fastify/passport and @fastify/flash on two processes`, () => {
    let cluster: MemcachedCluster | undefined
    let a: AppProcess | undefined
    let b: AppProcess | undefined
    /** A fresh browser on A, and the same browser on B. */
    const browser = (): { onA: CookieClient, onB: CookieClient } => {
      const onA = new CookieClient((a as AppProcess).base)
      return { onA, onB: on((b as AppProcess).base, onA) }
    }

    before(async () => {
      cluster = await startCluster(2)
      const options: EcosystemAppOptions = { msm: { nodes: cluster.spec }, csrfSessionPlugin: mode }
      const started = await Promise.allSettled([
        startAppProcess(options, { script: APP, timeoutMs: START_TIMEOUT }),
        startAppProcess(options, { script: APP, timeoutMs: START_TIMEOUT })
      ])
      if (started[0].status === 'fulfilled') a = started[0].value
      if (started[1].status === 'fulfilled') b = started[1].value
      for (const result of started) if (result.status === 'rejected') throw result.reason
    }, { timeout: START_TIMEOUT + 10_000 })

    after(async () => {
      await Promise.all([a?.stop(), b?.stop()])
      await cluster?.stop()
    }, { timeout: START_TIMEOUT })

    describe('@fastify/csrf-protection', () => {
      test('a CSRF token from instance A is accepted on B', { timeout: TEST_TIMEOUT }, async () => {
        const { onA, onB } = browser()
        const issued = await onA.get('/csrf')
        assert.equal(issued.status, 200)
        assert.equal(typeof issued.body.token, 'string')
        assert.ok(idOf(onA) !== undefined, 'storing the CSRF secret starts a session and sends its cookie')
        const transfer = await onB.request('/transfer', { method: 'POST', body: JSON.stringify({ amount: 10 }), headers: { 'csrf-token': issued.body.token } })
        assert.equal(transfer.status, 200, JSON.stringify(transfer.body))
        assert.deepEqual(transfer.body, { ok: true, amount: 10 })
        // A second token from B is signed with the same secret, and accepted on A
        const again = await onB.get('/csrf')
        const back = await onA.request('/transfer', { method: 'POST', body: JSON.stringify({ amount: 5 }), headers: { 'csrf-token': again.body.token } })
        assert.equal(back.status, 200, JSON.stringify(back.body))
      })

      test('a forged CSRF token is refused with 403', { timeout: TEST_TIMEOUT }, async () => {
        const { onA, onB } = browser()
        const issued = await onA.get('/csrf')
        assert.equal(issued.status, 200)
        // A token of another session, and a made-up one
        const attacker = new CookieClient((a as AppProcess).base)
        const attackersToken = (await attacker.get('/csrf')).body.token as string
        for (const token of [attackersToken, 'forged-token', issued.body.token.slice(0, -2) + 'xx']) {
          const refused = await onB.request('/transfer', { method: 'POST', body: JSON.stringify({ amount: 10 }), headers: { 'csrf-token': token } })
          assert.equal(refused.status, 403, `token ${token}`)
          assert.equal(refused.body.code, 'FST_CSRF_INVALID_TOKEN')
        }
        const missing = await onB.post('/transfer', { amount: 10 })
        assert.equal(missing.status, 403)
        // A browser without a session has no secret at all
        const stranger = await new CookieClient((b as AppProcess).base).request('/transfer', { method: 'POST', body: JSON.stringify({ amount: 10 }), headers: { 'csrf-token': issued.body.token } })
        assert.equal(stranger.status, 403)
        assert.equal(stranger.body.code, 'FST_CSRF_MISSING_SECRET')
        // The genuine token still works after the refusals
        const accepted = await onB.request('/transfer', { method: 'POST', body: JSON.stringify({ amount: 1 }), headers: { 'csrf-token': issued.body.token } })
        assert.equal(accepted.status, 200)
      })
    })

    describe('@fastify/passport', () => {
      test('a login on A is known on B, and the pre-login data is cleared (new session id)', { timeout: TEST_TIMEOUT }, async () => {
        const { onA, onB } = browser()
        assert.deepEqual((await onA.post('/cart', { item: 'book' })).body, { cart: ['book'] })
        const before = await onB.get('/me')
        assert.deepEqual([before.body.user, before.body.authenticated, before.body.cart], [null, false, ['book']])
        const preLogin = idOf(onA)
        assert.equal(await copiesOf(cluster as MemcachedCluster, preLogin), 2, 'primary and backup')

        const login = await onA.post('/login', ADA)
        assert.equal(login.status, 200, JSON.stringify(login.body))
        assert.deepEqual(login.body.user, { id: 'u1', name: 'ada' })
        assert.notEqual(idOf(onA), preLogin, 'login regenerates the session: a new id in the cookie')

        const me = await onB.get('/me')
        assert.deepEqual(me.body.user, { id: 'u1', name: 'ada' })
        assert.equal(me.body.authenticated, true)
        assert.equal(me.body.cart, null, 'the pre-login cart is cleared at login')
        // The pre-login session is gone: its old cookie has neither user nor cart
        const oldCookie = await withCookie((b as AppProcess).base, preLogin).get('/me')
        assert.deepEqual([oldCookie.body.user, oldCookie.body.cart], [null, null])
        assert.equal(await copiesOf(cluster as MemcachedCluster, preLogin), 0, 'both copies of the pre-login session are deleted')
        assert.equal(await copiesOf(cluster as MemcachedCluster, idOf(onA)), 2)
      })

      test('a wrong password is refused with 401 and logs nobody in', { timeout: TEST_TIMEOUT }, async () => {
        const { onA, onB } = browser()
        await onA.post('/cart', { item: 'book' })
        const refused = await onA.post('/login', { username: 'ada', password: 'wrong' })
        assert.equal(refused.status, 401)
        const me = await onB.get('/me')
        assert.deepEqual([me.body.user, me.body.cart], [null, ['book']])
      })

      test('with keepSessionInfo the pre-login data survives the login', { timeout: TEST_TIMEOUT }, async () => {
        const { onA, onB } = browser()
        await onA.post('/cart', { item: 'book' })
        await onB.post('/cart', { item: 'pen' })
        const preLogin = idOf(onA)
        const login = await onA.post('/login-keep', ADA)
        assert.equal(login.status, 200, JSON.stringify(login.body))
        assert.notEqual(idOf(onA), preLogin, 'the session still gets a new id')
        const me = await onB.get('/me')
        assert.deepEqual(me.body.user, { id: 'u1', name: 'ada' })
        assert.deepEqual(me.body.cart, ['book', 'pen'])
      })

      test('logout on B clears everything: the old cookie has no user and no cart', { timeout: TEST_TIMEOUT }, async () => {
        const { onA, onB } = browser()
        await onA.post('/cart', { item: 'book' })
        assert.equal((await onA.post('/login-keep', ADA)).status, 200)
        await onA.post('/cart', { item: 'pen' })
        const loggedIn = idOf(onA)
        assert.equal(await copiesOf(cluster as MemcachedCluster, loggedIn), 2, 'primary and backup')
        const known = await onB.get('/me')
        assert.deepEqual([known.body.user, known.body.cart], [{ id: 'u1', name: 'ada' }, ['book', 'pen']])

        const logout = await onB.post('/logout')
        assert.equal(logout.status, 200, JSON.stringify(logout.body))
        assert.deepEqual(logout.body, { user: null })

        const me = await onA.get('/me')
        assert.deepEqual([me.body.user, me.body.authenticated, me.body.cart], [null, false, null])
        for (const base of [(a as AppProcess).base, (b as AppProcess).base]) {
          const oldCookie = await withCookie(base, loggedIn).get('/me')
          assert.deepEqual([oldCookie.body.user, oldCookie.body.authenticated, oldCookie.body.cart], [null, false, null], `old cookie on ${base}`)
        }
        assert.equal(await copiesOf(cluster as MemcachedCluster, loggedIn), 0, 'both copies of the logged-in session are deleted')
      })
    })

    describe('@fastify/flash', () => {
      test('a flash message set on A is shown once on B', { timeout: TEST_TIMEOUT }, async () => {
        const { onA, onB } = browser()
        assert.deepEqual((await onA.get('/flash/set')).body, { count: 1 })
        assert.deepEqual((await onB.get('/flash/show')).body, { info: ['x'] })
        assert.deepEqual((await onB.get('/flash/show')).body, { info: [] }, 'gone on the next request')
        assert.deepEqual((await onA.get('/flash/show')).body, { info: [] }, 'and on the other instance')
      })
    })
  })
}
