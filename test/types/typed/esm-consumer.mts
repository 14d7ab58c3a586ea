// Type tests, compiled by `npm run test:types` against the BUILT package as an
// ES module consumer sees it. Each @ts-expect-error must be an error, or tsc fails.
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import msm, { msmPlugin, type MsmOptions, type MsmStats, type Session } from 'fastify-msm'

declare module 'fastify-msm' {
  interface SessionData {
    user?: { id: string, roles: string[] }
    visits?: number
  }
}

const app = Fastify()
await app.register(cookie, { secret: 'a secret of at least thirty-two characters' })
await app.register(msm, { nodes: 'n1:127.0.0.1:11211 n2:127.0.0.1:11212', cookieName: 'sid', maxInactiveInterval: 1800 })
await app.register(msmPlugin, { nodes: [{ id: 'n1', host: '127.0.0.1', port: 11211 }] })

// @ts-expect-error nodes is required
const missingNodes: MsmOptions = { cookieName: 'sid' }
// @ts-expect-error sameSite takes lax, strict or none
const badSameSite: MsmOptions = { nodes: 'n1:h:1', cookie: { sameSite: 'loose' } }
// Option encryption: keys as base64 text or Buffers, and the switch-over flags
const encrypted: MsmOptions = {
  nodes: 'n1:h:1',
  encryption: { keys: [{ id: '2026-12', key: 'ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=' }, { id: 'old', key: Buffer.alloc(32, 1) }], acceptPlaintext: true, writePlaintext: false }
}
// @ts-expect-error a key has an id
const keyWithoutId: MsmOptions = { nodes: 'n1:h:1', encryption: { keys: [{ key: 'x' }] } }
// @ts-expect-error keys is required
const noKeys: MsmOptions = { nodes: 'n1:h:1', encryption: { acceptPlaintext: true } }
void missingNodes
void badSameSite
void encrypted
void keyWithoutId
void noKeys

app.get('/', async (request) => {
  const session: Session = request.session
  const visits: number | undefined = session.get('visits')
  session.set('visits', (visits ?? 0) + 1)
  const user = session.get('user')
  if (user !== undefined) {
    const id: string = user.id
    void id
  }
  session.set('user', { id: 'u1', roles: ['admin'] })
  // @ts-expect-error visits is a number
  session.set('visits', 'many')
  // @ts-expect-error unknown keys are refused once SessionData is declared
  session.set('unknown', 1)
  // @ts-expect-error user needs roles
  session.set('user', { id: 'u1' })
  session.delete('user')
  const id: string | null = session.id
  const isNew: boolean = session.isNew
  await session.regenerate()
  await session.destroy()
  session.touch()
  // Attributes as properties, typed by SessionData
  request.session.user = { id: 'u2', roles: [] }
  const roles: string[] | undefined = request.session.user?.roles
  // @ts-expect-error visits is a number
  request.session.visits = 'many'
  // @ts-expect-error unknown attributes are refused once SessionData is declared
  request.session.unknown = 1
  // @ts-expect-error cookie is the API's, not an attribute
  request.session.cookie = 'x'
  // The @fastify/session surface
  // A session's own lifetimes: seconds of idle time, a cookie lifetime in ms (null: browser session)
  request.session.maxInactiveInterval = 30 * 24 * 3600
  const idle: number = request.session.maxInactiveInterval
  // @ts-expect-error maxInactiveInterval takes seconds, a number
  request.session.maxInactiveInterval = '30d'
  request.session.cookie.maxAge = null
  request.session.options({ maxAge: 30 * 24 * 3600 * 1000 })
  const ownCookieMaxAge: number | null = request.session.cookie.maxAge
  const sessionId: string = request.session.sessionId
  const signed: string = request.session.encryptedSessionId
  await request.session.regenerate(['user'])
  request.session.regenerate((error?: Error) => { void error })
  await request.session.changeSessionId()
  await request.session.save()
  await request.session.reload()
  const modified: boolean = request.session.isModified()
  const cookieMaxAge: number | null = request.session.cookie.maxAge
  request.session.options({ maxAge: 60_000 })
  void [roles, sessionId, signed, modified, cookieMaxAge]
  return { id, isNew }
})

app.get('/off', { config: { session: false } }, async () => 'ok')

const stats: MsmStats = app.msm.stats()
const saved: number = stats.saved
const nodeIds: string[] = stats.nodes.map((node) => node.id)
void saved
void nodeIds
