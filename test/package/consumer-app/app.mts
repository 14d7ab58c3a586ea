// A consumer's ES module app, type-checked with skipLibCheck: false and run
// against real memcached by test/package/consumer.test.ts, with the lowest
// and the newest versions of the peers.
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import { Registry } from 'prom-client'
import msm, { errors, jsonSerializer, type MsmOptions, type MsmStats, type Serializer, type Session } from 'fastify-msm'

declare module 'fastify-msm' {
  interface SessionData {
    visits?: number
    user?: { id: string, roles: string[] }
  }
}

const serializer: Serializer = jsonSerializer
const options: MsmOptions = { nodes: process.env.MSM_NODES ?? 'n1:127.0.0.1:11211', cookieName: 'consumer.sid' }
if (process.env.MSM_SERIALIZER === 'json') options.serializer = serializer

const app = Fastify()
await app.register(cookie)
await app.register(msm, options)
// The optional peers, loaded by the plugin from the app's node_modules
const registry = new Registry()
app.msm.registerMetrics(registry)
app.msm.tracing()

app.get('/visit', async (request) => {
  const session: Session = request.session
  const visits = (session.get('visits') ?? 0) + 1
  session.set('visits', visits)
  request.session.user = { id: 'ada', roles: ['admin'] }
  return { visits, user: request.session.user?.id ?? null, sessionId: request.session.sessionId }
})
app.get('/stats', async () => {
  const stats: MsmStats = app.msm.stats()
  return { created: stats.created, saved: stats.saved }
})
app.get('/metrics', async () => await registry.metrics())
app.get('/error-code', async () => new errors.FST_MSM_OPTION_INVALID('option', 'value', 'fix').code)
app.get('/versions', async () => ({ node: process.version, fastify: app.version }))

const address = await app.listen({ port: 0, host: '127.0.0.1' })
console.log(address)
const stop = (): void => { app.close().then(() => process.exit(0), () => process.exit(1)) }
process.once('SIGTERM', stop)
