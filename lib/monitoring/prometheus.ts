import type { NodeRing } from '../cluster/node-ring.js'
import type { MsmCounters, MsmGauges } from '../stats.js'
import { type Histogram, TIMINGS, type Timings } from './histogram.js'

/**
 * The Prometheus text exposition format (version 0.0.4), built from the same
 * counters as app.msm.stats(). No prom-client needed: every metric is a
 * counter, a gauge or a histogram with fixed buckets.
 */
export function prometheusText (counters: MsmCounters, gauges: MsmGauges, timings: Timings, ring: NodeRing): string {
  const lines: string[] = []
  for (const [name, value] of Object.entries(counters)) {
    if (name === 'lockWaitMsTotal' || name === 'lockWaitMsMax') continue
    const metric = `msm_${snake(name)}_total`
    lines.push(`# HELP ${metric} fastify-msm counter ${name}; see docs/monitoring.md.`, `# TYPE ${metric} counter`, `${metric} ${value}`)
  }
  gauge(lines, 'msm_local_sessions', 'Sessions held in this process (sticky mode).', [['', gauges.localSessions]])
  gauge(lines, 'msm_backup_queue_jobs', 'Asynchronous writes and touches waiting or running.', [['', gauges.backupQueue]])
  if (timings.enabled) {
    for (const name of TIMINGS) {
      histogram(lines, `msm_${snake(name)}_duration_seconds`, `Duration of ${name}, in seconds.`, timings.histograms[name], 1 / 1000)
    }
    histogram(lines, 'msm_session_size_bytes', 'Size of the stored session values written, in bytes.', timings.sizes, 1)
  }
  const nodes = ring.nodes
  gauge(lines, 'msm_node_up', '1 when the memcached node is in service, 0 when it is marked down.',
    nodes.map((node) => [labels({ node: node.id, address: node.address }), node.isUp ? 1 : 0]))
  gauge(lines, 'msm_node_state_since_seconds', 'Unix time when the node entered its current state.',
    nodes.map((node) => [labels({ node: node.id }), node.health.since / 1000]))
  const operations = 'msm_node_operations_total'
  lines.push(`# HELP ${operations} memcached commands sent to each node.`, `# TYPE ${operations} counter`)
  for (const node of nodes) {
    for (const op of ['get', 'set', 'add', 'touch', 'delete'] as const) {
      lines.push(`${operations}${labels({ node: node.id, op })} ${node.counts[op]}`)
    }
  }
  for (const [field, help] of [['errors', 'Operations that failed on each node.'], ['timeouts', 'Operations that timed out on each node.']] as const) {
    const metric = `msm_node_${field}_total`
    lines.push(`# HELP ${metric} ${help}`, `# TYPE ${metric} counter`)
    for (const node of nodes) lines.push(`${metric}${labels({ node: node.id })} ${node.counts[field]}`)
  }
  return lines.join('\n') + '\n'
}

function gauge (lines: string[], name: string, help: string, samples: Array<[string, number]>): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`)
  for (const [labelText, value] of samples) lines.push(`${name}${labelText} ${value}`)
}

function histogram (lines: string[], name: string, help: string, source: Histogram, scale: number): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`)
  let cumulative = 0
  source.bounds.forEach((bound, index) => {
    cumulative += source.counts[index] as number
    lines.push(`${name}_bucket{le="${formatNumber(bound * scale)}"} ${cumulative}`)
  })
  lines.push(`${name}_bucket{le="+Inf"} ${source.count}`, `${name}_sum ${formatNumber(source.sum * scale)}`, `${name}_count ${source.count}`)
}

function labels (values: Record<string, string>): string {
  const parts = Object.entries(values).map(([key, value]) => `${key}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
  return `{${parts.join(',')}}`
}

function formatNumber (value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(12)))
}

function snake (name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)
}
