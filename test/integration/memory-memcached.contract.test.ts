// The contract of the in-memory memcached (test/helpers/memory-memcached.ts):
// the same cases, through the same NodeClient, against a real memcached
// process and against the in-memory server. Unit tests may rely on the fake
// only for what this file checks.
import { after, describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { NodeClient } from '../../lib/memcached/node-client.js'
import { createMemcachedTransport } from '../../lib/memcached/memcached-transport.js'
import type { MemcachedTransport, ServerInstance } from '../../lib/memcached/transport.js'
import { type MemcachedNode, startCluster } from '../helpers/memcached.js'
import { MemoryMemcached } from '../helpers/memory-memcached.js'

const TIMEOUT_MS = 300
const THIRTY_DAYS = 60 * 60 * 24 * 30

/** One server under test, with the faults the integration tests inject. */
interface Server {
  client: () => NodeClient
  /** A bare transport of the seam, as NodeClient gets it. */
  transport: () => MemcachedTransport
  kill: () => Promise<void>
  /** Starts a killed server again, empty. */
  start: () => Promise<void>
  hang: () => Promise<void>
  resume: () => Promise<void>
  /** memcached's `stats` counters. */
  stats: () => Promise<Record<string, number>>
}

const cleanups: Array<() => Promise<void> | void> = []
after(async () => { for (const cleanup of cleanups) await cleanup() })

function track (client: NodeClient): NodeClient {
  cleanups.push(() => client.close())
  return client
}

function trackTransport (transport: MemcachedTransport): MemcachedTransport {
  cleanups.push(() => transport.end())
  return transport
}

/** One call of the seam, as a promise (a hung server: never settles; the tests below do not hang one). */
function call<T> (send: (done: (error: unknown, result?: T) => void) => void): Promise<T | undefined> {
  return new Promise((resolve, reject) => { send((error, result) => { if (error !== undefined && error !== null) reject(error); else resolve(result) }) })
}

/** Resolves with the first reason reported, or null when nothing is reported within `ms`. */
function lostWithin (transport: MemcachedTransport, ms: number): Promise<string | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms)
    transport.onConnectionLost((reason) => {
      clearTimeout(timer)
      resolve(reason)
    })
  })
}

async function realServer (): Promise<Server> {
  const cluster = await startCluster(1)
  cleanups.push(() => cluster.stop())
  const node = cluster.nodes[0] as MemcachedNode
  return {
    client: () => track(new NodeClient({ id: 'n1', host: node.host, port: node.port }, TIMEOUT_MS)),
    transport: () => trackTransport(createMemcachedTransport(`${node.host}:${node.port}`, TIMEOUT_MS)),
    kill: () => node.kill(),
    start: () => node.start(),
    hang: () => node.suspend(),
    resume: async () => { node.signal('SIGCONT') },
    stats: () => node.stats()
  }
}

async function memoryServer (): Promise<Server> {
  const server = new MemoryMemcached()
  return {
    client: () => track(new NodeClient({ id: 'n1', host: 'memory', port: 1 }, TIMEOUT_MS, () => {}, server.transport())),
    transport: () => trackTransport(server.transport()),
    kill: async () => { server.kill() },
    start: async () => { server.restart() },
    hang: async () => { server.hang() },
    resume: async () => { server.resume() },
    stats: async () => server.stats()
  }
}

/** Probes a node marked down until it answers again (5 s at most). */
async function probedBack (node: NodeClient): Promise<boolean> {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (await node.probe()) return true
    await sleep(100)
  }
  return false
}

let sequence = 0
const key = (): string => `contract:${process.pid}:${++sequence}`

for (const [kind, makeServer] of [['real memcached', realServer], ['in-memory memcached', memoryServer]] as const) {
  describe(`contract: ${kind}`, () => {
    test('get, set, add, replace, touch, delete and their NOT_STORED / NOT_FOUND answers', async () => {
      const node = (await makeServer()).client()
      const k = key()
      assert.equal(await node.get(k), undefined)
      assert.equal(await node.touch(k, 60), false, 'touch of a missing key')
      assert.equal(await node.delete(k), false, 'delete of a missing key')
      assert.equal(await node.replace(k, 'r', 60), false, 'replace of a missing key')
      assert.equal(await node.get(k), undefined, 'a refused replace stores nothing')
      assert.equal(await node.add(k, 'a', 60), true)
      assert.equal(await node.add(k, 'b', 60), false, 'add of an existing key')
      assert.equal(await node.get(k), 'a')
      assert.equal(await node.replace(k, 'c', 60), true)
      assert.equal(await node.get(k), 'c')
      await node.set(k, 'd', 60)
      assert.equal(await node.get(k), 'd')
      assert.equal(await node.touch(k, 60), true)
      assert.equal(await node.delete(k), true)
      assert.equal(await node.get(k), undefined)
      assert.equal(node.isUp, true)
    })

    test('stats count as memcached does: add and replace in cmd_set, stored or not; hits and misses of get, touch and delete', async () => {
      const server = await makeServer()
      const node = server.client()
      const [k, missing] = [key(), key()]
      const names = ['cmd_get', 'cmd_set', 'cmd_touch', 'get_hits', 'get_misses', 'touch_hits', 'touch_misses', 'delete_hits', 'delete_misses', 'curr_items']
      const read = async (): Promise<Record<string, number>> => {
        const stats = await server.stats()
        return Object.fromEntries(names.map((name) => [name, stats[name] ?? 0]))
      }
      const before = await read()
      await node.set(k, 'v', 60)
      await node.add(k, 'w', 60) // NOT_STORED
      await node.add(missing, 'w', 60)
      await node.replace(k, 'x', 60)
      await node.replace(key(), 'x', 60) // NOT_STORED
      await node.get(k)
      await node.get(key())
      await node.touch(k, 60)
      await node.touch(key(), 60)
      await node.delete(missing)
      await node.delete(key())
      const after = await read()
      const delta = Object.fromEntries(names.map((name) => [name, (after[name] as number) - (before[name] as number)]))
      assert.deepEqual(delta, {
        cmd_get: 2,
        cmd_set: 5,
        cmd_touch: 2,
        get_hits: 1,
        get_misses: 1,
        touch_hits: 1,
        touch_misses: 1,
        delete_hits: 1,
        delete_misses: 1,
        curr_items: 1
      })
    })

    test('expiry in whole seconds, negative lifetimes, and lifetimes over 30 days as unix times', async () => {
      const node = (await makeServer()).client()
      const [twoSeconds, touched, negative, pastAbsolute, futureAbsolute] = [key(), key(), key(), key(), key()]
      await node.set(twoSeconds, 'x', 2)
      await node.set(touched, 'x', 1)
      await node.set(negative, 'x', -1)
      await node.set(pastAbsolute, 'x', THIRTY_DAYS + 1)
      await node.set(futureAbsolute, 'x', Math.floor(Date.now() / 1000) + 100)
      assert.equal(await node.get(negative), undefined, 'a negative lifetime expires at once')
      assert.equal(await node.get(pastAbsolute), undefined, 'over 30 days is a unix time, here in 1970')
      assert.equal(await node.get(futureAbsolute), 'x', 'a unix time in the future')
      assert.equal(await node.touch(touched, 10), true)
      await sleep(900)
      assert.equal(await node.get(twoSeconds), 'x', 'a lifetime of N s lasts at least N - 1 s')
      await sleep(1300)
      assert.equal(await node.get(twoSeconds), undefined, 'and at most N s')
      assert.equal(await node.get(touched), 'x', 'touch replaced the lifetime')
    })

    test('health check: stats names the running instance, the same until the server restarts', async () => {
      const server = await makeServer()
      const transport = server.transport()
      const first = await call<ServerInstance | null>((done) => transport.instance(done))
      assert.ok(first !== null && first !== undefined && Number.isSafeInteger(first.pid) && first.pid > 0, JSON.stringify(first))
      assert.ok(Math.abs(first.startedAt - Date.now() / 1000) < 3600, 'startedAt is a unix time in seconds, a moment ago')
      assert.deepEqual(await call((done) => transport.instance(done)), first, 'the same instance answers again')
      await server.kill()
      await server.start()
      const fresh = server.transport()
      const second = await call<ServerInstance | null>((done) => fresh.instance(done))
      assert.notDeepEqual(second, first, 'a restarted server is another instance')
    })

    test('connection loss: a killed server is reported by a transport that had a connection, never after end()', async () => {
      const server = await makeServer()
      const [watching, ended] = [server.transport(), server.transport()]
      await call((done) => watching.get(key(), done))
      await call((done) => ended.get(key(), done))
      ended.end()
      const endedReport = lostWithin(ended, 500)
      const report = lostWithin(watching, 2000)
      await server.kill()
      assert.equal(typeof await report, 'string', 'reported')
      assert.equal(await endedReport, null, 'an ended transport reports nothing')
      const refused = lostWithin(watching, 2000)
      await assert.rejects(call((done) => watching.get(key(), done)))
      assert.equal(typeof await refused, 'string', 'a refused connection is reported too')
    })

    test('killed while idle: the connection report marks the node down before any command fails (detected by connection)', async () => {
      const server = await makeServer()
      const node = server.client()
      assert.equal(await node.check(), true)
      const errorsBefore = node.counts.errors + node.counts.timeouts
      await server.kill()
      for (let i = 0; i < 100 && node.isUp; i++) await sleep(20)
      assert.equal(node.isUp, false, 'marked down without a command of its own')
      assert.equal(node.health.lastChange?.detectedBy, 'connection')
      assert.equal(node.counts.get + node.counts.set, 0, 'no get or set was sent')
      assert.ok(node.counts.errors + node.counts.timeouts > errorsBefore, 'the check sent on the report failed')
    })

    test('restarted: back as another instance, counted as a restart, and empty', async () => {
      const server = await makeServer()
      const node = server.client()
      const k = key()
      await node.set(k, 'v', 60)
      assert.equal(await node.check(), true)
      await server.kill()
      await server.start()
      assert.equal(await probedBack(node), true)
      // Up again after the report marked it down, or still up if the check sent on the report met the new process
      assert.ok(['up', 'restarted'].includes(node.health.lastChange?.kind as string), node.health.lastChange?.kind)
      assert.equal(node.health.lastChange?.detectedBy, 'restart')
      assert.equal(node.health.restarts, 1)
      assert.equal(await node.get(k), undefined)
    })

    test('hung: the health check times out and marks the node down (detected by the health check)', async () => {
      const server = await makeServer()
      const node = server.client()
      assert.equal(await node.check(), true)
      await server.hang()
      assert.equal(await node.check(), false)
      assert.equal(node.isUp, false)
      assert.equal(node.health.lastChange?.detectedBy, 'health-check')
      await server.resume()
      assert.equal(await probedBack(node), true)
      assert.equal(node.health.lastChange?.detectedBy, 'probe', 'the same instance: not a restart')
      assert.equal(node.health.restarts, 0)
    })

    test('killed: the command fails, the node is marked down and fails fast; started again, it is empty', async () => {
      const server = await makeServer()
      const node = server.client()
      const k = key()
      await node.set(k, 'v', 60)
      await server.kill()
      // The command fails, or the connection report marked the node down first
      await assert.rejects(node.get(k), (error: { code: string }) => ['FST_MSM_NODE_ERROR', 'FST_MSM_OPERATION_TIMEOUT', 'FST_MSM_NODE_DOWN'].includes(error.code))
      assert.equal(node.isUp, false)
      await assert.rejects(node.get(k), { code: 'FST_MSM_NODE_DOWN' })
      assert.equal(await node.probe(), false, 'a dead node does not answer the probe')
      await server.start()
      assert.equal(await probedBack(node), true, 'the probe brings the node back')
      assert.equal(await node.get(k), undefined, 'a restarted node is empty')
    })

    test('hung: the command times out and marks the node down; after resuming it answers with its data', async () => {
      const server = await makeServer()
      const node = server.client()
      const k = key()
      await node.set(k, 'kept', 60)
      await server.hang()
      await assert.rejects(node.get(k), { code: 'FST_MSM_OPERATION_TIMEOUT' })
      assert.equal(node.isUp, false)
      await server.resume()
      assert.equal(await probedBack(node), true)
      assert.equal(await node.get(k), 'kept')
    })
  })
}
