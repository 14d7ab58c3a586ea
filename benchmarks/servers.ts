// One benchmark scenario's server, in its own process:
//   node --import tsx benchmarks/servers.ts <scenario> <memcached nodes spec>
// Prints its base URL. Every scenario has the same routes and payload:
//   POST /login  creates a session holding PAYLOAD (~1 KB)
//   GET  /read   reads the session, changes nothing
//   GET  /write  changes the session on every request
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm from 'fastify-msm'

// Loaded untyped: its declaration merging of FastifyRequest.session would clash with fastify-msm's

const fastifySession = require('@fastify/session')

const SECRET = 'a benchmark secret that is long enough!!'

/** About 1 KB of JSON, the same in every scenario. */
export const PAYLOAD = {
  user: { id: 'user-1234', name: 'Ada Lovelace', email: 'ada@example.com', roles: ['reader', 'writer', 'admin'] },
  cart: Array.from({ length: 12 }, (_, i) => ({ sku: `SKU-${1000 + i}`, qty: 1 + (i % 3), price: 9.99 + i })),
  preferences: { theme: 'dark', language: 'en-GB', timezone: 'Europe/London' },
  csrf: 'c'.repeat(43)
}

interface Adapter {
  login: (request: any) => void
  read: (request: any) => unknown
  write: (request: any) => void
}

const msmAdapter: Adapter = {
  login: (request) => { for (const [key, value] of Object.entries(PAYLOAD)) request.session.set(key, value) },
  read: (request) => request.session.get('user')?.id,
  write: (request) => { request.session.set('hits', ((request.session.get('hits') as number | undefined) ?? 0) + 1) }
}

/** The same, in @fastify/session's property style: request.session.user.id */
const msmPropertyAdapter: Adapter = {
  login: (request) => { for (const [key, value] of Object.entries(PAYLOAD)) request.session[key] = value },
  read: (request) => request.session.user?.id,
  write: (request) => { request.session.hits = ((request.session.hits as number | undefined) ?? 0) + 1 }
}

const fastifySessionAdapter: Adapter = {
  login: (request) => { for (const [key, value] of Object.entries(PAYLOAD)) request.session.set(key, value) },
  read: (request) => request.session.get('user')?.id,
  write: (request) => { request.session.set('hits', (request.session.get('hits') ?? 0) + 1) }
}

async function build (scenario: string, nodes: string): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(cookie)
  let adapter: Adapter | null = null
  const sessionOptions = { secret: SECRET, cookie: { secure: false }, saveUninitialized: false }
  switch (scenario) {
    case 'a':
      break
    case 'b':
      await app.register(fastifySession, sessionOptions)
      adapter = fastifySessionAdapter
      break
    case 'c': {
      const MemcachedStore = require('connect-memcached')(fastifySession)
      const hosts = nodes.split(' ').map((node) => node.split(':').slice(1).join(':'))
      await app.register(fastifySession, { ...sessionOptions, store: new MemcachedStore({ hosts, ttl: 1800 }) })
      adapter = fastifySessionAdapter
      break
    }
    case 'd': case 'e':
      await app.register(msm, { nodes })
      adapter = msmAdapter
      break
    case 'f':
      await app.register(msm, { nodes, lockingMode: 'all', lockTimeout: 10_000 })
      adapter = msmAdapter
      break
    case 'g':
      await app.register(msm, { nodes, sticky: true })
      adapter = msmAdapter
      break
    case 'h':
      await app.register(msm, { nodes, stats: false })
      adapter = msmAdapter
      break
    case 'i':
      await app.register(msm, { nodes })
      adapter = msmPropertyAdapter
      break
    default:
      throw new Error(`unknown scenario ${scenario}`)
  }
  const session = adapter
  app.post('/login', async (request) => {
    session?.login(request)
    return 'ok'
  })
  app.get('/read', async (request) => ({ user: session === null ? PAYLOAD.user.id : session.read(request) }))
  app.get('/write', async (request) => {
    session?.write(request)
    return { ok: true }
  })
  return app
}

async function main (): Promise<void> {
  const [scenario, nodes] = process.argv.slice(2) as [string, string]
  const app = await build(scenario, nodes)
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
