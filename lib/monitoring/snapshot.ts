import type { NodeRing } from '../cluster/node-ring.js'
import type { HistogramSummary, MsmCounters, MsmGauges, MsmStats, TimingName } from '../types/index.js'
import { TIMINGS, type Timings } from '../stats/timings.js'
import { nodeHealthView } from './health.js'

/** @internal A plain, JSON-ready copy of the counters and of every node's operation counts. */
export function snapshot (counters: MsmCounters, ring: NodeRing, gauges: MsmGauges, timings: Timings): MsmStats {
  return {
    ...counters,
    ...gauges,
    timings: Object.fromEntries(TIMINGS.map((name) => [name, timings.histograms[name].summary()])) as Record<TimingName, HistogramSummary>,
    sizes: timings.sizes.summary(),
    nodes: ring.nodes.map((node) => ({ ...nodeHealthView(ring, node), ...node.counts }))
  }
}
