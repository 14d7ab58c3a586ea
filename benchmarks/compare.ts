// Before/after in one run: the same scenarios served by another checkout of
// fastify-msm (built, with `npm run build`) and by this one, side by side on
// the same memcached nodes, in interleaved rounds whose order alternates.
//   node --import tsx benchmarks/compare.ts <baseline checkout> [scenarios, default "de"] [rounds] [seconds]
// For example, against the previous commit:
//   git worktree add /tmp/baseline HEAD~1 && (cd /tmp/baseline && npm ci && npm run build)
//   node --import tsx benchmarks/compare.ts /tmp/baseline de 10 4
import { type ChildProcess, spawn } from 'node:child_process'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import autocannon from 'autocannon'
import { startCluster } from '../test/helpers/memcached.js'

const SESSIONS = 1000
const CONNECTIONS = 32

interface Side { label: string, tree: string, scenario: string, route: string, child?: ChildProcess, base?: string, cookies?: string[], results: number[] }

async function start (side: Side, nodes: string): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(side.tree, 'benchmarks', 'servers.ts'), side.scenario, nodes], { cwd: side.tree, stdio: ['ignore', 'pipe', 'inherit'] })
  side.child = child
  side.base = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve)
    child.once('exit', (code) => reject(new Error(`${side.label} exited with ${code}`)))
  })
  const cookies: string[] = []
  for (let batch = 0; batch < SESSIONS; batch += 50) {
    const responses = await Promise.all(Array.from({ length: 50 }, () => fetch(`${side.base as string}/login`, { method: 'POST' })))
    for (const response of responses) {
      const pair = response.headers.getSetCookie()[0]?.split(';')[0]
      if (pair !== undefined) cookies.push(pair)
    }
  }
  side.cookies = cookies
}

async function measure (side: Side, seconds: number): Promise<number> {
  let next = 0
  const cookies = side.cookies as string[]
  const result = await autocannon({
    url: side.base as string,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [{ method: 'GET', path: side.route, setupRequest: (request: { headers?: Record<string, string> }) => ({ ...request, headers: { ...request.headers, cookie: cookies[next++ % cookies.length] as string } }) }]
  } as autocannon.Options)
  if (result.errors + result.non2xx > 0) throw new Error(`${side.label}: ${result.errors} errors, ${result.non2xx} non-2xx`)
  return result.requests.average
}

const median = (values: number[]): number => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)] as number

async function main (): Promise<void> {
  const [baseline, scenarios = 'de', rounds = '6', seconds = '4'] = process.argv.slice(2)
  if (baseline === undefined) throw new Error('usage: compare.ts <baseline checkout> [scenarios] [rounds] [seconds]')
  const sides: Side[] = [...scenarios].flatMap((scenario) => {
    const route = scenario === 'e' || scenario === 'f' ? '/write' : '/read'
    return [
      { label: `(${scenario}) baseline`, tree: resolve(baseline), scenario, route, results: [] },
      { label: `(${scenario}) this checkout`, tree: resolve(__dirname, '..'), scenario, route, results: [] }
    ]
  })
  const cluster = await startCluster(2)
  try {
    for (const side of sides) await start(side, cluster.spec)
    for (let round = 0; round < Number(rounds); round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse()
      for (const side of order) side.results.push(await measure(side, Number(seconds)))
    }
    for (let index = 0; index < sides.length; index += 2) {
      const [before, after] = [sides[index] as Side, sides[index + 1] as Side]
      const paired = after.results.map((value, round) => value / (before.results[round] as number))
      console.log(`${before.label}: ${Math.round(median(before.results))} req/s; ${after.label}: ${Math.round(median(after.results))} req/s; ` +
        `ratio of medians ${(median(after.results) / median(before.results)).toFixed(2)}, median of paired ratios ${median(paired).toFixed(2)}`)
    }
  } finally {
    for (const side of sides) side.child?.kill('SIGKILL')
    await cluster.stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
