// An app traced by @fastify/otel (request spans) into `provider`, with
// fastify-msm and the routes the tracing tests share: POST /login stores a
// user, GET /read reads it. The caller adds routes and listens.
import FastifyOtelInstrumentation from '@fastify/otel'
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import msm, { type MsmOptions } from '../../lib/index.js'

export async function otelApp (provider: BasicTracerProvider, options: MsmOptions): Promise<FastifyInstance> {
  const otel = new FastifyOtelInstrumentation({ registerOnInitialization: false })
  otel.setTracerProvider(provider)
  const app = Fastify()
  await app.register(otel.plugin())
  await app.register(cookie)
  await app.register(msm, options)
  app.post('/login', async (request) => {
    request.session.user = 'ada'
    return { ok: true }
  })
  app.get('/read', async (request) => ({ user: request.session.user ?? null }))
  return app
}
