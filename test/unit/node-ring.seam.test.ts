// Where sessions go among the nodes (lib/cluster/node-ring.ts), on the
// in-memory memcached: the backup on the next node in the configured order,
// wrapping around, regular nodes before failover nodes; new sessions only on
// nodes that are up; down nodes probed, up nodes left alone; setNodes()
// keeping the clients of unchanged nodes; ids of nodes never configured
// refused. Written for mutants that survived the rest of the suite
// (test/mutation/REPORT.md).
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { MsmOptions, NodeStats } from '../../lib/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { mockedClock } from '../helpers/clock.js'
import { CookieClient, idOf, nodeOf, nodeState, sessionOn, startApp, type StartedApp, waitFor } from '../helpers/app.js'

const FAST = { operationTimeout: 300, nodeRetryInterval: 50 }
const resources = usePerTestCleanup()

async function setup (count: number, options: Partial<MsmOptions> = {}): Promise<StartedApp & { cluster: MemoryCluster }> {
  const cluster = await startMemoryCluster(count)
  resources.clusters.push(cluster)
  return { cluster, ...await startApp(cluster, resources.apps, { ...FAST, ...options }) }
}

/** The nodes holding the `bak:` copy of the client's session. */
function backupNodes (cluster: MemoryCluster, client: CookieClient): string[] {
  return cluster.nodes.filter((node) => node.server.peek(`bak:${idOf(client)}`) !== undefined).map((node) => node.id)
}

function nodeStats (app: FastifyInstance, id: string): NodeStats {
  return app.msm.stats().nodes.find((node) => node.id === id) as NodeStats
}

test('the backup goes to the next node in the configured order, wrapping around after the last', async () => {
  const { cluster, base } = await setup(3)
  assert.deepEqual(backupNodes(cluster, await sessionOn(base, 'n1')), ['n2'])
  assert.deepEqual(backupNodes(cluster, await sessionOn(base, 'n2')), ['n3'])
  assert.deepEqual(backupNodes(cluster, await sessionOn(base, 'n3')), ['n1'])
})

test('a failover node takes a backup only after every regular node', async () => {
  const { cluster, base } = await setup(3, { failoverNodes: ['n2'] })
  assert.deepEqual(backupNodes(cluster, await sessionOn(base, 'n1')), ['n3'], 'n3 before the failover node n2')
  assert.deepEqual(backupNodes(cluster, await sessionOn(base, 'n3')), ['n1'])
})

test('new sessions avoid a node that is down, without asking it', async () => {
  const { cluster, app, base } = await setup(3)
  await cluster.node('n2').kill()
  for (let i = 0; i < 30 && nodeState(app, 'n2') === 'up'; i++) await new CookieClient(base).get('/count')
  await waitFor(() => nodeState(app, 'n2') === 'down', 'n2 to be marked down')
  const before = nodeStats(app, 'n2').set
  const landed = new Set<string>()
  for (let i = 0; i < 20; i++) {
    const client = new CookieClient(base)
    assert.equal((await client.get('/count')).body.n, 1)
    landed.add(nodeOf(idOf(client)))
  }
  assert.ok(!landed.has('n2'), [...landed].join())
  assert.equal(nodeStats(app, 'n2').set, before, 'no write sent to n2')
  assert.equal(app.msm.stats().saveFailures, 0)
})

test('only down nodes are probed, and a probe that waits is not repeated meanwhile', async () => {
  // Health checks off: every stats command counted here is a probe
  const { cluster, app, base } = await setup(2, { operationTimeout: 400, healthCheckInterval: 0 })
  await sessionOn(base, 'n1')
  const upChecks = nodeStats(app, 'n2').stats
  cluster.node('n1').server.hang()
  await new CookieClient(base).get('/count').catch(() => {})
  await waitFor(() => nodeState(app, 'n1') === 'down', 'n1 to be marked down')
  const probesBefore = nodeStats(app, 'n1').stats
  // 20 probe intervals pass while n1 is hung: one probe waits on it at a time
  await new Promise((resolve) => setTimeout(resolve, 1000))
  cluster.node('n1').server.resume()
  await waitFor(() => nodeState(app, 'n1') === 'up', 'n1 to come back')
  const probes = nodeStats(app, 'n1').stats - probesBefore
  assert.ok(probes >= 1 && probes <= 5, `probes sent to the hung node: ${probes}`)
  assert.equal(nodeStats(app, 'n2').stats, upChecks, 'the up node was not probed')
})

test('a cookie naming a node that was never configured is refused without a lookup', async () => {
  const { app, base } = await setup(2)
  const client = await sessionOn(base, 'n1')
  const forged = new CookieClient(base)
  forged.cookies.set('sessionId', idOf(client).replace('-n1', '-n7'))
  const read = await forged.get('/read')
  assert.equal(read.body.isNew, true)
  assert.equal(app.msm.stats().invalidCookies, 1)
})

test('setNodes() keeps the client and counters of a node whose id and address are unchanged, and replaces a moved one', async () => {
  const { cluster, app, base } = await setup(3)
  await sessionOn(base, 'n1')
  await sessionOn(base, 'n2')
  const [n1, , n3] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]]
  const before = { n1: nodeStats(app, 'n1').set, n2: nodeStats(app, 'n2').set }
  assert.ok(before.n1 > 0 && before.n2 > 0)
  // n2 keeps its id but moves to n3's address
  app.msm.setNodes(`${n1.spec} n2:${n3.host}:${n3.port}`)
  assert.equal(nodeStats(app, 'n1').set, before.n1, 'n1 unchanged: same client')
  assert.equal(nodeStats(app, 'n2').set, 0, 'n2 moved: a new client')
  assert.deepEqual(app.msm.stats().nodes.map((node) => node.id), ['n1', 'n2'])
})

test('sessions of a removed node are still relocated after other nodes were removed since', async () => {
  const { cluster, app, base } = await setup(3)
  const client = await sessionOn(base, 'n1')
  const [n1, n2, n3] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]]
  app.msm.setNodes(`${n2.spec} ${n3.spec}`)
  app.msm.setNodes(`${n1.spec} ${n2.spec} ${n3.spec}`)
  app.msm.setNodes(`${n2.spec} ${n3.spec}`)
  assert.equal((await client.get('/count')).body.n, 2, 'read from its backup on n2')
  assert.equal(nodeOf(idOf(client)), 'n2')
  assert.equal(app.msm.stats().invalidCookies, 0)
})

test('health checks: a node that answered within healthCheckInterval gets none; a silent one gets one', async (t) => {
  const advance = mockedClock(t)
  const { app, base } = await setup(2, { healthCheckInterval: 1000 })
  await waitFor(() => nodeStats(app, 'n1').stats >= 1 && nodeStats(app, 'n2').stats >= 1, 'the first check of each node, at registration')
  const checks = (): number[] => [nodeStats(app, 'n1').stats, nodeStats(app, 'n2').stats]
  const before = checks()
  await new CookieClient(base).get('/count')
  // The mocked clock stands still: every node answered "just now", for as long as the timer ticks
  await new Promise((resolve) => setTimeout(resolve, 600))
  assert.deepEqual(checks(), before, 'no check while every node has just answered')
  await advance(1100)
  await waitFor(() => checks().every((count, index) => count === (before[index] as number) + 1), 'one check per silent node')
})

test('a restart noticed while the node stays up: recorded in stats(), health() and the metrics', async () => {
  const { cluster, app } = await setup(2)
  await waitFor(() => nodeStats(app, 'n2').stats >= 1, 'the first check of n2')
  await cluster.node('n2').restart()
  await waitFor(() => nodeStats(app, 'n2').restarts === 1, 'the restart of n2')
  const node = nodeStats(app, 'n2')
  assert.equal(node.state, 'up')
  assert.equal(node.lastChange, 'restarted')
  assert.equal(node.detectedBy, 'restart')
  assert.ok(node.lastChangeAt !== null && Date.parse(node.lastChangeAt) <= Date.now())
  const healthNode = app.msm.health().nodes.find((entry) => entry.id === 'n2')
  assert.deepEqual({ lastChange: healthNode?.lastChange, detectedBy: healthNode?.detectedBy, restarts: healthNode?.restarts }, { lastChange: 'restarted', detectedBy: 'restart', restarts: 1 })
  assert.equal(app.msm.health().status, 'ok')
  const metrics = app.msm.metrics()
  assert.match(metrics, /^msm_node_restarts_total\{node="n2"\} 1$/m)
  assert.match(metrics, /^msm_node_last_change_seconds\{node="n2",change="restarted",detected_by="restart"\} \d/m)
  assert.match(metrics, /^msm_node_last_change_seconds\{node="n1",change="none",detected_by="none"\} 0$/m)
  assert.match(metrics, /^msm_node_operations_total\{node="n2",op="stats"\} [1-9]/m)
})

test('killed: marked down by the connection report, with no request; health() says degraded and names the detection', async () => {
  const { cluster, app } = await setup(3)
  // The kill every client notices (MemoryNode.kill() is noticed only by a failing command)
  cluster.node('n3').server.kill()
  await waitFor(() => nodeState(app, 'n3') === 'down', 'n3 to be marked down')
  const node = app.msm.health().nodes.find((entry) => entry.id === 'n3')
  assert.equal(node?.detectedBy, 'connection')
  assert.equal(node?.lastChange, 'down')
  assert.equal(app.msm.health().status, 'degraded')
})
