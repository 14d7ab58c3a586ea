// The parts of prom-client that app.msm.registerMetrics() uses: structural
// types, so that the published types never need prom-client installed.

/** The part of a prom-client `Registry` used here; `require('prom-client').register` fits. */
export interface PromRegistryLike {
  getSingleMetric (name: string): unknown
  removeSingleMetric (name: string): void
  metrics (): Promise<string>
}

/** Configuration passed to prom-client's metric constructors. */
export interface PromMetricConfiguration<Registry extends PromRegistryLike = PromRegistryLike> {
  name: string
  help: string
  labelNames: readonly string[]
  registers: Registry[]
  collect?: () => void
}

export interface PromCounterLike {
  inc (labels: Record<string, string>, value: number): void
  reset (): void
}

export interface PromGaugeLike {
  set (labels: Record<string, string>, value: number): void
  reset (): void
}

export interface PromHistogramLike {
  reset (): void
}

/**
 * The part of the prom-client module used here: `import * as client from 'prom-client'`
 * fits. `Registry` is the type of the registry the metrics go into.
 */
export interface PromClientLike<Registry extends PromRegistryLike = PromRegistryLike> {
  Counter: new (configuration: PromMetricConfiguration<Registry>) => PromCounterLike
  Gauge: new (configuration: PromMetricConfiguration<Registry>) => PromGaugeLike
  Histogram: new (configuration: PromMetricConfiguration<Registry> & { buckets: number[] }) => PromHistogramLike
}

export interface RegisterMetricsOptions<Registry extends PromRegistryLike = PromRegistryLike> {
  /**
   * Prepended to every metric name (`'admin_'` gives `admin_msm_saved_total`),
   * like prom-client's collectDefaultMetrics({ prefix }). Default `''`.
   */
  prefix?: string
  /**
   * Constant labels added to every sample, such as `{ app: 'admin' }`. Two
   * fastify-msm instances may register into one registry when their labels
   * differ: they share each metric, and dashboards keep the same names.
   */
  labels?: Record<string, string>
  /**
   * The prom-client module to build the metrics with. Default: the
   * prom-client that `require('prom-client')` finds from fastify-msm
   * (where npm and pnpm install the optional peer dependency).
   */
  client?: PromClientLike<Registry>
}
