// The contract of the in-memory memcached (test/helpers/memory-memcached.ts):
// the same cases, through the same NodeClient, against a real memcached
// process and against the in-memory server. Unit tests may rely on the fake
// only for what this file checks.
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { NodeClient } from '../../lib/memcached/node-client.js'
import { type MemcachedNode, startCluster } from '../helpers/memcached.js'
import { MemoryMemcached } from '../helpers/memory-memcached.js'

const TIMEOUT_MS = 300
const THIRTY_DAYS = 60 * 60 * 24 * 30

/** One server under test, with the faults the integration tests inject. */
interface Server {
  client: () => NodeClient
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

async function realServer (): Promise<Server> {
  const cluster = await startCluster(1)
  cleanups.push(() => cluster.stop())
  const node = cluster.nodes[0] as MemcachedNode
  return {
    client: () => track(new NodeClient({ id: 'n1', host: node.host, port: node.port }, TIMEOUT_MS)),
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

    test('killed: the command fails, the node is marked down and fails fast; started again, it is empty', async () => {
      const server = await makeServer()
      const node = server.client()
      const k = key()
      await node.set(k, 'v', 60)
      await server.kill()
      await assert.rejects(node.get(k), (error: { code: string }) => ['FST_MSM_NODE_ERROR', 'FST_MSM_OPERATION_TIMEOUT'].includes(error.code))
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
