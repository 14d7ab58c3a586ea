import { createRequire } from 'node:module'
import { FST_MSM_METRIC_CONFLICT, FST_MSM_OPTION_INVALID, FST_MSM_PROM_CLIENT_MISSING } from '../errors.js'
import type { MetricFamily, MetricSample } from './metric-families.js'
import type { PromClientLike, PromCounterLike, PromGaugeLike, PromHistogramLike, PromMetricConfiguration, PromRegistryLike, RegisterMetricsOptions } from '../types/index.js'

/*
 * prom-client integration without a dependency on prom-client.
 *
 * prom-client is an optional peer: nothing here imports it, not even its
 * types, so the published declarations compile without it. The user passes
 * their registry; the metric classes come from the prom-client the app
 * resolves (loaded on the first call), or from the `client` option.
 *
 * - Counters and gauges are real prom-client Counter and Gauge objects with a
 *   collect() callback, the documented way to expose values computed
 *   elsewhere: at each scrape it resets the metric and copies the plugin's
 *   current figures into it (counters only grow, so the exposed series stays
 *   monotonic).
 * - Histograms are prom-client Histogram objects whose get() returns the
 *   plugin's own buckets: prom-client offers no way to set an aggregated
 *   histogram (only observe() one value at a time).
 *
 * Each family is the same MetricFamily that app.msm.metrics() renders, so
 * names, types, help texts, labels and values are the same in both.
 */

type Labels = Record<string, string>

/** One fastify-msm instance's contribution to a shared prom-client metric. */
interface Contribution {
  owner: object
  family: MetricFamily
  labels: Labels
  key: string
}

/** What a prom-client metric created here serves; keyed by the metric object. */
interface SharedMetric {
  type: MetricFamily['type']
  labelNames: readonly string[]
  contributions: Contribution[]
}

const shared = new WeakMap<object, SharedMetric>()

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/**
 * Registers `families` into `registry`, for `owner` (one plugin instance).
 * Either every metric is registered or, on a conflict, none is.
 * Returns the function that removes them again.
 */
export function registerPromMetrics<Registry extends PromRegistryLike> (owner: object, families: readonly MetricFamily[], registry: Registry, options: RegisterMetricsOptions<Registry> = {}): () => void {
  checkRegistry(registry)
  const { prefix, labels, client } = checkOptions(options, families)
  const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => a < b ? -1 : 1))
  const plan = families.map((family) => {
    const name = prefix + family.name
    const labelNames = [...family.labelNames, ...Object.keys(labels)]
    const existing = registry.getSingleMetric(name)
    if (existing === undefined || existing === null) return { family, name, labelNames, existing: undefined }
    const state = typeof existing === 'object' ? shared.get(existing) : undefined
    if (state === undefined) throw new FST_MSM_METRIC_CONFLICT(name, 'it was not registered by fastify-msm; pass a `prefix` to registerMetrics()')
    if (state.contributions.some((contribution) => contribution.owner === owner)) {
      throw new FST_MSM_METRIC_CONFLICT(name, 'this app registered its metrics there already')
    }
    if (state.type !== family.type || !sameNames(state.labelNames, labelNames)) {
      throw new FST_MSM_METRIC_CONFLICT(name, `another fastify-msm instance registered it with the labels [${state.labelNames.join(', ')}]; give every instance the same label names in \`labels\``)
    }
    if (state.contributions.some((contribution) => contribution.key === key)) {
      throw new FST_MSM_METRIC_CONFLICT(name, 'another fastify-msm instance registered it with the same `labels`; give each instance its own, such as { app: \'admin\' }, or a `prefix`')
    }
    return { family, name, labelNames, existing }
  })

  const registered: Array<{ name: string, metric: object, state: SharedMetric, contribution: Contribution }> = []
  const unregister = (): void => {
    for (const { name, metric, state, contribution } of registered.splice(0)) {
      state.contributions = state.contributions.filter((candidate) => candidate !== contribution)
      if (state.contributions.length === 0 && registry.getSingleMetric(name) === metric) registry.removeSingleMetric(name)
    }
  }
  let promClient = client
  try {
    for (const { family, name, labelNames, existing } of plan) {
      const contribution: Contribution = { owner, family, labels, key }
      let metric = existing
      if (metric === undefined) {
        promClient ??= loadPromClient(__filename) as PromClientLike<Registry>
        metric = createMetric(promClient, registry, family, name, labelNames)
      }
      const state = shared.get(metric) as SharedMetric
      state.contributions.push(contribution)
      registered.push({ name, metric, state, contribution })
    }
  } catch (error) {
    unregister()
    throw error
  }
  return unregister
}

function createMetric<Registry extends PromRegistryLike> (client: PromClientLike<Registry>, registry: Registry, family: MetricFamily, name: string, labelNames: string[]): object {
  const state: SharedMetric = { type: family.type, labelNames, contributions: [] }
  const samples = (): Array<MetricSample & { labels: Labels }> => state.contributions.flatMap((contribution) =>
    contribution.family.samples().map((sample) => ({ ...sample, labels: { ...sample.labels, ...contribution.labels } })))
  const configuration: PromMetricConfiguration<Registry> = { name, help: family.help, labelNames, registers: [registry] }
  let metric: PromCounterLike | PromGaugeLike | PromHistogramLike
  if (family.type === 'counter') {
    const counter: PromCounterLike = new client.Counter({
      ...configuration,
      collect () {
        counter.reset()
        for (const sample of samples()) counter.inc(sample.labels, sample.value)
      }
    })
    metric = counter
  } else if (family.type === 'gauge') {
    const gauge: PromGaugeLike = new client.Gauge({
      ...configuration,
      collect () {
        gauge.reset()
        for (const sample of samples()) gauge.set(sample.labels, sample.value)
      }
    })
    metric = gauge
  } else {
    const buckets = family.samples().flatMap((sample) => sample.suffix === '_bucket' && sample.labels.le !== '+Inf' ? [Number(sample.labels.le)] : [])
    class AggregatedHistogram extends client.Histogram {
      /** What the registry exposes: the plugin's cumulative buckets, sum and count. */
      async getForPromString (): Promise<object> {
        const values = samples().map((sample) => ({ metricName: name + sample.suffix, labels: sample.labels, value: sample.value }))
        return { name, help: family.help, type: 'histogram', values, aggregator: 'sum' }
      }

      async get (): Promise<object> {
        return this.getForPromString()
      }
    }
    metric = new AggregatedHistogram({ ...configuration, buckets })
  }
  shared.set(metric, state)
  return metric
}

/**
 * Loads prom-client as `require` does from `base` (a file path).
 * Throws FST_MSM_PROM_CLIENT_MISSING when it is not installed there.
 */
export function loadPromClient (base: string): PromClientLike {
  let loaded: unknown
  try {
    loaded = createRequire(base)('prom-client')
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException
    if (code !== 'MODULE_NOT_FOUND') throw error
    const missing = new FST_MSM_PROM_CLIENT_MISSING(message.split('\n')[0] as string)
    missing.cause = error
    throw missing
  }
  if (!isPromClient(loaded)) throw new FST_MSM_PROM_CLIENT_MISSING('the module found has no Counter, Gauge and Histogram classes')
  return loaded
}

function isPromClient (value: unknown): value is PromClientLike {
  const candidate = value as Partial<Record<keyof PromClientLike, unknown>> | null
  return typeof candidate === 'object' && candidate !== null &&
    typeof candidate.Counter === 'function' && typeof candidate.Gauge === 'function' && typeof candidate.Histogram === 'function'
}

function checkRegistry (registry: unknown): void {
  const candidate = registry as Partial<Record<'getSingleMetric' | 'removeSingleMetric' | 'registerMetric', unknown>> | null
  if (typeof candidate !== 'object' || candidate === null || typeof candidate.getSingleMetric !== 'function' ||
    typeof candidate.removeSingleMetric !== 'function' || typeof candidate.registerMetric !== 'function') {
    throw new FST_MSM_OPTION_INVALID('registry (registerMetrics)', 'a prom-client Registry, such as require(\'prom-client\').register', describe(registry))
  }
}

function checkOptions<Registry extends PromRegistryLike> (options: RegisterMetricsOptions<Registry>, families: readonly MetricFamily[]): { prefix: string, labels: Labels, client: PromClientLike<Registry> | undefined } {
  if (typeof options !== 'object' || options === null) throw new FST_MSM_OPTION_INVALID('options (registerMetrics)', 'an object', describe(options))
  const known = ['prefix', 'labels', 'client']
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new FST_MSM_OPTION_INVALID(`${key} (registerMetrics)`, `one of ${known.join(', ')}`, 'an unknown option')
  }
  const prefix = options.prefix ?? ''
  if (typeof prefix !== 'string' || (prefix !== '' && !METRIC_NAME.test(prefix))) {
    throw new FST_MSM_OPTION_INVALID('prefix (registerMetrics)', 'a metric name prefix matching [a-zA-Z_:][a-zA-Z0-9_:]*', describe(prefix))
  }
  const labels = options.labels ?? {}
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    throw new FST_MSM_OPTION_INVALID('labels (registerMetrics)', 'an object of label names to string values', describe(labels))
  }
  const reserved = new Set(['le', ...families.flatMap((family) => family.labelNames)])
  for (const [label, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(label) || label.startsWith('__') || reserved.has(label)) {
      throw new FST_MSM_OPTION_INVALID(`labels.${label} (registerMetrics)`, `a label name matching [a-zA-Z_][a-zA-Z0-9_]*, not starting with __, other than ${[...reserved].join(', ')}`, JSON.stringify(label))
    }
    if (typeof value !== 'string') throw new FST_MSM_OPTION_INVALID(`labels.${label} (registerMetrics)`, 'a string', describe(value))
  }
  if (options.client !== undefined && !isPromClient(options.client)) {
    throw new FST_MSM_OPTION_INVALID('client (registerMetrics)', 'the prom-client module (with Counter, Gauge and Histogram)', describe(options.client))
  }
  return { prefix, labels: { ...labels }, client: options.client }
}

function sameNames (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name) => b.includes(name))
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'string' ? JSON.stringify(value) : typeof value
}
