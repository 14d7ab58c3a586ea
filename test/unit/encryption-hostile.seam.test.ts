// A hostile memcached, with option `encryption` on: someone who can read and
// write every key of the in-memory nodes changes, moves, truncates and forges
// values. Every such value is "no session" for the request (200, a new empty
// session), is counted in tamperedValues and logged without ids, and no
// client is ever served another session's data. The attributes hold canaries
// that a leak would show.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { MsmOptions } from '../../lib/index.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { CookieClient, nodeOf, startApp, type StartedApp } from '../helpers/app.js'

const SECRET = 'a cookie secret that is long enough!'
const K1 = { id: 'k1', key: randomBytes(32).toString('base64') }
const K2 = { id: 'k2', key: randomBytes(32).toString('base64') }
const resources = usePerTestCleanup()

interface Log { level: number, msg: string, [field: string]: unknown }

interface Hostile extends StartedApp {
  cluster: MemoryCluster
  logs: Log[]
  /** Every response body this test saw, to look for canaries where they do not belong. */
  bodies: Array<{ owner: string, text: string, status: number }>
}

async function setup (encryption: MsmOptions['encryption'], cluster?: MemoryCluster): Promise<Hostile> {
  const nodes = cluster ?? await startMemoryCluster(2)
  if (cluster === undefined) resources.clusters.push(nodes)
  const logs: Log[] = []
  const logger = { level: 'warn', stream: { write: (line: string) => { logs.push(JSON.parse(line) as Log) } } }
  const options: Partial<MsmOptions> = encryption === undefined ? {} : { encryption }
  return { cluster: nodes, logs, bodies: [], ...await startApp(nodes, resources.apps, options, { secret: SECRET, logger }) }
}

/** A client whose session holds `canary` in its cart. */
async function sessionWith (env: Hostile, canary: string): Promise<{ client: CookieClient, id: string }> {
  const client = new CookieClient(env.base)
  const { body } = await client.post('/set', { key: 'cart', value: canary })
  return { client, id: body.id as string }
}

async function readCart (env: Hostile, owner: string, client: CookieClient): Promise<unknown> {
  const response = await client.get('/read-cart')
  env.bodies.push({ owner, text: JSON.stringify(response.body), status: response.status })
  return response.body.cart
}

function primaryNode (env: Hostile, id: string): ReturnType<MemoryCluster['node']> {
  return env.cluster.node(nodeOf(id))
}

function backupNode (env: Hostile, id: string): ReturnType<MemoryCluster['node']> {
  return env.cluster.node(nodeOf(id) === 'n1' ? 'n2' : 'n1')
}

function stored (env: Hostile, id: string): Buffer {
  return Buffer.from(primaryNode(env, id).server.peek(id) as string, 'base64')
}

/**
 * Plants `value` as the session's primary copy, reads with the owner's
 * cookie, and checks: no session, one tampered value counted, nothing else
 * counted as a decoding failure.
 */
async function expectRefused (env: Hostile, client: CookieClient, id: string, value: string, what: string): Promise<void> {
  await primaryNode(env, id).set(id, value, 600)
  const before = env.app.msm.stats()
  assert.equal(await readCart(env, id, client), null, `${what}: no session`)
  const after = env.app.msm.stats()
  assert.equal(after.tamperedValues - before.tamperedValues, 1, `${what}: counted once`)
  assert.equal(after.deserializationFailures, before.deserializationFailures, `${what}: counted as tampered only`)
}

function assertCleanOutcome (env: Hostile, canaries: Record<string, string>): void {
  assert.deepEqual(env.bodies.filter((body) => body.status >= 500), [], 'no 5xx')
  for (const body of env.bodies) {
    for (const [owner, canary] of Object.entries(canaries)) {
      if (owner !== body.owner) assert.ok(!body.text.includes(canary), `a response to ${body.owner} carried ${owner}'s data`)
    }
  }
  const tampered = env.logs.filter((entry) => entry.msg.includes('failed its integrity check'))
  for (const entry of tampered) {
    assert.equal(entry.session, undefined, 'no session hash in the line')
    for (const id of Object.keys(canaries)) assert.ok(!JSON.stringify(entry).includes(id.slice(0, 32)), 'no id in the line')
    for (const key of [K1.key, K2.key]) assert.ok(!JSON.stringify(entry).includes(key.slice(0, 12)), 'no key material')
  }
}

describe('a hostile memcached cannot change a session', () => {
  test('one bit flipped at every byte of the stored value: each is no session, counted', async (t) => {
    const env = await setup({ keys: [K1] })
    const victim = await sessionWith(env, 'canary-1234')
    const good = stored(env, victim.id)
    for (let index = 0; index < good.length; index++) {
      const flipped = Buffer.from(good)
      flipped[index] = (flipped[index] as number) ^ (1 << (index % 8))
      await expectRefused(env, victim.client, victim.id, flipped.toString('base64'), `bit ${index % 8} of byte ${index}`)
    }
    t.diagnostic(`${good.length} bit flips refused`)
    await primaryNode(env, victim.id).set(victim.id, good.toString('base64'), 600)
    assert.equal(await readCart(env, victim.id, victim.client), 'canary-1234', 'the untouched value still reads')
    assertCleanOutcome(env, { [victim.id]: 'canary-1234' })
  })

  test('the value truncated at every length: each is no session, counted', async (t) => {
    const env = await setup({ keys: [K1] })
    const victim = await sessionWith(env, 'canary-1234')
    const good = stored(env, victim.id)
    for (let length = 0; length < good.length; length++) {
      await expectRefused(env, victim.client, victim.id, good.subarray(0, length).toString('base64'), `the first ${length} bytes`)
    }
    await expectRefused(env, victim.client, victim.id, Buffer.concat([good, Buffer.from([0])]).toString('base64'), 'a byte appended')
    t.diagnostic(`${good.length + 1} truncated or extended values refused`)
    assertCleanOutcome(env, { [victim.id]: 'canary-1234' })
  })

  test('text that is not base64 of an envelope: no session, counted', async () => {
    const env = await setup({ keys: [K1] })
    const victim = await sessionWith(env, 'canary-1234')
    for (const value of ['', 'not base64 at all!', randomBytes(200).toString('base64'), Buffer.from([3, 0]).toString('base64'), Buffer.from([3, 40, 1]).toString('base64')]) {
      await expectRefused(env, victim.client, victim.id, value, JSON.stringify(value.slice(0, 12)))
    }
    assertCleanOutcome(env, { [victim.id]: 'canary-1234' })
  })
})

describe('a hostile memcached cannot move sessions', () => {
  test('primary and bak: copies of two sessions swapped: neither owner gets a session, nor the other\'s data', async () => {
    const env = await setup({ keys: [K1] })
    const alice = await sessionWith(env, 'canary-alice')
    const bob = await sessionWith(env, 'canary-bob')
    const alicePrimary = primaryNode(env, alice.id).server.peek(alice.id) as string
    const bobBackup = backupNode(env, bob.id).server.peek(`bak:${bob.id}`) as string
    const before = env.app.msm.stats().tamperedValues
    await primaryNode(env, alice.id).set(alice.id, bobBackup, 600)
    await backupNode(env, bob.id).set(`bak:${bob.id}`, alicePrimary, 600)
    await primaryNode(env, bob.id).command(`delete ${bob.id}\r\n`)
    assert.equal(await readCart(env, alice.id, alice.client), null, 'alice: no session')
    assert.equal(await readCart(env, bob.id, bob.client), null, 'bob: his primary is gone, and the backup holds alice\'s value')
    assert.equal(env.app.msm.stats().tamperedValues - before, 2)
    assertCleanOutcome(env, { [alice.id]: 'canary-alice', [bob.id]: 'canary-bob' })
  })

  test('another session\'s value served under one\'s own id: no session, counted', async () => {
    const env = await setup({ keys: [K1] })
    const victim = await sessionWith(env, 'canary-victim')
    const mallory = await sessionWith(env, 'canary-mallory')
    await expectRefused(env, mallory.client, mallory.id, primaryNode(env, victim.id).server.peek(victim.id) as string, 'the victim\'s primary copy')
    await expectRefused(env, mallory.client, mallory.id, backupNode(env, victim.id).server.peek(`bak:${victim.id}`) as string, 'the victim\'s backup copy')
    assert.equal(await readCart(env, victim.id, victim.client), 'canary-victim', 'the victim keeps the session')
    assertCleanOutcome(env, { [victim.id]: 'canary-victim', [mallory.id]: 'canary-mallory' })
  })
})

describe('a hostile memcached cannot steal a session', () => {
  test('a key listed from memcached, sent as the cookie, is no session: the signature it lacks needs the cookie secret', async () => {
    const env = await setup({ keys: [K1] })
    const victim = await sessionWith(env, 'canary-1234')
    const listed = [...['n1', 'n2'].flatMap((node) => [victim.id, `bak:${victim.id}`].filter((key) => env.cluster.node(node).server.peek(key) !== undefined))]
    assert.deepEqual(listed.sort(), [victim.id, `bak:${victim.id}`].sort(), 'both keys are there to be listed')
    const thief = new CookieClient(env.base)
    for (const key of listed) {
      thief.cookies = new Map([['sessionId', encodeURIComponent(key.replace(/^bak:/, ''))]])
      assert.equal(await readCart(env, 'thief', thief), null)
    }
    assert.equal(env.app.msm.stats().invalidCookies, listed.length, 'refused as invalid cookies, before any memcached operation')
    assertCleanOutcome(env, { [victim.id]: 'canary-1234', thief: 'no-canary' })
  })
})

describe('a hostile memcached cannot forge a session', () => {
  test('the forge of plaintext Avro (own session re-encoded with role admin) is refused without acceptPlaintext', async () => {
    const env = await setup({ keys: [K1] })
    const mallory = await sessionWith(env, 'canary-mallory')
    const forged = new AvroSessionCodec()
    const now = Date.now()
    const value = forged.encodeValue({ id: mallory.id, createdAt: now, lastAccessedAt: now, maxInactiveInterval: 1800, ownMaxInactiveInterval: null, ownCookieMaxAge: null },
      forged.encodeAttributes({ cart: 'canary-mallory', role: 'admin' } as never))
    await expectRefused(env, mallory.client, mallory.id, value, 'forged plaintext')
    assertCleanOutcome(env, { [mallory.id]: 'canary-mallory' })
  })

  test('a value sealed with a key that was removed: no session, counted; the log names no id and no key', async () => {
    const cluster = await startMemoryCluster(2)
    resources.clusters.push(cluster)
    const before = await setup({ keys: [K1] }, cluster)
    const victim = await sessionWith(before, 'canary-1234')
    const after = await setup({ keys: [K2] }, cluster)
    const client = new CookieClient(after.base)
    client.cookies = new Map(victim.client.cookies)
    assert.equal(await readCart(after, victim.id, client), null)
    assert.equal(after.app.msm.stats().tamperedValues, 1)
    const lines = after.logs.filter((entry) => entry.msg.includes('failed its integrity check'))
    assert.equal(lines.length, 1, 'logged once')
    assert.match(String(lines[0]?.reason), /a key this instance does not have/)
    assertCleanOutcome(after, { [victim.id]: 'canary-1234' })
  })

  test('a plaintext value: refused and counted without acceptPlaintext; read, and counted as plaintext, with it', async () => {
    const cluster = await startMemoryCluster(2)
    resources.clusters.push(cluster)
    const clear = await setup(undefined, cluster)
    const victim = await sessionWith(clear, 'canary-1234')
    const strict = await setup({ keys: [K1] }, cluster)
    const migrating = await setup({ keys: [K1], acceptPlaintext: true }, cluster)
    for (const env of [strict, migrating]) {
      const client = new CookieClient(env.base)
      client.cookies = new Map(victim.client.cookies)
      const cart = await readCart(env, victim.id, client)
      const stats = env.app.msm.stats()
      if (env === strict) {
        assert.equal(cart, null)
        assert.deepEqual([stats.tamperedValues, stats.plaintextValues], [1, 0])
      } else {
        assert.equal(cart, 'canary-1234')
        assert.deepEqual([stats.tamperedValues, stats.plaintextValues], [0, 1])
      }
      assertCleanOutcome(env, { [victim.id]: 'canary-1234' })
    }
  })
})
