// An AJAX-heavy page: many parallel requests add items to one cart. Locking
// the cart route serialises them, so no item is lost; read-only routes stay
// unlocked.
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm from '../lib/index.js'

export async function build (nodes: string): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(cookie)
  await app.register(msm, {
    nodes,
    lockingMode: { uriPattern: /^POST \/cart/ },
    lockTimeout: 5000
  })

  app.post('/cart', async (request) => {
    const { item } = request.body as { item: string }
    const cart = (request.session.get('cart') as string[] | undefined) ?? []
    request.session.set('cart', [...cart, item])
    return { size: cart.length + 1 }
  })

  app.get('/cart', async (request) => ({ cart: request.session.get('cart') ?? [] }))
  return app
}
