import type { HistogramSummary, TimingName } from '../types/index.js'

/**
 * A fixed-memory histogram: counts per bucket plus count, sum and max.
 * record() is a short loop over a dozen bounds and no allocation, so it is
 * cheap enough for the request path. Quantiles are the upper bound of the
 * bucket that holds them (the max for the last bucket).
 */
export class Histogram {
  readonly bounds: readonly number[]
  readonly counts: number[]
  count = 0
  sum = 0
  max = 0

  constructor (bounds: readonly number[]) {
    this.bounds = bounds
    this.counts = new Array<number>(bounds.length + 1).fill(0)
  }

  record (value: number): void {
    let index = 0
    while (index < this.bounds.length && value > (this.bounds[index] as number)) index++
    this.counts[index] = (this.counts[index] as number) + 1
    this.count++
    this.sum += value
    if (value > this.max) this.max = value
  }

  quantile (q: number): number {
    if (this.count === 0) return 0
    const rank = Math.ceil(q * this.count)
    let seen = 0
    for (let index = 0; index < this.counts.length; index++) {
      seen += this.counts[index] as number
      if (seen >= rank) return Math.min(this.bounds[index] ?? this.max, this.max)
    }
    return this.max
  }

  summary (): HistogramSummary {
    return { count: this.count, p50: this.quantile(0.5), p99: this.quantile(0.99), max: this.max, sum: round(this.sum) }
  }
}

function round (value: number): number {
  return Math.round(value * 1000) / 1000
}

/** Milliseconds: from 50 µs (a local memcached round trip) to 5 s (lockTimeout territory). */
export const DURATION_BOUNDS_MS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000] as const

/** Bytes of the stored value: 256 B to 1 MB, doubling. */
export const SIZE_BOUNDS_BYTES = Array.from({ length: 13 }, (_, i) => 256 * 2 ** i)

export const TIMINGS: readonly TimingName[] = ['load', 'save', 'touch', 'lockWait', 'serialize', 'deserialize']

/** The plugin's timings and the stored-size distribution. */
export class Timings {
  readonly histograms: Record<TimingName, Histogram>
  readonly sizes = new Histogram(SIZE_BOUNDS_BYTES)

  constructor (readonly enabled: boolean) {
    this.histograms = Object.fromEntries(TIMINGS.map((name) => [name, new Histogram(DURATION_BOUNDS_MS)])) as Record<TimingName, Histogram>
  }

  /** Records the milliseconds since `start` (a performance.now() value). */
  since (name: TimingName, start: number): void {
    if (this.enabled) this.histograms[name].record(performance.now() - start)
  }

  /** performance.now(), or 0 when timings are off. */
  start (): number {
    return this.enabled ? performance.now() : 0
  }

  size (bytes: number): void {
    if (this.enabled) this.sizes.record(bytes)
  }
}
