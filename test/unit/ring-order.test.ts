// The order in which the node ring offers nodes (lib/cluster/node-ring.ts),
// tested on the ring itself over in-memory servers: the store writes a backup
// to the first successor that takes it, reads backup copies from all of them
// and relocates to the first, so the whole list matters, not only its head.
// Regular nodes come first in configured order after the primary, wrapping
// around, then failover nodes; no node twice, never the primary itself; new
// sessions go to failover nodes only when no regular node is up. Written for
// mutants that survived the rest of the suite (test/mutation/REPORT.md).
import { test, afterEach } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { NodeRing } from '../../lib/cluster/node-ring.js'
import { MemoryMemcached } from '../helpers/memory-memcached.js'

let rings: NodeRing[] = []
afterEach(() => {
  for (const ring of rings) ring.close()
  rings = []
})

/** A ring over in-memory servers n1..n<count>, and a way to take a node down as the ring sees it. */
function ring (count: number, failoverNodes: string[] = []): { ring: NodeRing, down: (...ids: string[]) => Promise<void> } {
  const servers = new Map(Array.from({ length: count }, (_, i) => [`n${i + 1}`, new MemoryMemcached()]))
  const specs = [...servers.keys()].map((id, i) => ({ id, host: '127.0.0.1', port: 20_000 + i }))
  const created = new NodeRing(specs, {
    operationTimeout: 200,
    nodeRetryInterval: 60_000,
    healthCheckInterval: 0,
    failoverNodes,
    onHealthChange: () => {},
    createTransport: (spec) => (servers.get(spec.id) as MemoryMemcached).transport()
  })
  rings.push(created)
  const down = async (...ids: string[]): Promise<void> => {
    for (const id of ids) {
      servers.get(id)?.kill()
      await created.get(id)?.get('probe').catch(() => {})
      assert.equal(created.isAvailable(id), false, `${id} is down`)
    }
  }
  return { ring: created, down }
}

const ids = (nodes: ReadonlyArray<{ id: string }>): string[] => nodes.map((node) => node.id)

test('successors: every other node once, in configured order after the primary, wrapping around', () => {
  const { ring: r } = ring(4)
  assert.deepEqual(ids(r.successors('n1')), ['n2', 'n3', 'n4'])
  assert.deepEqual(ids(r.successors('n3')), ['n4', 'n1', 'n2'])
  assert.deepEqual(ids(r.successors('n4')), ['n1', 'n2', 'n3'])
})

test('successors: failover nodes after every regular node, each once', () => {
  const { ring: r } = ring(4, ['n2'])
  assert.deepEqual(ids(r.successors('n1')), ['n3', 'n4', 'n2'])
  assert.deepEqual(ids(r.successors('n3')), ['n4', 'n1', 'n2'])
  assert.equal(r.backupOf('n1')?.id, 'n3')
  assert.equal(r.relocationTarget('n4')?.id, 'n1')
})

test('successors of a primary on a failover node: the regular nodes, then the other failover nodes', () => {
  const { ring: r } = ring(4, ['n2', 'n4'])
  assert.deepEqual(ids(r.successors('n2')), ['n3', 'n1', 'n4'])
})

test('successors of an id the ring does not know (a removed node): every node once, in order', () => {
  const { ring: r } = ring(3, ['n1'])
  assert.deepEqual(ids(r.successors('n9')), ['n2', 'n3', 'n1'])
})

test('successors leave out nodes that are down', async () => {
  const { ring: r, down } = ring(4, ['n4'])
  await down('n2')
  assert.deepEqual(ids(r.successors('n1')), ['n3', 'n4'])
  await down('n3')
  assert.deepEqual(ids(r.successors('n1')), ['n4'], 'only the failover node is left')
  assert.equal(r.backupOf('n1')?.id, 'n4')
})

test('a new session goes to a regular node while one is up, else to a failover node, else nowhere', async () => {
  const { ring: r, down } = ring(3, ['n3'])
  for (let i = 0; i < 30; i++) assert.notEqual(r.pickPrimary()?.id, 'n3')
  await down('n1')
  for (let i = 0; i < 10; i++) assert.equal(r.pickPrimary()?.id, 'n2')
  await down('n2')
  assert.equal(r.pickPrimary()?.id, 'n3', 'every regular node is down: the failover node')
  await down('n3')
  assert.equal(r.pickPrimary(), undefined)
})
