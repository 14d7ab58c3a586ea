// @opentelemetry/instrumentation-memcached, enabled on import with an
// in-memory exporter. It patches the `memcached` module when that is first
// required, so a test imports this before anything that loads fastify-msm.
import { MemcachedInstrumentation } from '@opentelemetry/instrumentation-memcached'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'

export const exporter = new InMemorySpanExporter()
export const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
export const memcachedInstrumentation = new MemcachedInstrumentation()
memcachedInstrumentation.setTracerProvider(provider)
memcachedInstrumentation.enable()
