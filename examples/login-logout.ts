// Login and logout: regenerate() at login (against session fixation), destroy() at logout.
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm from '../lib/index.js'

export async function build (nodes: string): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(cookie, { secret: process.env.COOKIE_SECRET ?? 'replace me with a long random secret!!' })
  await app.register(msm, { nodes })

  app.post('/login', async (request, reply) => {
    const { user } = request.body as { user: string }
    if (user !== 'ada') return reply.code(401).send({ error: 'unknown user' })
    await request.session.regenerate() // new id, old one deleted everywhere
    request.session.set('user', { id: user, loggedInAt: new Date().toISOString() })
    return { ok: true }
  })

  app.get('/me', async (request, reply) => {
    const user = request.session.get('user')
    if (user === undefined) return reply.code(401).send({ error: 'not logged in' })
    return { user }
  })

  app.post('/logout', async (request) => {
    await request.session.destroy() // both copies deleted, cookie expired
    return { ok: true }
  })
  return app
}
