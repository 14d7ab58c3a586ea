// Option `encryption` against real memcached processes: what the nodes hold
// (no attribute text, no session id, in the primary, the backup and the
// asynchronous backup, for every serializer and every way a value is
// written), key rotation across two app processes whose key rings differ as
// in a rolling deploy, and the switch-over windows in both directions.
import { after, before, describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { jsonSerializer, type MsmOptions, type MsmStats } from '../../lib/index.js'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { CookieClient, drained, nodeOf, startApp, type StartedApp, waitFor } from '../helpers/app.js'
import { type AppProcess, startAppProcess } from '../helpers/processes.js'

const SECRET = 'an integration cookie secret, long enough'
const K1 = { id: 'k1', key: randomBytes(32).toString('base64') }
const K2 = { id: 'k2', key: randomBytes(32).toString('base64') }
const CANARY = 'canary-1234'
const resources = usePerTestCleanup()
const { cluster } = resources

function app (nodes: MemcachedCluster, options: Partial<MsmOptions>): Promise<StartedApp> {
  return startApp(nodes, resources.apps, { operationTimeout: 500, nodeRetryInterval: 200, ...options }, { secret: SECRET })
}

/** The raw text of `key` on every node that holds it. */
async function holders (nodes: MemcachedCluster, key: string): Promise<Array<{ node: string, raw: string }>> {
  // A killed node holds nothing
  const found = await Promise.all(nodes.nodes.map(async (node) => ({ node: node.id, raw: await node.get(key).catch(() => undefined) })))
  return found.filter((entry): entry is { node: string, raw: string } => entry.raw !== undefined)
}

/** Both copies of `id` are envelopes of `keyId`, and neither the text nor the decoded bytes show the canary or the id. */
async function assertSealedCopies (nodes: MemcachedCluster, id: string, keyId = 'k1'): Promise<void> {
  const copies = [...await holders(nodes, id), ...await holders(nodes, `bak:${id}`)]
  assert.equal(copies.length, 2, `a primary and a backup copy of ${id}`)
  for (const { node, raw } of copies) {
    const bytes = Buffer.from(raw, 'base64')
    assert.equal(bytes[0], 3, `format 3 on ${node}`)
    assert.equal(bytes.subarray(2, 2 + (bytes[1] as number)).toString('ascii'), keyId, `sealed with ${keyId} on ${node}`)
    for (const haystack of [raw, bytes.toString('latin1'), bytes.toString('utf8')]) {
      assert.ok(!haystack.includes(CANARY), `no attribute text on ${node}`)
      assert.ok(!haystack.includes(id.slice(0, 32)), `no session id in the value on ${node}`)
    }
  }
}

async function newSession (started: StartedApp): Promise<{ client: CookieClient, id: string }> {
  const client = new CookieClient(started.base)
  const { body } = await client.post('/set', { key: 'cart', value: CANARY })
  return { client, id: body.id as string }
}

const customSerializer = {
  name: 'reversed-json',
  encode: (attributes: object) => Buffer.from(JSON.stringify(attributes), 'utf8').reverse(),
  decode: (bytes: Uint8Array) => JSON.parse(Buffer.from(bytes).reverse().toString('utf8')) as Record<string, never>
}

describe('what memcached holds with encryption on', () => {
  const serializers: Array<[string, Partial<MsmOptions>]> = [
    ['generic Avro', {}],
    ['a typed schema', { schema: { type: 'record', name: 'Cart', fields: [{ name: 'cart', type: 'string', default: '' }] } }],
    ['the JSON serializer', { serializer: jsonSerializer }],
    ['a custom serializer', { serializer: customSerializer }]
  ]
  for (const [name, options] of serializers) {
    test(`${name}: primary and backup are sealed, and read back`, async () => {
      const nodes = await cluster(2)
      const started = await app(nodes, { ...options, encryption: { keys: [K1] } })
      const { client, id } = await newSession(started)
      await assertSealedCopies(nodes, id)
      assert.equal((await client.get('/read-cart')).body.cart, CANARY)
    })
  }

  for (const [name, options] of [['backupAsync', { backupAsync: true }], ['sticky mode', { sticky: true }]] as const) {
    test(`${name}: the copies written after the response are sealed`, async () => {
      const nodes = await cluster(2)
      const started = await app(nodes, { ...options, encryption: { keys: [K1] } })
      const { client, id } = await newSession(started)
      await drained(started.app)
      await assertSealedCopies(nodes, id)
      assert.equal((await client.get('/read-cart')).body.cart, CANARY)
    })
  }

  test('changeSessionId() and regenerate(): the copies under the new ids are sealed', async () => {
    const nodes = await cluster(2)
    const started = await app(nodes, { encryption: { keys: [K1] } })
    const { client } = await newSession(started)
    const changed = (await client.post('/change-id')).body.id as string
    await assertSealedCopies(nodes, changed)
    const regenerated = (await client.post('/regenerate', { keep: ['cart'] })).body.id as string
    await assertSealedCopies(nodes, regenerated)
    assert.equal((await client.get('/read-cart')).body.cart, CANARY)
  })

  test('relocation off a killed primary: the session moves to a new id, sealed', async () => {
    const nodes = await cluster(3)
    const started = await app(nodes, { encryption: { keys: [K1] } })
    const { client, id } = await newSession(started)
    await nodes.node(nodeOf(id)).kill()
    const { body } = await client.get('/read-cart')
    assert.equal(body.cart, CANARY)
    assert.equal(started.app.msm.stats().relocated, 1)
    const moved = (await client.get('/read')).body.id as string
    assert.notEqual(moved, id)
    await assertSealedCopies(nodes, moved)
  })

  test('a rolling schema change: a value sealed by the older schema\'s app is read through the registry', async () => {
    const nodes = await cluster(2)
    const v1 = { type: 'record', name: 'Cart', fields: [{ name: 'cart', type: 'string', default: '' }] }
    const v2 = { type: 'record', name: 'Cart', fields: [{ name: 'cart', type: 'string', default: '' }, { name: 'visits', type: 'int', default: 0 }] }
    const older = await app(nodes, { schema: v1, encryption: { keys: [K1] } })
    const newer = await app(nodes, { schema: v2, encryption: { keys: [K1] } })
    const { client, id } = await newSession(older)
    await assertSealedCopies(nodes, id)
    client.base = newer.base
    assert.equal((await client.get('/read-cart')).body.cart, CANARY)
    assert.equal(newer.app.msm.stats().schemaResolved, 1)
    assert.equal(newer.app.msm.stats().tamperedValues + newer.app.msm.stats().schemaFailures, 0)
  })

  test('sticky takeover by another route: the session moves to that route\'s id, sealed for it', async () => {
    const nodes = await cluster(2)
    const a = await app(nodes, { sticky: true, route: 'a', encryption: { keys: [K1] } })
    const b = await app(nodes, { sticky: true, route: 'b', encryption: { keys: [K1] } })
    const { client, id } = await newSession(a)
    await drained(a.app)
    await assertSealedCopies(nodes, id)
    client.base = b.base
    assert.equal((await client.get('/read-cart')).body.cart, CANARY, 'the session came along')
    const taken = (await client.get('/read')).body.id as string
    assert.match(taken, /\.b$/)
    assert.equal(b.app.msm.stats().takeovers, 1)
    await drained(b.app)
    await assertSealedCopies(nodes, taken)
    assert.equal(b.app.msm.stats().tamperedValues, 0)
  })

  test('a backup that a touch finds missing is written again, sealed', async () => {
    const nodes = await cluster(2)
    const started = await app(nodes, { encryption: { keys: [K1] } })
    const { client, id } = await newSession(started)
    const backup = nodes.nodes.find((node) => node.id !== nodeOf(id)) as MemcachedCluster['nodes'][number]
    await backup.kill()
    await backup.start()
    await client.get('/touch')
    await waitFor(() => started.app.msm.stats().backupsRecreated === 1, 'the backup to be re-created')
    await assertSealedCopies(nodes, id)
  })
})

describe('key rotation across two app processes', () => {
  let nodes: MemcachedCluster
  const processes: AppProcess[] = []
  before(async () => { nodes = await startCluster(2) })
  after(async () => {
    await Promise.all(processes.map((child) => child.stop()))
    await nodes.stop()
  })

  async function processWith (keys: Array<typeof K1>): Promise<AppProcess> {
    const child = await startAppProcess({ nodes: nodes.spec, encryption: { keys } }, { cookieSecret: SECRET })
    processes.push(child)
    return child
  }

  async function statsOf (child: AppProcess): Promise<MsmStats> {
    return (await (await fetch(`${child.base}/__process`)).json() as { stats: MsmStats }).stats
  }

  test('add the key everywhere, make it first, remove the old one: no session lost while both are known', async () => {
    // Step 1 done, step 2 rolling: A still seals with k1, B already with k2; both open both
    const a = await processWith([K1, K2])
    const b = await processWith([K2, K1])
    const clients = Array.from({ length: 6 }, () => new CookieClient(a.base))
    for (const [index, client] of clients.entries()) {
      for (let request = 0; request < 4; request++) {
        client.base = (index + request) % 2 === 0 ? a.base : b.base
        assert.equal((await client.get('/count')).body.n, request + 1, 'every increment is read back on the other instance')
      }
    }
    const [statsA, statsB] = await Promise.all([statsOf(a), statsOf(b)])
    assert.ok(statsA.olderKeyValues > 0 && statsB.olderKeyValues > 0, 'each read the other\'s key')
    assert.equal(statsA.tamperedValues + statsB.tamperedValues, 0)

    // A value sealed with k1 is sealed again with k2 at its next write on B
    const client = clients[0] as CookieClient
    client.base = a.base
    await client.get('/count')
    const id = (await client.get('/read')).body.id as string
    const keyIdOf = async (): Promise<string> => {
      const bytes = Buffer.from((await holders(nodes, id))[0]?.raw as string, 'base64')
      return bytes.subarray(2, 2 + (bytes[1] as number)).toString('ascii')
    }
    assert.equal(await keyIdOf(), 'k1')
    client.base = b.base
    await client.get('/count')
    assert.equal(await keyIdOf(), 'k2')

    // Step 3: k1 removed. Sessions last sealed with k2 live on; one left under k1 ends, counted
    const c = await processWith([K2])
    const stale = clients[1] as CookieClient
    stale.base = a.base
    const kept = (await stale.get('/count')).body.n as number
    stale.base = c.base
    assert.equal((await stale.get('/read')).body.isNew, true, 'a session sealed with the removed key ends')
    assert.equal((await statsOf(c)).tamperedValues, 1)
    assert.ok(kept > 0)
    client.base = c.base
    assert.equal((await client.get('/read')).body.n, 6, 'a session sealed with k2 is read')
  })
})

describe('turning encryption on and off during rolling deploys', () => {
  /** Each phase's options; neighbouring phases run side by side during a deploy. */
  const ON: Array<[string, Partial<MsmOptions>]> = [
    ['no encryption', {}],
    ['deploy 1: writePlaintext', { encryption: { keys: [K1], writePlaintext: true } }],
    ['deploy 2: acceptPlaintext', { encryption: { keys: [K1], acceptPlaintext: true } }],
    ['deploy 3: encryption only', { encryption: { keys: [K1] } }]
  ]

  async function walk (phases: Array<[string, Partial<MsmOptions>]>): Promise<void> {
    const nodes = await cluster(2)
    const instances = await Promise.all(phases.map(async ([, options]) => await app(nodes, options)))
    for (let step = 0; step + 1 < phases.length; step++) {
      const pair = [instances[step] as StartedApp, instances[step + 1] as StartedApp]
      // Sessions started on either side of the deploy, then served alternately by both
      for (const first of [0, 1]) {
        const client = new CookieClient((pair[first] as StartedApp).base)
        for (let request = 0; request < 4; request++) {
          client.base = (pair[(first + request) % 2] as StartedApp).base
          const { body, status } = await client.get('/count')
          assert.equal(status, 200)
          assert.equal(body.n, request + 1, `${phases[step]?.[0]} and ${phases[step + 1]?.[0]}: request ${request + 1} sees every earlier one`)
        }
      }
    }
    for (const instance of instances) assert.equal(instance.app.msm.stats().tamperedValues, 0)
  }

  test('on: no encryption → writePlaintext → acceptPlaintext → encryption only, each pair side by side loses nothing', async () => {
    await walk(ON)
  })

  test('off: the same steps backwards lose nothing either', async () => {
    await walk([...ON].reverse())
  })

  test('skipping a step loses sessions, which is why the steps exist', async () => {
    const nodes = await cluster(2)
    const clear = await app(nodes, {})
    const strict = await app(nodes, { encryption: { keys: [K1] } })
    const client = new CookieClient(clear.base)
    await client.get('/count')
    client.base = strict.base
    assert.equal((await client.get('/count')).body.n, 1, 'plaintext refused: a new session')
    assert.equal(strict.app.msm.stats().tamperedValues, 1)
    client.base = clear.base
    const { body } = await client.get('/count')
    assert.equal(body.n, 1, 'an instance without keys cannot read an encrypted value: a new session')
    assert.equal(clear.app.msm.stats().deserializationFailures, 1)
  })

  test('a plaintext session read by an acceptPlaintext instance is sealed at its next write', async () => {
    const nodes = await cluster(2)
    const clear = await app(nodes, {})
    const migrating = await app(nodes, { encryption: { keys: [K1], acceptPlaintext: true } })
    const strict = await app(nodes, { encryption: { keys: [K1] } })
    const { client, id } = await newSession(clear)
    client.base = migrating.base
    assert.equal((await client.get('/read-cart')).body.cart, CANARY)
    await client.get('/count')
    await assertSealedCopies(nodes, id)
    client.base = strict.base
    assert.equal((await client.get('/read-cart')).body.cart, CANARY)
  })
})
