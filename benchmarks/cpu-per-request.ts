// CPU time per request of scenario servers, side by side: each server's user
// + system time (all its threads, from /proc/<pid>/stat) divided by the
// requests it served, in alternating rounds. It answers "what does this option
// cost per request" where req/s is blurred by the load generator and memcached
// sharing the machine's cores (docs/benchmarks.md).
// Run: node --import tsx benchmarks/cpu-per-request.ts <scenario key> <scenario key> ...
// With --baseline=<checkout>, each scenario also runs on that checkout's build
// (as benchmarks/compare.ts does), and the medians are printed side by side.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { median } from './report.js'
import { startBenchmarkCluster } from './memcached-nodes.js'
import { login, measure, startServer, stopServer } from './load.js'
import { scenarioByKey } from './scenarios.js'
function cpuMs (pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] as string).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}
async function main (): Promise<void> {
  const baseline = process.argv.find((arg) => arg.startsWith('--baseline='))?.slice('--baseline='.length)
  const keys = process.argv.slice(2).filter((arg) => !arg.startsWith('--'))
  const cluster = await startBenchmarkCluster(2, 256)
  const sides = keys.flatMap((key) => baseline === undefined
    ? [{ key, label: key, env: {} }]
    : [{ key, label: `${key} baseline`, env: { BENCH_MSM_FROM: resolve(baseline) } }, { key, label: `${key} this checkout`, env: { BENCH_MSM_FROM: '' } }])
  const servers = await Promise.all(sides.map(async (side) => await startServer(scenarioByKey(side.key), cluster.spec, { env: side.env })))
  const perRequest: number[][] = servers.map(() => [])
  for (const server of servers) await login(server, 1000)
  for (const server of servers) await measure(server, 2)
  for (let round = 0; round < 4; round++) {
    for (const index of round % 2 === 0 ? servers.keys() : [...servers.keys()].reverse()) {
      const server = servers[index] as typeof servers[number]
      const before = cpuMs(server.child.pid as number)
      const run = await measure(server, 4)
      const used = cpuMs(server.child.pid as number) - before
      perRequest[index]?.push(used * 1000 / run.requests)
      console.log(`${sides[index]?.label}: ${Math.round(run.reqPerSec)} req/s, ${(used * 1000 / run.requests).toFixed(1)} µs CPU per request`)
    }
  }
  sides.forEach((side, index) => { console.log(`median ${side.label}: ${median(perRequest[index] as number[]).toFixed(1)} µs CPU per request`) })
  for (const server of servers) await stopServer(server)
  await cluster.stop()
}
main().catch((error) => { console.error(error); process.exit(1) })
