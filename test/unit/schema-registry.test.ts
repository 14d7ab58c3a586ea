// The schema registry (lib/store/schema-registry.ts) on its own, over a node
// ring of in-memory servers: its own schema needs no lookup; an unknown
// fingerprint is looked up on every node in turn, past a node that fails, and
// a miss is remembered for 5 s (mocked clock) so that a burst of unreadable
// values costs one lookup; publishing to one node touches only that node; the
// periodic re-publication puts the schema back on a node that restarted empty,
// and stops with close(). Written for mutants that survived the rest of the
// suite (test/mutation/REPORT.md).
import { afterEach, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { NodeRing } from '../../lib/cluster/node-ring.js'
import { StoreEvents } from '../../lib/events/store-events.js'
import { SchemaRegistry } from '../../lib/store/schema-registry.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { createCounters } from '../../lib/stats/counters.js'
import { schemaKey } from '../../lib/memcached/keys.js'
import { MemoryMemcached } from '../helpers/memory-memcached.js'
import { mockedClock } from '../helpers/clock.js'
import { waitFor } from '../helpers/app.js'

const closers: Array<() => void> = []
afterEach(() => { for (const close of closers.splice(0)) close() })

const ours = new AvroSessionCodec()
const theirs = new AvroSessionCodec({ type: 'record', name: 'Other', fields: [{ name: 'n', type: 'int', default: 0 }] })

function setup (count: number, nodeRetryInterval = 60_000): { registry: SchemaRegistry, ring: NodeRing, servers: MemoryMemcached[], counters: ReturnType<typeof createCounters>, warnings: string[] } {
  const servers = Array.from({ length: count }, () => new MemoryMemcached())
  const ring = new NodeRing(servers.map((_, i) => ({ id: `n${i + 1}`, host: '127.0.0.1', port: 21_000 + i })), {
    operationTimeout: 200,
    nodeRetryInterval: 60_000,
    healthCheckInterval: 0,
    failoverNodes: [],
    onHealthChange: () => {},
    createTransport: (spec) => (servers[Number(spec.id.slice(1)) - 1] as MemoryMemcached).transport()
  })
  const counters = createCounters()
  const warnings: string[] = []
  const registry = new SchemaRegistry(ring, ours, new StoreEvents(counters), { warn: (_details, message) => { warnings.push(message) } }, nodeRetryInterval)
  closers.push(() => { registry.close(); ring.close() })
  return { registry, ring, servers, counters, warnings }
}

/** A value stored as another process would store it (counted as a set). */
async function put (server: MemoryMemcached | undefined, key: string, value: string): Promise<void> {
  await new Promise<void>((resolve, reject) => { (server as MemoryMemcached).transport().set(key, value, 0, (error) => { if (error === undefined) resolve(); else reject(error) }) })
}

const gets = (servers: MemoryMemcached[]): number[] => servers.map((server) => server.stats().cmd_get)

test('its own schema is known without asking any node', async () => {
  const { registry, servers } = setup(2)
  assert.equal(await registry.writerType(ours.fingerprintHex), ours.type)
  assert.deepEqual(gets(servers), [0, 0])
})

test('an unknown schema is asked of each node once; the miss is remembered for 5 s, then asked again', async (t) => {
  const advance = mockedClock(t)
  const { registry, servers } = setup(2)
  const decoded = await registry.decodeWithWriter(theirs.fingerprintHex, Buffer.alloc(0))
  assert.deepEqual(decoded, { ok: false, reason: `writer schema ${theirs.fingerprintHex} is not known and not published on any node` })
  assert.deepEqual(gets(servers), [1, 1])
  assert.equal(await registry.writerType(theirs.fingerprintHex), null)
  await advance(4900)
  assert.equal(await registry.writerType(theirs.fingerprintHex), null)
  assert.deepEqual(gets(servers), [1, 1], 'not asked again within 5 s')
  await advance(200)
  await put(servers[1], schemaKey(theirs.fingerprintHex), theirs.schemaText)
  assert.notEqual(await registry.writerType(theirs.fingerprintHex), null, 'found once it is published')
  assert.deepEqual(gets(servers), [2, 2])
})

test('a node that fails the lookup is passed over for the next one', async () => {
  const { registry, servers, counters } = setup(2)
  await put(servers[1], schemaKey(theirs.fingerprintHex), theirs.schemaText)
  servers[0]?.kill()
  const type = await registry.writerType(theirs.fingerprintHex)
  assert.notEqual(type, null)
  assert.equal(counters.schemasFetched, 1)
})

test('a schema text of exactly 256 KiB is read; one character more is not', async () => {
  for (const [extra, found] of [[0, true], [1, false]] as const) {
    const { registry, servers } = setup(1)
    const text = theirs.schemaText + ' '.repeat(256 * 1024 - theirs.schemaText.length + extra)
    await put(servers[0], schemaKey(theirs.fingerprintHex), text)
    assert.equal(await registry.writerType(theirs.fingerprintHex) !== null, found, `${text.length} characters`)
  }
})

test('publishing to one node adds the schema there only', async () => {
  const { registry, ring, servers, counters } = setup(3)
  await registry.publish()
  assert.equal(counters.schemasPublished, 3 * 2, 'on 3 nodes, this release\'s record and 0.1.0\'s')
  servers[1]?.restart()
  const setsBefore = servers.map((server) => server.stats().cmd_set)
  await registry.publish(ring.get('n2'))
  assert.equal(servers[1]?.peek(schemaKey(ours.fingerprintHex)), ours.schemaText)
  assert.deepEqual(servers.map((server, i) => server.stats().cmd_set - (setsBefore[i] as number)), [0, 2, 0])
  assert.equal(counters.schemasPublished, 6 + 2)
})

test('the schema is published again every 60 nodeRetryIntervals, until close()', async () => {
  const { registry, servers } = setup(1, 5)
  await registry.publish()
  servers[0]?.restart()
  await waitFor(() => servers[0]?.peek(schemaKey(ours.fingerprintHex)) !== undefined, 'the periodic re-publication', 3000)
  registry.close()
  servers[0]?.restart()
  await new Promise((resolve) => setTimeout(resolve, 800))
  assert.equal(servers[0]?.peek(schemaKey(ours.fingerprintHex)), undefined, 'closed: not published again')
})
