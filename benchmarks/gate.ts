// The gate of benchmarks/compare.ts: which gated scenarios fell by more than
// the allowed drop, by the median of the paired rounds. A module of its own,
// so that its unit test loads nothing of the benchmark harness.

/** The scenarios the gate holds: the read and the write of non-sticky mode. */
const GATED: Record<string, string> = { d: 'read', e: 'write' }

/** The gated scenarios whose median paired ratio fell below 1 - maxDrop %: what to print, empty when none did. */
export function regressions (pairedMedians: Record<string, number>, maxDropPercent: number): string[] {
  return Object.entries(pairedMedians)
    .filter(([key, ratio]) => key in GATED && ratio < 1 - maxDropPercent / 100)
    .map(([key, ratio]) => `${GATED[key] as string} (${key}) fell by ${((1 - ratio) * 100).toFixed(1)}% (median of paired rounds ${ratio.toFixed(3)}), more than ${maxDropPercent}%`)
}
