// Profiles one scenario's server under load: writes a .cpuprofile and prints
// the functions with the most self time.
// Run: node --import tsx benchmarks/profile.ts <scenario> [seconds]
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import autocannon from 'autocannon'
import { startCluster } from '../test/helpers/memcached.js'

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount: number }

async function main (): Promise<void> {
  const scenario = process.argv[2] ?? 'd'
  const seconds = Number(process.argv[3] ?? 5)
  const route = scenario === 'e' || scenario === 'f' ? '/write' : '/read'
  const cluster = await startCluster(2)
  const dir = mkdtempSync(join(tmpdir(), 'msm-profile-'))
  const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', join(__dirname, 'servers.ts'), scenario, cluster.spec], { stdio: ['ignore', 'pipe', 'inherit'] })
  const base = await new Promise<string>((resolve) => createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve))
  const cookies: string[] = []
  for (let i = 0; i < 1000; i++) {
    const pair = (await fetch(`${base}/login`, { method: 'POST' })).headers.getSetCookie()[0]?.split(';')[0]
    if (pair !== undefined) cookies.push(pair)
  }
  let next = 0
  const result = await autocannon({
    url: base,
    connections: 32,
    duration: seconds,
    requests: [{ method: 'GET', path: route, setupRequest: (request: any) => { if (cookies.length > 0) request.headers = { ...request.headers, cookie: cookies[next++ % cookies.length] }; return request } }]
  } as autocannon.Options)
  await new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM') })
  await cluster.stop()
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile')) as string
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: ProfileNode[] }
  const total = profile.nodes.reduce((sum, node) => sum + node.hitCount, 0)
  const byFunction = new Map<string, number>()
  for (const node of profile.nodes) {
    const where = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(lib|benchmarks)\//, '$1/')}:${node.callFrame.lineNumber + 1}`
    byFunction.set(where, (byFunction.get(where) ?? 0) + node.hitCount)
  }
  console.log(`scenario ${scenario}: ${Math.round(result.requests.average)} req/s; profile ${join(dir, file)}`)
  for (const [where, hits] of [...byFunction].sort((x, y) => y[1] - x[1]).slice(0, 30)) {
    console.log(`${((100 * hits) / total).toFixed(1).padStart(5)}%  ${where}`)
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
