import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions } from '../../lib/index.js'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, CookieClient, idOf, listen } from '../helpers/app.js'

const { clusters, apps } = usePerTestCleanup()

async function setup (options: Partial<MsmOptions> = {}, logs?: string[]): Promise<{ cluster: MemcachedCluster, app: FastifyInstance, client: CookieClient }> {
  const cluster = await startCluster(3)
  clusters.push(cluster)
  const logger = logs === undefined ? false : { level: 'trace', stream: { write: (line: string) => { logs.push(line) } } }
  const app = await buildApp({ msm: { nodes: cluster.spec, operationTimeout: 300, nodeRetryInterval: 100, ...options }, logger })
  apps.push(app)
  return { cluster, app, client: new CookieClient(await listen(app)) }
}

/** Checks the Prometheus text exposition format; returns the samples. */
function parsePrometheus (text: string): Map<string, number> {
  const samples = new Map<string, number>()
  const types = new Map<string, string>()
  assert.ok(text.endsWith('\n'))
  for (const line of text.trimEnd().split('\n')) {
    if (line.startsWith('# HELP ')) {
      assert.match(line, /^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$/)
      continue
    }
    if (line.startsWith('# TYPE ')) {
      const match = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line)
      assert.ok(match !== null, line)
      assert.ok(!types.has(match[1] as string), `TYPE once per metric: ${line}`)
      types.set(match[1] as string, match[2] as string)
      continue
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|NaN)$/.exec(line)
    assert.ok(match !== null, `sample line: ${line}`)
    const name = match[1] as string
    const family = name.replace(/_(bucket|sum|count)$/, '')
    assert.ok(types.has(name) || types.get(family) === 'histogram', `TYPE declared before ${name}`)
    if (types.get(name) === 'counter') assert.ok(name.endsWith('_total'), `counters end in _total: ${name}`)
    samples.set(name + (match[2] ?? ''), Number(match[3]))
  }
  for (const [family, type] of types) {
    if (type !== 'histogram') continue
    const buckets = [...samples].filter(([key]) => key.startsWith(`${family}_bucket{`)).map(([, value]) => value)
    assert.ok(buckets.length > 1, `${family} has buckets`)
    for (let i = 1; i < buckets.length; i++) assert.ok((buckets[i] as number) >= (buckets[i - 1] as number), `${family} buckets are cumulative`)
    assert.equal(buckets.at(-1), samples.get(`${family}_count`), `${family} +Inf bucket equals the count`)
  }
  return samples
}

test('counters and per-node operation counts agree with memcached for each kind of request', async () => {
  const { cluster, app, client } = await setup({ lockingMode: { uriPattern: /^GET \/count-locked/ } })
  const before = await cluster.operations()
  await client.get('/count') // new
  await client.get('/read') // read-only
  await client.get('/count') // modified
  await client.get('/ignored') // ignored
  await client.get('/count-locked') // locked
  const after = await cluster.operations()
  const stats = app.msm.stats()
  const sum = (field: 'get' | 'set' | 'add' | 'touch' | 'delete'): number => stats.nodes.reduce((total, node) => total + node[field], 0)
  assert.equal(sum('get') - 0, after.get - before.get, 'gets: plugin = memcached')
  assert.equal(sum('set') + sum('add') - 6, after.set - before.set, 'sets and adds (memcached counts add as a set); minus the 6 schema publications (2 schemas on 3 nodes)')
  assert.equal(sum('delete'), after.delete - before.delete)
  assert.equal(sum('touch'), after.touch - before.touch)
  assert.equal(stats.created, 1)
  assert.equal(stats.loaded, 3)
  assert.equal(stats.saved, 3)
  assert.equal(stats.skippedUnchanged, 1)
  assert.equal(stats.requestsIgnored, 1)
  assert.equal(stats.requestsWithSession, 3)
  assert.equal(stats.requestsWithoutSession, 1)
  assert.equal(stats.lockAcquired, 1)
  assert.equal(stats.lockReleased, 1)
  assert.equal(stats.backupWrites, 3)
  assert.equal(stats.timings.load.count, 3)
  assert.equal(stats.timings.save.count, 3)
  assert.equal(stats.timings.lockWait.count, 1)
  assert.equal(stats.sizes.count, 3)
  assert.ok(stats.timings.load.p50 > 0 && stats.timings.load.max >= stats.timings.load.p50)
  assert.doesNotThrow(() => JSON.stringify(stats))
})

test('a relocation is counted, in stats and metrics', async () => {
  const { cluster, app, client } = await setup()
  for (let i = 0; i < 60; i++) {
    client.cookies.clear()
    await client.get('/count')
    if (idOf(client).endsWith('-n1')) break
  }
  await cluster.node('n1').kill()
  await client.get('/count')
  assert.equal(app.msm.stats().relocated, 1)
  const samples = parsePrometheus(app.msm.metrics())
  assert.equal(samples.get('msm_relocated_total'), 1)
  assert.equal(samples.get(`msm_node_up{node="n1",address="127.0.0.1:${cluster.node('n1').port}"}`), 0)
  assert.equal(samples.get(`msm_node_up{node="n2",address="127.0.0.1:${cluster.node('n2').port}"}`), 1)
})

test('metrics() is valid Prometheus text with counters, histograms and node gauges', async () => {
  const { app, client } = await setup()
  await client.get('/count')
  await client.get('/count')
  const samples = parsePrometheus(app.msm.metrics())
  assert.equal(samples.get('msm_saved_total'), 2)
  assert.equal(samples.get('msm_save_duration_seconds_count'), 2)
  assert.equal(samples.get('msm_session_size_bytes_count'), 2)
  assert.ok((samples.get('msm_load_duration_seconds_sum') ?? -1) >= 0)
  assert.ok([...samples.keys()].some((key) => key.startsWith('msm_node_operations_total{node="n1",op="get"}')))
})

test('health() follows the nodes: ok, degraded, down, and back', async () => {
  const { cluster, app, client } = await setup()
  assert.equal(app.msm.health().status, 'ok')
  await cluster.node('n1').kill()
  for (let i = 0; i < 10; i++) {
    client.cookies.clear()
    await client.get('/count')
  }
  const degraded = app.msm.health()
  assert.equal(degraded.status, 'degraded')
  assert.equal(degraded.nodes.find((node) => node.id === 'n1')?.state, 'down')
  await cluster.node('n2').kill()
  await cluster.node('n3').kill()
  for (let i = 0; i < 5; i++) {
    client.cookies.clear()
    await client.get('/count')
  }
  assert.equal(app.msm.health().status, 'down')
  await Promise.all(cluster.nodes.map((node) => node.start()))
  const deadline = Date.now() + 5000
  while (app.msm.health().status !== 'ok') {
    assert.ok(Date.now() < deadline, 'nodes come back')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
})

test('the kill switch bypasses memcached entirely, and sessions come back when it is on again', async () => {
  const { cluster, app, client } = await setup()
  await client.get('/count')
  app.msm.enabled = false
  const before = await cluster.operations()
  const off = await client.get('/count')
  assert.equal(off.body.n, 1, 'an empty, request-local session')
  assert.deepEqual(client.lastSetCookie, [], 'the cookie is left alone')
  assert.deepEqual(await cluster.operations(), before, 'no memcached operation')
  assert.equal(app.msm.stats().requestsBypassed, 1)
  app.msm.enabled = true
  assert.equal((await client.get('/count')).body.n, 2)
  assert.throws(() => { (app.msm as { enabled: unknown }).enabled = 'no' }, TypeError)
})

test('stats: false keeps counters but records no timings', async () => {
  const { app, client } = await setup({ stats: false })
  await client.get('/count')
  const stats = app.msm.stats()
  assert.equal(stats.saved, 1)
  assert.equal(stats.timings.save.count, 0)
  assert.ok(!app.msm.metrics().includes('duration_seconds'))
})

test('logs never contain a raw session id, at any level, in any scenario', async () => {
  const logs: string[] = []
  const { cluster, app, client } = await setup({ lockingMode: 'all', lockTimeout: 100 }, logs)
  const ids = new Set<string>()
  const remember = (): void => { const id = client.cookies.get('sessionId'); if (id !== undefined) ids.add(id) }
  await client.get('/count'); remember()
  await client.get('/read')
  await client.post('/regenerate'); remember()
  const slow = client.get('/slow?ms=300')
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal((await client.get('/count')).status, 503, 'a lock timeout is logged too')
  await slow
  const id = idOf(client)
  await cluster.node(id.split('-')[1] as string).set(id, 'AQ==', 60) // corrupt
  await client.get('/read')
  await client.get('/count'); remember()
  for (let i = 0; i < 60 && !idOf(client).endsWith('-n1'); i++) {
    client.cookies.clear()
    await client.get('/count'); remember()
  }
  await cluster.node('n1').kill()
  await client.get('/count'); remember() // relocation
  await client.post('/destroy')
  assert.ok(ids.size >= 4)
  const text = logs.join('\n')
  assert.ok(text.includes('relocated'), 'the scenario produced warn logs')
  assert.ok(text.includes('marked down'), 'and error logs')
  assert.ok(text.includes('session saved'), 'and debug logs')
  for (const sessionId of ids) {
    assert.ok(!text.includes(sessionId), 'no raw id')
    assert.ok(!text.includes(sessionId.slice(0, 32)), 'not even the random part')
  }
  assert.ok(app.msm.stats().relocated >= 1)
})
