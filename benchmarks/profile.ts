// Profiles one scenario's server under load: writes a .cpuprofile and prints
// the functions with the most self time.
// Run: node --import tsx benchmarks/profile.ts <scenario key, e.g. d, e, d@100KB> [seconds]
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

async function main (): Promise<void> {
  const scenario = scenarioByKey(process.argv[2] ?? 'd')
  const seconds = Number(process.argv[3] ?? 5)
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
  } finally {
    await cluster.stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
