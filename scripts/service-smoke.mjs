// A session round trip through the built package against one memcached that
// is already running (the CI workflow's service container):
//   node scripts/service-smoke.mjs 127.0.0.1:11211
// Two requests of one visitor; the second must read the session back.
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import msm from 'fastify-msm'

const address = process.argv[2] ?? '127.0.0.1:11211'
const app = Fastify()
await app.register(cookie)
await app.register(msm, { nodes: `n1:${address}` })
app.get('/visit', async (request) => {
  const visits = (request.session.get('visits') ?? 0) + 1
  request.session.set('visits', visits)
  return { visits }
})

try {
  const first = await app.inject('/visit')
  const cookieHeader = first.cookies.map(({ name, value }) => `${name}=${value}`).join('; ')
  const second = await app.inject({ url: '/visit', headers: { cookie: cookieHeader } })
  const stats = app.msm.stats()
  if (first.json().visits !== 1 || second.json().visits !== 2 || stats.saved !== 2) {
    throw new Error(`expected visits 1 then 2 and 2 saves, got ${first.body}, ${second.body}, saved ${stats.saved}`)
  }
  console.log(`a session was saved to and read back from memcached at ${address}`)
} finally {
  await app.close()
}
