import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import * as client from 'prom-client'
import { startCluster } from '../helpers/memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp } from '../helpers/app.js'
import { parseExposition, plainFamilies } from '../helpers/prometheus.js'

const { clusters, apps } = usePerTestCleanup()

/** fastify.inject with one cookie jar, like a browser tab. */
function browser (app: FastifyInstance): (method: 'GET' | 'POST', url: string) => Promise<number> {
  let cookie: string | undefined
  return async (method, url) => {
    const response = await app.inject({ method, url, headers: cookie === undefined ? {} : { cookie } })
    const set = response.cookies.find((candidate) => candidate.name === 'sessionId')
    if (set !== undefined) cookie = set.value === '' ? undefined : `sessionId=${set.value}`
    return response.statusCode
  }
}

test('after real traffic and a failed node, the registry and app.msm.metrics() expose the same families and values', async () => {
  const cluster = await startCluster(3)
  clusters.push(cluster)
  const app = await buildApp({ msm: { nodes: cluster.spec, operationTimeout: 200, nodeRetryInterval: 100, lockingMode: { uriPattern: /^GET \/count-locked/ } } })
  apps.push(app)
  const registry = new client.Registry()
  app.msm.registerMetrics(registry)
  for (let tab = 0; tab < 5; tab++) {
    const request = browser(app)
    assert.equal(await request('GET', '/count'), 200)
    await request('GET', '/count')
    await request('GET', '/read')
    await request('GET', '/count-locked')
    await request('GET', '/touch')
    await request('GET', '/ignored')
    await request('POST', '/regenerate')
    await request('GET', '/big?size=3000')
    if (tab % 2 === 0) await request('POST', '/destroy')
  }
  await cluster.node('n3').kill()
  for (let tab = 0; tab < 6; tab++) await browser(app)('GET', '/count')

  // Read back to back, with no request in between: the same snapshot
  const fromText = plainFamilies(parseExposition(app.msm.metrics()))
  const fromRegistry = plainFamilies(parseExposition(await registry.metrics()))
  assert.deepEqual(fromRegistry, fromText)

  // Not an empty comparison: the traffic is there, in counters, histograms and node series
  const stats = app.msm.stats()
  const value = (family: string, sample: string): number | undefined => fromRegistry[family]?.samples[sample]
  assert.ok(stats.saved > 10)
  assert.equal(value('msm_saved_total', 'msm_saved_total{}'), stats.saved)
  assert.equal(value('msm_regenerated_total', 'msm_regenerated_total{}'), 5)
  assert.equal(value('msm_save_duration_seconds', 'msm_save_duration_seconds_count{}'), stats.timings.save.count)
  assert.ok((value('msm_save_duration_seconds', 'msm_save_duration_seconds_sum{}') ?? 0) > 0)
  assert.equal(value('msm_session_size_bytes', 'msm_session_size_bytes_bucket{le="+Inf"}'), stats.sizes.count)
  assert.ok((value('msm_session_size_bytes', 'msm_session_size_bytes_bucket{le="256"}') ?? 0) < stats.sizes.count, 'the /big values are in higher buckets')
  assert.equal(value('msm_node_up', `msm_node_up{address="127.0.0.1:${cluster.node('n3').port}",node="n3"}`), 0)
  assert.equal(value('msm_node_up', `msm_node_up{address="127.0.0.1:${cluster.node('n1').port}",node="n1"}`), 1)
  const n1 = stats.nodes.find((node) => node.id === 'n1')
  assert.equal(value('msm_node_operations_total', 'msm_node_operations_total{node="n1",op="get"}'), n1?.get)
  assert.ok((value('msm_node_errors_total', 'msm_node_errors_total{node="n3"}') ?? 0) > 0)
  const types = new Set(Object.values(fromRegistry).map((family) => family.type))
  assert.deepEqual([...types].sort(), ['counter', 'gauge', 'histogram'])
})

test('the fastify-metrics pattern: msm_* metrics in the shared prom-client register, next to the default and HTTP metrics', async (t) => {
  const cluster = await startCluster(2)
  clusters.push(cluster)
  const { register } = client
  t.after(() => register.clear())
  // What fastify-metrics sets up on the global register: default metrics, a route histogram, a /metrics route
  client.collectDefaultMetrics({ register })
  const httpDuration = new client.Histogram({ name: 'http_request_duration_seconds', help: 'request duration in seconds', labelNames: ['method', 'route', 'status_code'], registers: [register] })
  const app = await buildApp({ msm: { nodes: cluster.spec } })
  apps.push(app)
  app.addHook('onResponse', async (request, reply) => {
    httpDuration.observe({ method: request.method, route: request.routeOptions.url ?? '', status_code: reply.statusCode }, reply.elapsedTime / 1000)
  })
  app.get('/metrics', { config: { session: false } }, async (request, reply) => {
    reply.type(register.contentType)
    return register.metrics()
  })
  app.msm.registerMetrics(register)

  const request = browser(app)
  await request('GET', '/count')
  await request('GET', '/count')
  const before = await cluster.operations()
  const response = await app.inject('/metrics')
  assert.deepEqual(await cluster.operations(), before, 'a scrape costs no memcached operation')
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  const families = parseExposition(response.body)
  assert.equal(families.get('msm_saved_total')?.samples.get('msm_saved_total{}'), 2)
  assert.equal(families.get('msm_requests_ignored_total')?.samples.get('msm_requests_ignored_total{}'), 1, 'the scrape itself')
  assert.equal(families.get('msm_saved_total')?.type, 'counter')
  assert.equal(families.get('http_request_duration_seconds')?.samples.get('http_request_duration_seconds_count{method="GET",route="/count",status_code="200"}'), 2)
  assert.ok(families.has('process_cpu_user_seconds_total') && families.has('nodejs_heap_size_total_bytes'))

  // Closing the app takes its metrics out of the shared register and leaves the others
  await app.close()
  const names = (await register.getMetricsAsJSON()).map((metric) => metric.name)
  assert.ok(!names.some((name) => name.startsWith('msm_')))
  assert.ok(names.includes('http_request_duration_seconds') && names.includes('process_cpu_user_seconds_total'))
})
