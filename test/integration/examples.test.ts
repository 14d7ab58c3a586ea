// The examples in examples/ are exercised here, so they cannot rot.
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { MemcachedCluster } from '../helpers/memcached.js'
import { useSharedCluster } from '../helpers/fixtures.js'
import { CookieClient, idOf, listen, nodeOf } from '../helpers/app.js'
import * as loginLogout from '../../examples/login-logout.js'
import * as ajaxLocking from '../../examples/ajax-locking.js'
import * as typedSession from '../../examples/typed-session.js'
import * as rememberMe from '../../examples/remember-me.js'

let cluster: MemcachedCluster
const apps = useSharedCluster(2, (started) => { cluster = started })

async function start (build: (nodes: string) => Promise<FastifyInstance>): Promise<CookieClient> {
  const app = await build(cluster.spec)
  apps.push(app)
  return new CookieClient(await listen(app))
}

test('examples/login-logout: login regenerates the id, logout destroys the session', async () => {
  const client = await start(loginLogout.build)
  assert.equal((await client.get('/me')).status, 401)
  assert.equal((await client.post('/login', { user: 'eve' })).status, 401)
  await client.post('/login', { user: 'ada' })
  const me = await client.get('/me')
  assert.equal(me.body.user.id, 'ada')
  const loggedIn = client.cookieHeader
  await client.post('/logout')
  assert.equal((await client.get('/me')).status, 401)
  assert.equal((await client.request('/me', { headers: { cookie: loggedIn } })).status, 401, 'the old cookie is dead')
})

test('examples/remember-me: a ticked box gives 30 days of idle time and a 30-day cookie, others the defaults; logout ends both', async () => {
  const remembered = await start(rememberMe.build)
  await remembered.post('/login', { user: 'ada', remember: true })
  assert.match(remembered.lastSetCookie[0] ?? '', /Max-Age=2592000\b/, 'a 30-day cookie')
  assert.equal((await remembered.get('/me')).body.idleTimeout, 30 * 24 * 3600)
  const id = decodeURIComponent(idOf(remembered)).split('.')[0] as string // the cookie is signed: id.signature
  const stored = await cluster.node(nodeOf(id)).ttl(id)
  assert.ok(stored !== null && stored > 30 * 24 * 3600, `stored for 30 days and more (an absolute time in memcached): ${String(stored)}`)

  const other = await start(rememberMe.build)
  await other.post('/login', { user: 'ada' })
  assert.doesNotMatch(other.lastSetCookie[0] ?? '', /Max-Age/, 'a browser-session cookie')
  assert.equal((await other.get('/me')).body.idleTimeout, 30 * 60)

  const loggedIn = remembered.cookieHeader
  await remembered.post('/logout')
  assert.match(remembered.lastSetCookie[0] ?? '', /Expires=Thu, 01 Jan 1970/, 'the cookie is expired')
  assert.equal((await remembered.request('/me', { headers: { cookie: loggedIn } })).status, 401, 'the remembered session is gone')
})

test('examples/ajax-locking: 30 parallel additions to one cart, none lost', async () => {
  const client = await start(ajaxLocking.build)
  await client.post('/cart', { item: 'first' })
  await Promise.all(Array.from({ length: 30 }, (_, i) => client.post('/cart', { item: `item-${i}` })))
  assert.equal((await client.get('/cart')).body.cart.length, 31)
})

test('examples/typed-session: typed values round-trip and bad ones are refused', async () => {
  const client = await start(typedSession.build)
  assert.deepEqual((await client.get('/visit')).body, { visits: 1, theme: 'light' })
  await client.post('/theme', { theme: 'dark' })
  assert.deepEqual((await client.get('/visit')).body, { visits: 2, theme: 'dark' })
  const refused = await client.post('/theme', { theme: 'neon' })
  assert.equal(refused.body.code, 'FST_MSM_SCHEMA_MISMATCH')
})
