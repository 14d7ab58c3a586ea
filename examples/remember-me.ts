// "Remember me": a user who ticks the box stays logged in for 30 days, on a
// 30-day cookie; everyone else gets the plugin's defaults (30 minutes idle, a
// browser-session cookie). Both lifetimes are stored with the session, so
// every instance follows them. Logout ends both.
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm from '../lib/index.js'

const THIRTY_DAYS = 30 * 24 * 60 * 60

export async function build (nodes: string): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(cookie, { secret: process.env.COOKIE_SECRET ?? 'replace me with a long random secret!!' })
  await app.register(msm, { nodes, maxInactiveInterval: 30 * 60 })

  app.post('/login', async (request, reply) => {
    const { user, remember } = request.body as { user: string, remember?: boolean }
    if (user !== 'ada') return reply.code(401).send({ error: 'unknown user' })
    // First the new id (regenerate() gives the session the plugin's idle timeout), then the lifetimes
    await request.session.regenerate()
    request.session.user = { id: user, loggedInAt: new Date().toISOString() }
    if (remember === true) {
      request.session.maxInactiveInterval = THIRTY_DAYS // seconds, as in the Servlet API
      request.session.cookie.maxAge = THIRTY_DAYS * 1000 // milliseconds, as in @fastify/session
    }
    return { ok: true }
  })

  app.get('/me', async (request, reply) => {
    const user = request.session.user
    if (user === undefined) return reply.code(401).send({ error: 'not logged in' })
    return { user, idleTimeout: request.session.maxInactiveInterval }
  })

  app.post('/logout', async (request) => {
    await request.session.destroy() // both copies deleted, the cookie expired
    return { ok: true }
  })
  return app
}
