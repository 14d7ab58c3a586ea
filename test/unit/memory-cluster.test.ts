// The test seam itself: a MemoryCluster stands in for memcached processes, and
// the plugin's node clients, given cluster.seam, open no socket.
import { after, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { startMemoryCluster } from '../helpers/memory-memcached.js'
import { buildApp, msmOptions } from '../helpers/app.js'

const apps: FastifyInstance[] = []
after(async () => { await Promise.all(apps.map((app) => app.close())) })

test("with cluster.seam the plugin's node clients open no socket: every command reaches the in-memory servers", async () => {
  const cluster = await startMemoryCluster(2)
  const connect = Socket.prototype.connect
  let connections = 0
  Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
    connections++
    return (connect as (...a: unknown[]) => Socket).apply(this, args)
  } as typeof connect
  try {
    const app = await buildApp({ msm: msmOptions(cluster) })
    apps.push(app)
    const created = await app.inject({ url: '/count' })
    const cookie = created.cookies.find((candidate) => candidate.name === 'sessionId')
    assert.ok(cookie !== undefined)
    const next = await app.inject({ url: '/count', headers: { cookie: `sessionId=${cookie.value}` } })
    assert.equal(next.json().n, 2)
  } finally {
    Socket.prototype.connect = connect
  }
  assert.equal(connections, 0, 'no connection opened')
  const ops = await cluster.operations()
  assert.equal(ops.get, 1)
  assert.equal(ops.set, 4 + 2 * 2, 'two writes of two copies, and both schemas written (this release\'s record and 0.1.0\'s) published on each node with add')
})

test("MemoryCluster mirrors MemcachedCluster's node faults: killed nodes refuse, restarted ones are empty, hung ones wait", async () => {
  const cluster = await startMemoryCluster(3)
  assert.equal(cluster.spec, 'n1:memory:1 n2:memory:2 n3:memory:3')
  const n1 = cluster.node('n1')
  await n1.set('k', 'v', 60)
  assert.equal(await n1.get('k'), 'v')
  assert.equal((await n1.stats()).curr_items, 1)
  assert.equal(await cluster.total('cmd_get'), 1, 'a raw get counts, as over TCP')
  await n1.kill()
  await assert.rejects(n1.stats(), /ECONNREFUSED/)
  await assert.rejects(cluster.total('curr_items'), /ECONNREFUSED/)
  await n1.start()
  assert.equal(await n1.get('k'), undefined, 'started again, empty')
  const n2 = cluster.node('n2')
  await n2.set('k', 'kept')
  await n2.suspend()
  const waiting = n2.get('k')
  n2.signal('SIGCONT')
  assert.equal(await waiting, 'kept', 'answered after SIGCONT, with its data')
  assert.equal(await n2.command('delete k\r\n', /\r\n$/), 'DELETED\r\n')
  await cluster.node('n3').stop()
  assert.equal(cluster.node('n3').stopped, true)
  assert.equal(await cluster.total('curr_items'), 0, 'stopped nodes are left out')
  await cluster.stop()
})
