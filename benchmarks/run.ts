// npm run bench [-- --quick] [-- --only d,e,floor-read] [-- --rounds 5]
// fastify-msm against the floor (the memcached client alone) and its peers,
// side by side in one process. Starts two memcached nodes and one server
// process per scenario (scenarios.ts), logs in 1,000 distinct sessions per
// scenario, warms up, then runs the scenarios interleaved, round after round
// (every other round in reverse order), and reports the medians; then the
// same for the session size sweep.
// Any failed or non-2xx request, a wrong number of sessions or a memcached
// eviction fails the run.
import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { MemcachedCluster } from '../test/helpers/memcached.js'
import { evictions, startBenchmarkCluster } from './memcached-nodes.js'
import { CONNECTIONS, login, measure, type Measurement, type Server, startServer, stopServer, storedBytes } from './load.js'
import { SCENARIOS, scenarioByKey, sweepScenarios, type Scenario } from './scenarios.js'
import { mainTable, ratios, ratioTable, resultsMarkdown, summarize, sweepRatioTable, sweepTable, type Machine, type Row, type Settings } from './report.js'
import { mainChart, sweepChart } from './charts.js'

/** Enough for 1,000 sessions of 100 KB in two copies for each sweep scenario. */
const MEMCACHED_MB = 1024

const startedAt = Date.now()

/** Logs with the seconds since the run started. */
function log (message: string): void {
  console.log(`[${String(Math.round((Date.now() - startedAt) / 1000)).padStart(4)} s] ${message}`)
}

interface Phase { label: string, scenarios: Scenario[], rounds: number, seconds: number, warmupSeconds: number }

function argument (name: string): string | undefined {
  const index = process.argv.indexOf(name)
  return index === -1 ? undefined : process.argv[index + 1]
}

/** --only keys (comma-separated; `sweep` stands for every sweep scenario), or null for all. */
function onlyKeys (): string[] | null {
  const list = argument('--only')
  if (list === undefined) return null
  return list.split(',').map((key) => key.trim()).filter((key) => key !== '')
    .flatMap((key) => key === 'sweep' ? sweepScenarios().map((scenario) => scenario.key) : [key])
}

function roundsArgument (): number | undefined {
  const value = argument('--rounds')
  if (value === undefined) return undefined
  if (!/^[1-9]\d*$/.test(value)) throw new Error(`--rounds takes a whole number of rounds, not ${value}`)
  return Number(value)
}

function settingsFromArguments (): Settings {
  const quick = process.argv.includes('--quick')
  return {
    // --quick is a smoke test of every code path: fewer sessions, no warm-up, one short round
    sessions: quick ? 200 : 1000,
    connections: CONNECTIONS,
    rounds: roundsArgument() ?? (quick ? 1 : 5),
    secondsPerRound: quick ? 1 : 5,
    warmupSeconds: quick ? 0 : 2,
    sweepRounds: quick ? 1 : 3,
    sweepSecondsPerRound: quick ? 1 : 4,
    memcachedMemoryMb: MEMCACHED_MB,
    quick,
    only: onlyKeys()
  }
}

function phases (settings: Settings): Phase[] {
  const selected = (scenarios: readonly Scenario[]): Scenario[] =>
    settings.only === null ? [...scenarios] : scenarios.filter((scenario) => settings.only?.includes(scenario.key))
  for (const key of settings.only ?? []) scenarioByKey(key)
  return [
    { label: 'main', scenarios: selected(SCENARIOS), rounds: settings.rounds, seconds: settings.secondsPerRound, warmupSeconds: settings.warmupSeconds },
    { label: 'sweep', scenarios: selected(sweepScenarios()), rounds: settings.sweepRounds, seconds: settings.sweepSecondsPerRound, warmupSeconds: Math.min(1, settings.warmupSeconds) }
  ]
}

function describe (scenario: Scenario, round: string, run: Measurement): string {
  return `${round} (${scenario.key}) ${Math.round(run.reqPerSec).toLocaleString('en-US')} req/s, p50 ${run.p50} ms, p99 ${run.p99} ms, ${run.opsPerRequest.toFixed(2)} memcached ops/request`
}

async function startServers (scenarios: Scenario[], cluster: MemcachedCluster): Promise<Server[]> {
  const started = await Promise.allSettled(scenarios.map((scenario) => startServer(scenario, cluster.spec)))
  const servers = started.flatMap((result) => result.status === 'fulfilled' ? [result.value] : [])
  const failure = started.find((result) => result.status === 'rejected')
  if (failure !== undefined) {
    await Promise.all(servers.map((server) => stopServer(server)))
    throw failure.reason
  }
  return servers
}

/** Starts, logs in and measures one phase's scenarios in interleaved rounds; its servers are stopped after. */
async function runPhase (phase: Phase, settings: Settings, cluster: MemcachedCluster): Promise<Row[]> {
  if (phase.scenarios.length === 0) return []
  log(`${phase.label}: starting ${phase.scenarios.length} servers, logging in ${settings.sessions} sessions each`)
  const servers = await startServers(phase.scenarios, cluster)
  log(`${phase.label}: servers started`)
  try {
    const stored = new Map<string, number | null>()
    for (const server of servers) {
      await login(server, settings.sessions)
      stored.set(server.scenario.key, await storedBytes(server, cluster))
    }
    log(`${phase.label}: sessions logged in`)
    if (phase.warmupSeconds > 0) {
      log(`${phase.label}: warming up (${phase.warmupSeconds} s each)`)
      for (const server of servers) await measure(server, phase.warmupSeconds, cluster)
    }
    const rounds = new Map<string, Measurement[]>(servers.map((server) => [server.scenario.key, []]))
    for (let round = 1; round <= phase.rounds; round++) {
      // Every other round runs in reverse order, so a drift of the machine's speed favours no scenario
      for (const server of round % 2 === 1 ? servers : [...servers].reverse()) {
        const run = await measure(server, phase.seconds, cluster)
        rounds.get(server.scenario.key)?.push(run)
        log(describe(server.scenario, `${phase.label} round ${round}/${phase.rounds}`, run))
      }
    }
    const evicted = await evictions(cluster)
    if (evicted > 0) throw new Error(`memcached evicted ${evicted} items: sessions were lost; give the nodes more memory`)
    return servers.map((server) => summarize(server.scenario, rounds.get(server.scenario.key) as Measurement[], stored.get(server.scenario.key) ?? null))
  } finally {
    await Promise.all(servers.map((server) => stopServer(server)))
  }
}

function machine (): Machine {
  const memcached = execFileSync('memcached', ['-V']).toString().trim()
  return { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, memcached, date: new Date().toISOString() }
}

/** A full run writes the committed results and the docs' charts; --quick and --only write to the ignored benchmarks/.quick/. */
function writeOutputs (settings: Settings, main: Row[], sweep: Row[], elapsedSeconds: number): void {
  const partial = settings.quick || settings.only !== null
  const dir = join(__dirname, partial ? '.quick' : 'results')
  const name = settings.quick ? 'quick' : partial ? 'only' : 'latest'
  const about = machine()
  const caption = `median of ${settings.rounds}, ${settings.sessions.toLocaleString('en-US')} sessions, ${settings.connections} connections, ${about.date.slice(0, 10)}`
  const sweepCaption = `median of ${settings.sweepRounds}, ${settings.sessions.toLocaleString('en-US')} sessions per scenario, ${about.date.slice(0, 10)}`
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ machine: about, settings, elapsedSeconds, rows: main, ratios: ratios(main), sweep }, null, 2) + '\n')
  writeFileSync(join(dir, `${name}.md`), resultsMarkdown(about, settings, main, sweep, elapsedSeconds))
  const charts: Array<[string, string, string]> = []
  if (main.length > 0) charts.push([`${name}.svg`, 'benchmark-chart.svg', mainChart(main, caption)])
  if (sweep.length > 0) charts.push([partial ? `${name}-sweep.svg` : 'sweep.svg', 'benchmark-sweep.svg', sweepChart(sweep, sweepCaption)])
  for (const [file, docsFile, svg] of charts) {
    writeFileSync(join(dir, file), svg)
    if (!partial) writeFileSync(join(__dirname, '..', 'docs', 'public', docsFile), svg)
  }
  console.log(`results in ${dir}/${name}.{json,md} and ${charts.map(([file]) => file).join(', ')}`)
}

async function main (): Promise<void> {
  const settings = settingsFromArguments()
  const [mainPhase, sweepPhase] = phases(settings) as [Phase, Phase]
  const cluster = await startBenchmarkCluster(2, MEMCACHED_MB)
  try {
    const main = await runPhase(mainPhase, settings, cluster)
    const sweep = await runPhase(sweepPhase, settings, cluster)
    const elapsedSeconds = Math.round((Date.now() - startedAt) / 1000)
    console.log(`\n${mainTable(main)}\n\n${ratioTable(ratios(main))}\n`)
    if (sweep.length > 0) console.log(`${sweepTable(sweep)}\n\n${sweepRatioTable(sweep)}\n`)
    writeOutputs(settings, main, sweep, elapsedSeconds)
    console.log(`${elapsedSeconds} s`)
  } finally {
    await cluster.stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
