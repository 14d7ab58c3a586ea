// Type tests, compiled by `npm run test:types` against the BUILT package: a strict
// ES module app with the ecosystem's session plugins (@fastify/csrf-protection,
// @fastify/flash, @fastify/passport with passport-local) on top of fastify-msm.
// Their declarations must merge with fastify-msm's `request.session` without a clash,
// and typed attributes must work as properties. Each @ts-expect-error must be an error.
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import csrf from '@fastify/csrf-protection'
import flash from '@fastify/flash'
import fastifyPassport from '@fastify/passport'
import { Strategy as LocalStrategy } from 'passport-local'
import msm, { type Session } from 'fastify-msm'

declare module 'fastify-msm' {
  interface SessionData {
    user?: { id: string, roles: string[] }
    cart?: string[]
  }
}

declare module 'fastify' {
  interface PassportUser {
    id: string
    name: string
  }
}

const SECRET = 'a cookie secret of at least thirty-two characters'

/** Routes that use the session as @fastify/session apps do, with the declared SessionData types. */
function sessionRoutes (app: FastifyInstance): void {
  app.post('/cart', async (request) => {
    const session: Session = request.session
    // Typed attributes through property access
    const cart: string[] | undefined = request.session.cart
    request.session.cart = [...(cart ?? []), 'apple']
    request.session.user = { id: 'u1', roles: ['admin'] }
    const roles: string[] = request.session.user.roles
    request.session.user.roles.push('editor')
    const userId: string | undefined = request.session.user?.id
    // @ts-expect-error roles are strings
    request.session.user = { id: 'u1', roles: [1] }
    // @ts-expect-error user needs roles
    request.session.user = { id: 'u1' }
    // @ts-expect-error cart holds strings
    request.session.cart = 'apple'
    // @ts-expect-error a property of the declared type is not a number
    const wrong: number | undefined = request.session.cart
    // @ts-expect-error unknown attributes are refused once SessionData is declared
    request.session.coupon = 'SAVE10'
    request.session.user = undefined
    delete request.session.cart
    // The same attributes through get() and set()
    const viaGet: { id: string, roles: string[] } | undefined = session.get('user')
    session.set('cart', ['pear'])
    // The @fastify/session surface the plugins rely on
    await request.session.regenerate(['cart'])
    await request.session.regenerate()
    request.session.regenerate(['cart'], (error?: Error) => { void error })
    await request.session.save()
    await request.session.reload()
    await request.session.destroy()
    request.session.destroy((error?: Error) => { void error })
    const maxAge: number | null = request.session.cookie.maxAge
    const expires: Date | null = request.session.cookie.expires
    const sessionId: string = request.session.sessionId
    const keys: string[] = Object.keys(request.session)
    return { roles, userId, wrong, viaGet, maxAge, expires, sessionId, keys }
  })
}

// @fastify/csrf-protection keeping its secret by property access ('@fastify/session'), and @fastify/flash
const app = Fastify()
await app.register(cookie, { secret: SECRET })
await app.register(msm, { nodes: 'n1:127.0.0.1:11211 n2:127.0.0.1:11212', cookie: { maxAge: 3600 } })
await app.register(csrf, { sessionPlugin: '@fastify/session' })
await app.register(flash)
sessionRoutes(app)
app.get('/csrf', async (_request, reply) => ({ token: reply.generateCsrf() }))
app.post('/transfer', { onRequest: app.csrfProtection }, async () => ({ ok: true }))
app.get('/flash/set', async (request) => {
  const count: number = request.flash('info', 'saved')
  request.flash('warning', ['one', 'two'])
  return { count }
})
app.get('/flash/show', async (_request, reply) => ({ info: reply.flash('info') }))

// @fastify/csrf-protection keeping its secret with get()/set() ('@fastify/secure-session'), and
// @fastify/passport, whose initialize() registers @fastify/flash itself (registering it too would throw)
const authApp = Fastify()
await authApp.register(cookie, { secret: SECRET })
await authApp.register(msm, { nodes: 'n1:127.0.0.1:11211 n2:127.0.0.1:11212' })
await authApp.register(csrf, { sessionPlugin: '@fastify/secure-session' })
await authApp.register(fastifyPassport.initialize())
await authApp.register(fastifyPassport.secureSession())
fastifyPassport.use('local', new LocalStrategy((username, password, done) => {
  done(null, username === 'ada' && password === 'lovelace' ? { id: 'u1', name: 'ada' } : false)
}))
fastifyPassport.registerUserSerializer(async (user: { id: string }) => user.id)
fastifyPassport.registerUserDeserializer(async (id: string) => ({ id, name: 'ada' }))
sessionRoutes(authApp)
authApp.post('/login', { preValidation: fastifyPassport.authenticate('local', { keepSessionInfo: true }) }, async (request) => {
  const name: string | undefined = request.user?.name
  request.session.user = { id: request.user?.id ?? 'anonymous', roles: [] }
  return { name, authenticated: request.isAuthenticated() }
})
authApp.post('/login-manually', async (request) => {
  await request.logIn({ id: 'u2', name: 'alan' }, { keepSessionInfo: true })
  return { ok: true }
})
authApp.post('/logout', { onRequest: authApp.csrfProtection }, async (request, reply) => {
  await request.logOut()
  reply.flash('info')
  return { user: request.user ?? null, session: request.session.user ?? null }
})
