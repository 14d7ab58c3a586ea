// The node ring lets go of its memcached connections (lib/cluster/node-ring.ts):
// app.close() ends the connection to every configured node, so that nothing
// keeps the process alive or is sent afterwards. Tested on the in-memory
// memcached, through the plugin's transport seam, with every transport's
// end() recorded. And a ring given no transport factory (production) builds
// its nodes on the memcached client.
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import msm from '../../lib/index.js'
import { NodeRing } from '../../lib/cluster/node-ring.js'
import { kTransport, type MemcachedTransport, type TransportFactory } from '../../lib/memcached/transport.js'
import { startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'

const resources = usePerTestCleanup()

test('app.close() ends the connection to every node', async () => {
  const cluster = await startMemoryCluster(3)
  resources.clusters.push(cluster)
  const open = new Map<string, number>()
  const seam = cluster.seam[kTransport] as TransportFactory
  const factory: TransportFactory = (spec) => {
    const transport = seam(spec)
    open.set(spec.id, (open.get(spec.id) ?? 0) + 1)
    const end = (): void => {
      open.set(spec.id, (open.get(spec.id) ?? 0) - 1)
      transport.end()
    }
    return { ...transport, end } satisfies MemcachedTransport
  }
  const app = Fastify()
  await app.register(cookie)
  await app.register(msm, { nodes: cluster.spec, [kTransport]: factory } as never)
  app.get('/count', async (request) => {
    const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
    request.session.set('n', n)
    return { n }
  })
  await app.ready()
  assert.equal((await app.inject('/count')).statusCode, 200)
  assert.deepEqual([...open.keys()].sort(), ['n1', 'n2', 'n3'])
  assert.ok([...open.values()].every((count) => count > 0), 'connected')
  await app.close()
  assert.deepEqual(Object.fromEntries(open), { n1: 0, n2: 0, n3: 0 }, 'every connection ended')
})

test('a ring without a transport factory talks to memcached through the memcached client', () => {
  const ring = new NodeRing([{ id: 'n1', host: '127.0.0.1', port: 1 }], {
    operationTimeout: 100,
    nodeRetryInterval: 60_000,
    healthCheckInterval: 0,
    failoverNodes: [],
    onHealthChange: () => {}
  })
  try {
    assert.equal(ring.get('n1')?.address, '127.0.0.1:1')
    assert.equal(ring.isAvailable('n1'), true, 'up until an operation fails')
  } finally {
    ring.close()
  }
})
