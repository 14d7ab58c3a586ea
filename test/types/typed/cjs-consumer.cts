// The same promises for a CommonJS TypeScript consumer of the built package.
import Fastify = require('fastify')
import cookie = require('@fastify/cookie')
import msm = require('fastify-msm')

declare module 'fastify-msm' {
  interface SessionData {
    cart?: string[]
  }
}

const app = Fastify.default()
void app.register(cookie.default)
void app.register(msm.default, { nodes: 'n1:127.0.0.1:11211' })
void app.register(msm.msmPlugin, { nodes: 'n1:127.0.0.1:11211' })

app.get('/', async (request) => {
  const cart: string[] = request.session.get('cart') ?? []
  request.session.set('cart', [...cart, 'apple'])
  // @ts-expect-error cart holds strings
  request.session.set('cart', [1])
  return cart
})
