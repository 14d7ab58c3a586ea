import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import msm from '../../lib/index.js'
import { normalizeOptions } from '../../lib/options/index.js'

const nodes = 'n1:127.0.0.1:1 n2:127.0.0.1:2'

async function registrationError (options: unknown): Promise<{ code: string, message: string }> {
  const app = Fastify()
  await app.register(cookie)
  app.register(msm, options as never)
  try {
    await app.ready()
  } catch (error) {
    return error as { code: string, message: string }
  } finally {
    await app.close().catch(() => {})
  }
  assert.fail('app.ready() resolved; expected a registration error')
}

test('defaults are applied and documented values hold', () => {
  const config = normalizeOptions({ nodes })
  assert.deepEqual(config.nodes, [{ id: 'n1', host: '127.0.0.1', port: 1 }, { id: 'n2', host: '127.0.0.1', port: 2 }])
  assert.equal(config.cookieName, 'sessionId')
  assert.deepEqual(config.cookie, { path: '/', httpOnly: true, secure: 'auto', sameSite: 'lax' })
  assert.equal(config.maxInactiveInterval, 1800)
  assert.equal(config.touchInterval, 60)
  assert.equal(config.operationTimeout, 1000)
  assert.equal(config.maxSessionSize, 262144)
  assert.equal(config.prefix, '')
  assert.equal(config.ignore, null)
})

test('touchInterval defaults to half of a short maxInactiveInterval', () => {
  assert.equal(normalizeOptions({ nodes, maxInactiveInterval: 10 }).touchInterval, 5)
  assert.equal(normalizeOptions({ nodes, maxInactiveInterval: 1 }).touchInterval, 1)
})

test('nodes may be given as objects', () => {
  const config = normalizeOptions({ nodes: [{ id: 'a_1', host: 'cache.local', port: 11211 }] })
  assert.deepEqual(config.nodes, [{ id: 'a_1', host: 'cache.local', port: 11211 }])
})

const cases: Array<[string, unknown, string, RegExp]> = [
  ['an unknown key', { nodes, cookiename: 'x' }, 'FST_MSM_OPTION_UNKNOWN', /"cookiename"/],
  ['an unknown cookie key', { nodes, cookie: { secure: true, httponly: true } }, 'FST_MSM_OPTION_UNKNOWN', /"cookie.httponly"/],
  ['missing nodes', {}, 'FST_MSM_NODES_INVALID', /nodes/],
  ['a node string without port', { nodes: 'n1:127.0.0.1' }, 'FST_MSM_NODES_INVALID', /id:host:port/],
  ['a node port out of range', { nodes: 'n1:127.0.0.1:70000' }, 'FST_MSM_NODES_INVALID', /port/],
  ['a node id with a dash', { nodes: 'n-1:127.0.0.1:11211' }, 'FST_MSM_NODES_INVALID', /node id/],
  ['an injection-shaped host', { nodes: [{ id: 'n1', host: "a$'b", port: 1 }] }, 'FST_MSM_NODES_INVALID', /host/],
  ['an empty node list', { nodes: '   ' }, 'FST_MSM_NODES_INVALID', /no node/],
  ['a duplicate node id', { nodes: 'n1:127.0.0.1:1 n1:127.0.0.1:2' }, 'FST_MSM_NODE_DUPLICATE', /"n1"/],
  ['a zero operationTimeout', { nodes, operationTimeout: 0 }, 'FST_MSM_OPTION_INVALID', /"operationTimeout"/],
  ['a fractional maxInactiveInterval', { nodes, maxInactiveInterval: 1.5 }, 'FST_MSM_OPTION_INVALID', /"maxInactiveInterval"/],
  ['a negative touchInterval', { nodes, touchInterval: -1 }, 'FST_MSM_OPTION_INVALID', /"touchInterval"/],
  ['a string timeout', { nodes, operationTimeout: '100' }, 'FST_MSM_OPTION_INVALID', /"operationTimeout"/],
  ['touchInterval not below maxInactiveInterval', { nodes, maxInactiveInterval: 60, touchInterval: 60 }, 'FST_MSM_OPTION_INVALID', /"touchInterval"/],
  ['maxSessionSize above memcached items', { nodes, maxSessionSize: 2_000_000 }, 'FST_MSM_OPTION_INVALID', /"maxSessionSize"/],
  ['a prefix with a space', { nodes, prefix: 'my app' }, 'FST_MSM_OPTION_INVALID', /"prefix"/],
  ['a prefix with $', { nodes, prefix: "a$'" }, 'FST_MSM_OPTION_INVALID', /"prefix"/],
  ['a cookie name with ;', { nodes, cookieName: 'a;b' }, 'FST_MSM_OPTION_INVALID', /"cookieName"/],
  ['an ignore string', { nodes, ignore: '/health' }, 'FST_MSM_OPTION_INVALID', /"ignore"/],
  ['a global ignore RegExp', { nodes, ignore: /health/g }, 'FST_MSM_OPTION_INVALID', /"ignore"/],
  ['a bad sameSite', { nodes, cookie: { sameSite: 'loose' } }, 'FST_MSM_OPTION_INVALID', /"cookie.sameSite"/],
  ['sameSite none without secure', { nodes, cookie: { sameSite: 'none', secure: false } }, 'FST_MSM_OPTION_INVALID', /"cookie.secure"/],
  ['a cookie path without slash', { nodes, cookie: { path: 'app' } }, 'FST_MSM_OPTION_INVALID', /"cookie.path"/],
  ['a cookie maxAge in milliseconds (one day)', { nodes, cookie: { maxAge: 86_400_000 } }, 'FST_MSM_OPTION_INVALID', /"cookie.maxAge".*meant milliseconds.*86400/s],
  ['a fractional cookie maxAge', { nodes, cookie: { maxAge: 0.5 } }, 'FST_MSM_OPTION_INVALID', /"cookie.maxAge"/]
]

for (const [name, options, code, message] of cases) {
  test(`app.ready() rejects ${name} with ${code}`, async () => {
    const error = await registrationError(options)
    assert.equal(error.code, code)
    assert.match(error.message, message)
  })
}

test('registering without @fastify/cookie fails clearly', async () => {
  const app = Fastify()
  app.register(msm, { nodes })
  await assert.rejects(async () => { await app.ready() }, /@fastify\/cookie/)
})

test('failover options are validated against the node list', () => {
  const three = 'n1:127.0.0.1:1 n2:127.0.0.1:2 n3:127.0.0.1:3'
  assert.deepEqual(normalizeOptions({ nodes: three, failoverNodes: 'n3' }).failoverNodes, ['n3'])
  assert.deepEqual(normalizeOptions({ nodes: three, failoverNodes: ['n2', 'n3'] }).failoverNodes, ['n2', 'n3'])
  assert.deepEqual(normalizeOptions({ nodes: three }).failoverNodes, [])
  assert.equal(normalizeOptions({ nodes: three }).storeFailurePolicy, 'continue')
  assert.equal(normalizeOptions({ nodes: three }).nodeRetryInterval, 1000)
  assert.equal(normalizeOptions({ nodes: three }).healthCheckInterval, 1000)
  assert.equal(normalizeOptions({ nodes: three, healthCheckInterval: 0 }).healthCheckInterval, 0, '0 turns the checks off')
  const bad: Array<[object, RegExp]> = [
    [{ failoverNodes: ['n9'] }, /"failoverNodes"/],
    [{ failoverNodes: 'n1 n2 n3' }, /at least one regular node/],
    [{ failoverNodes: [1] }, /"failoverNodes"/],
    [{ nodeRetryInterval: 0 }, /"nodeRetryInterval"/],
    [{ healthCheckInterval: -1 }, /"healthCheckInterval".*non-negative integer/],
    [{ healthCheckInterval: 0.5 }, /"healthCheckInterval"/],
    [{ healthCheckInterval: '1000' }, /"healthCheckInterval"/],
    [{ storeFailurePolicy: 'ignore' }, /"storeFailurePolicy"/]
  ]
  for (const [options, message] of bad) {
    assert.throws(() => normalizeOptions({ nodes: three, ...options }), (error: Error & { code: string }) => {
      assert.equal(error.code, 'FST_MSM_OPTION_INVALID')
      assert.match(error.message, message)
      return true
    })
  }
})
