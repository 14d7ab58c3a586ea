// Regression tests for bugs found while restructuring, on real memcached.
import { after, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { startCluster, type MemcachedCluster } from '../helpers/memcached.js'
import { buildApp, CookieClient, listen } from '../helpers/app.js'

const clusters: MemcachedCluster[] = []
const apps: FastifyInstance[] = []
after(async () => {
  await Promise.all(apps.map((app) => app.close()))
  await Promise.all(clusters.map((cluster) => cluster.stop()))
})

// A queued write of a regenerated session used `replace` on its new id, which
// no node holds yet: memcached refused it, and the session was lost.
test('backupAsync: a session moved to a new id (changeSessionId) is stored under it', async () => {
  const cluster = await startCluster(2)
  clusters.push(cluster)
  const app = await buildApp({ msm: { nodes: cluster.spec, backupAsync: true } })
  apps.push(app)
  const client = new CookieClient(await listen(app))
  assert.equal((await client.get('/count')).body.n, 1)
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal((await client.get('/count')).body.n, 2, 'loaded from its primary: its next write is a replace')
  const regenerated = await client.post('/change-id')
  await new Promise((resolve) => setTimeout(resolve, 200))
  assert.equal((await client.get('/read')).body.n, 2, 'the data moved to the new id')
  assert.equal(client.cookieHeader.endsWith(regenerated.body.id as string), true)
  assert.equal(app.msm.stats().saveFailures + app.msm.stats().revivalsPrevented, 0)
})
