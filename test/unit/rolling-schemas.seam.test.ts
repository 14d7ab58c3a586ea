// Writer schemas travel with the data (lib/store/schema-registry.ts), on the
// in-memory memcached: two app versions with different Avro schemas share
// sessions, each publishes its schema on every node, and a schema that is
// missing, too large or does not match its fingerprint is never used.
// test/integration/serialization.test.ts runs the rolling deploy on real
// memcached; these cases pin the counts and the refusals. Written for mutants
// that survived the rest of the suite (test/mutation/REPORT.md).
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm, { type MsmOptions } from '../../lib/index.js'
import { plainWriterSchema } from '../helpers/stored-values.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { CookieClient, startApp, type StartedApp, type TestAppOptions } from '../helpers/app.js'

const resources = usePerTestCleanup()

const v1Schema = {
  type: 'record',
  name: 'Attributes',
  namespace: 'shop',
  fields: [
    { name: 'visits', type: 'int', default: 0 },
    { name: 'legacyFlag', type: 'boolean', default: false }
  ]
}
// v2 removes a field and adds one with a default
const v2Schema = { ...v1Schema, fields: [v1Schema.fields[0], { name: 'theme', type: 'string', default: 'light' }] }
// The fingerprint its sessions are written with: they have no lifetimes of their own
const fingerprint = (schema: object): string => plainWriterSchema(new AvroSessionCodec(schema as Record<string, unknown>)).fingerprintHex

async function buildSchemaApp (options: TestAppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false })
  await app.register(cookie)
  await app.register(msm, options.msm)
  app.get('/visit', async (request) => {
    const visits = ((request.session.get('visits') as number | undefined) ?? 0) + 1
    request.session.set('visits', visits)
    return { visits }
  })
  app.get('/read', async (request) => ({ visits: request.session.get('visits') ?? null, isNew: request.session.isNew }))
  return app
}

async function nodes (count = 2): Promise<MemoryCluster> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  return cluster
}

/** An app with `schema`; `logs` collects its warnings. */
async function schemaApp (cluster: MemoryCluster, schema: object, logs: string[] = [], options: Partial<MsmOptions> = {}): Promise<StartedApp> {
  const logger = { level: 'warn', stream: { write: (line: string) => { logs.push(line) } } }
  const started = await startApp(cluster, resources.apps, { nodeRetryInterval: 600_000, operationTimeout: 300, schema: schema as MsmOptions['schema'], ...options }, { build: buildSchemaApp, logger })
  // The schema is published with add on every node when the app is ready
  const key = `schema:${fingerprint(schema)}`
  for (let i = 0; i < 100 && cluster.nodes.some((node) => node.server.peek(key) === undefined); i++) await new Promise((resolve) => setImmediate(resolve))
  return started
}

test('two schema versions share sessions: each reads the other by resolution, fetching its schema once', async () => {
  const cluster = await nodes()
  const v1 = await schemaApp(cluster, v1Schema)
  const v2 = await schemaApp(cluster, v2Schema)
  for (const node of cluster.nodes) {
    assert.match(String(node.server.peek(`schema:${fingerprint(v1Schema)}`)), /shop\.Attributes/, `v1 published on ${node.id}`)
    assert.match(String(node.server.peek(`schema:${fingerprint(v2Schema)}`)), /theme/, `v2 published on ${node.id}`)
  }
  assert.equal(v1.app.msm.stats().schemasPublished, 4, 'one add per node and schema written (this release\'s record, and 0.1.0\'s for sessions without lifetimes of their own)')
  const client = new CookieClient(v1.base)
  for (let i = 1; i <= 6; i++) {
    client.base = i % 2 === 0 ? v2.base : v1.base
    assert.equal((await client.get('/visit')).body.visits, i, `request ${i}`)
  }
  // v2 read the writes of requests 1, 3 and 5; v1 those of 2 and 4
  for (const [instance, resolved] of [[v1, 2], [v2, 3]] as const) {
    const stats = instance.app.msm.stats()
    assert.equal(stats.schemaResolved, resolved, 'every read of the other version resolved')
    assert.equal(stats.schemasFetched, 1, 'the other schema fetched once, then cached')
    assert.equal(stats.schemaFailures + stats.deserializationFailures, 0)
  }
})

test('an app started after another publishes nothing that is already there', async () => {
  const cluster = await nodes()
  await schemaApp(cluster, v1Schema)
  const second = await schemaApp(cluster, v1Schema)
  assert.equal(second.app.msm.stats().schemasPublished, 0)
})

async function unreadable (mutate: (cluster: MemoryCluster, key: string) => Promise<void>): Promise<{ body: unknown, stats: ReturnType<FastifyInstance['msm']['stats']>, logs: string[] }> {
  const cluster = await nodes()
  const writer = await schemaApp(cluster, v1Schema)
  const client = new CookieClient(writer.base)
  await client.get('/visit')
  await mutate(cluster, `schema:${fingerprint(v1Schema)}`)
  const logs: string[] = []
  const reader = await schemaApp(cluster, v2Schema, logs)
  client.base = reader.base
  const body = (await client.get('/read')).body
  return { body, stats: reader.app.msm.stats(), logs }
}

test('a writer schema that no node has: the session is unreadable, counted, and a new one starts', async () => {
  const { body, stats } = await unreadable(async (cluster, key) => {
    for (const node of cluster.nodes) await node.command(`delete ${key}\r\n`)
  })
  assert.deepEqual(body, { visits: 0, isNew: true })
  assert.equal(stats.schemaFailures, 1)
  assert.equal(stats.schemaResolved, 0)
  assert.equal(stats.schemasFetched, 0)
  assert.equal(stats.deserializationFailures, 1)
})

test('a published schema that does not match its fingerprint is ignored, with a warning', async () => {
  const { body, stats, logs } = await unreadable(async (cluster, key) => {
    for (const node of cluster.nodes) {
      await node.command(`delete ${key}\r\n`)
      await node.set(key, JSON.stringify(v2Schema))
    }
  })
  assert.deepEqual(body, { visits: 0, isNew: true })
  assert.equal(stats.schemaFailures, 1)
  assert.equal(stats.schemasFetched, 0)
  assert.match(logs.join('\n'), /does not match its fingerprint/)
})

test('a published schema that is not a schema is ignored, with a warning', async () => {
  const { stats, logs } = await unreadable(async (cluster, key) => {
    for (const node of cluster.nodes) {
      await node.command(`delete ${key}\r\n`)
      await node.set(key, '{"type": "no such type"}')
    }
  })
  assert.equal(stats.schemaFailures, 1)
  assert.match(logs.join('\n'), /could not be parsed/)
})

test('a published schema text over 256 KiB is not even parsed', async () => {
  const { stats, logs } = await unreadable(async (cluster, key) => {
    for (const node of cluster.nodes) {
      await node.command(`delete ${key}\r\n`)
      await node.set(key, JSON.stringify({ ...v1Schema, doc: 'x'.repeat(256 * 1024) }))
    }
  })
  assert.equal(stats.schemaFailures, 1)
  assert.doesNotMatch(logs.join('\n'), /fingerprint|parsed/, 'refused before parsing')
})

test('a writer schema found on the second node only is fetched from there', async () => {
  const { body, stats } = await unreadable(async (cluster, key) => {
    await cluster.node('n1').command(`delete ${key}\r\n`)
  })
  assert.deepEqual(body, { visits: 1, isNew: false })
  assert.equal(stats.schemasFetched, 1)
  assert.equal(stats.schemaResolved, 1)
})
