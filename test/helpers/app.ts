import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm, { type MsmOptions } from '../../lib/index.js'

export interface TestAppOptions {
  msm: MsmOptions
  /** @fastify/cookie secret(s); unsigned cookies when absent. */
  secret?: string | string[]
  logger?: boolean | object
  name?: string
}

/**
 * A Fastify app with the routes the integration tests share:
 * GET /count increments n, GET /read only reads, GET /ignored has
 * config.session=false, and a few routes drive the session API.
 */
export async function buildApp (options: TestAppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false })
  await app.register(cookie, options.secret === undefined ? {} : { secret: options.secret })
  await app.register(msm, options.msm)

  app.get('/count', async (request) => {
    const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
    request.session.set('n', n)
    return { n, id: request.session.id, served: options.name }
  })
  app.get('/read', async (request) => ({ n: request.session.get('n') ?? null, isNew: request.session.isNew, id: request.session.id }))
  app.get('/nothing', async () => ({ ok: true }))
  app.get('/ignored', { config: { session: false } }, async () => ({ ok: true }))
  app.get('/ignored-but-used', { config: { session: false } }, async (request) => ({ n: request.session.get('n') }))
  app.post('/set', async (request) => {
    const { key, value } = request.body as { key: string, value: never }
    request.session.set(key, value)
    return { id: request.session.id }
  })
  app.get('/big', async (request) => {
    const size = Number((request.query as { size: string }).size)
    request.session.set('big', 'x'.repeat(size))
    return { ok: true }
  })
  app.post('/regenerate', async (request) => {
    await request.session.regenerate()
    return { id: request.session.id }
  })
  app.post('/destroy', async (request) => {
    await request.session.destroy()
    return { ok: true }
  })
  app.get('/touch', async (request) => {
    request.session.touch()
    return { ok: true }
  })
  app.get('/slow', async (request) => {
    const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
    await new Promise((resolve) => setTimeout(resolve, Number((request.query as { ms: string }).ms)))
    request.session.set('n', n)
    return { n }
  })
  app.get('/throw', async (request) => {
    request.session.set('n', ((request.session.get('n') as number | undefined) ?? 0) + 1)
    throw new Error('handler failed')
  })
  app.get('/read-unlocked', { config: { session: { lock: false } } }, async (request) => ({ n: request.session.get('n') ?? null }))
  app.get('/count-locked', { config: { session: { lock: true } } }, async (request) => {
    const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
    request.session.set('n', n)
    return { n }
  })
  app.get('/mutate-in-place', async (request) => {
    const list = (request.session.get('list') as number[] | undefined) ?? []
    list.push(list.length)
    if (list.length === 1) request.session.set('list', list)
    return { list }
  })
  return app
}

/** Listens on a free loopback port and returns the base URL. */
export async function listen (app: FastifyInstance): Promise<string> {
  return app.listen({ port: 0, host: '127.0.0.1' })
}

/** A tiny HTTP client that keeps one cookie, like a browser tab would. */
export class CookieClient {
  cookies = new Map<string, string>()
  lastSetCookie: string[] = []

  constructor (public base: string) {}

  get cookieHeader (): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }

  async request (path: string, init: RequestInit = {}): Promise<{ status: number, body: any, headers: Headers }> {
    const headers = new Headers(init.headers)
    if (this.cookies.size > 0 && !headers.has('cookie')) headers.set('cookie', this.cookieHeader)
    if (init.body !== undefined) headers.set('content-type', 'application/json')
    const response = await fetch(this.base + path, { ...init, headers })
    this.lastSetCookie = response.headers.getSetCookie()
    for (const line of this.lastSetCookie) {
      const [pair] = line.split(';')
      const index = (pair as string).indexOf('=')
      const name = (pair as string).slice(0, index)
      const value = (pair as string).slice(index + 1)
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(line)) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
    const text = await response.text()
    let body: unknown = text
    try { body = JSON.parse(text) } catch {}
    return { status: response.status, body, headers: response.headers }
  }

  get (path: string): Promise<{ status: number, body: any, headers: Headers }> {
    return this.request(path)
  }

  post (path: string, body: unknown = {}): Promise<{ status: number, body: any, headers: Headers }> {
    return this.request(path, { method: 'POST', body: JSON.stringify(body) })
  }
}
