import { test, within } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'
import { useSharedCluster } from '../helpers/fixtures.js'
import { buildApp, CookieClient, listen } from '../helpers/app.js'

let cluster: MemcachedCluster
const apps = useSharedCluster(2, (started) => { cluster = started })

test('a cold burst of 200 concurrent new sessions never fails with "connection pool is full"', async () => {
  const app = await buildApp({ msm: { nodes: cluster.spec } })
  apps.push(app)
  const base = await listen(app)
  const responses = await Promise.all(Array.from({ length: 200 }, () => new CookieClient(base).get('/count')))
  assert.deepEqual(responses.map((response) => response.status), Array(200).fill(200))
  const stats = app.msm.stats()
  assert.equal(stats.created, 200)
  assert.equal(stats.saveFailures, 0)
  assert.equal(stats.backupFailures, 0)
})

test('a process exits on its own after app.close(), even after node errors', async () => {
  const script = join(__dirname, '..', 'helpers', 'close-and-exit.ts')
  const child = spawn(process.execPath, ['--import', 'tsx', script, cluster.spec], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, PATH: '/nonexistent' }
  })
  let output = ''
  child.stdout.on('data', (chunk) => { output += chunk })
  // A generous deadline that only catches a hang (the client's default timers hold a process for minutes)
  const deadline = setTimeout(() => child.kill('SIGKILL'), 20_000)
  const [code, signal] = await within(new Promise<[number | null, string | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s]))), 30_000, 'the close-and-exit.ts child process to exit (SIGKILL after 20 s)')
  clearTimeout(deadline)
  assert.equal(signal, null, 'the process had to be killed: something kept it alive after close()')
  assert.equal(code, 0)
  assert.match(output, /closed/)
})

test('a hung primary (SIGSTOP) costs one operationTimeout, then the backup copy serves the request', async () => {
  const app = await buildApp({ msm: { nodes: cluster.spec, operationTimeout: 300 } })
  apps.push(app)
  const client = new CookieClient(await listen(app))
  let primary = ''
  for (let attempt = 0; attempt < 40 && primary !== 'n1'; attempt++) {
    client.cookies.clear()
    const created = await client.get('/count')
    primary = (created.body.id as string).split('-')[1] as string
  }
  assert.equal(primary, 'n1')
  const hung = cluster.node('n1')
  await hung.suspend()
  try {
    const response = await client.get('/read')
    assert.equal(response.status, 200)
    assert.equal(response.body.n, 1, 'read from the backup copy on n2')
    const stats = app.msm.stats()
    assert.equal(stats.loadedFromBackup, 1)
    assert.equal(stats.nodes[0]?.timeouts, 1)
  } finally {
    hung.signal('SIGCONT')
  }
  assert.equal((await client.get('/read')).body.n, 1, 'the node serves again after SIGCONT')
})

test('with every node down, requests are still served and no cookie is handed out', async () => {
  const down = await startCluster(2)
  const app = await buildApp({ msm: { nodes: down.spec, operationTimeout: 200 } })
  apps.push(app)
  const client = new CookieClient(await listen(app))
  await client.get('/count')
  const cookie = client.cookieHeader
  await down.stop()
  const withCookie = await client.request('/count', { headers: { cookie } })
  assert.equal(withCookie.status, 200)
  assert.deepEqual(client.lastSetCookie, [], 'the id is kept while its node is unreachable')
  const fresh = new CookieClient(client.base)
  const created = await fresh.get('/count')
  assert.equal(created.status, 200)
  assert.deepEqual(fresh.lastSetCookie, [], 'no cookie for a session that could not be stored')
  const stats = app.msm.stats()
  assert.equal(stats.loadFailures, 1)
  assert.equal(stats.saveFailures, 2)
})
