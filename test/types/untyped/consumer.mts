// Type tests without a SessionData declaration: the snippet from the README
// compiles, get() is loose, set() still takes JSON-like values only.
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import msm from 'fastify-msm'

const app = Fastify()
await app.register(cookie)
await app.register(msm, { nodes: 'n1:127.0.0.1:11211 n2:127.0.0.1:11212', cookieName: 'sid', maxInactiveInterval: 1800 })

app.get('/count', async (req) => {
  const n = (req.session.get('n') ?? 0) + 1
  req.session.set('n', n)
  req.session.set('anything', { nested: [1, 'two', null, { ok: true }] })
  req.session.set('when', new Date())
  // @ts-expect-error a Map is not a JSON-like value
  req.session.set('map', new Map())
  // @ts-expect-error functions are not stored
  req.session.set('fn', () => 1)
  // Without SessionData, any attribute works as a property, as with @fastify/session
  req.session.user = { id: 'u1' }
  const id: string = req.session.user.id
  // @ts-expect-error the API keeps its types
  req.session.regenerate(42)
  return { n, id }
})
