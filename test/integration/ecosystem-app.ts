// An app on fastify-msm with the ecosystem's own session plugins, run in a child process by
// ecosystem.test.ts: `node --import tsx ecosystem-app.ts '<json EcosystemAppOptions>'`.
// Prints its base URL on the first line of stdout; SIGTERM closes it.
// @fastify/csrf-protection, @fastify/passport (with passport-local) and @fastify/flash
// use request.session exactly as they use @fastify/session's.
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import csrf from '@fastify/csrf-protection'
import passport from '@fastify/passport'
import { Strategy as LocalStrategy } from 'passport-local'
import msm, { type MsmOptions } from '../../lib/index.js'
import { listen } from '../helpers/app.js'

export type CsrfSessionPlugin = '@fastify/session' | '@fastify/secure-session'

export interface EcosystemAppOptions {
  msm: MsmOptions
  /** How @fastify/csrf-protection keeps its secret: property access, or get()/set(). */
  csrfSessionPlugin: CsrfSessionPlugin
  name?: string
}

interface User { id: string, name: string, password: string }

/** The users passport-local checks, in memory. */
const USERS: User[] = [
  { id: 'u1', name: 'ada', password: 'lovelace' },
  { id: 'u2', name: 'alan', password: 'turing' }
]

export const SECRET = 'a cookie secret of at least thirty-two characters'

export async function buildEcosystemApp (options: EcosystemAppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(cookie, { secret: SECRET })
  await app.register(msm, options.msm)
  await app.register(csrf, { sessionPlugin: options.csrfSessionPlugin })
  // passport.initialize() registers @fastify/flash itself (request.flash, reply.flash)
  const authenticator = new passport.Authenticator()
  authenticator.use('local', new LocalStrategy((username, password, done) => {
    const user = USERS.find((candidate) => candidate.name === username && candidate.password === password)
    done(null, user === undefined ? false : { id: user.id, name: user.name })
  }))
  authenticator.registerUserSerializer(async (user: { id: string }) => user.id)
  authenticator.registerUserDeserializer(async (id: string) => {
    const user = USERS.find((candidate) => candidate.id === id)
    return user === undefined ? null : { id: user.id, name: user.name }
  })
  await app.register(authenticator.initialize())
  await app.register(authenticator.secureSession())

  // CSRF
  app.get('/csrf', async (_request, reply) => ({ token: reply.generateCsrf() }))
  app.post('/transfer', { onRequest: app.csrfProtection }, async (request) => ({ ok: true, amount: (request.body as { amount?: number }).amount ?? null }))

  // Pre-login data, then passport
  app.post('/cart', async (request) => {
    const { item } = request.body as { item: string }
    request.session.cart = [...(request.session.cart as string[] | undefined ?? []), item]
    return { cart: request.session.cart }
  })
  app.post('/login', { preValidation: authenticator.authenticate('local', { authInfo: false }) }, async (request) => ({ user: request.user ?? null }))
  app.post('/login-keep', { preValidation: authenticator.authenticate('local', { authInfo: false, keepSessionInfo: true }) }, async (request) => ({ user: request.user ?? null }))
  app.get('/me', async (request) => ({
    user: request.user ?? null,
    authenticated: request.isAuthenticated(),
    cart: request.session.cart ?? null,
    served: options.name ?? null
  }))
  app.post('/logout', async (request) => {
    await request.logout()
    return { user: request.user ?? null }
  })

  // Flash
  app.get('/flash/set', async (request) => ({ count: request.flash('info', 'x') }))
  app.get('/flash/show', async (_request, reply) => ({ info: reply.flash('info') }))
  return app
}

async function main (): Promise<void> {
  const options = JSON.parse(process.argv[2] as string) as EcosystemAppOptions
  const app = await buildEcosystemApp({ name: `pid ${process.pid}`, ...options })
  process.stdout.write(await listen(app) + '\n')
  process.once('SIGTERM', () => {
    app.close().then(() => process.exit(0), () => process.exit(1))
  })
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
