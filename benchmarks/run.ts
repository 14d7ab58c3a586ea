// npm run bench [-- --quick]: fastify-msm against its peers, side by side.
// Starts its own memcached nodes and one server process per scenario, logs in
// 1,000 distinct sessions per scenario, then runs the scenarios interleaved
// with autocannon, each at least 3 times, and reports the medians.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { cpus } from 'node:os'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import autocannon from 'autocannon'
import { startCluster, type MemcachedCluster } from '../test/helpers/memcached.js'

const quick = process.argv.includes('--quick')
const SESSIONS = 1000
const CONNECTIONS = 32
const REPEATS = 3
const DURATION_S = quick ? 1 : 6
const WARMUP_S = quick ? 1 : 2

const SCENARIOS = [
  { key: 'a', name: 'bare Fastify, no sessions', route: '/read' },
  { key: 'b', name: '@fastify/session, MemoryStore', route: '/read' },
  { key: 'c', name: '@fastify/session + connect-memcached', route: '/read' },
  { key: 'd', name: 'fastify-msm non-sticky, read-only', route: '/read' },
  { key: 'e', name: 'fastify-msm non-sticky, modifying', route: '/write' },
  { key: 'f', name: "fastify-msm lockingMode 'all', modifying", route: '/write' },
  { key: 'g', name: 'fastify-msm sticky, read-only', route: '/read' },
  { key: 'h', name: 'fastify-msm read-only, stats: false', route: '/read' },
  { key: 'i', name: 'fastify-msm read-only, request.session.user.id', route: '/read' }
] as const

interface Server { key: string, base: string, child: ChildProcess, cookies: string[] }
interface Run { reqPerSec: number, p50: number, p99: number, opsPerRequest: number, errors: number }

async function startServer (key: string, nodes: string): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'servers.ts'), key, nodes], { stdio: ['ignore', 'pipe', 'inherit'] })
  const base = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve)
    child.once('exit', (code) => reject(new Error(`scenario ${key} exited with ${code}`)))
  })
  return { key, base, child, cookies: [] }
}

async function login (server: Server): Promise<void> {
  const cookies: string[] = []
  for (let batch = 0; batch < SESSIONS; batch += 50) {
    const responses = await Promise.all(Array.from({ length: 50 }, () => fetch(`${server.base}/login`, { method: 'POST' })))
    for (const response of responses) {
      const pair = response.headers.getSetCookie()[0]?.split(';')[0]
      if (pair !== undefined) cookies.push(pair)
    }
  }
  server.cookies = cookies
}

async function memcachedOperations (cluster: MemcachedCluster): Promise<number> {
  const ops = await cluster.operations()
  return ops.get + ops.set + ops.touch + ops.delete
}

async function measure (server: Server, route: string, seconds: number, cluster: MemcachedCluster): Promise<Run> {
  let next = 0
  const before = await memcachedOperations(cluster)
  const result = await autocannon({
    url: server.base,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [{
      method: 'GET',
      path: route,
      setupRequest: (request: { headers?: Record<string, string> }) => {
        if (server.cookies.length > 0) request.headers = { ...request.headers, cookie: server.cookies[next++ % server.cookies.length] as string }
        return request
      }
    }]
  } as autocannon.Options)
  const after = await memcachedOperations(cluster)
  return {
    reqPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    opsPerRequest: (after - before) / Math.max(1, result.requests.total),
    errors: result.errors + result.non2xx
  }
}

function median (values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.floor(sorted.length / 2)] as number
}

function chart (rows: Array<{ key: string, name: string, reqPerSec: number }>): string {
  const width = 760
  const barHeight = 26
  const labelWidth = 330
  const max = Math.max(...rows.map((row) => row.reqPerSec))
  const bars = rows.map((row, index) => {
    const y = 30 + index * (barHeight + 8)
    const length = Math.max(2, ((width - labelWidth - 90) * row.reqPerSec) / max)
    const color = row.name.startsWith('fastify-msm') ? '#2f7d32' : '#7a7a7a'
    return `<text x="${labelWidth - 8}" y="${y + 18}" text-anchor="end">(${row.key}) ${row.name.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>` +
      `<rect x="${labelWidth}" y="${y}" width="${length.toFixed(1)}" height="${barHeight}" fill="${color}"/>` +
      `<text x="${(labelWidth + length + 6).toFixed(1)}" y="${y + 18}">${Math.round(row.reqPerSec).toLocaleString('en-US')}</text>`
  }).join('\n  ')
  const height = 40 + rows.length * (barHeight + 8)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">
  <text x="10" y="18" font-weight="bold">Requests per second (median of ${REPEATS}, 1,000 sessions of ~1 KB, ${CONNECTIONS} connections)</text>
  ${bars}
</svg>
`
}

async function main (): Promise<void> {
  const started = Date.now()
  const cluster = await startCluster(2)
  const servers: Server[] = []
  try {
    for (const scenario of SCENARIOS) servers.push(await startServer(scenario.key, cluster.spec))
    for (const server of servers) if (server.key !== 'a') await login(server)
    for (const server of servers) {
      if (server.key !== 'a' && server.cookies.length !== SESSIONS) throw new Error(`scenario ${server.key} has ${server.cookies.length} sessions`)
    }
    console.log(`warming up (${WARMUP_S} s each)`)
    for (const [index, scenario] of SCENARIOS.entries()) await measure(servers[index] as Server, scenario.route, WARMUP_S, cluster)
    const runs = new Map<string, Run[]>(SCENARIOS.map((scenario) => [scenario.key, []]))
    for (let repeat = 1; repeat <= REPEATS; repeat++) {
      for (const [index, scenario] of SCENARIOS.entries()) {
        const run = await measure(servers[index] as Server, scenario.route, DURATION_S, cluster)
        runs.get(scenario.key)?.push(run)
        console.log(`round ${repeat} (${scenario.key}) ${Math.round(run.reqPerSec)} req/s, p99 ${run.p99} ms, ${run.opsPerRequest.toFixed(2)} memcached ops/request, ${run.errors} errors`)
      }
    }
    const rows = SCENARIOS.map((scenario) => {
      const list = runs.get(scenario.key) as Run[]
      return {
        key: scenario.key,
        name: scenario.name,
        route: scenario.route,
        reqPerSec: median(list.map((run) => run.reqPerSec)),
        p50: median(list.map((run) => run.p50)),
        p99: median(list.map((run) => run.p99)),
        opsPerRequest: median(list.map((run) => run.opsPerRequest)),
        errors: list.reduce((sum, run) => sum + run.errors, 0),
        runs: list.map((run) => Math.round(run.reqPerSec))
      }
    })
    const by = (key: string): number => (rows.find((row) => row.key === key) as { reqPerSec: number }).reqPerSec
    const ratio = (x: string, y: string): number => by(x) / by(y)
    const targets = [
      { target: '(d) ≥ 2.0× (c)', value: ratio('d', 'c'), goal: 2 },
      { target: '(d) ≥ 1.0× (b)', value: ratio('d', 'b'), goal: 1 },
      { target: '(e) ≥ 1.5× (c)', value: ratio('e', 'c'), goal: 1.5 },
      { target: '(f) ≥ 0.6× (e)', value: ratio('f', 'e'), goal: 0.6 },
      { target: '(g) ≥ 0.6× (a)', value: ratio('g', 'a'), goal: 0.6 },
      { target: 'stats overhead: (h) / (d)', value: ratio('h', 'd'), goal: 0 }
    ]
    const memcachedVersion = execFileSync('memcached', ['-V']).toString().trim()
    const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, memcached: memcachedVersion, date: new Date().toISOString() }
    const settings = { sessions: SESSIONS, connections: CONNECTIONS, durationSeconds: DURATION_S, warmupSeconds: WARMUP_S, repeats: REPEATS, quick }
    const table = [
      '| Scenario | req/s | p50 ms | p99 ms | memcached ops/req | × (a) | × (c) |',
      '|---|---|---|---|---|---|---|',
      ...rows.map((row) => `| (${row.key}) ${row.name} | ${Math.round(row.reqPerSec).toLocaleString('en-US')} | ${row.p50} | ${row.p99} | ${row.opsPerRequest.toFixed(2)} | ${(row.reqPerSec / by('a')).toFixed(2)} | ${(row.reqPerSec / by('c')).toFixed(2)} |`)
    ].join('\n')
    const targetTable = [
      '| Target | Measured | Met |',
      '|---|---|---|',
      ...targets.map((item) => `| ${item.target} | ${item.value.toFixed(2)} | ${item.goal === 0 ? '–' : item.value >= item.goal ? 'yes' : 'no'} |`)
    ].join('\n')
    console.log(`\n${table}\n\n${targetTable}\n`)
    // A --quick smoke run (CI) writes to an ignored folder: it must never dirty the committed results
    const dir = quick ? join(__dirname, '.quick') : join(__dirname, 'results')
    mkdirSync(dir, { recursive: true })
    const name = quick ? 'quick' : 'latest'
    writeFileSync(join(dir, `${name}.json`), JSON.stringify({ machine, settings, rows, targets }, null, 2) + '\n')
    writeFileSync(join(dir, `${name}.md`), `# Benchmark results\n\n${machine.cores} cores (${machine.cpu}), Node ${machine.node}, ${machine.memcached}, ${machine.date.slice(0, 10)}. ${SESSIONS} sessions of ~1 KB, ${CONNECTIONS} connections, ${REPEATS} interleaved rounds of ${DURATION_S} s after a ${WARMUP_S} s warm-up; medians. memcached ops/req counts get, set (including add), touch and delete from memcached's own stats.\n\n${table}\n\n${targetTable}\n\n![chart](./${name}.svg)\n`)
    writeFileSync(join(dir, `${name}.svg`), chart(rows))
    if (!quick) writeFileSync(join(__dirname, '..', 'docs', 'public', 'benchmark-chart.svg'), chart(rows))
    console.log(`results in ${dir}/${name}.{json,md,svg}; ${Math.round((Date.now() - started) / 1000)} s`)
  } finally {
    for (const server of servers) server.child.kill('SIGKILL')
    await cluster.stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
