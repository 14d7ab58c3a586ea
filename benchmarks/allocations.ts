// JavaScript heap bytes allocated per request, side by side with another
// checkout's build: the same scenario apps (servers.ts) in this process,
// driven by fastify.inject against real memcached, in alternating rounds.
// A round is measured only when no garbage collection ran during it, so the
// growth of the used heap is exactly what the requests allocated; the young
// generation is made large enough for that (--max-semi-space-size). Both
// sides pay the same for inject, Fastify and the memcached client, so the
// difference is the plugin's.
//   node --expose-gc --max-semi-space-size=256 --import tsx benchmarks/allocations.ts --baseline=<checkout> d e g
import { performance, PerformanceObserver } from 'node:perf_hooks'
import { getHeapStatistics } from 'node:v8'
import { resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { median } from './report.js'
import { startBenchmarkCluster } from './memcached-nodes.js'
import { build, subscribeAll } from './servers.js'
import { scenarioByKey } from './scenarios.js'

const REQUESTS_PER_ROUND = 100
const ROUNDS = 15

interface Side { label: string, app: FastifyInstance, cookie: string, url: string, bytes: number[] }

/** When each garbage collection started (entries arrive after the fact, so each is placed by its start time). */
const collections: number[] = []
new PerformanceObserver((list) => { for (const entry of list.getEntries()) collections.push(entry.startTime) }).observe({ entryTypes: ['gc'] })

const collect = (globalThis as { gc?: () => void }).gc
if (collect === undefined) throw new Error('run with node --expose-gc (see the first lines of this file)')

async function side (label: string, key: string, nodes: string, from: string): Promise<Side> {
  process.env.BENCH_MSM_FROM = from
  const app = await build(key, nodes)
  const login = await app.inject({ method: 'POST', url: '/login' })
  const cookie = String(login.headers['set-cookie']).split(';')[0] as string
  return { label, app, cookie, url: scenarioByKey(key).route, bytes: [] }
}

async function requests (target: Side, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const response = await target.app.inject({ method: 'GET', url: target.url, headers: { cookie: target.cookie } })
    if (response.statusCode !== 200) throw new Error(`${target.label}: ${response.statusCode} ${response.body}`)
  }
}

/** Bytes per request of one round, or null when a collection ran during it. */
async function round (target: Side): Promise<number | null> {
  collect?.()
  collect?.()
  await new Promise((resolve) => setImmediate(resolve))
  const start = performance.now()
  const before = getHeapStatistics().used_heap_size
  await requests(target, REQUESTS_PER_ROUND)
  const grown = getHeapStatistics().used_heap_size - before
  const end = performance.now()
  await new Promise((resolve) => setTimeout(resolve, 20)) // the round's collection entries, if any, arrive
  return collections.some((at) => at >= start && at <= end) ? null : grown / REQUESTS_PER_ROUND
}

async function main (): Promise<void> {
  // BENCH_SUBSCRIBE_ALL=1: a no-op subscriber on every diagnostics channel (the baseline may publish on none)
  if (process.env.BENCH_SUBSCRIBE_ALL === '1') subscribeAll()
  const baseline = process.argv.find((arg) => arg.startsWith('--baseline='))?.slice('--baseline='.length)
  if (baseline === undefined) throw new Error('usage: allocations.ts --baseline=<checkout> <scenario key> ...')
  const keys = process.argv.slice(2).filter((arg) => !arg.startsWith('--'))
  const cluster = await startBenchmarkCluster(2, 256)
  try {
    for (const key of keys) {
      const sides = [await side(`${key} baseline`, key, cluster.spec, resolve(baseline)), await side(`${key} this checkout`, key, cluster.spec, '')]
      for (const target of sides) await requests(target, 2000) // warm-up: compiled code, caches filled
      for (let i = 0; i < ROUNDS; i++) {
        for (const target of i % 2 === 0 ? sides : [...sides].reverse()) {
          const bytes = await round(target)
          if (bytes !== null) target.bytes.push(bytes)
        }
      }
      const [before, after] = sides.map((target) => median(target.bytes)) as [number, number]
      for (const target of sides) console.log(`${target.label}: ${Math.round(median(target.bytes))} bytes/request (median of ${target.bytes.length} rounds without a collection)`)
      console.log(`${key}: this checkout / baseline = ${(after / before).toFixed(3)}`)
      await Promise.all(sides.map((target) => target.app.close()))
    }
  } finally {
    await cluster.stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
