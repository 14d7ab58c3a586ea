// Medians, ratios and the Markdown tables of a benchmark run.
import type { Measurement } from './load.js'
import { RATIOS, SWEEP_IMPLEMENTATIONS, SWEEP_SIZES, sweepKey, type Family, type Ratio, type Scenario } from './scenarios.js'

export interface Row {
  key: string
  name: string
  family: Family
  route: string
  sessionBytes: number | null
  /** Bytes memcached held for one session's primary copy; null without memcached. */
  storedBytes: number | null
  reqPerSec: number
  p50: number
  p99: number
  opsPerRequest: number
  /** req/s of each round, in order. */
  runs: number[]
}

export interface RatioResult extends Ratio {
  /** Ratio of the medians: what the goal is checked against. */
  value: number | null
  /** Median of the ratios of each round (rounds are interleaved): less sensitive to the machine's drift. */
  perRound: number | null
  met: boolean | null
}

export function median (values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.floor(sorted.length / 2)] as number
}

/** One scenario's medians over its rounds. */
export function summarize (scenario: Scenario, rounds: Measurement[], storedBytes: number | null): Row {
  const of = (pick: (measurement: Measurement) => number): number => median(rounds.map(pick))
  return {
    key: scenario.key,
    name: scenario.name,
    family: scenario.family,
    route: scenario.route,
    sessionBytes: scenario.sessionBytes ?? null,
    storedBytes,
    reqPerSec: of((run) => run.reqPerSec),
    p50: of((run) => run.p50),
    p99: of((run) => run.p99),
    opsPerRequest: of((run) => run.opsPerRequest),
    runs: rounds.map((run) => Math.round(run.reqPerSec))
  }
}

const integer = (value: number): string => Math.round(value).toLocaleString('en-US')
const times = (value: number | null): string => value === null ? '–' : value.toFixed(2)

function find (rows: Row[], key: string): Row | undefined {
  return rows.find((row) => row.key === key)
}

/** req/s of `of` over req/s of `to`, or null when either was not run. */
function ratio (rows: Row[], of: string, to: string): number | null {
  const [x, y] = [find(rows, of), find(rows, to)]
  return x === undefined || y === undefined ? null : x.reqPerSec / y.reqPerSec
}

/** The median over rounds of `of`'s req/s over `to`'s in the same round, or null when either was not run. */
function perRoundRatio (rows: Row[], of: string, to: string): number | null {
  const [x, y] = [find(rows, of), find(rows, to)]
  if (x === undefined || y === undefined || x.runs.length !== y.runs.length) return null
  return median(x.runs.map((value, round) => value / (y.runs[round] as number)))
}

export function ratios (rows: Row[]): RatioResult[] {
  return RATIOS.map((item) => {
    const value = ratio(rows, item.of, item.to)
    const perRound = perRoundRatio(rows, item.of, item.to)
    return { ...item, value, perRound, met: value === null || item.goal === undefined ? null : value >= item.goal }
  })
}

/** The floor a scenario's memcached work is measured against. */
function floorOf (row: Row): string | null {
  if (row.family === 'bare' || row.family === 'floor' || row.route === '/mix') return null
  return row.route === '/read' ? 'floor-read' : 'floor-write'
}

export function mainTable (rows: Row[]): string {
  return [
    '| Scenario | req/s | p50 ms | p99 ms | memcached ops/req | stored bytes | × (a) | × its floor | × (c) |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...rows.map((row) => {
      const floor = floorOf(row)
      return `| (${row.key}) ${row.name} | ${integer(row.reqPerSec)} | ${row.p50} | ${row.p99} | ${row.opsPerRequest.toFixed(2)} | ${row.storedBytes === null ? '–' : integer(row.storedBytes)} | ` +
        `${times(ratio(rows, row.key, 'a'))} | ${floor === null ? '–' : `${times(ratio(rows, row.key, floor))} (${floor})`} | ${times(ratio(rows, row.key, 'c'))} |`
    })
  ].join('\n')
}

export function ratioTable (results: RatioResult[]): string {
  const met = (result: RatioResult): string => result.goal === undefined ? '–' : result.met === null ? 'not run' : result.met ? 'yes' : '**no**'
  return [
    '| Ratio | Goal | Ratio of medians | Met | Median of per-round ratios | What it compares |',
    '|---|--:|--:|---|--:|---|',
    ...results.map((result) => `| (${result.of}) / (${result.to}) | ${result.goal === undefined ? '–' : `≥ ${result.goal}`} | ${times(result.value)} | ${met(result)} | ${times(result.perRound)} | ${result.note} |`)
  ].join('\n')
}

export function sweepTable (rows: Row[]): string {
  const lines = [
    '| Implementation | Session (JSON) | stored bytes | req/s | p99 ms | memcached ops/req | cost × its 1 KB |',
    '|---|--:|--:|--:|--:|--:|--:|'
  ]
  for (const implementation of SWEEP_IMPLEMENTATIONS) {
    const oneKb = find(rows, sweepKey(implementation.base, '1KB'))
    for (const size of SWEEP_SIZES) {
      const row = find(rows, sweepKey(implementation.base, size.label))
      if (row === undefined) continue
      // The time a request costs, relative to the 1 KB session's: 1 KB req/s over this size's req/s
      const cost = oneKb === undefined ? null : oneKb.reqPerSec / row.reqPerSec
      lines.push(`| (${implementation.base}) ${implementation.label} | ${size.label} | ${row.storedBytes === null ? '–' : integer(row.storedBytes)} | ${integer(row.reqPerSec)} | ${row.p99} | ${row.opsPerRequest.toFixed(2)} | ${times(cost)} |`)
    }
  }
  return lines.join('\n')
}

/** fastify-msm over connect-memcached at each size, for reads and for writes. */
export function sweepRatioTable (rows: Row[]): string {
  const lines = ['| Session (JSON) | (d) / (c), read | (e) / (cw), write |', '|--:|--:|--:|']
  for (const size of SWEEP_SIZES) {
    const read = ratio(rows, sweepKey('d', size.label), sweepKey('c', size.label))
    const write = ratio(rows, sweepKey('e', size.label), sweepKey('cw', size.label))
    if (read !== null || write !== null) lines.push(`| ${size.label} | ${times(read)} | ${times(write)} |`)
  }
  return lines.join('\n')
}

export interface Machine { cores: number, cpu: string, node: string, memcached: string, date: string }

export interface Settings {
  sessions: number
  connections: number
  rounds: number
  secondsPerRound: number
  warmupSeconds: number
  sweepRounds: number
  sweepSecondsPerRound: number
  memcachedMemoryMb: number
  quick: boolean
  only: string[] | null
}

/** The results page: image-free, so docs/benchmarks.md can include it and show the charts itself. */
export function resultsMarkdown (machine: Machine, settings: Settings, main: Row[], sweep: Row[], elapsedSeconds: number): string {
  const parts = [
    `Run of ${machine.date.slice(0, 10)}: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, ${machine.memcached}; ` +
      `the run took ${Math.round(elapsedSeconds / 60)} min. ${integer(settings.sessions)} distinct sessions per scenario, ${settings.connections} connections, ` +
      `two memcached nodes of ${settings.memcachedMemoryMb} MB. Main scenarios: ${settings.rounds} interleaved rounds of ${settings.secondsPerRound} s after a ` +
      `${settings.warmupSeconds} s warm-up; size sweep: ${settings.sweepRounds} rounds of ${settings.sweepSecondsPerRound} s. Medians. ` +
      'memcached ops/req counts get, set (with add and replace), touch and delete in memcached\'s own stats; stored bytes is one session\'s primary copy as memcached holds it.',
    '### Main scenarios (sessions of ~1 KB)',
    mainTable(main),
    '### Goals in this run',
    ratioTable(ratios(main))
  ]
  if (sweep.length > 0) {
    parts.push('### Session size sweep', sweepTable(sweep), sweepRatioTable(sweep))
  }
  return parts.join('\n\n') + '\n'
}
