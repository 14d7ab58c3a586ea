import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { type MemcachedCluster, operationsDuring, startCluster } from '../helpers/memcached.js'
import { useClusterPerTest } from '../helpers/fixtures.js'
import { buildApp, CookieClient, idOf, listen, msmOptions, startApp } from '../helpers/app.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { allAttributes } from '../helpers/attributes.js'

// The plugin's logic is tested on the in-memory memcached (test/unit/core.seam.test.ts);
// these tests look at what real memcached holds.
const codec = new AvroSessionCodec()
let cluster: MemcachedCluster
const apps = useClusterPerTest(3, (started) => { cluster = started }, startCluster)
const delta = <T>(action: () => Promise<T>): ReturnType<typeof operationsDuring<T>> => operationsDuring(cluster, action)

describe('storage layout', () => {
  test('the primary is named in the id and the backup is the next node, wrapping around', async () => {
    const { client } = await startApp(cluster, apps, { prefix: 'app1:' })
    const seen = new Set<string>()
    for (let attempt = 0; attempt < 60 && seen.size < 3; attempt++) {
      client.cookies.clear()
      await client.get('/count')
      const id = idOf(client)
      const primaryId = id.split('-')[1] as string
      seen.add(primaryId)
      const order = ['n1', 'n2', 'n3']
      const backupId = order[(order.indexOf(primaryId) + 1) % 3] as string
      const onPrimary = await cluster.node(primaryId).get(`app1:${id}`)
      const onBackup = await cluster.node(backupId).get(`bak:app1:${id}`)
      assert.ok(onPrimary !== undefined, 'primary copy')
      assert.equal(onBackup, onPrimary, 'backup copy is byte-identical')
      const third = order.find((node) => node !== primaryId && node !== backupId) as string
      assert.equal(await cluster.node(third).get(`app1:${id}`), undefined)
      assert.equal(await cluster.node(third).get(`bak:app1:${id}`), undefined)
      const decoded = codec.decodeValue(onPrimary)
      assert.ok(decoded.ok === true)
      assert.equal(decoded.session.meta.id, id)
      assert.deepEqual(allAttributes(decoded.session.attributes), { n: 1 })
    }
    assert.equal(seen.size, 3, 'new sessions are spread over every node')
  })
})

describe('limits', () => {
  test('an oversized session gives a coded error and leaves the stored session and the node intact', async () => {
    const { app, client } = await startApp(cluster, apps, { maxSessionSize: 4096 })
    await client.get('/count')
    const stored = await cluster.total('curr_items')
    const response = await client.get('/big?size=10000')
    assert.equal(response.status, 500)
    assert.equal(response.body.code, 'FST_MSM_SESSION_TOO_LARGE')
    assert.deepEqual(client.lastSetCookie, [])
    assert.equal((await client.get('/read')).body.n, 1)
    assert.equal(await cluster.total('curr_items'), stored)
    assert.equal((await client.get('/count')).body.n, 2, 'the node still serves')
    const stats = app.msm.stats()
    assert.equal(stats.oversized, 1)
    assert.deepEqual(stats.nodes.map((node) => node.errors + node.timeouts), [0, 0, 0])
  })

  test('a value the attribute type cannot keep is refused at set() and nothing is stored', async () => {
    const { client } = await startApp(cluster, apps)
    const { result, ops } = await delta(() => client.post('/set', { key: 'when', value: { $date: 1 } }))
    assert.equal(result.status, 200, 'plain JSON objects are fine')
    assert.equal(ops.set, 2)
    const app = await buildApp({ msm: msmOptions(cluster) })
    apps.push(app)
    app.get('/map', async (request) => {
      request.session.set('when', new Map() as never)
      return { ok: true }
    })
    const mapClient = new CookieClient(await listen(app))
    const refused = await delta(() => mapClient.get('/map'))
    assert.equal(refused.result.status, 500)
    assert.equal(refused.result.body.code, 'FST_MSM_VALUE_UNSUPPORTED')
    assert.match(refused.result.body.message, /"when"/)
    assert.equal(refused.ops.set, 0)
  })
})
