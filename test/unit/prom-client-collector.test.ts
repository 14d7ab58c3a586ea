import { afterEach, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import * as client from 'prom-client'
import msm, { type MsmOptions, type PromClientLike } from '../../lib/index.js'
import { loadPromClient } from '../../lib/monitoring/prom-client-collector.js'
import { parseExposition, plainFamilies } from '../helpers/prometheus.js'

// No memcached here: the nodes are a closed port, and every route skips sessions
const apps: FastifyInstance[] = []
afterEach(async () => { await Promise.all(apps.splice(0).map((app) => app.close())) })

async function build (options: Partial<MsmOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify()
  apps.push(app)
  await app.register(cookie)
  await app.register(msm, { nodes: 'n1:127.0.0.1:1 n2:127.0.0.1:2', operationTimeout: 100, ...options })
  app.get('/ping', { config: { session: false } }, async () => ({ ok: true }))
  await app.ready()
  return app
}

/** The app's own /metrics endpoint, scraped through inject: prom-client registry output. */
async function scrape (app: FastifyInstance, registry: client.Registry): Promise<string> {
  if (!app.hasRoute({ method: 'GET', url: '/metrics' })) throw new Error('no /metrics route')
  const response = await app.inject('/metrics')
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['content-type'], registry.contentType)
  return response.body
}

async function buildWithRegistry (options: Partial<MsmOptions> = {}): Promise<{ app: FastifyInstance, registry: client.Registry }> {
  const registry = new client.Registry()
  const app = Fastify()
  apps.push(app)
  await app.register(cookie)
  await app.register(msm, { nodes: 'n1:127.0.0.1:1 n2:127.0.0.1:2', operationTimeout: 100, ...options })
  app.get('/ping', { config: { session: false } }, async () => ({ ok: true }))
  app.get('/metrics', { config: { session: false } }, async (request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
  app.msm.registerMetrics(registry)
  await app.ready()
  return { app, registry }
}

test('the registry exposes the families of app.msm.metrics(): same names, types, help, labels and values', async () => {
  const { app, registry } = await buildWithRegistry()
  await app.inject('/ping')
  // No request in between: both read the same figures
  const fromText = plainFamilies(parseExposition(app.msm.metrics()))
  const fromRegistry = plainFamilies(parseExposition(await registry.metrics()))
  assert.deepEqual(fromRegistry, fromText)
  assert.equal(fromRegistry.msm_requests_ignored_total?.samples['msm_requests_ignored_total{}'], 1)
  assert.ok(Object.keys(fromText).length > 40, 'every counter, gauge and histogram')
})

test('counters are prom-client Counters, gauges Gauges, histograms Histograms, read at each scrape', async () => {
  const { app, registry } = await buildWithRegistry()
  assert.ok(registry.getSingleMetric('msm_requests_ignored_total') instanceof client.Counter)
  assert.ok(registry.getSingleMetric('msm_node_operations_total') instanceof client.Counter)
  assert.ok(registry.getSingleMetric('msm_node_up') instanceof client.Gauge)
  assert.ok(registry.getSingleMetric('msm_backup_queue_jobs') instanceof client.Gauge)
  assert.ok(registry.getSingleMetric('msm_save_duration_seconds') instanceof client.Histogram)
  // Each scrape is an ignored request itself (session: false), counted before the registry reads
  const before = parseExposition(await scrape(app, registry))
  assert.equal(before.get('msm_requests_ignored_total')?.samples.get('msm_requests_ignored_total{}'), 1)
  await app.inject('/ping')
  await app.inject('/ping')
  const after = parseExposition(await scrape(app, registry))
  assert.equal(after.get('msm_requests_ignored_total')?.samples.get('msm_requests_ignored_total{}'), 4)
  // resetMetrics() cannot rewind the plugin's counters: the next scrape reads them again
  registry.resetMetrics()
  const reset = parseExposition(await scrape(app, registry))
  assert.equal(reset.get('msm_requests_ignored_total')?.samples.get('msm_requests_ignored_total{}'), 5)
  const json = await registry.getMetricsAsJSON()
  const load = json.find((metric) => metric.name === 'msm_load_duration_seconds')
  assert.equal(load?.type, 'histogram')
  assert.deepEqual(load?.values.at(-3), { metricName: 'msm_load_duration_seconds_bucket', labels: { le: '+Inf' }, value: 0 })
})

test('node series follow setNodes(): a removed node leaves the registry output', async () => {
  const { app, registry } = await buildWithRegistry()
  const nodes = (output: string): string[] => [...parseExposition(output).get('msm_node_up')?.samples.keys() ?? []]
  assert.deepEqual(nodes(await scrape(app, registry)), ['msm_node_up{address="127.0.0.1:1",node="n1"}', 'msm_node_up{address="127.0.0.1:2",node="n2"}'])
  app.msm.setNodes('n2:127.0.0.1:2 n3:127.0.0.1:3')
  const output = await scrape(app, registry)
  assert.deepEqual(nodes(output), ['msm_node_up{address="127.0.0.1:2",node="n2"}', 'msm_node_up{address="127.0.0.1:3",node="n3"}'])
  assert.deepEqual(plainFamilies(parseExposition(output)), plainFamilies(parseExposition(app.msm.metrics())))
})

test('stats: false leaves the histograms out of both expositions', async () => {
  const app = await build({ stats: false })
  const registry = new client.Registry()
  app.msm.registerMetrics(registry)
  const names = Object.keys(plainFamilies(parseExposition(await registry.metrics())))
  assert.ok(!names.some((name) => name.endsWith('_duration_seconds') || name === 'msm_session_size_bytes'))
  assert.deepEqual(names, Object.keys(plainFamilies(parseExposition(app.msm.metrics()))))
})

test('an OpenMetrics registry gets the OpenMetrics counter naming', async () => {
  const app = await build()
  const registry = new client.Registry<client.OpenMetricsContentType>()
  registry.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE)
  app.msm.registerMetrics(registry)
  const text = await registry.metrics()
  assert.match(text, /^# TYPE msm_saved counter\nmsm_saved_total 0$/m)
  assert.match(text, /^msm_save_duration_seconds_bucket\{le="\+Inf"\} 0$/m)
  assert.ok(text.endsWith('# EOF\n'))
})

test('registering the same app twice into one registry throws FST_MSM_METRIC_CONFLICT and changes nothing', async () => {
  const app = await build()
  const registry = new client.Registry()
  app.msm.registerMetrics(registry)
  const before = await registry.metrics()
  assert.throws(() => app.msm.registerMetrics(registry), (error: Error & { code: string }) => {
    assert.equal(error.code, 'FST_MSM_METRIC_CONFLICT')
    assert.match(error.message, /"msm_requests_with_session_total".*this app registered its metrics there already/)
    return true
  })
  assert.equal(await registry.metrics(), before)
  // Another registry, or another name in the same one, is fine
  app.msm.registerMetrics(new client.Registry())
  app.msm.registerMetrics(registry, { prefix: 'again_' })
  assert.ok(registry.getSingleMetric('again_msm_saved_total') instanceof client.Counter)
})

test('two instances into one registry: a conflict without labels; with their own labels they share each metric', async () => {
  const admin = await build()
  const shop = await build()
  const registry = new client.Registry()
  admin.msm.registerMetrics(registry)
  assert.throws(() => shop.msm.registerMetrics(registry), { code: 'FST_MSM_METRIC_CONFLICT', message: /same `labels`; give each instance its own/ })
  registry.clear()

  admin.msm.registerMetrics(registry, { labels: { app: 'admin' } })
  assert.throws(() => shop.msm.registerMetrics(registry), { code: 'FST_MSM_METRIC_CONFLICT', message: /with the labels \[app\]/ })
  const unregisterShop = shop.msm.registerMetrics(registry, { labels: { app: 'shop' } })
  await shop.inject('/ping')
  const both = parseExposition(await registry.metrics())
  assert.deepEqual(Object.fromEntries(both.get('msm_requests_ignored_total')?.samples ?? []), {
    'msm_requests_ignored_total{app="admin"}': 0,
    'msm_requests_ignored_total{app="shop"}': 1
  })
  assert.equal(both.get('msm_node_up')?.samples.get('msm_node_up{address="127.0.0.1:1",app="shop",node="n1"}'), 0)
  assert.equal(both.get('msm_save_duration_seconds')?.samples.get('msm_save_duration_seconds_bucket{app="admin",le="+Inf"}'), 0)

  unregisterShop()
  const adminOnly = parseExposition(await registry.metrics())
  assert.deepEqual([...adminOnly.get('msm_requests_ignored_total')?.samples.keys() ?? []], ['msm_requests_ignored_total{app="admin"}'])
  // Closing the last app that contributes removes the metrics from the registry
  await admin.close()
  assert.equal(registry.getSingleMetric('msm_saved_total'), undefined)
  assert.equal(await registry.metrics(), '\n')
})

test('a prefix keeps two instances apart', async () => {
  const registry = new client.Registry()
  const first = await build()
  const second = await build()
  first.msm.registerMetrics(registry)
  second.msm.registerMetrics(registry, { prefix: 'admin_' })
  const names = [...parseExposition(await registry.metrics()).keys()]
  assert.ok(names.includes('msm_saved_total') && names.includes('admin_msm_saved_total'))
  assert.equal(names.length, 2 * Object.keys(plainFamilies(parseExposition(first.msm.metrics()))).length)
})

test('a metric of the app with one of the names is a conflict, and nothing of fastify-msm is registered', async () => {
  const app = await build()
  const registry = new client.Registry()
  const own = new client.Gauge({ name: 'msm_node_up', help: 'the app\'s own', registers: [registry] })
  assert.throws(() => app.msm.registerMetrics(registry), { code: 'FST_MSM_METRIC_CONFLICT', message: /"msm_node_up".*not registered by fastify-msm; pass a `prefix`/ })
  assert.deepEqual(registry.getMetricsAsArray(), [own])
})

test('close() unregisters, so that a new app can register into the same registry', async () => {
  const registry = new client.Registry()
  const first = await build()
  first.msm.registerMetrics(registry)
  await first.close()
  assert.deepEqual(registry.getMetricsAsArray(), [])
  const second = await build()
  second.msm.registerMetrics(registry)
  assert.ok(registry.getSingleMetric('msm_saved_total') instanceof client.Counter)
  // The returned function unregisters too, once; close() later does no harm
  const unregister = second.msm.registerMetrics(registry, { prefix: 'x_' })
  unregister()
  unregister()
  assert.equal(registry.getSingleMetric('x_msm_saved_total'), undefined)
  assert.ok(registry.getSingleMetric('msm_saved_total') instanceof client.Counter)
})

test('options.client: the metrics are built with the prom-client module given', async () => {
  const app = await build()
  const built: string[] = []
  const spy: PromClientLike<client.Registry> = {
    Counter: class extends client.Counter { constructor (config: client.CounterConfiguration<string>) { super(config); built.push(`counter ${config.name}`) } },
    Gauge: class extends client.Gauge { constructor (config: client.GaugeConfiguration<string>) { super(config); built.push(`gauge ${config.name}`) } },
    Histogram: class extends client.Histogram { constructor (config: client.HistogramConfiguration<string>) { super(config); built.push(`histogram ${config.name}`) } }
  }
  const registry = new client.Registry()
  app.msm.registerMetrics(registry, { client: spy })
  assert.ok(built.includes('counter msm_saved_total') && built.includes('gauge msm_node_up') && built.includes('histogram msm_load_duration_seconds'))
  assert.equal(built.length, registry.getMetricsAsArray().length)
  // The module itself is accepted as it is
  app.msm.registerMetrics(new client.Registry(), { client })
})

test('invalid arguments throw FST_MSM_OPTION_INVALID', async () => {
  const app = await build()
  const registry = new client.Registry()
  const invalid = (call: () => unknown, message: RegExp): void => { assert.throws(call, { code: 'FST_MSM_OPTION_INVALID', message }) }
  invalid(() => app.msm.registerMetrics({} as client.Registry), /prom-client Registry/)
  invalid(() => app.msm.registerMetrics(registry, { prefix: 'my-app_' }), /prefix/)
  invalid(() => app.msm.registerMetrics(registry, { labels: { node: 'x' } }), /labels\.node/)
  invalid(() => app.msm.registerMetrics(registry, { labels: { le: 'x' } }), /labels\.le/)
  invalid(() => app.msm.registerMetrics(registry, { labels: { 'my-app': 'x' } }), /labels\.my-app/)
  invalid(() => app.msm.registerMetrics(registry, { labels: { app: 1 as unknown as string } }), /a string/)
  invalid(() => app.msm.registerMetrics(registry, { client: {} as PromClientLike }), /client/)
  invalid(() => app.msm.registerMetrics(registry, { registers: [] } as never), /registers/)
  assert.deepEqual(registry.getMetricsAsArray(), [])
})

test('without prom-client where it is looked up: FST_MSM_PROM_CLIENT_MISSING says to install it', () => {
  const directory = mkdtempSync(join(tmpdir(), 'msm-no-prom-client-'))
  try {
    const base = join(directory, 'app.js')
    assert.throws(() => loadPromClient(base), (error: Error & { code: string, cause: { code: string } }) => {
      assert.equal(error.code, 'FST_MSM_PROM_CLIENT_MISSING')
      assert.match(error.message, /npm install prom-client/)
      assert.match(error.message, /Cannot find module 'prom-client'/)
      assert.equal(error.cause.code, 'MODULE_NOT_FOUND')
      return true
    })
    // A module of that name without the metric classes is refused the same way
    const fake = join(directory, 'node_modules', 'prom-client')
    mkdirSync(fake, { recursive: true })
    writeFileSync(join(fake, 'index.js'), 'module.exports = { register: {} }\n')
    assert.throws(() => loadPromClient(base), { code: 'FST_MSM_PROM_CLIENT_MISSING', message: /no Counter, Gauge and Histogram/ })
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
  // From fastify-msm's own location, the devDependency is found
  assert.equal(loadPromClient(require.resolve('../../lib/index.js')).Counter, client.Counter)
})
