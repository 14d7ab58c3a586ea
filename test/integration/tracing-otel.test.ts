// app.msm.tracing() with the real OpenTelemetry SDK (an in-memory exporter),
// @fastify/otel's request spans and real memcached: the span tree of a login,
// a read, a locked write and a failover, with the database conventions on
// the memcached commands. No span of fastify-msm before tracing() is called.
import { after, before, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import * as api from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import type { FastifyInstance } from 'fastify'
import { otelApp } from '../helpers/otel-app.js'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'
import { CookieClient, idOf, listen, nodeOf } from '../helpers/app.js'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const contextManager = new AsyncLocalStorageContextManager().enable()
let cluster: MemcachedCluster
let app: FastifyInstance
let base: string

before(async () => {
  api.context.setGlobalContextManager(contextManager)
  cluster = await startCluster(3)
  app = await otelApp(provider, { nodes: cluster.spec, operationTimeout: 300, nodeRetryInterval: 200, lockingMode: { uriPattern: /locked/ } })
  app.post('/locked', async (request) => {
    request.session.visits = ((request.session.visits as number | undefined) ?? 0) + 1
    return { ok: true }
  })
  base = await listen(app)
})

after(async () => {
  await app.close()
  await cluster.stop()
  api.context.disable()
})

/** The spans as an indented tree (MSM_TEST_PRINT_TRACE=1 prints it: docs/monitoring.md shows one). */
function rendered (spans: ReadableSpan[]): string {
  const lines: string[] = []
  const walk = (span: ReadableSpan, depth: number): void => {
    const ms = (span.duration[0] * 1e3 + span.duration[1] / 1e6).toFixed(1)
    const attributes = Object.entries(span.attributes).filter(([key]) => /outcome|command|copies|wait_ms|db\.operation|server\.port/.test(key)).map(([key, value]) => `${key}=${String(value)}`).join(' ')
    lines.push(`${'  '.repeat(depth)}${span.name}  ${ms} ms  ${attributes}${span.status.code === api.SpanStatusCode.ERROR ? '  ERROR' : ''}${span.events.map((event) => `  [${event.name}]`).join('')}`)
    for (const child of spans.filter((candidate) => parentOf(candidate) === span.spanContext().spanId).sort((a, b) => a.startTime[1] - b.startTime[1] + (a.startTime[0] - b.startTime[0]) * 1e9)) walk(child, depth + 1)
  }
  for (const root of spans.filter((span) => byId(spans, parentOf(span)) === undefined)) walk(root, 0)
  return lines.join('\n')
}

function show (spans: ReadableSpan[]): void {
  if (process.env.MSM_TEST_PRINT_TRACE === '1') process.stderr.write(rendered(spans) + '\n\n')
}

const named = (spans: ReadableSpan[], name: string): ReadableSpan[] => spans.filter((span) => span.name === name)
const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId

/** The span whose id is `id`, among `spans`. */
const byId = (spans: ReadableSpan[], id: string | undefined): ReadableSpan | undefined => spans.find((span) => span.spanContext().spanId === id)

/** True when `span` descends from `ancestor`. */
function descends (spans: ReadableSpan[], span: ReadableSpan, ancestor: ReadableSpan): boolean {
  for (let parent = byId(spans, parentOf(span)); parent !== undefined; parent = byId(spans, parentOf(parent))) {
    if (parent === ancestor) return true
  }
  return false
}

test('without tracing(), fastify-msm exports no span', async () => {
  const client = new CookieClient(base)
  await client.post('/login')
  await client.get('/read')
  const spans = exporter.getFinishedSpans()
  assert.ok(spans.length > 0, '@fastify/otel traced the requests')
  assert.deepEqual(spans.filter((span) => span.name.startsWith('msm ') || span.name.endsWith(' memcached')), [])
  exporter.reset()
})

test('with tracing(): a login, a read, a locked write and a failover, nested under the request spans', async () => {
  const stop = app.msm.tracing({ api, tracerProvider: provider })
  try {
    const client = new CookieClient(base)
    await client.post('/login')
    let spans = exporter.getFinishedSpans()
    show(spans)
    const [save] = named(spans, 'msm session.save')
    assert.ok(save !== undefined, 'the login saves the session')
    assert.equal(save.attributes['msm.save.command'], 'set')
    assert.equal(save.attributes['msm.save.copies'], 2)
    assert.equal(typeof save.attributes['msm.session'], 'string')
    const sets = named(spans, 'set memcached')
    assert.equal(sets.length, 2, 'primary and backup')
    for (const set of sets) {
      assert.equal(parentOf(set), save.spanContext().spanId, 'each set nests under the save')
      assert.equal(set.kind, api.SpanKind.CLIENT)
      assert.equal(set.attributes['db.system.name'], 'memcached')
      assert.equal(set.attributes['db.operation.name'], 'set')
      assert.equal(set.attributes['server.address'], '127.0.0.1')
      assert.equal(typeof set.attributes['server.port'], 'number')
    }
    const requestSpan = spans.find((span) => span.parentSpanContext === undefined)
    assert.ok(requestSpan !== undefined && descends(spans, save, requestSpan), 'the save is inside the request\'s trace')
    exporter.reset()

    await client.get('/read')
    spans = exporter.getFinishedSpans()
    show(spans)
    const [load] = named(spans, 'msm session.load')
    assert.ok(load !== undefined)
    assert.equal(load.attributes['msm.load.outcome'], 'primary')
    const [get] = named(spans, 'get memcached')
    assert.equal(parentOf(get as ReadableSpan), load.spanContext().spanId, 'the get nests under the load')
    assert.equal(named(spans, 'msm session.save').length, 0, 'a read writes nothing')
    exporter.reset()

    await client.post('/locked')
    spans = exporter.getFinishedSpans()
    show(spans)
    const [lock] = named(spans, 'msm lock.acquire')
    assert.ok(lock !== undefined)
    assert.equal(lock.attributes['msm.lock.outcome'], 'acquired')
    assert.equal(typeof lock.attributes['msm.lock.wait_ms'], 'number')
    const add = named(spans, 'add memcached').find((span) => parentOf(span) === lock.spanContext().spanId)
    assert.ok(add !== undefined, 'the lock\'s add nests under the lock')
    assert.equal(named(spans, 'msm session.save')[0]?.attributes['msm.save.command'], 'replace')
    exporter.reset()

    const before = idOf(client)
    await cluster.node(nodeOf(before)).stop()
    await client.get('/read')
    spans = exporter.getFinishedSpans()
    show(spans)
    const loads = named(spans, 'msm session.load')
    assert.ok(loads.some((span) => span.attributes['msm.load.outcome'] === 'relocated'), `relocated: ${JSON.stringify(loads.map((span) => span.attributes))}`)
    assert.ok(spans.some((span) => span.events.some((event) => event.name === 'msm session.relocated')), 'the relocation is a span event')
    const failed = spans.filter((span) => span.name.endsWith(' memcached') && span.status.code === api.SpanStatusCode.ERROR)
    assert.ok(failed.length > 0, 'the command to the dead node is an error span')
    await cluster.node(nodeOf(before)).start()
  } finally {
    stop()
  }
  exporter.reset()
  const client = new CookieClient(base)
  await client.post('/login')
  assert.deepEqual(exporter.getFinishedSpans().filter((span) => span.name.startsWith('msm ')), [], 'none after stop()')
})
