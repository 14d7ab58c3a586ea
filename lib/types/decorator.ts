import type { NodeSpec } from './options.js'
import type { MsmHealth, MsmStats } from './stats.js'
import type { PromRegistryLike, RegisterMetricsOptions } from './metrics.js'

/** Options of app.msm.tracing(). */
export interface TracingOptions {
  /** The `@opentelemetry/api` module; loaded when omitted. */
  api?: object
  /** A tracer provider; the global one (registered by the SDK) when omitted. */
  tracerProvider?: { getTracer: (name: string, version?: string) => unknown }
  /**
   * One span per memcached command, with no key in it (default true); other
   * instrumentations of the memcached client are suppressed for these
   * commands, so none is traced twice. false: no command spans from
   * fastify-msm, and @opentelemetry/instrumentation-memcached, if active,
   * traces them, with the memcached key (the session id) as an attribute.
   */
  commands?: boolean
}

/** `app.msm`: management and monitoring. */
export interface MsmDecorator {
  /** A plain JSON snapshot of the counters, timings, sizes and every node's state and operation counts. */
  stats (): MsmStats
  /** The same figures in the Prometheus text exposition format. */
  metrics (): string
  /**
   * Registers the same metrics as metrics() (names, types, help, labels)
   * into a prom-client registry, read at each scrape. prom-client is an
   * optional peer: it is loaded on this call (FST_MSM_PROM_CLIENT_MISSING
   * when absent), or passed as `options.client`. A metric name already in the
   * registry throws FST_MSM_METRIC_CONFLICT and registers nothing.
   * @returns a function that removes the metrics again; app.close() does it too.
   */
  registerMetrics<Registry extends PromRegistryLike> (registry: Registry, options?: RegisterMetricsOptions<Registry>): () => void
  /**
   * OpenTelemetry spans for session work, from the diagnostics channels
   * (docs/monitoring.md#tracing): `msm session.load`, `msm lock.acquire`,
   * `msm session.save`, `msm session.touch` and one span per memcached
   * command, nested under the active span (@fastify/otel's request span).
   * @opentelemetry/api is an optional peer: loaded on this call
   * (FST_MSM_TRACING_UNAVAILABLE when absent), or passed as `options.api`.
   * @returns a function that stops the spans again; app.close() does it too.
   */
  tracing (options?: TracingOptions): () => void
  /** `{ status: 'ok' | 'degraded' | 'down', nodes }` for readiness probes. */
  health (): MsmHealth
  /**
   * The kill switch. While false, no request touches memcached: each gets an
   * empty session that is never stored, and no cookie is set or cleared.
   */
  enabled: boolean
  /**
   * Replaces the node list at runtime, validated like the `nodes` option.
   * Sessions whose primary was removed are relocated from their backups on
   * their next access. `failoverNodes` defaults to the current ones that remain.
   */
  setNodes (nodes: string | NodeSpec[], failoverNodes?: string | string[]): void
}
