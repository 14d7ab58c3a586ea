// Profiles one scenario's server under load: writes a .cpuprofile and prints
// the functions with the most self time.
// Run: node --import tsx benchmarks/profile.ts <scenario key, e.g. d, e, d@100KB> [seconds] [--stages]
// --stages also prints the busy time by stage (docs/benchmarks.md, the budget):
// fastify-msm's modules by concern, the memcached client, Fastify, Node.js.
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startBenchmarkCluster } from './memcached-nodes.js'
import { login, measure, startServer, stopServer } from './load.js'
import { scenarioByKey } from './scenarios.js'

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount: number }

const SESSIONS = 1000

/** Self time per function, as a share of all samples, highest first. */
function hottest (profilePath: string, count: number): Array<[string, number]> {
  const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as { nodes: ProfileNode[] }
  const total = profile.nodes.reduce((sum, node) => sum + node.hitCount, 0)
  const byFunction = new Map<string, number>()
  for (const node of profile.nodes) {
    const where = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(lib|benchmarks|dist)\//, '$1/')}:${node.callFrame.lineNumber + 1}`
    byFunction.set(where, (byFunction.get(where) ?? 0) + node.hitCount)
  }
  return [...byFunction].sort((x, y) => y[1] - x[1]).slice(0, count).map(([where, hits]) => [where, (100 * hits) / total])
}

/** The stage a sampled function belongs to, from its file; null for idle time. */
const STAGES: Array<[string, RegExp]> = [
  ['fastify-msm: cookie read and response cookie (session/cookie*.ts)', /\/(lib|dist\/cjs)\/session\/cookie/],
  ['fastify-msm: change tracking (session/tracking.ts)', /\/(lib|dist\/cjs)\/session\/tracking/],
  ['fastify-msm: request flow, the hooks\' own code (plugin.ts, session/)', /\/(lib|dist\/cjs)\/(plugin|session\/)/],
  ['fastify-msm: ids (ids/)', /\/(lib|dist\/cjs)\/ids\//],
  ['fastify-msm: bounds check, decode, encode (serialization/, avsc)', /\/(lib|dist\/cjs)\/serialization\/|node_modules\/avsc\//],
  ['fastify-msm: store, locator, node client, locks (store/, memcached/, cluster/, locking/)', /\/(lib|dist\/cjs)\/(store|memcached|cluster|locking)\//],
  ['fastify-msm: counters, timings, events (stats/, events/, monitoring/)', /\/(lib|dist\/cjs)\/(stats|events|monitoring|util)\//],
  ['@fastify/cookie, cookie', /node_modules\/(@fastify\/cookie|cookie|cookie-signature)\//],
  ['memcached client (memcached, hashring, jackpot, retry)', /node_modules\/(memcached|hashring|jackpot|connection-parse|simple-lru-cache|retry)\//],
  ['Fastify (fastify, find-my-way, avvio, serializers)', /node_modules\/(fastify|find-my-way|avvio|fast-json-stringify|@fastify\/|light-my-request|fast-querystring|toad-cache|process-warning|abstract-logging|pino|fastq)/],
  ['benchmark server (benchmarks/)', /\/benchmarks\//]
]

function stageOf (node: ProfileNode): string | null {
  const { functionName, url } = node.callFrame
  if (functionName === '(idle)' || functionName === '(program)') return null
  if (functionName === '(garbage collector)') return 'garbage collection'
  for (const [stage, pattern] of STAGES) if (pattern.test(url)) return stage
  if (url === '' && /^(writeUtf8String|writev|writeBuffer|writeLatin1String|writeAsciiString|writeUcs2String)$/.test(functionName)) return 'Node.js: socket writes (natives)'
  if (url === '') return 'Node.js: other natives'
  if (url.startsWith('node:')) return 'Node.js: http, net, streams, timers (JavaScript)'
  return `other (${url.replace(/^.*node_modules\//, '').split('/')[0] as string})`
}

/** Busy time (idle and "program" samples left out) by stage, as shares, highest first. */
function byStage (profilePath: string): Array<[string, number]> {
  const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as { nodes: ProfileNode[] }
  const hits = new Map<string, number>()
  let busy = 0
  for (const node of profile.nodes) {
    const stage = stageOf(node)
    if (stage === null) continue
    busy += node.hitCount
    hits.set(stage, (hits.get(stage) ?? 0) + node.hitCount)
  }
  return [...hits].sort((x, y) => y[1] - x[1]).map(([stage, count]) => [stage, (100 * count) / busy])
}

async function main (): Promise<void> {
  const scenario = scenarioByKey(process.argv[2] ?? 'd')
  const seconds = Number(process.argv.slice(3).find((arg) => !arg.startsWith('--')) ?? 5)
  const cluster = await startBenchmarkCluster(2, 1024)
  const dir = mkdtempSync(join(tmpdir(), 'msm-profile-'))
  try {
    const server = await startServer(scenario, cluster.spec, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] })
    let result
    try {
      await login(server, SESSIONS)
      result = await measure(server, seconds, cluster)
    } finally {
      await stopServer(server, 'SIGTERM')
    }
    const file = join(dir, readdirSync(dir).find((name) => name.endsWith('.cpuprofile')) as string)
    console.log(`scenario ${scenario.key}: ${Math.round(result.reqPerSec)} req/s, ${result.opsPerRequest.toFixed(2)} memcached ops/request; profile ${file}`)
    for (const [where, share] of hottest(file, 30)) console.log(`${share.toFixed(1).padStart(5)}%  ${where}`)
    if (process.argv.includes('--stages')) {
      console.log('busy time by stage:')
      for (const [stage, share] of byStage(file)) console.log(`${share.toFixed(1).padStart(5)}%  ${stage}`)
    }
  } finally {
    await cluster.stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
