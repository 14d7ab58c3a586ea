// Before/after in one run: the same scenarios served with another checkout's
// build of fastify-msm (the baseline) and with this one's, side by side on the
// same memcached nodes, in interleaved rounds whose order alternates. Both
// sides run this checkout's benchmarks/servers.ts, so they differ only in the
// plugin (the baseline's is loaded with BENCH_MSM_FROM).
//   node --import tsx benchmarks/compare.ts <baseline checkout> [scenario keys, default "d,e"] [rounds] [seconds] [--max-drop=3]
// For example, against the previous main (docs/contributing.md, "Changes on the request path"):
//   git worktree add /tmp/baseline main && (cd /tmp/baseline && npm ci && npm run build)
//   node --import tsx benchmarks/compare.ts /tmp/baseline d,e,f 12 4
// It exits with 1 when the read (d) or the write (e) falls by more than
// --max-drop percent (default 3) by the median of the paired rounds: a change
// cannot give the gains back unnoticed. The other scenarios are reported only.
import { resolve } from 'node:path'
import { startBenchmarkCluster } from './memcached-nodes.js'
import { login, measure, type Server, startServer, stopServer } from './load.js'
import { median } from './report.js'
import { scenarioByKey } from './scenarios.js'
import { regressions } from './gate.js'

const SESSIONS = 1000
interface Side { label: string, server: Server, results: number[] }

async function main (): Promise<void> {
  const maxDrop = Number(process.argv.find((arg) => arg.startsWith('--max-drop='))?.slice('--max-drop='.length) ?? 3)
  const [baseline, keys = 'd,e', rounds = '6', seconds = '4'] = process.argv.slice(2).filter((arg) => !arg.startsWith('--'))
  if (baseline === undefined || !(maxDrop >= 0)) throw new Error('usage: compare.ts <baseline checkout> [scenario keys, comma-separated] [rounds] [seconds] [--max-drop=3]')
  const scenarios = keys.split(',').map((key) => scenarioByKey(key.trim()))
  const cluster = await startBenchmarkCluster(2, 1024)
  const sides: Side[] = []
  try {
    for (const scenario of scenarios) {
      const before = await startServer(scenario, cluster.spec, { env: { BENCH_MSM_FROM: resolve(baseline) } })
      sides.push({ label: `(${scenario.key}) baseline`, server: before, results: [] })
      const after = await startServer(scenario, cluster.spec, { env: { BENCH_MSM_FROM: '' } })
      sides.push({ label: `(${scenario.key}) this checkout`, server: after, results: [] })
    }
    for (const side of sides) await login(side.server, SESSIONS)
    for (let round = 0; round < Number(rounds); round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse()
      for (const side of order) side.results.push((await measure(side.server, Number(seconds), cluster)).reqPerSec)
    }
    const pairedMedians: Record<string, number> = {}
    for (let index = 0; index < sides.length; index += 2) {
      const [before, after] = [sides[index] as Side, sides[index + 1] as Side]
      const paired = after.results.map((value, round) => value / (before.results[round] as number))
      pairedMedians[(scenarios[index / 2] as { key: string }).key] = median(paired)
      console.log(`${before.label}: ${Math.round(median(before.results))} req/s; ${after.label}: ${Math.round(median(after.results))} req/s; ` +
        `ratio of medians ${(median(after.results) / median(before.results)).toFixed(2)}, median of paired ratios ${median(paired).toFixed(2)}`)
    }
    const failed = regressions(pairedMedians, maxDrop)
    for (const line of failed) console.error(`FAIL: ${line}`)
    if (failed.length > 0) process.exitCode = 1
  } finally {
    await Promise.all(sides.map((side) => stopServer(side.server)))
    await cluster.stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
