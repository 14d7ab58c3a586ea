// The timing rules of the schema registry (lib/store/schema-registry.ts), over
// a node ring of in-memory servers with mocked timers: this process's schema
// is checked again and re-published on a node that lost it every 60
// nodeRetryIntervals (docs/serialization.md), not more often; and a writer
// schema that no node had is looked up again once its 5 s miss memory has
// passed. schema-registry.test.ts covers the rest of the registry.
import { afterEach, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { NodeRing } from '../../lib/cluster/node-ring.js'
import { StoreEvents } from '../../lib/events/store-events.js'
import { SchemaRegistry } from '../../lib/store/schema-registry.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { createCounters } from '../../lib/stats/counters.js'
import { schemaKey } from '../../lib/memcached/keys.js'
import { MemoryMemcached } from '../helpers/memory-memcached.js'

const closers: Array<() => void> = []
afterEach(() => { for (const close of closers.splice(0)) close() })

const ours = new AvroSessionCodec()
const theirs = new AvroSessionCodec({ type: 'record', name: 'Later', fields: [{ name: 'k', type: 'string', default: '' }] })

function setup (nodeRetryInterval: number): { registry: SchemaRegistry, server: MemoryMemcached } {
  const server = new MemoryMemcached()
  const ring = new NodeRing([{ id: 'n1', host: '127.0.0.1', port: 21_100 }], {
    operationTimeout: 200,
    nodeRetryInterval,
    healthCheckInterval: 0,
    failoverNodes: [],
    onHealthChange: () => {},
    createTransport: () => server.transport()
  })
  const registry = new SchemaRegistry(ring, ours, new StoreEvents(createCounters()), { warn: () => {} }, nodeRetryInterval)
  closers.push(() => { registry.close(); ring.close() })
  return { registry, server }
}

/** Lets the in-memory server answer (it answers on setImmediate, which is not mocked). */
async function settle (): Promise<void> {
  for (let i = 0; i < 5; i++) await nextTurn()
}

test('a node that lost the schema gets it again after 60 nodeRetryIntervals, not before', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] })
  const { registry, server } = setup(1000)
  await registry.publish()
  server.restart()
  t.mock.timers.tick(59_999)
  await settle()
  assert.equal(server.peek(schemaKey(ours.fingerprintHex)), undefined, 'not yet: the check runs every 60 s')
  t.mock.timers.tick(1)
  await settle()
  assert.equal(server.peek(schemaKey(ours.fingerprintHex)), ours.schemaText, 'published again at 60 s')
})

test('an unknown writer schema is looked up again once 5 s have passed since no node had it', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
  const { registry, server } = setup(60_000)
  assert.equal(await registry.writerType(theirs.fingerprintHex), null)
  // Published meanwhile by a newer app version
  await new Promise<void>((resolve, reject) => {
    server.transport().set(schemaKey(theirs.fingerprintHex), theirs.schemaText, 0, (error) => { if (error === undefined) resolve(); else reject(error) })
  })
  t.mock.timers.tick(4999)
  assert.equal(await registry.writerType(theirs.fingerprintHex), null, 'still remembered as missing')
  t.mock.timers.tick(1)
  assert.notEqual(await registry.writerType(theirs.fingerprintHex), null, 'looked up again at 5 s, and found')
})
