import type { NodeRing } from '../cluster/node-ring.js'
import type { Timings } from '../stats/timings.js'
import { type MetricFamily, metricFamilies } from './metric-families.js'
import type { MsmCounters, MsmGauges } from '../types/index.js'

/**
 * The Prometheus text exposition format (version 0.0.4), built from the same
 * counters as app.msm.stats(). No prom-client needed: every metric is a
 * counter, a gauge or a histogram with fixed buckets (metric-families.ts).
 */
export function prometheusText (counters: MsmCounters, gauges: MsmGauges, timings: Timings, ring: NodeRing): string {
  return renderText(metricFamilies({ counters, gauges: () => gauges, timings, ring }))
}

export function renderText (families: readonly MetricFamily[]): string {
  const lines: string[] = []
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`)
    for (const sample of family.samples()) lines.push(`${family.name}${sample.suffix}${labels(sample.labels)} ${sample.value}`)
  }
  return lines.join('\n') + '\n'
}

function labels (values: Record<string, string>): string {
  const parts = Object.entries(values).map(([key, value]) => `${key}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}
