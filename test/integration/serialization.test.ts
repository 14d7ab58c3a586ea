import { plainWriterSchema } from '../helpers/stored-values.js'
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import msm, { jsonSerializer, type MsmOptions } from '../../lib/index.js'
import type { MemcachedCluster } from '../helpers/memcached.js'
import { useSharedCluster } from '../helpers/fixtures.js'
import { CookieClient, idOf, startApp, type StartedApp, type TestAppOptions } from '../helpers/app.js'

// Apache's own JavaScript Avro implementation, independent of avsc
const apacheAvro = require('avro-js') as { parse: (schema: object) => { fromBuffer: (buffer: Buffer) => unknown } }

let cluster: MemcachedCluster
const apps = useSharedCluster(2, (started) => { cluster = started })

const v1Schema = {
  type: 'record',
  name: 'Attributes',
  namespace: 'shop',
  fields: [
    { name: 'visits', type: 'int', default: 0 },
    { name: 'legacyFlag', type: 'boolean', default: false },
    { name: 'user', type: ['null', { type: 'record', name: 'User', fields: [{ name: 'id', type: 'string' }] }], default: null }
  ]
}
// v2 adds a field with a default and removes one
const v2Schema = {
  ...v1Schema,
  fields: [
    v1Schema.fields[0],
    v1Schema.fields[2],
    { name: 'theme', type: 'string', default: 'light' }
  ]
}

/** An app whose routes work with any of the schemas above, or the generic type. */
async function buildSchemaApp (options: TestAppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false })
  await app.register(cookie)
  await app.register(msm, options.msm)
  app.get('/visit', async (request) => {
    const visits = ((request.session.get('visits') as number | undefined) ?? 0) + 1
    request.session.set('visits', visits)
    return { visits, theme: request.session.get('theme') ?? null, id: request.session.id }
  })
  app.get('/read', async (request) => ({ visits: request.session.get('visits') ?? null, isNew: request.session.isNew }))
  app.post('/set', async (request) => {
    const { key, value } = request.body as { key: string, value: never }
    request.session.set(key, value)
    return { ok: true }
  })
  app.get('/date', async (request) => {
    request.session.set('when', new Date('2026-01-02T03:04:05.678Z') as never)
    return { ok: true }
  })
  app.get('/date/read', async (request) => {
    const when = request.session.get('when') as unknown
    return { isDate: when instanceof Date, iso: when instanceof Date ? when.toISOString() : null }
  })
  return app
}

/** A schema app on the file's cluster; `logs` collects its warnings. */
function schemaApp (options: Partial<MsmOptions> = {}, logs?: unknown[]): Promise<StartedApp> {
  const logger = logs === undefined ? false : { level: 'warn', stream: { write: (line: string) => { logs.push(JSON.parse(line)) } } }
  return startApp(cluster, apps, { nodeRetryInterval: 50, ...options }, { build: buildSchemaApp, logger })
}

describe('rolling deploy: two schema versions on the same nodes', () => {
  test('alternating requests between v1 and v2 instances lose nothing', async () => {
    const v1 = await schemaApp({ schema: v1Schema })
    const v2 = await schemaApp({ schema: v2Schema })
    const client = new CookieClient(v1.base)
    for (let i = 1; i <= 20; i++) {
      client.base = i % 2 === 0 ? v2.base : v1.base
      const response = await client.get('/visit')
      assert.equal(response.status, 200)
      assert.equal(response.body.visits, i, `request ${i} on ${i % 2 === 0 ? 'v2' : 'v1'}`)
    }
    const v2Stats = v2.app.msm.stats()
    const v1Stats = v1.app.msm.stats()
    assert.ok(v2Stats.schemaResolved >= 10, 'v2 read v1 writes by resolution')
    assert.ok(v1Stats.schemaResolved >= 9, 'v1 read v2 writes by resolution')
    assert.equal(v2Stats.schemaFailures + v1Stats.schemaFailures, 0)
    assert.equal(v2Stats.schemasFetched, 1)
  })

  test('each writer schema is published on every node, and re-published when a node loses it', async () => {
    await schemaApp({ schema: v1Schema })
    const { AvroSessionCodec } = await import('../../lib/serialization/session-codec.js')
    const fingerprint = new AvroSessionCodec(v1Schema).fingerprintHex
    for (const node of cluster.nodes) assert.match(String(await node.get(`schema:${fingerprint}`)), /shop\.Attributes/)
    await cluster.node('n1').command(`delete schema:${fingerprint}\r\n`, /\r\n$/)
    const deadline = Date.now() + 5000
    while (await cluster.node('n1').get(`schema:${fingerprint}`) === undefined) {
      assert.ok(Date.now() < deadline, 'republished within 60 nodeRetryIntervals')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.ok(apps.reduce((sum, instance) => sum + instance.msm.stats().schemasPublished, 0) >= 1, 'counted by whichever v1 instance re-published it')
  })

  test('a writer schema that cannot be found makes the session "no session", logged and counted', async () => {
    // The earlier tests' v1 apps re-publish v1's schema every few seconds: they must not put it back
    await Promise.all(apps.splice(0).map((app) => app.close()))
    const writer = await schemaApp({ schema: v1Schema, nodeRetryInterval: 600_000 })
    const client = new CookieClient(writer.base)
    await client.get('/visit')
    const { AvroSessionCodec } = await import('../../lib/serialization/session-codec.js')
    // The schema its sessions were written with: 0.1.0's record, as they have no lifetimes of their own
    const fingerprint = plainWriterSchema(new AvroSessionCodec(v1Schema)).fingerprintHex
    for (const node of cluster.nodes) await node.command(`delete schema:${fingerprint}\r\n`, /\r\n$/)
    const logs: unknown[] = []
    const reader = await schemaApp({ schema: v2Schema, nodeRetryInterval: 600_000 }, logs)
    client.base = reader.base
    const response = await client.get('/read')
    assert.equal(response.status, 200)
    assert.deepEqual(response.body, { visits: 0, isNew: true }, 'a new session, with the schema defaults')
    const stats = reader.app.msm.stats()
    assert.equal(stats.schemaFailures, 1)
    assert.equal(stats.deserializationFailures, 1)
    assert.ok(JSON.stringify(logs).includes('unreadable'))
  })
})

describe('values', () => {
  test('Dates round-trip through the generic type, across instances', async () => {
    const a = await schemaApp()
    const b = await schemaApp()
    const client = new CookieClient(a.base)
    await client.get('/date')
    client.base = b.base
    assert.deepEqual((await client.get('/date/read')).body, { isDate: true, iso: '2026-01-02T03:04:05.678Z' })
  })

  test('a typed schema refuses a value that does not fit, naming the path, and stores nothing', async () => {
    const { app, base } = await schemaApp({ schema: v1Schema })
    const client = new CookieClient(base)
    await client.get('/visit')
    // This app's own set commands: other apps of this file publish schemas with add meanwhile
    const sets = (): number => app.msm.stats().nodes.reduce((sum, node) => sum + node.set, 0)
    const before = sets()
    const wrong = await client.post('/set', { key: 'user', value: { id: 42 } })
    assert.equal(wrong.status, 500)
    assert.equal(wrong.body.code, 'FST_MSM_SCHEMA_MISMATCH')
    assert.match(wrong.body.message, /user/)
    const unknown = await client.post('/set', { key: 'nickname', value: 'x' })
    assert.equal(unknown.body.code, 'FST_MSM_SCHEMA_MISMATCH')
    assert.equal(sets(), before, 'nothing was written')
    assert.equal((await client.get('/read')).body.visits, 1)
  })

  test('the JSON serializer works end to end and refuses Dates', async () => {
    const { base } = await schemaApp({ serializer: jsonSerializer })
    const client = new CookieClient(base)
    assert.equal((await client.get('/visit')).body.visits, 1)
    assert.equal((await client.get('/visit')).body.visits, 2)
    const stored = await cluster.node(idOf(client).split('-')[1] as string).get(idOf(client))
    assert.equal(Buffer.from(stored as string, 'base64')[0], 2, 'format 2')
    const refused = await client.get('/date')
    assert.equal(refused.status, 500)
    assert.equal(refused.body.code, 'FST_MSM_VALUE_UNSUPPORTED')
  })

  test('corrupt stored bytes under a real key are "no session", never a crash', async () => {
    const { app, base } = await schemaApp()
    const client = new CookieClient(base)
    await client.get('/visit')
    const id = idOf(client)
    const node = cluster.node(id.split('-')[1] as string)
    const good = Buffer.from(await node.get(id) as string, 'base64')
    const corrupt = [
      good.subarray(0, good.length - 4),
      Buffer.concat([good, Buffer.from([1, 2, 3])]),
      Buffer.concat([Buffer.from([9]), good.subarray(1)])
    ]
    for (const bytes of corrupt) {
      await node.set(id, bytes.toString('base64'), 60)
      const response = await client.request('/read', { headers: { cookie: `sessionId=${id}` } })
      assert.equal(response.status, 200)
      assert.deepEqual(response.body, { visits: null, isNew: true })
    }
    assert.equal(app.msm.stats().deserializationFailures, corrupt.length)
  })
})

describe('interoperability', () => {
  test("Apache's avro-js decodes a stored session with the documented header and the published schema", async () => {
    const { base } = await schemaApp()
    const client = new CookieClient(base)
    await client.post('/set', { key: 'cart', value: { items: ['apple', 'pear'], total: 3.5, paid: false } })
    const id = idOf(client)
    const stored = await cluster.node(id.split('-')[1] as string).get(id) as string
    const bytes = Buffer.from(stored, 'base64')
    assert.equal(bytes[0], 1, 'format version')
    assert.deepEqual([...bytes.subarray(1, 3)], [0xc3, 0x01], 'Avro single-object marker')
    const fingerprint = bytes.subarray(3, 11).toString('hex')
    const schemaText = await cluster.node('n1').get(`schema:${fingerprint}`) as string
    const type = apacheAvro.parse(JSON.parse(schemaText))
    const record = type.fromBuffer(bytes.subarray(11)) as { id: string, attributes: Record<string, unknown> }
    assert.equal(record.id, id)
    const cart = JSON.parse(JSON.stringify(record.attributes.cart))
    assert.deepEqual(cart, {
      v: {
        map: {
          items: { v: { array: [{ v: { string: 'apple' } }, { v: { string: 'pear' } }] } },
          total: { v: { double: 3.5 } },
          paid: { v: { boolean: false } }
        }
      }
    })
  })
})
