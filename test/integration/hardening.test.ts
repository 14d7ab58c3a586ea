import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'
import { useClusterPerTest } from '../helpers/fixtures.js'
import { buildApp, CookieClient, idOf, listen, msmOptions, startApp } from '../helpers/app.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'

const SECRET = 'a fuzzing secret that is long enough!!'
let cluster: MemcachedCluster
const apps = useClusterPerTest(2, (started) => { cluster = started }, startCluster)

/** One raw HTTP/1.1 request with arbitrary header bytes; resolves with the status code (0 if the server closed without answering). */
function rawRequest (port: number, head: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const socket = new Socket()
    let received = ''
    const timer = setTimeout(() => { socket.destroy(); resolve(-1) }, 5000)
    socket.on('data', (chunk) => { received += chunk.toString('latin1') })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      const match = /^HTTP\/1\.1 (\d{3})/.exec(received)
      resolve(match === null ? 0 : Number(match[1]))
    })
    socket.connect(port, '127.0.0.1', () => {
      socket.end(Buffer.concat([Buffer.from('GET /read HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n'), head, Buffer.from('\r\n\r\n')]))
    })
  })
}

function cookieLine (value: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from('Cookie: sessionId='), Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8')])
}

function * fuzzCookies (validSigned: string, oldSigned: string): Generator<[string, Buffer]> {
  const random = (n: number): string => randomBytes(n).toString('hex').slice(0, n)
  const [id] = validSigned.split('.') as [string]
  for (let i = 0; i < 2000; i++) yield ['random bytes', cookieLine(randomBytes(1 + (i % 120)))]
  for (let i = 0; i < 1000; i++) {
    const crlf = ['%0D%0Aflush_all%0D%0A', '\r\nflush_all', '\nX-Injected: 1', '%0d%0adelete canary', '\r\n\r\nGET / HTTP/1.1']
    yield ['CRLF', cookieLine(`${random(32)}-n1${crlf[i % crlf.length] as string}`)]
  }
  for (let i = 0; i < 1500; i++) {
    const patterns = ["$'", '$`', '$&', "$'\nflush_all", '$$', "n1$'", '$`$&']
    yield ['replacement patterns', cookieLine(`${random(32)}-${patterns[i % patterns.length] as string}`)]
  }
  for (let i = 0; i < 200; i++) yield ['8 KB', cookieLine('A'.repeat(8192 - (i % 7)))]
  for (let i = 0; i < 1000; i++) {
    const unicode = ['ü', '𝒜', '\u202e', '\u0000', '\uFEFF', 'ｎ1', 'İ']
    yield ['unicode', cookieLine(`${random(32)}-${unicode[i % unicode.length] as string}`)]
  }
  for (let i = 0; i < 1500; i++) yield ['unknown node', cookieLine(`${random(32)}-n${3 + (i % 50)}`)]
  for (let i = 0; i < 1500; i++) {
    const tampered = [
      `${id}.${randomBytes(32).toString('base64').replace(/=/g, '')}`,
      `${random(32)}-n1.${validSigned.split('.')[1] as string}`,
      oldSigned,
      id,
      `${id}.`,
      `${validSigned}x`
    ]
    yield ['tampered or old signature', cookieLine(encodeURIComponent(tampered[i % tampered.length] as string))]
  }
  for (let i = 0; i < 1400; i++) {
    yield ['duplicated cookie headers', Buffer.from(`Cookie: sessionId=${random(32)}-n1$'\r\nCookie: sessionId=${encodeURIComponent(`${random(32)}-n2.bad`)}`)]
  }
}

describe('hostile input', () => {
  test('10,000+ generated cookies over real HTTP: no crash, no 5xx, no memcached command, canary intact', async (t) => {
    // The signing secret makes every one of these values invalid; a rotated-out secret signs "oldSigned"
    const { app, port, base } = await startApp(cluster, apps, {}, { secret: [SECRET] })
    const client = new CookieClient(base)
    await client.get('/count')
    const validSigned = decodeURIComponent(idOf(client))
    const other = await startApp(cluster, apps, {}, { secret: ['a secret that nobody knows anymore!!'] })
    const otherClient = new CookieClient(other.base)
    await otherClient.get('/count')
    const oldSigned = decodeURIComponent(idOf(otherClient))
    await cluster.node('n1').set('canary', 'alive')
    await cluster.node('n2').set('canary', 'alive')
    const before = await cluster.operations()

    const statuses = new Map<number, number>()
    const byKind = new Map<string, number>()
    const pending: Array<Promise<void>> = []
    let sent = 0
    for (const [kind, head] of fuzzCookies(validSigned, oldSigned)) {
      sent++
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1)
      pending.push(rawRequest(port, head).then((status) => { statuses.set(status, (statuses.get(status) ?? 0) + 1) }))
      if (pending.length >= 32) await Promise.all(pending.splice(0))
    }
    await Promise.all(pending)
    const after = await cluster.operations()
    t.diagnostic(`sent ${sent}: ${JSON.stringify(Object.fromEntries(byKind))}; statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
    assert.ok(sent >= 10_000)
    assert.equal([...statuses.keys()].filter((status) => status >= 500 || status <= 0).length, 0, 'no 5xx, no dropped connection')
    assert.equal(after.get - before.get, 0, 'no get')
    assert.equal(after.touch - before.touch, 0, 'no touch')
    assert.equal(after.set - before.set, 0, 'no set')
    assert.equal(after.flush, 0, 'cmd_flush stays 0')
    assert.equal(await cluster.node('n1').get('canary'), 'alive')
    assert.equal(await cluster.node('n2').get('canary'), 'alive')
    assert.equal((await client.get('/read')).body.n, 1, 'the server still serves')
    const stats = app.msm.stats()
    assert.ok(stats.invalidCookies >= 5000, `${stats.invalidCookies} counted as invalid (the HTTP parser refused the others with 400)`)
    assert.equal(stats.requestsWithSession, 1, 'only the final legitimate request had a session')
  })

  test('stored-data fuzzing: truncated, random, wrong-header, wrong-fingerprint and huge values are "no session"', async () => {
    const logs: string[] = []
    const app = await buildApp({ msm: msmOptions(cluster), logger: { level: 'warn', stream: { write: (line: string) => { logs.push(line) } } } })
    apps.push(app)
    const client = new CookieClient(await listen(app))
    await client.get('/count')
    const id = idOf(client)
    const node = cluster.node(id.split('-')[1] as string)
    const good = Buffer.from(await node.get(id) as string, 'base64')
    const values: string[] = [
      good.subarray(0, 20).toString('base64'),
      good.subarray(0, good.length - 1).toString('base64'),
      randomBytes(300).toString('base64'),
      randomBytes(64).toString('latin1').replace(/[\r\n]/g, ' '),
      Buffer.concat([Buffer.from([7]), good.subarray(1)]).toString('base64'),
      Buffer.concat([good.subarray(0, 3), randomBytes(8), good.subarray(11)]).toString('base64'),
      Buffer.concat([good.subarray(0, 11), Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])]).toString('base64'),
      'x'.repeat(900_000),
      '',
      '{"json":"instead"}'
    ]
    const before = app.msm.stats().deserializationFailures
    for (const value of values) {
      await node.set(id, value, 60)
      const response = await client.request('/read', { headers: { cookie: `sessionId=${id}` } })
      assert.equal(response.status, 200)
      assert.equal(response.body.isNew, true)
    }
    assert.equal(app.msm.stats().deserializationFailures - before, values.length, 'each one counted')
    assert.ok(logs.filter((line) => line.includes('unreadable')).length >= values.length, 'each one logged')
    assert.ok(!logs.join('').includes(id), 'without the id')
  })

  test('limits: many keys, deep nesting and long strings give coded errors; the stored session and the node stay intact', async () => {
    const { app, base } = await startApp(cluster, apps, { maxSessionSize: 64 * 1024 })
    const client = new CookieClient(base)
    await client.get('/count')
    const cases: Array<[unknown, string]> = [
      [Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i])), 'FST_MSM_SESSION_TOO_LARGE'],
      [JSON.parse('['.repeat(100) + ']'.repeat(100)), 'FST_MSM_VALUE_UNSUPPORTED'],
      ['x'.repeat(200_000), 'FST_MSM_SESSION_TOO_LARGE']
    ]
    for (const [value, code] of cases) {
      const response = await client.post('/set', { key: 'big', value })
      assert.equal(response.status, 500)
      assert.equal(response.body.code, code)
      assert.equal((await client.get('/read')).body.n, 1, 'the stored session is intact')
    }
    assert.deepEqual(app.msm.stats().nodes.map((node) => node.state), ['up', 'up'])
    assert.equal((await client.get('/count')).body.n, 2)
  })
})

describe('security defaults', () => {
  test('maxAge ends a session that long after its creation, however active', async () => {
    const { app, base } = await startApp(cluster, apps, { maxAge: 2, touchInterval: 1, maxInactiveInterval: 60 })
    const client = new CookieClient(base)
    await client.get('/count')
    for (let i = 0; i < 3; i++) {
      await sleep(600)
      assert.equal((await client.get('/count')).body.n, i + 2, 'active, within maxAge')
    }
    await sleep(600)
    assert.equal((await client.get('/read')).body.n, null, 'past maxAge')
    assert.ok(app.msm.stats().expired >= 1)
  })

  test('a destroyed session is not revived by a concurrent request that is still in flight', async () => {
    const { app, base } = await startApp(cluster, apps)
    const client = new CookieClient(base)
    await client.get('/count')
    const id = idOf(client)
    const cookie = client.cookieHeader
    const inFlight = client.request('/slow?ms=400', { headers: { cookie } }) // read n, sleep, write n + 1
    await sleep(100)
    await client.request('/destroy', { method: 'POST', body: '{}', headers: { cookie } })
    assert.equal((await inFlight).status, 200)
    for (const node of cluster.nodes) {
      assert.equal(await node.get(id), undefined, 'not written back')
      assert.equal(await node.get(`bak:${id}`), undefined, 'nor its backup')
    }
    assert.deepEqual((await client.request('/read', { headers: { cookie } })).body, { n: null, isNew: true, id: null })
    assert.equal(app.msm.stats().revivalsPrevented, 1)
  })

  test('regenerate() at login: a request in flight with the old id cannot bring it back', async () => {
    const { base } = await startApp(cluster, apps)
    const client = new CookieClient(base)
    await client.get('/count')
    const oldId = idOf(client)
    const oldCookie = client.cookieHeader
    const inFlight = client.request('/slow?ms=400', { headers: { cookie: oldCookie } })
    await sleep(100)
    await client.post('/regenerate')
    await inFlight
    assert.equal(await cluster.node(oldId.split('-')[1] as string).get(oldId), undefined)
    assert.equal((await client.request('/read', { headers: { cookie: oldCookie } })).body.isNew, true)
  })

  test('cookies are HttpOnly and SameSite=Lax by default, Secure on HTTPS', async () => {
    const { app } = await startApp(cluster, apps)
    const plain = await app.inject({ url: '/count' })
    assert.match(String(plain.headers['set-cookie']), /; HttpOnly; SameSite=Lax$/)
  })
})

test('the codec used by these tests matches the plugin', () => {
  assert.equal(new AvroSessionCodec().fingerprintHex.length, 16)
})
