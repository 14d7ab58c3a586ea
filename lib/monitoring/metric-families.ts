import type { NodeRing } from '../cluster/node-ring.js'
import { type Histogram, TIMINGS, type Timings } from '../stats/timings.js'
import type { MsmCounters, MsmGauges } from '../types/index.js'

/**
 * What the plugin exposes to Prometheus, described once: name, type, help,
 * label names and how to read the current samples. app.msm.metrics() renders
 * these as text (prometheus.ts) and app.msm.registerMetrics() turns each into
 * a prom-client metric (prom-client-collector.ts), so the two expositions
 * cannot drift apart.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram'

/** One exposed line: `name + suffix{labels} value`. Label values are strings, in exposition order. */
export interface MetricSample {
  /** `_bucket`, `_sum` or `_count` for histograms; empty otherwise. */
  suffix: '' | '_bucket' | '_sum' | '_count'
  labels: Record<string, string>
  value: number
}

export interface MetricFamily {
  readonly name: string
  readonly type: MetricType
  readonly help: string
  /** Label names of the samples, without a histogram's `le`. */
  readonly labelNames: readonly string[]
  /** Reads the current values; cheap and synchronous (no memcached operation). */
  samples (): MetricSample[]
}

/** Where the figures live; read at each call of samples(). */
export interface MetricsSource {
  counters: MsmCounters
  gauges: () => MsmGauges
  timings: Timings
  ring: Pick<NodeRing, 'nodes'>
}

const NODE_OPERATIONS = ['get', 'set', 'add', 'touch', 'delete', 'stats'] as const

/** Every metric family, in exposition order. The list depends only on the configuration (`stats`), never on traffic. */
export function metricFamilies (source: MetricsSource): MetricFamily[] {
  const { counters, timings, ring } = source
  const families: MetricFamily[] = []
  for (const name of Object.keys(counters) as Array<keyof MsmCounters>) {
    if (name === 'lockWaitMsTotal' || name === 'lockWaitMsMax') continue
    families.push(family(`msm_${snake(name)}_total`, 'counter', `fastify-msm counter ${name}; see docs/monitoring.md.`, [],
      () => [sample(counters[name])]))
  }
  families.push(
    family('msm_local_sessions', 'gauge', 'Sessions held in this process (sticky mode).', [], () => [sample(source.gauges().localSessions)]),
    family('msm_backup_queue_jobs', 'gauge', 'Asynchronous writes and touches waiting or running.', [], () => [sample(source.gauges().backupQueue)])
  )
  if (timings.enabled) {
    for (const name of TIMINGS) {
      families.push(histogram(`msm_${snake(name)}_duration_seconds`, `Duration of ${name}, in seconds.`, timings.histograms[name], 1 / 1000))
    }
    families.push(histogram('msm_session_size_bytes', 'Size of the stored session values written, in bytes.', timings.sizes, 1))
  }
  families.push(
    family('msm_node_up', 'gauge', '1 when the memcached node is in service, 0 when it is marked down.', ['node', 'address'],
      () => ring.nodes.map((node) => sample(node.isUp ? 1 : 0, { node: node.id, address: node.address }))),
    family('msm_node_state_since_seconds', 'gauge', 'Unix time when the node entered its current state.', ['node'],
      () => ring.nodes.map((node) => sample(node.health.since / 1000, { node: node.id }))),
    family('msm_node_last_change_seconds', 'gauge', 'Unix time of the node\'s last change (down, up or restarted), labelled with the change and what detected it; 0 before any.', ['node', 'change', 'detected_by'],
      () => ring.nodes.map((node) => {
        const change = node.health.lastChange
        return sample(change === null ? 0 : change.at / 1000, { node: node.id, change: change?.kind ?? 'none', detected_by: change?.detectedBy ?? 'none' })
      })),
    family('msm_node_restarts_total', 'counter', 'Restarts of each node noticed (a new pid or start time in its stats): its items were lost.', ['node'],
      () => ring.nodes.map((node) => sample(node.health.restarts, { node: node.id }))),
    family('msm_node_operations_total', 'counter', 'memcached commands sent to each node.', ['node', 'op'],
      () => ring.nodes.flatMap((node) => NODE_OPERATIONS.map((op) => sample(node.counts[op], { node: node.id, op }))))
  )
  for (const [field, help] of [['errors', 'Operations that failed on each node.'], ['timeouts', 'Operations that timed out on each node.']] as const) {
    families.push(family(`msm_node_${field}_total`, 'counter', help, ['node'],
      () => ring.nodes.map((node) => sample(node.counts[field], { node: node.id }))))
  }
  return families
}

function family (name: string, type: MetricType, help: string, labelNames: readonly string[], samples: () => MetricSample[]): MetricFamily {
  return { name, type, help, labelNames, samples }
}

function sample (value: number, labels: Record<string, string> = {}, suffix: MetricSample['suffix'] = ''): MetricSample {
  return { suffix, labels, value }
}

/** Cumulative buckets with `le` in the scaled unit, then sum and count. */
function histogram (name: string, help: string, source: Histogram, scale: number): MetricFamily {
  const bounds = source.bounds.map((bound) => String(round12(bound * scale)))
  return family(name, 'histogram', help, [], () => {
    const samples: MetricSample[] = []
    let cumulative = 0
    bounds.forEach((le, index) => {
      cumulative += source.counts[index] as number
      samples.push(sample(cumulative, { le }, '_bucket'))
    })
    samples.push(sample(source.count, { le: '+Inf' }, '_bucket'), sample(round12(source.sum * scale), {}, '_sum'), sample(source.count, {}, '_count'))
    return samples
  })
}

/** Drops floating-point noise (0.05 / 1000 → 0.00005) so that bounds and sums print cleanly. */
export function round12 (value: number): number {
  return Number.isInteger(value) ? value : Number(value.toPrecision(12))
}

function snake (name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)
}
