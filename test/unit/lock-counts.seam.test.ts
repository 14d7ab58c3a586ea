// The session lock (lib/locking/session-lock.ts) as app.msm.stats() reports
// it, on the in-memory memcached, with waits of a few hundred milliseconds:
// queueing and hand-over inside one process, add retries against another
// process, timeouts, and a lock node that fails. locking.seam.test.ts covers
// expiry and overruns in real time. Written for mutants that survived the
// rest of the suite (test/mutation/REPORT.md).
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { MsmOptions } from '../../lib/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { CookieClient, idOf, sessionOn, startApp, type StartedApp } from '../helpers/app.js'

const LOCKED = { lockingMode: 'all' as const, operationTimeout: 300, nodeRetryInterval: 100, lockRetryMin: 10, lockRetryMax: 40 }
const resources = usePerTestCleanup()

async function nodes (): Promise<MemoryCluster> {
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  return cluster
}

async function app (cluster: MemoryCluster, options: Partial<MsmOptions> = {}, logs: string[] = []): Promise<StartedApp> {
  const logger = { level: 'warn', stream: { write: (line: string) => { logs.push(line) } } }
  return await startApp(cluster, resources.apps, { ...LOCKED, ...options }, { logger })
}

/** A client with the same cookie as `client`, on `base`. */
function sameSession (client: CookieClient, base = client.base): CookieClient {
  const copy = new CookieClient(base)
  copy.cookies = new Map(client.cookies)
  return copy
}

test('an uncontended lock: acquired and released once, with no wait', async () => {
  const cluster = await nodes()
  const { app: instance, base } = await app(cluster)
  const client = await sessionOn(base, 'n1')
  const before = instance.msm.stats()
  await client.get('/count')
  const stats = instance.msm.stats()
  assert.equal(stats.lockAcquired - before.lockAcquired, 1)
  assert.equal(stats.lockReleased - before.lockReleased, 1)
  assert.equal(stats.lockWaited + stats.lockHandovers + stats.lockTimeouts + stats.lockErrors, 0)
  assert.equal(cluster.node('n1').server.peek(`lock:${idOf(client)}`), undefined, 'the lock is gone')
})

test('a second request of the same process waits in the queue and gets the lock handed over', async () => {
  const cluster = await nodes()
  const { app: instance, base } = await app(cluster)
  const client = await sessionOn(base, 'n1')
  const adds = cluster.node('n1').server.stats().cmd_set
  const [slow, next] = await Promise.all([client.get('/slow?ms=300'), sameSession(client).get('/count')])
  assert.equal(slow.status, 200)
  assert.equal(next.status, 200)
  const stats = instance.msm.stats()
  assert.equal(stats.lockHandovers, 1, 'handed over without memcached')
  assert.equal(stats.lockWaited, 1)
  assert.equal(stats.lockAcquired, 2, 'both (the first request of a session has nothing to lock)')
  assert.equal(stats.lockReleased, 1, 'one delete for the two requests')
  assert.ok(stats.lockWaitMsMax >= 200, `waited for the slow request: ${stats.lockWaitMsMax}`)
  assert.ok(stats.lockWaitMsTotal >= stats.lockWaitMsMax)
  // one add for the lock, two writes of the session (and their backups go to n2)
  assert.equal(cluster.node('n1').server.stats().cmd_set - adds, 3)
  assert.equal((await client.get('/read')).body.n, 3, 'no increment lost')
})

test('a request of another process retries add until the holder releases, and counts the wait', async () => {
  const cluster = await nodes()
  const a = await app(cluster)
  const b = await app(cluster)
  const client = await sessionOn(a.base, 'n1')
  const started = Date.now()
  const [, other] = await Promise.all([client.get('/slow?ms=300'), new Promise((resolve) => setTimeout(resolve, 50)).then(async () => await sameSession(client, b.base).get('/count'))])
  assert.equal(other.status, 200)
  const stats = b.app.msm.stats()
  assert.equal(stats.lockWaited, 1, 'it had to retry')
  assert.equal(stats.lockAcquired, 1)
  assert.equal(stats.lockHandovers, 0)
  assert.ok(stats.lockWaitMsMax >= 150 && stats.lockWaitMsMax < Date.now() - started, `${stats.lockWaitMsMax}`)
  assert.equal((await client.get('/read')).body.n, 3, 'no increment lost')
})

test("a request that cannot get the lock in lockTimeout: 503 and Retry-After ('fail'), counted, the holder unharmed", async () => {
  const cluster = await nodes()
  const a = await app(cluster)
  const b = await app(cluster, { lockTimeout: 100 })
  const client = await sessionOn(a.base, 'n1')
  const [held, refused] = await Promise.all([client.get('/slow?ms=400'), new Promise((resolve) => setTimeout(resolve, 50)).then(async () => await sameSession(client, b.base).get('/count'))])
  assert.equal(held.status, 200)
  assert.equal(refused.status, 503)
  assert.equal(refused.headers.get('retry-after'), '1')
  const stats = b.app.msm.stats()
  assert.equal(stats.lockTimeouts, 1)
  assert.equal(stats.lockAcquired, 0)
  assert.equal((await client.get('/read')).body.n, 2, 'only the holder wrote')
})

test('a request queued in the process past lockTimeout times out too', async () => {
  const cluster = await nodes()
  const { app: instance, base } = await app(cluster, { lockTimeout: 100 })
  const client = await sessionOn(base, 'n1')
  const [held, refused] = await Promise.all([client.get('/slow?ms=400'), sameSession(client).get('/count')])
  assert.equal(held.status, 200)
  assert.equal(refused.status, 503)
  assert.equal(instance.msm.stats().lockTimeouts, 1)
})

test('a lock node that fails: the request goes on without the lock, counted and logged', async () => {
  const cluster = await nodes()
  const logs: string[] = []
  const { app: instance, base } = await app(cluster, {}, logs)
  const client = await sessionOn(base, 'n1')
  await cluster.node('n1').kill()
  const response = await client.get('/count')
  assert.equal(response.status, 200)
  const stats = instance.msm.stats()
  assert.equal(stats.lockErrors, 1)
  assert.equal(stats.lockProceeded, 1)
  assert.match(logs.join('\n'), /could not take the session lock/)
})
