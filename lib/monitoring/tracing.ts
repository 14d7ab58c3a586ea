// OpenTelemetry spans from fastify-msm's diagnostics channels
// (lib/events/channels.ts): `msm session.load`, `msm lock.acquire`,
// `msm session.save`, `msm session.touch`, and one span per memcached command
// with the database conventions. @opentelemetry/api is an optional peer
// dependency: it is loaded only by app.msm.tracing(), or passed to it.
// A command fastify-msm traces itself runs with tracing suppressed inside its
// span, the key @opentelemetry/core's suppressTracing() sets, so that an
// instrumentation of the `memcached` client (instrumentation-memcached) does
// not trace it a second time, with the session id in its `db.memcached.key`.
import { createRequire } from 'node:module'
import type { TracingChannel } from 'node:diagnostics_channel'
import type { Span, Tracer } from '@opentelemetry/api'
import { CHANNELS, setContextRunner, type LoadEvent, type LockEvent, type NodeOperationEvent, type NodeStateEvent, type RelocatedEvent, type SaveEvent, type TouchEvent } from '../events/channels.js'
import { FST_MSM_TRACING_UNAVAILABLE } from '../errors.js'
import type { TracingOptions } from '../types/index.js'

type OtelApi = typeof import('@opentelemetry/api')

/** @opentelemetry/core's suppressTracing() key; createContextKey uses Symbol.for, so the same key is made here without core. */
const SUPPRESS_TRACING = 'OpenTelemetry SDK Context Key SUPPRESS_TRACING'

/** What the channels' events become: a span name, its kind, and its attributes at the start and at the end. */
interface SpanRecipe<E> {
  name: (event: E) => string
  client: boolean
  start: (event: E) => Record<string, string | number>
  end: (event: E) => Record<string, string | number>
}

const SESSION = (event: { session: string, nodeId: string }): Record<string, string | number> => ({ 'msm.session': event.session, 'msm.node': event.nodeId })

const RECIPES = {
  load: { name: () => 'msm session.load', client: false, start: SESSION, end: (event: LoadEvent) => withDefined({ 'msm.load.outcome': event.outcome }) },
  lock: { name: () => 'msm lock.acquire', client: false, start: SESSION, end: (event: LockEvent) => withDefined({ 'msm.lock.outcome': event.outcome, 'msm.lock.wait_ms': event.waitedMs }) },
  save: {
    name: () => 'msm session.save',
    client: false,
    start: (event: SaveEvent) => ({ ...SESSION(event), 'msm.save.command': event.command, 'msm.value.bytes': event.bytes }),
    end: (event: SaveEvent) => withDefined({ 'msm.save.outcome': event.outcome, 'msm.save.copies': event.copies })
  },
  touch: { name: () => 'msm session.touch', client: false, start: (event: TouchEvent) => ({ ...SESSION(event), 'msm.touch.lifetime_s': event.lifetime }), end: (event: TouchEvent) => withDefined({ 'msm.touch.outcome': event.outcome }) },
  operation: {
    name: (event: NodeOperationEvent) => `${event.command} memcached`,
    client: true,
    start: (event: NodeOperationEvent) => withDefined({ 'db.system.name': 'memcached', 'db.operation.name': event.command, 'server.address': event.host, 'server.port': event.port, 'msm.node': event.nodeId, 'msm.value.bytes': event.bytes }),
    end: (event: NodeOperationEvent) => withDefined({ 'msm.operation.outcome': event.outcome })
  }
} as const

function withDefined (attributes: Record<string, string | number | undefined>): Record<string, string | number> {
  return Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== undefined)) as Record<string, string | number>
}

/**
 * Turns the channels into spans until the returned function is called.
 * Spans nest under the active span (@fastify/otel's request span), and a
 * traced event's work runs in its span's context, so the memcached commands
 * of a load nest under `msm session.load`.
 */
export function startTracing (options: TracingOptions = {}): () => void {
  const api = (options.api as OtelApi | undefined) ?? loadApi()
  const tracer = ((options.tracerProvider ?? api.trace) as { getTracer: (name: string, version?: string) => Tracer }).getTracer('fastify-msm')
  const spans = new WeakMap<object, Span>()
  const commands = new WeakSet<object>()
  const suppressed = api.createContextKey(SUPPRESS_TRACING)
  const unsubscribes: Array<() => void> = []
  const traced = <E extends object>(channel: TracingChannel<unknown, E>, recipe: SpanRecipe<E>): void => {
    const handlers = {
      end: () => {},
      asyncStart: () => {},
      start: (event: E) => {
        const kind = recipe.client ? api.SpanKind.CLIENT : api.SpanKind.INTERNAL
        spans.set(event, tracer.startSpan(recipe.name(event), { kind, attributes: recipe.start(event) }, api.context.active()))
        if (recipe.client) commands.add(event)
      },
      error: (event: E & { error?: unknown }) => {
        const span = spans.get(event)
        if (span === undefined) return
        if (event.error instanceof Error) span.recordException(event.error)
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: event.error instanceof Error ? event.error.message : 'failed' })
      },
      asyncEnd: (event: E) => {
        const span = spans.get(event)
        if (span === undefined) return
        span.setAttributes(recipe.end(event))
        span.end()
        spans.delete(event)
      }
    }
    channel.subscribe(handlers)
    unsubscribes.push(() => { channel.unsubscribe(handlers) })
  }
  traced(CHANNELS.load, RECIPES.load)
  traced(CHANNELS.lock, RECIPES.lock)
  traced(CHANNELS.save, RECIPES.save)
  traced(CHANNELS.touch, RECIPES.touch)
  if (options.commands !== false) traced(CHANNELS.operation, RECIPES.operation)
  const onRelocated = (message: unknown): void => {
    const event = message as RelocatedEvent
    api.trace.getSpan(api.context.active())?.addEvent('msm session.relocated', { 'msm.session': event.session, 'msm.session.from': event.from, 'msm.node.from': event.fromNode, 'msm.node': event.toNode, 'msm.relocation.cause': event.cause })
  }
  const onNodeState = (message: unknown): void => {
    const event = message as NodeStateEvent
    api.trace.getSpan(api.context.active())?.addEvent('msm node.state', withDefined({ 'msm.node': event.nodeId, 'server.address': event.host, 'server.port': event.port, 'msm.node.change': event.change, 'msm.node.detected_by': event.detectedBy ?? undefined }))
  }
  CHANNELS.relocated.subscribe(onRelocated)
  CHANNELS.nodeState.subscribe(onNodeState)
  setContextRunner(async (event, work) => {
    const span = spans.get(event)
    if (span === undefined) return await work()
    const inSpan = api.trace.setSpan(api.context.active(), span)
    return await api.context.with(commands.has(event) ? inSpan.setValue(suppressed, true) : inSpan, work)
  })
  return () => {
    for (const unsubscribe of unsubscribes) unsubscribe()
    CHANNELS.relocated.unsubscribe(onRelocated)
    CHANNELS.nodeState.unsubscribe(onNodeState)
    setContextRunner(null)
  }
}

/** @opentelemetry/api as `require` finds it from this package, as prom-client is found (an optional peer dependency). */
function loadApi (): OtelApi {
  try {
    return createRequire(__filename)('@opentelemetry/api') as OtelApi
  } catch (error) {
    throw new FST_MSM_TRACING_UNAVAILABLE((error as Error).message)
  }
}
