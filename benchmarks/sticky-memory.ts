// Heap and RSS of sticky mode's local session cache: N sessions of about 1 KB
// of attributes each, created through the real plugin and real memcached.
// Run: node --expose-gc --import tsx benchmarks/sticky-memory.ts [sessions]
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import msm from '../lib/index.js'
import { startCluster } from '../test/helpers/memcached.js'

const sessions = Number(process.argv[2] ?? 20_000)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')

function payload (i: number): Record<string, unknown> {
  return {
    user: { id: `user-${i}`, name: 'Ada Lovelace', email: `ada${i}@example.com`, roles: ['reader', 'writer'] },
    cart: Array.from({ length: 14 }, (_, k) => ({ sku: `SKU-${k}-${i}`, qty: k + 1, price: 9.99 + k })),
    preferences: { theme: 'dark', language: 'en-GB', timezone: 'Europe/London', newsletter: true },
    csrf: 'c'.repeat(43),
    visits: i
  }
}

async function main (): Promise<void> {
  const cluster = await startCluster(2)
  const app = Fastify()
  await app.register(cookie)
  await app.register(msm, { nodes: cluster.spec, sticky: true, localSessions: sessions + 1 })
  app.post('/login', async (request) => {
    const data = payload(Number((request.query as { i: string }).i))
    for (const [key, value] of Object.entries(data)) request.session.set(key, value as never)
    return 'ok'
  })
  await app.ready()
  const size = JSON.stringify(payload(1)).length
  gc?.()
  const before = process.memoryUsage()
  for (let i = 0; i < sessions; i++) await app.inject({ method: 'POST', url: `/login?i=${i}` })
  while (app.msm.stats().backupQueue > 0) await new Promise((resolve) => setTimeout(resolve, 20))
  // Objects held by WeakRefs are collectable only after the job that last used them,
  // and ArrayBuffers are freed by a sweep after the collection: collect twice
  await new Promise((resolve) => setTimeout(resolve, 50))
  gc?.()
  await new Promise((resolve) => setTimeout(resolve, 200))
  gc?.()
  const after = process.memoryUsage()
  const perSession = (after.heapUsed - before.heapUsed) / sessions
  console.log(JSON.stringify({
    sessions,
    attributesJsonBytes: size,
    localSessions: app.msm.stats().localSessions,
    heapUsedMiB: +((after.heapUsed - before.heapUsed) / 2 ** 20).toFixed(1),
    externalMiB: +((after.external - before.external) / 2 ** 20).toFixed(1),
    rssMiB: +((after.rss - before.rss) / 2 ** 20).toFixed(1),
    heapBytesPerSession: Math.round(perSession),
    heapAndExternalBytesPerSession: Math.round((after.heapUsed + after.external - before.heapUsed - before.external) / sessions)
  }))
  await app.close()
  await cluster.stop()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
