// A session's own lifetimes (request.session.maxInactiveInterval, its cookie
// lifetime) on the in-memory memcached: what stores them, what they survive
// and what resets them, counted with the nodes' own counters. The waiting
// across real instances is in test/integration/session-lifetimes.test.ts.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { useClusterPerTest } from '../helpers/fixtures.js'
import { buildApp, CookieClient, idOf, nodeOf, startApp, type StartedApp, type TestAppOptions } from '../helpers/app.js'
import type { MsmOptions } from '../../lib/index.js'

let cluster: MemoryCluster
const apps = useClusterPerTest(2, (started) => { cluster = started }, startMemoryCluster)
const sets = (): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats().cmd_set, 0)

/** The test app, with routes that change the lifetimes around regenerate, changeSessionId and destroy. */
async function app (options: Partial<MsmOptions> = {}): Promise<StartedApp> {
  const build = async (appOptions: TestAppOptions): Promise<FastifyInstance> => {
    const fastify = await buildApp(appOptions)
    fastify.post('/regenerate-keeping', async (request) => {
      await request.session.regenerate(['n'])
      return { n: request.session.get('n') ?? null }
    })
    fastify.post('/destroy-then-read', async (request) => {
      await request.session.destroy()
      return { maxInactiveInterval: request.session.maxInactiveInterval, cookieMaxAge: request.session.cookie.maxAge }
    })
    return fastify
  }
  return await startApp(cluster, apps, { maxInactiveInterval: 1800, cookie: { maxAge: 3600 }, ...options }, { build })
}

async function remembered (client: CookieClient): Promise<void> {
  await client.get('/count')
  await client.post('/remember', { mii: 86_400, cookieMaxAgeMs: 2_592_000_000 })
}

const lifetimes = async (client: CookieClient): Promise<unknown> => (await client.get('/lifetimes')).body

describe('what stores a session\'s own lifetimes', () => {
  test('setting one writes the session (both copies) even when no attribute changed; setting the same value again writes nothing', async () => {
    const { client } = await app()
    await client.get('/count')
    let before = sets()
    await client.post('/remember', { mii: 86_400 })
    assert.equal(sets() - before, 2, 'primary and backup')
    assert.deepEqual(await lifetimes(client), { maxInactiveInterval: 86_400, cookieMaxAge: 3_600_000 })
    before = sets()
    await client.post('/remember', { mii: 86_400 })
    assert.equal(sets() - before, 0, 'the same value: nothing to write')
    await client.post('/remember', { cookieMaxAgeMs: 60_000 })
    assert.equal(sets() - before, 2, 'a cookie lifetime of its own is stored too')
    assert.deepEqual(await lifetimes(client), { maxInactiveInterval: 86_400, cookieMaxAge: 60_000 })
  })

  test('a new session that only got a lifetime holds nothing: neither stored nor given a cookie', async () => {
    const { client } = await app()
    const before = sets()
    await client.post('/remember', { mii: 86_400 })
    assert.equal(sets() - before, 0)
    assert.deepEqual(client.lastSetCookie, [])
  })
})

describe('what a session\'s own lifetimes survive, and what resets them', () => {
  test('changeSessionId() keeps both', async () => {
    const { client } = await app()
    await remembered(client)
    await client.post('/change-id')
    assert.match(client.lastSetCookie[0] ?? '', /Max-Age=2592000\b/)
    assert.deepEqual(await lifetimes(client), { maxInactiveInterval: 86_400, cookieMaxAge: 2_592_000_000 })
  })

  test('regenerate() resets the idle timeout to the plugin\'s and keeps the cookie lifetime, as @fastify/session keeps its cookie options', async () => {
    const { client } = await app()
    await remembered(client)
    assert.deepEqual((await client.post('/regenerate-keeping')).body, { n: 1 })
    assert.deepEqual(await lifetimes(client), { maxInactiveInterval: 1800, cookieMaxAge: 2_592_000_000 })
  })

  test('destroy() resets both: the request goes on with a new, empty session of the plugin\'s lifetimes', async () => {
    const { client } = await app()
    await remembered(client)
    assert.deepEqual((await client.post('/destroy-then-read')).body, { maxInactiveInterval: 1800, cookieMaxAge: 3_600_000 })
  })

  test('a session read from its backup after its primary restarted empty keeps them', async () => {
    const { client } = await app()
    await remembered(client)
    const id = idOf(client)
    await cluster.node(nodeOf(id)).restart()
    assert.equal(cluster.node(nodeOf(id)).server.peek(id), undefined, 'the primary copy is gone')
    assert.deepEqual(await lifetimes(client), { maxInactiveInterval: 86_400, cookieMaxAge: 2_592_000_000 })
    assert.notEqual(cluster.node(nodeOf(id)).server.peek(id), undefined, 'written back from the backup')
  })
})

describe('the session object', () => {
  test('maxInactiveInterval reads the plugin\'s value until set, and is not an attribute', async () => {
    const { client } = await app()
    await client.get('/count')
    assert.deepEqual(await lifetimes(client), { maxInactiveInterval: 1800, cookieMaxAge: 3_600_000 })
    await client.post('/remember', { mii: 60 })
    const attributes = (await client.get('/attributes')).body
    assert.deepEqual(Object.keys(attributes), ['n'], 'no attribute named maxInactiveInterval')
  })

  test('with a configured touchInterval, a value not above it is refused as the option is', async () => {
    const { client } = await app({ touchInterval: 120 })
    await client.get('/count')
    const response = await client.post('/remember', { mii: 120 })
    assert.equal(response.status, 500)
    assert.equal(response.body.code, 'FST_MSM_OPTION_INVALID')
    assert.match(response.body.message, /session\.maxInactiveInterval.*greater than the configured touchInterval \(120 s\)/)
    assert.equal((await client.post('/remember', { mii: 121 })).status, 200)
  })
})
