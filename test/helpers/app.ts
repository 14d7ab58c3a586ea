import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import cookie from '@fastify/cookie'
import { setTimeout as sleep } from 'node:timers/promises'
import msm, { type MsmOptions } from '../../lib/index.js'

export interface TestAppOptions {
  msm: MsmOptions
  /** @fastify/cookie secret(s); unsigned cookies when absent. */
  secret?: string | string[]
  logger?: boolean | object
  name?: string
  /**
   * The plugin to register instead of this checkout's lib/: another build of
   * it (app-process.ts loads one with MSM_TEST_PLUGIN_FROM, e.g. the previous
   * release for test/integration/rolling-deploy.test.ts).
   */
  plugin?: FastifyPluginAsync<MsmOptions>
}

/**
 * A Fastify app with the routes the integration tests share:
 * GET /count increments n, GET /read only reads, GET /ignored has
 * config.session=false, and a few routes drive the session API.
 */
export async function buildApp (options: TestAppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false })
  await app.register(cookie, options.secret === undefined ? {} : { secret: options.secret })
  await app.register(options.plugin ?? msm, options.msm)

  app.get('/count', async (request) => {
    const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
    request.session.set('n', n)
    return { n, id: request.session.id, served: options.name }
  })
  app.get('/whoami', async (request) => ({ served: options.name, id: request.session.id, n: request.session.get('n') ?? null }))
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
    const { keep } = (request.body ?? {}) as { keep?: string[] }
    await request.session.regenerate(keep)
    return { id: request.session.id }
  })
  app.get('/read-cart', async (request) => ({ cart: request.session.get('cart') ?? null }))
  app.post('/change-id', async (request) => {
    await request.session.changeSessionId()
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
  // For test/integration/rolling-deploy.test.ts, on this checkout and on the previous release alike:
  // every attribute as JSON, each Date (at any depth) as { $date: ISO text }, and its reverse
  app.get('/attributes', async (request) => taggedDates(Object.fromEntries(Object.keys(request.session).map((key) => [key, request.session.get(key)]))))
  app.post('/attributes', async (request) => {
    for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) request.session.set(key, untaggedDates(value) as never)
    return { id: request.session.id }
  })
  // The per-session lifetimes of the release after 0.1.0. /remember only on a release that has them:
  // on 0.1.0 (no such properties) the first assignment would store an attribute named maxInactiveInterval
  app.post('/remember', async (request) => {
    const { mii, cookieMaxAgeMs } = request.body as { mii?: number, cookieMaxAgeMs?: number }
    if (mii !== undefined) request.session.maxInactiveInterval = Number(mii)
    if (cookieMaxAgeMs !== undefined) request.session.cookie.maxAge = Number(cookieMaxAgeMs)
    return { id: request.session.id }
  })
  app.get('/lifetimes', async (request) => ({
    maxInactiveInterval: (request.session.maxInactiveInterval as number | undefined) ?? null,
    cookieMaxAge: request.session.cookie.maxAge
  }))
  return app
}

/** JSON for `value`, with each Date as { $date: ISO text }. */
function taggedDates (value: unknown): unknown {
  if (value instanceof Date) return { $date: value.toISOString() }
  if (Array.isArray(value)) return value.map(taggedDates)
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, taggedDates(entry)]))
  return value
}

/** The reverse of taggedDates. */
function untaggedDates (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(untaggedDates)
  if (typeof value !== 'object' || value === null) return value
  const entries = Object.entries(value)
  if (entries.length === 1 && entries[0]?.[0] === '$date') return new Date(entries[0][1] as string)
  return Object.fromEntries(entries.map(([key, entry]) => [key, untaggedDates(entry)]))
}

/**
 * Where a test app keeps its sessions: a cluster's node list, and on an
 * in-memory cluster (MemoryCluster) the seam its node clients talk through.
 */
export interface SessionNodes {
  spec: string
  seam?: object
}

/** The plugin's options for `cluster`: its nodes (and seam), then `options`. */
export function msmOptions (cluster: SessionNodes, options: Partial<MsmOptions> = {}): MsmOptions {
  return { nodes: cluster.spec, ...cluster.seam, ...options }
}

export interface StartAppExtra extends Partial<Omit<TestAppOptions, 'msm'>> {
  /** Builds the app instead of buildApp (a file with routes of its own). */
  build?: (options: TestAppOptions) => Promise<FastifyInstance>
}

export interface StartedApp {
  app: FastifyInstance
  base: string
  port: number
  client: CookieClient
}

/**
 * Builds a test app on `cluster`, adds it to `apps` (closed by the fixtures
 * after the test or file), listens, and gives it a cookie client.
 */
export async function startApp (cluster: SessionNodes, apps: FastifyInstance[], options: Partial<MsmOptions> = {}, extra: StartAppExtra = {}): Promise<StartedApp> {
  const { build = buildApp, ...rest } = extra
  const app = await build({ ...rest, msm: msmOptions(cluster, options) })
  apps.push(app)
  const base = await listen(app)
  return { app, base, port: Number(new URL(base).port), client: new CookieClient(base) }
}

/**
 * Starts a cluster of `nodes` (startCluster or startMemoryCluster) and an app
 * on it; both are stopped after the test by usePerTestCleanup's afterEach.
 */
export async function clusterWithApp<C extends SessionNodes & { stop: () => Promise<void> }> (
  resources: { clusters: Array<{ stop: () => Promise<void> }>, apps: FastifyInstance[] },
  startNodes: (count: number) => Promise<C>,
  nodes: number,
  options: Partial<MsmOptions> = {}
): Promise<StartedApp & { cluster: C }> {
  const cluster = await startNodes(nodes)
  resources.clusters.push(cluster)
  return { cluster, ...await startApp(cluster, resources.apps, options) }
}

/** Listens on a free loopback port and returns the base URL. */
export async function listen (app: FastifyInstance, port = 0): Promise<string> {
  return app.listen({ port, host: '127.0.0.1' })
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

/** The session cookie the client holds: the session id (signed, when the app has a secret). */
export function idOf (client: CookieClient): string {
  return client.cookies.get('sessionId') as string
}

/** The primary node a session id names: `abc-n1.app1` → `n1`. */
export function nodeOf (id: string): string {
  return (id.split('-')[1] as string).split('.')[0] as string
}

/** A new client whose session's primary is `nodeId` and whose counter is 1. */
export async function sessionOn (base: string, nodeId: string): Promise<CookieClient> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const client = new CookieClient(base)
    await client.get('/count')
    if (nodeOf(idOf(client)) === nodeId) return client
  }
  throw new Error(`no session landed on ${nodeId}`)
}

export async function waitFor (condition: () => boolean | Promise<boolean>, what: string, limitMs = 10_000): Promise<void> {
  // performance.now(): a test may have mocked Date (test/helpers/clock.ts)
  const deadline = performance.now() + limitMs
  while (!await condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** 'up' or 'down', as the app sees the node. */
export function nodeState (app: FastifyInstance, nodeId: string): string | undefined {
  return app.msm.stats().nodes.find((node) => node.id === nodeId)?.state
}

/** Until the app's backup queue (sticky mode, backupAsync) is written. */
export async function drained (app: FastifyInstance): Promise<void> {
  await waitFor(() => app.msm.stats().backupQueue === 0, 'the backup queue to drain')
}
