// The floor: what a session read or write costs with nothing but the
// `memcached` client fastify-msm uses, with the options fastify-msm gives it
// (one client per node, clientOptions(operationTimeout)). Each session is a
// string of the length fastify-msm stores for the benchmark's session (its
// Avro bytes as base64 text), on a primary node with a copy on the next.
//   POST /login  stores a value, sets cookie floor=<id>-<node index>
//   GET  /read   1 get
//   GET  /write  a get, then a set on the primary and a set on the other node, in parallel
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import Memcached from 'memcached'
import { clientOptions } from '../lib/memcached/memcached-transport.js'
import { USER_ID } from './payload.js'

/** fastify-msm's default operationTimeout (ms). */
const OPERATION_TIMEOUT = 1000
const LIFETIME_S = 3600
const COOKIE = 'floor'

export interface FloorClients {
  clients: Memcached[]
  get: (node: number, key: string) => Promise<unknown>
  set: (node: number, key: string, value: string) => Promise<void>
  end: () => void
}

/** One client per node of `nodes` ('n1:host:port n2:host:port'), as fastify-msm creates them. */
export function floorClients (nodes: string): FloorClients {
  const clients = nodes.split(' ').map((node) => new Memcached(node.split(':').slice(1).join(':'), clientOptions(OPERATION_TIMEOUT)))
  const client = (node: number): Memcached => clients[node] as Memcached
  return {
    clients,
    get: (node, key) => new Promise((resolve, reject) => client(node).get(key, (error, value) => { if (error) reject(error); else resolve(value) })),
    set: (node, key, value) => new Promise((resolve, reject) => client(node).set(key, value, LIFETIME_S, (error) => { if (error) reject(error); else resolve() })),
    end: () => { for (const each of clients) each.end() }
  }
}

/** Base64 text of `length` characters, the kind of value fastify-msm stores. */
function base64Text (length: number): string {
  return randomBytes(Math.ceil((length * 3) / 4) + 3).toString('base64').slice(0, length)
}

/** The session's primary node and key from its cookie, or null. */
function locate (request: FastifyRequest, nodeCount: number): { node: number, key: string } | null {
  const match = /^([0-9a-f]{32})-(\d+)$/.exec(request.cookies[COOKIE] ?? '')
  if (match === null) return null
  const node = Number(match[2])
  return node < nodeCount ? { node, key: match[1] as string } : null
}

/** Registers the floor's routes; `valueLength` is the length of fastify-msm's stored session. */
export function registerFloor (app: FastifyInstance, nodes: string, valueLength: number): void {
  const store = floorClients(nodes)
  const count = store.clients.length
  const value = base64Text(valueLength)
  const backup = (node: number): number => (node + 1) % count
  let logins = 0
  app.addHook('onClose', async () => store.end())

  app.post('/login', async (_request, reply) => {
    const key = randomBytes(16).toString('hex')
    const node = logins++ % count
    await Promise.all([store.set(node, key, value), store.set(backup(node), `bak:${key}`, value)])
    reply.setCookie(COOKIE, `${key}-${node}`, { path: '/', httpOnly: true })
    return 'ok'
  })

  async function load (request: FastifyRequest, reply: FastifyReply): Promise<{ node: number, key: string, value: string } | null> {
    const where = locate(request, count)
    const stored = where === null ? undefined : await store.get(where.node, where.key)
    if (where === null || typeof stored !== 'string' || stored.length !== valueLength) {
      reply.code(500)
      return null
    }
    return { ...where, value: stored }
  }

  app.get('/read', async (request, reply) => {
    const session = await load(request, reply)
    return session === null ? { error: 'no session' } : { user: USER_ID }
  })

  app.get('/write', async (request, reply) => {
    const session = await load(request, reply)
    if (session === null) return { error: 'no session' }
    await Promise.all([store.set(session.node, session.key, session.value), store.set(backup(session.node), `bak:${session.key}`, session.value)])
    return { ok: true }
  })
}
