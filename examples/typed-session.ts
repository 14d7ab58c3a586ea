// Typed sessions: an Avro schema validates every set() and makes sessions
// compact; SessionData gives the same types to TypeScript.
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm from '../lib/index.js'

export const schema = {
  type: 'record',
  name: 'ShopSession',
  namespace: 'example',
  fields: [
    { name: 'visits', type: 'int', default: 0 },
    { name: 'lastSeen', type: ['null', { type: 'long', logicalType: 'timestamp-millis' }], default: null },
    { name: 'theme', type: { type: 'enum', name: 'Theme', symbols: ['light', 'dark'] }, default: 'light' }
  ]
}

export async function build (nodes: string): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(cookie)
  await app.register(msm, { nodes, schema })

  app.get('/visit', async (request) => {
    const visits = ((request.session.get('visits') as number | undefined) ?? 0) + 1
    request.session.set('visits', visits)
    request.session.set('lastSeen', new Date())
    return { visits, theme: request.session.get('theme') }
  })

  app.post('/theme', async (request) => {
    // A value outside the enum is refused with FST_MSM_SCHEMA_MISMATCH before anything is stored
    request.session.set('theme', (request.body as { theme: string }).theme)
    return { ok: true }
  })
  return app
}
