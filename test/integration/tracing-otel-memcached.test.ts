// app.msm.tracing() beside @opentelemetry/instrumentation-memcached, which
// makes a span for every command of the `memcached` client (with the key, a
// session id, in `db.memcached.key`): by default fastify-msm traces its own
// commands once, without keys, and suppresses that instrumentation for them;
// with `commands: false` that instrumentation's spans nest under the session
// spans instead (docs/monitoring.md#tracing).
// First: it patches the `memcached` module before fastify-msm loads it
import { exporter, memcachedInstrumentation, provider } from '../helpers/memcached-instrumentation.js'
import { after, before, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import * as api from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import type { FastifyInstance } from 'fastify'
import { otelApp } from '../helpers/otel-app.js'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'
import { CookieClient, idOf, listen } from '../helpers/app.js'

const contextManager = new AsyncLocalStorageContextManager().enable()

let cluster: MemcachedCluster
let app: FastifyInstance
let base: string

before(async () => {
  api.context.setGlobalContextManager(contextManager)
  cluster = await startCluster(2)
  app = await otelApp(provider, { nodes: cluster.spec })
  base = await listen(app)
})

after(async () => {
  await app.close()
  await cluster.stop()
  memcachedInstrumentation.disable()
  api.context.disable()
})

/** The instrumentation's spans are named `memcached <command>`, fastify-msm's `<command> memcached`. */
const ofInstrumentation = (spans: ReadableSpan[]): ReadableSpan[] => spans.filter((span) => span.name.startsWith('memcached '))
const ofMsm = (spans: ReadableSpan[]): ReadableSpan[] => spans.filter((span) => span.name.endsWith(' memcached'))
const named = (spans: ReadableSpan[], name: string): ReadableSpan | undefined => spans.find((span) => span.name === name)

async function loginAndRead (): Promise<{ spans: ReadableSpan[], id: string }> {
  exporter.reset()
  const client = new CookieClient(base)
  await client.post('/login')
  await client.get('/read')
  return { spans: exporter.getFinishedSpans(), id: idOf(client) }
}

test('the instrumentation is active: without tracing(), it traces the commands, with the session id as the key', async () => {
  const { spans, id } = await loginAndRead()
  const commands = ofInstrumentation(spans)
  assert.deepEqual(commands.map((span) => span.name).sort(), ['memcached get', 'memcached set', 'memcached set'])
  assert.ok(commands.some((span) => String(span.attributes['db.memcached.key']).includes(id)), 'what commands: false leaves in the trace')
  assert.deepEqual(ofMsm(spans), [])
})

test('tracing(): each command is traced once, by fastify-msm, and no span carries the session id', async () => {
  const stop = app.msm.tracing({ api, tracerProvider: provider })
  try {
    const { spans, id } = await loginAndRead()
    assert.deepEqual(ofInstrumentation(spans), [], 'suppressed inside fastify-msm\'s command spans')
    assert.deepEqual(ofMsm(spans).map((span) => span.name).sort(), ['get memcached', 'set memcached', 'set memcached'])
    assert.equal(JSON.stringify(spans.map((span) => span.attributes)).includes(id), false)
  } finally {
    stop()
  }
})

test('tracing({ commands: false }): the instrumentation\'s command spans nest under the session spans', async () => {
  const stop = app.msm.tracing({ api, tracerProvider: provider, commands: false })
  try {
    const { spans } = await loginAndRead()
    assert.deepEqual(ofMsm(spans), [])
    const save = named(spans, 'msm session.save')
    const load = named(spans, 'msm session.load')
    assert.ok(save !== undefined && load !== undefined)
    const sets = spans.filter((span) => span.name === 'memcached set')
    assert.equal(sets.length, 2)
    for (const set of sets) assert.equal(set.parentSpanContext?.spanId, save.spanContext().spanId, 'each set under the save')
    assert.equal(named(spans, 'memcached get')?.parentSpanContext?.spanId, load.spanContext().spanId, 'the get under the load')
  } finally {
    stop()
  }
})
