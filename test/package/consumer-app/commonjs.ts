// Compiled with module: commonjs (the classic setting of many CommonJS apps).
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import msm, { errors, type MsmOptions, type Session } from 'fastify-msm'

const options: MsmOptions = { nodes: 'n1:127.0.0.1:11211', maxInactiveInterval: 600 }
const app = Fastify()
app.register(cookie)
app.register(msm, options)
app.get('/', async (request) => {
  const session: Session = request.session
  session.set('visits', 1)
  return { id: session.id, code: errors.FST_MSM_OPTION_INVALID.name }
})
