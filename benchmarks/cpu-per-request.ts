// CPU time per request of scenario servers, side by side: each server's user
// + system time (all its threads, from /proc/<pid>/stat) divided by the
// requests it served, in alternating rounds. It answers "what does this option
// cost per request" where req/s is blurred by the load generator and memcached
// sharing the machine's cores (docs/benchmarks.md).
// Run: node --import tsx benchmarks/cpu-per-request.ts <scenario key> <scenario key> ...
import { readFileSync } from 'node:fs'
import { startBenchmarkCluster } from './memcached-nodes.js'
import { login, measure, startServer, stopServer } from './load.js'
import { scenarioByKey } from './scenarios.js'
function cpuMs (pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] as string).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}
async function main (): Promise<void> {
  const keys = process.argv.slice(2)
  const cluster = await startBenchmarkCluster(2, 256)
  const servers = await Promise.all(keys.map(async (key) => await startServer(scenarioByKey(key), cluster.spec)))
  for (const server of servers) await login(server, 1000)
  for (const server of servers) await measure(server, 2)
  for (let round = 0; round < 4; round++) {
    for (const server of round % 2 === 0 ? servers : [...servers].reverse()) {
      const before = cpuMs(server.child.pid as number)
      const run = await measure(server, 4)
      const used = cpuMs(server.child.pid as number) - before
      console.log(`${server.scenario.key}: ${Math.round(run.reqPerSec)} req/s, ${(used * 1000 / run.requests).toFixed(1)} µs CPU per request`)
    }
  }
  for (const server of servers) await stopServer(server)
  await cluster.stop()
}
main().catch((error) => { console.error(error); process.exit(1) })
