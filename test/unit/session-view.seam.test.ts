// request.session as an object with attributes as properties
// (lib/session/tracking.ts): what reflection sees, null values, values read
// and set again (the object read, not a second proxy over it), symbol-keyed
// properties (no attributes: neither assigned nor deleted), and the stand-in
// session of an ignored route. Written for mutants that survived the rest of
// the suite (test/mutation/REPORT.md).
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm from '../../lib/index.js'
import { startMemoryCluster } from '../helpers/memory-memcached.js'
import { useClusterPerTest } from '../helpers/fixtures.js'
import { startApp, type StartedApp, type TestAppOptions } from '../helpers/app.js'
import { withRoutes } from '../helpers/requests.js'

const FAST = { operationTimeout: 300, nodeRetryInterval: 100 }
let cluster: Awaited<ReturnType<typeof startMemoryCluster>>
const apps = useClusterPerTest(2, (started) => { cluster = started }, startMemoryCluster)

async function app (): Promise<StartedApp> {
  const build = async (options: TestAppOptions): Promise<FastifyInstance> => {
    const fastify = Fastify()
    await fastify.register(cookie)
    await fastify.register(msm, options.msm)
    fastify.post('/setup', async (request) => {
      request.session.set('user', { name: 'ada', tags: ['a'] })
      request.session.set('nothing', null)
      return { ok: true }
    })
    fastify.get('/reflect', async (request) => {
      const session = request.session as unknown as Record<string, unknown>
      return {
        ownUser: Object.hasOwn(session, 'user'),
        ownMissing: Object.hasOwn(session, 'missing'),
        descriptor: Object.getOwnPropertyDescriptor(session, 'nothing'),
        missingDescriptor: Object.getOwnPropertyDescriptor(session, 'missing') ?? 'none',
        spread: Object.keys({ ...session }),
        nothing: request.session.get('nothing'),
        inSymbol: Symbol.iterator in session
      }
    })
    fastify.get('/copy-nested', async (request) => {
      // A tracked object set under another key is stored as the plain value
      const user = request.session.get('user') as { name: string, tags: string[] }
      request.session.set('copy', user)
      request.session.set('tags', user.tags)
      return { ok: true }
    })
    fastify.get('/read-all', async (request) => ({ copy: request.session.get('copy'), tags: request.session.get('tags') }))
    fastify.get('/ignored', { config: { session: false } }, async (request) => {
      const errors: string[] = []
      for (const use of [() => request.session.id, () => request.session.get('user'), () => { request.session.touch() }]) {
        try { use() } catch (error) { errors.push((error as { code: string }).code) }
      }
      return { errors }
    })
    return fastify
  }
  return await startApp(cluster, apps, { operationTimeout: 300 }, { build })
}

test('reflection sees exactly the attributes, as writable, enumerable data properties; null is a value', async () => {
  const { client } = await app()
  await client.post('/setup')
  const { body } = await client.get('/reflect')
  assert.deepEqual(body, {
    ownUser: true,
    ownMissing: false,
    descriptor: { value: null, writable: true, enumerable: true, configurable: true },
    missingDescriptor: 'none',
    spread: ['user', 'nothing'],
    nothing: null,
    inSymbol: false
  })
})

test('an object read from the session and set under another key is stored as its value', async () => {
  const { client } = await app()
  await client.post('/setup')
  assert.equal((await client.get('/copy-nested')).status, 200)
  assert.deepEqual((await client.get('/read-all')).body, { copy: { name: 'ada', tags: ['a'] }, tags: ['a'] })
})

test('an object read from the session and set again, as an attribute or inside one, reads back as that same object', async () => {
  const { client } = await startApp(cluster, apps, FAST, withRoutes((app) => {
    app.post('/setup', async (request) => {
      request.session.set('user', { name: 'ada' })
      request.session.set('cart', { items: [] })
      return { ok: true }
    })
    app.get('/alias', async (request) => {
      const user = request.session.get('user') as { name: string }
      request.session.set('owner', user)
      const cart = request.session.get('cart') as { items: unknown[], owner?: unknown }
      cart.owner = user
      return {
        attribute: request.session.get('owner') === user,
        nested: (request.session.get('cart') as { owner: unknown }).owner === user
      }
    })
  }))
  await client.post('/setup')
  assert.deepEqual((await client.get('/alias')).body, { attribute: true, nested: true })
})

test('a symbol-keyed property of request.session can be neither assigned nor deleted: FST_MSM_RESERVED_NAME, and nothing is stored', async () => {
  const marker = Symbol('marker')
  const { client } = await startApp(cluster, apps, FAST, withRoutes((app) => {
    app.get('/symbol', async (request) => {
      const session = request.session as unknown as Record<symbol, unknown>
      const codes: string[] = []
      const attempts = [() => { session[marker] = 1 }, () => { delete session[marker] }]
      for (const attempt of attempts) {
        try {
          attempt()
          codes.push('none')
        } catch (error) {
          codes.push((error as { code: string }).code)
        }
      }
      return { codes }
    })
  }))
  const sets = (): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats().cmd_set, 0)
  const before = sets()
  const response = await client.get('/symbol')
  assert.deepEqual(response.body, { codes: ['FST_MSM_RESERVED_NAME', 'FST_MSM_RESERVED_NAME'] })
  assert.deepEqual(response.headers.getSetCookie(), [], 'no session was created')
  assert.equal(sets() - before, 0, 'nothing was written')
})

test('the session of a route with config.session = false throws FST_MSM_SESSION_DISABLED on every use', async () => {
  const { client } = await app()
  assert.deepEqual((await client.get('/ignored')).body, { errors: ['FST_MSM_SESSION_DISABLED', 'FST_MSM_SESSION_DISABLED', 'FST_MSM_SESSION_DISABLED'] })
})
