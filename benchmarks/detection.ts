// How fast a node fault is noticed, and what the health check costs, with
// the default settings (healthCheckInterval 1000 ms, operationTimeout
// 1000 ms, nodeRetryInterval 1000 ms), on real memcached processes and no
// traffic at all: no request ever fails on the faulty node, so only the
// plugin's own detection can see it.
//   node --import tsx benchmarks/detection.ts [repetitions, default 5]
// Prints one JSON line per measurement and a summary (docs/failover.md).
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import { setTimeout as sleep } from 'node:timers/promises'
import msm from '../lib/index.js'
import { type MemcachedCluster, startCluster } from '../test/helpers/memcached.js'
import { median } from './report.js'

type Fault = 'SIGKILL' | 'SIGSTOP' | 'restart (empty)'

async function app (cluster: MemcachedCluster): Promise<FastifyInstance> {
  const instance = Fastify()
  await instance.register(cookie)
  await instance.register(msm, { nodes: cluster.spec })
  await instance.ready()
  return instance
}

function node (instance: FastifyInstance, id: string): ReturnType<FastifyInstance['msm']['stats']>['nodes'][number] {
  return instance.msm.stats().nodes.find((candidate) => candidate.id === id) as ReturnType<FastifyInstance['msm']['stats']>['nodes'][number]
}

/** Milliseconds from the fault until the plugin reports it (polled every 2 ms). */
async function detectionMs (instance: FastifyInstance, cluster: MemcachedCluster, fault: Fault): Promise<{ ms: number, detectedBy: string | null }> {
  const target = cluster.node('n2')
  const restartsBefore = node(instance, 'n2').restarts
  const noticed = (): boolean => fault === 'restart (empty)' ? node(instance, 'n2').restarts > restartsBefore : node(instance, 'n2').state === 'down'
  let started = performance.now()
  if (fault === 'SIGKILL') {
    await target.kill()
    started = performance.now()
  } else if (fault === 'SIGSTOP') {
    target.signal('SIGSTOP')
  } else {
    await target.kill()
    await target.start()
    // The restart counts from the moment the old process died
  }
  while (!noticed()) {
    if (performance.now() - started > 30_000) throw new Error(`${fault} not noticed in 30 s`)
    await sleep(2)
  }
  const ms = performance.now() - started
  const detectedBy = node(instance, 'n2').detectedBy
  // Back to a healthy cluster for the next round
  if (fault === 'SIGSTOP') target.signal('SIGCONT')
  if (fault === 'SIGKILL') await target.start()
  while (node(instance, 'n2').state !== 'up') await sleep(20)
  return { ms, detectedBy }
}

async function healthCheckCost (instance: FastifyInstance, seconds: number): Promise<number> {
  const before = instance.msm.stats().nodes.map((entry) => entry.stats)
  await sleep(seconds * 1000)
  const after = instance.msm.stats().nodes.map((entry) => entry.stats)
  const perNode = after.map((value, index) => (value - (before[index] as number)) / seconds)
  return median(perNode)
}

async function main (): Promise<void> {
  const repetitions = Number(process.argv[2] ?? 5)
  const cluster = await startCluster(3)
  const instance = await app(cluster)
  try {
    await sleep(1500)
    const idleChecks = await healthCheckCost(instance, 10)
    console.log(JSON.stringify({ measure: 'health checks per node per second, idle', value: Number(idleChecks.toFixed(2)) }))
    const summary: Record<string, unknown> = {}
    for (const fault of ['SIGKILL', 'SIGSTOP', 'restart (empty)'] as const) {
      const results: number[] = []
      const detectors = new Set<string | null>()
      for (let round = 0; round < repetitions; round++) {
        // A random phase against the health timer
        await sleep(1000 + Math.random() * 1000)
        const { ms, detectedBy } = await detectionMs(instance, cluster, fault)
        results.push(ms)
        detectors.add(detectedBy)
        console.log(JSON.stringify({ fault, round, ms: Math.round(ms), detectedBy }))
      }
      summary[fault] = { minMs: Math.round(Math.min(...results)), medianMs: Math.round(median(results)), maxMs: Math.round(Math.max(...results)), detectedBy: [...detectors] }
    }
    console.log(JSON.stringify({ idleHealthChecksPerNodePerSecond: Number(idleChecks.toFixed(2)), detection: summary }, null, 2))
  } finally {
    await instance.close()
    await cluster.stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
