// One benchmark scenario's server, in its own process:
//   node --import tsx benchmarks/servers.ts <scenario key> <memcached nodes spec>
// Prints its base URL. Scenarios are in scenarios.ts; every one has the same
// routes, and every session scenario signs its cookie with the same secret:
//   POST /login  creates a session holding PAYLOAD (~1 KB), or the sweep's size
//   GET  /read   reads request.session.user.id, changes nothing
//   GET  /write  reads it too, and changes the session
//   GET  /mix    every 10th request (a counter in this process) as /write, the others as /read
// A request whose session was not found answers 500, which fails the run.
// BENCH_MSM_FROM=<checkout> loads fastify-msm from that checkout's build
// instead of this one's (compare.ts).
import { resolve } from 'node:path'
import { subscribe, tracingChannel } from 'node:diagnostics_channel'
import { CHANNEL_NAMES } from '../lib/events/channels.js'
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify'
import cookie from '@fastify/cookie'
import { scenarioByKey, type Scenario } from './scenarios.js'
import { PAYLOAD, USER_ID, sweepPayload } from './payload.js'
import { floorClients, registerFloor } from './floor.js'

export { PAYLOAD } from './payload.js'

// Loaded untyped: @fastify/session's declaration merging of FastifyRequest.session would clash with fastify-msm's
const fastifySession = require('@fastify/session')

const SECRET = 'a benchmark secret that is long enough!!'

/** Both plugins offer the property style, request.session.user.id; every scenario uses it. */
const sessionAccess = {
  login: (request: any, payload: Record<string, unknown>): void => {
    for (const [key, value] of Object.entries(payload)) request.session[key] = value
  },
  read: (request: any): unknown => request.session.user?.id,
  write: (request: any): void => { request.session.hits = ((request.session.hits as number | undefined) ?? 0) + 1 }
}

function loadMsm (): FastifyPluginAsync<Record<string, unknown>> {
  const from = process.env.BENCH_MSM_FROM
  return require(from === undefined || from === '' ? 'fastify-msm' : resolve(from))
}

function peerStore (nodes: string): unknown {
  const MemcachedStore = require('connect-memcached')(fastifySession)
  const hosts = nodes.split(' ').map((node) => node.split(':').slice(1).join(':'))
  return new MemcachedStore({ hosts, ttl: 1800 })
}

/** The length of the value fastify-msm stores for PAYLOAD: one session created through the plugin and read back raw. */
async function msmStoredLength (nodes: string): Promise<number> {
  const probe = Fastify()
  await probe.register(cookie, { secret: SECRET })
  await probe.register(loadMsm(), { nodes, prefix: 'floor-probe:' })
  probe.post('/login', async (request) => { sessionAccess.login(request, PAYLOAD); return 'ok' })
  const response = await probe.inject({ method: 'POST', url: '/login' })
  await probe.close()
  const signed = decodeURIComponent(/^[^=]+=([^;]*)/.exec(String(response.headers['set-cookie']))?.[1] ?? '')
  const id = signed.slice(0, signed.lastIndexOf('.'))
  const nodeIndex = nodes.split(' ').findIndex((node) => node.startsWith(`${id.split('-')[1]}:`))
  const store = floorClients(nodes)
  const stored = await store.get(nodeIndex, `floor-probe:${id}`)
  store.end()
  if (typeof stored !== 'string') throw new Error(`the probe session ${id} was not stored`)
  return stored.length
}

/** Registers the scenario's session plugin; false when the scenario has no sessions (bare, floor). */
async function registerSessions (app: FastifyInstance, scenario: Scenario, nodes: string): Promise<boolean> {
  const sessionOptions = { secret: SECRET, cookie: { secure: false }, saveUninitialized: false }
  const setup = scenario.setup
  switch (setup.kind) {
    case 'bare':
      return false
    case 'floor':
      registerFloor(app, nodes, await msmStoredLength(nodes))
      return false
    case 'memory-store':
      await app.register(fastifySession, sessionOptions)
      return true
    case 'connect-memcached':
      await app.register(fastifySession, { ...sessionOptions, rolling: setup.rolling, store: peerStore(nodes) })
      return true
    case 'msm':
      await app.register(loadMsm(), { nodes, ...setup.options })
      return true
  }
}

function hasUser (request: FastifyRequest, reply: FastifyReply): boolean {
  if (sessionAccess.read(request) === USER_ID) return true
  reply.code(500)
  return false
}

function registerSessionRoutes (app: FastifyInstance, scenario: Scenario): void {
  const payload = scenario.sessionBytes === undefined ? PAYLOAD : sweepPayload(scenario.sessionBytes)
  let mixed = 0
  const read = (request: FastifyRequest, reply: FastifyReply): object => hasUser(request, reply) ? { user: USER_ID } : { error: 'no session' }
  const write = (request: FastifyRequest, reply: FastifyReply): object => {
    if (!hasUser(request, reply)) return { error: 'no session' }
    sessionAccess.write(request)
    return { ok: true }
  }
  app.post('/login', async (request) => {
    sessionAccess.login(request, payload)
    return 'ok'
  })
  app.get('/read', async (request, reply) => read(request, reply))
  app.get('/write', async (request, reply) => write(request, reply))
  app.get('/mix', async (request, reply) => ++mixed % 10 === 0 ? write(request, reply) : read(request, reply))
}

export async function build (key: string, nodes: string): Promise<FastifyInstance> {
  const scenario = scenarioByKey(key)
  if (scenario.allChannelsSubscribed === true) subscribeAll()
  const app = Fastify()
  // Signed cookies everywhere: fastify-msm signs its cookie when @fastify/cookie has a secret
  await app.register(cookie, { secret: SECRET })
  const sessions = await registerSessions(app, scenario, nodes)
  if (sessions) registerSessionRoutes(app, scenario)
  else if (scenario.setup.kind === 'bare') app.get('/read', async () => ({ user: USER_ID }))
  return app
}

/** BENCH_SUBSCRIBE_ALL=1: a no-op subscriber on every diagnostics channel, to measure what publishing costs. */
export function subscribeAll (): void {
  for (const name of CHANNEL_NAMES.tracing) tracingChannel(name).subscribe({ start () {}, end () {}, asyncStart () {}, asyncEnd () {}, error () {} })
  for (const name of CHANNEL_NAMES.plain) subscribe(name, () => {})
}

async function main (): Promise<void> {
  const [key, nodes] = process.argv.slice(2) as [string, string]
  if (process.env.BENCH_SUBSCRIBE_ALL === '1') subscribeAll()
  const app = await build(key, nodes)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  process.stdout.write(url + '\n')
  process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
