// When a failed operation marks its node down, and when it does not: the
// rules of NodeClient's health, on the in-memory memcached (its hang, kill and
// restart are checked against a real memcached by the contract test).
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { NodeClient } from '../../lib/memcached/node-client.js'
import type { MemcachedTransport } from '../../lib/memcached/transport.js'
import { MemoryMemcached } from '../helpers/memory-memcached.js'

const TIMEOUT_MS = 100

function client (server: MemoryMemcached): NodeClient {
  return new NodeClient({ id: 'n1', host: 'memory', port: 1 }, TIMEOUT_MS, () => {}, server.transport())
}

test('a command lost with a process that restarted since does not mark the new process down', async (t) => {
  const server = new MemoryMemcached()
  const node = client(server)
  t.after(() => { node.close() })
  assert.equal(await node.check(), true, 'the first instance is known')
  server.hang()
  const lost = node.get('k')
  // Later than the get, in whole milliseconds, as a real restart is (its check waits 20 ms)
  await new Promise((resolve) => setTimeout(resolve, 5))
  // The hung process is killed and a new one started: the get sent to the old one never answers
  server.kill({ unnoticed: true })
  server.restart()
  assert.equal(await node.check(), true)
  assert.equal(node.health.lastChange?.kind, 'restarted')
  await assert.rejects(lost, { code: 'FST_MSM_OPERATION_TIMEOUT' })
  assert.equal(node.isUp, true, 'still up: the timeout belongs to the old process')
  assert.equal(await node.get('k'), undefined, 'and the new one answers')
})

test('a command that times out on a node that answered something after it was sent, then hung, marks the node down', async (t) => {
  const server = new MemoryMemcached()
  const inner = server.transport()
  // The answer to `slow` arrives 5 ms late: after `stuck` below was sent
  const transport: MemcachedTransport = { ...inner, get: (key, done) => { inner.get(key, (error, value) => { setTimeout(() => done(error, value), key === 'slow' ? 5 : 0) }) } }
  const node = new NodeClient({ id: 'n1', host: 'memory', port: 1 }, TIMEOUT_MS, () => {}, transport)
  t.after(() => { node.close() })
  assert.equal(await node.check(), true)
  const slow = node.get('slow')
  server.hang()
  const stuck = node.get('stuck')
  assert.equal(await slow, undefined, 'answered after `stuck` was sent')
  await assert.rejects(stuck, { code: 'FST_MSM_OPERATION_TIMEOUT' })
  assert.equal(node.isUp, false, 'down: the node hung, no restart was noticed')
  assert.equal(node.health.lastChange?.detectedBy, 'operation')
})
