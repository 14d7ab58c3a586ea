// Loads the BUILT package (dist/) the way users do, by its name, both as an
// ES module and through require(). Run `npm run build` first.
// node:test itself: an ES module that imports the TypeScript helper (test/helpers/node-test.ts)
// gets it through tsx as a data: URL, which c8's report cannot read. Each test gives its timeout.
import { test } from 'node:test'

const BOUNDED = { timeout: 60_000 }
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import msmDefault, { msmPlugin, errors, Session, SESSION_SCHEMA } from 'fastify-msm'

const require = createRequire(import.meta.url)

async function registerAndUse (plugin) {
  const app = Fastify()
  await app.register(cookie)
  await app.register(plugin, { nodes: 'n1:127.0.0.1:1' })
  app.get('/', { config: { session: false } }, async () => ({ ok: true }))
  const response = await app.inject('/')
  assert.equal(response.statusCode, 200)
  assert.equal(typeof app.msm.stats, 'function')
  assert.equal(app.msm.stats().requestsIgnored, 1)
  await app.close()
}

test('import: the default export and the named msmPlugin are the plugin', BOUNDED, async () => {
  assert.equal(typeof msmDefault, 'function')
  assert.equal(msmDefault, msmPlugin)
  assert.equal(typeof errors.FST_MSM_OPTION_INVALID, 'function')
  assert.equal(typeof Session, 'function')
  assert.equal(SESSION_SCHEMA.name, 'Session')
  await registerAndUse(msmDefault)
})

test('require: module.exports is the plugin and carries the named exports', BOUNDED, async () => {
  const required = require('fastify-msm')
  assert.equal(typeof required, 'function')
  assert.equal(required.msmPlugin, required)
  assert.equal(required.default, required)
  assert.equal(typeof required.errors.FST_MSM_NODES_INVALID, 'function')
  await registerAndUse(required)
  await registerAndUse(require('fastify-msm').msmPlugin)
})

test('the published files resolve to dist with type declarations', BOUNDED, () => {
  const manifest = require('fastify-msm/package.json')
  assert.equal(manifest.name, 'fastify-msm')
  assert.match(require.resolve('fastify-msm'), /dist[\\/]cjs[\\/]require\.js$/)
  assert.ok(manifest.exports['.'].import.types.endsWith('.d.ts'))
  assert.ok(manifest.exports['.'].require.types.endsWith('.d.ts'))
})

test('registration errors carry FST_MSM codes through the built package', BOUNDED, async () => {
  const app = Fastify()
  await app.register(cookie)
  app.register(msmPlugin, { nodes: 'n1:127.0.0.1:1', operationTimeout: -1 })
  await assert.rejects(app.ready(), { code: 'FST_MSM_OPTION_INVALID' })
})
