// A rolling deploy: two real app processes on the same memcached nodes, one
// running the previous release's built package (test/previous-release.json,
// built by test/helpers/previous-release.ts), the other this checkout. Same
// options, no stickiness, the same cookie secret; a browser's cookie goes
// from one to the other by hand, in both directions. Default Avro format, no
// typed schema: when the Session schemas of the two differ, the previous
// release reads this checkout's values through the writer-schema registry.
import { after, before, describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { MsmStats } from '../../lib/index.js'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'
import { CookieClient, idOf } from '../helpers/app.js'
import { type AppProcess, startAppProcess } from '../helpers/processes.js'
import { PREVIOUS_RELEASE, previousReleaseBuild } from '../helpers/previous-release.js'

const SECRET = 'a rolling-deploy cookie secret, long enough'
/** Both releases' option; the per-session values below differ from it. */
const MAX_INACTIVE_INTERVAL = 1200
const OPTIONS = { maxInactiveInterval: MAX_INACTIVE_INTERVAL, operationTimeout: 1000 }

/** Attributes as /attributes takes and gives them: each Date as { $date }. A Date and nested objects at several depths. */
const CREATED = {
  user: { id: 'u1', name: 'Ann', roles: ['admin', 'dev'], address: { city: 'Oslo', zip: null, lines: ['Storgata 1', ''] } },
  loggedInAt: { $date: '2026-01-02T03:04:05.678Z' },
  cart: [{ sku: 'a1', qty: 2, addedAt: { $date: '2025-12-31T23:59:59.999Z' }, tags: { gift: true } }],
  visits: 3,
  ratio: 0.125,
  note: 'æøå — ünïcödé ✓'
}
/** What the other release writes over CREATED: a changed nested value, an array grown, a new Date. */
const CHANGED_ATTRIBUTES = {
  user: { ...CREATED.user, address: { ...CREATED.user.address, zip: '0150' } },
  cart: [...CREATED.cart, { sku: 'b2', qty: 1, addedAt: { $date: '2026-02-03T04:05:06.007Z' }, tags: {} }],
  seenAt: { $date: '2026-03-04T05:06:07.089Z' }
}
const CHANGED = { ...CREATED, ...CHANGED_ATTRIBUTES }

/** Per-session values of the release after 0.1.0 (test/helpers/app.ts: POST /remember). */
const REMEMBERED = { mii: 600, cookieMaxAgeMs: 7_200_000 }

let nodes: MemcachedCluster
let previousDir: string
let previous: AppProcess
let current: AppProcess
const processes: AppProcess[] = []

before(async () => {
  // Cold: 4 to 8 s (git archive, node_modules linked, its npm run build); a complete build is reused
  previousDir = await previousReleaseBuild()
  nodes = await startCluster(3)
  const options = { nodes: nodes.spec, ...OPTIONS }
  // NODE_V8_COVERAGE left out: under c8, the previous release's code is not this checkout's coverage
  previous = await startAppProcess(options, { cookieSecret: SECRET, env: { MSM_TEST_PLUGIN_FROM: previousDir, NODE_V8_COVERAGE: undefined } })
  processes.push(previous)
  current = await startAppProcess(options, { cookieSecret: SECRET, env: { MSM_TEST_PLUGIN_FROM: undefined } })
  processes.push(current)
}, { timeout: 300_000 })

after(async () => {
  await Promise.all(processes.map((child) => child.stop()))
  await nodes?.stop()
})

/** The client, pointed at `release`: its cookie goes along. */
function on (release: AppProcess, client: CookieClient): CookieClient {
  client.base = release.base
  return client
}

async function attributesOn (release: AppProcess, client: CookieClient): Promise<unknown> {
  const response = await on(release, client).get('/attributes')
  assert.equal(response.status, 200, JSON.stringify(response.body))
  return response.body
}

async function setOn (release: AppProcess, client: CookieClient, attributes: object): Promise<void> {
  const response = await on(release, client).post('/attributes', attributes)
  assert.equal(response.status, 200, JSON.stringify(response.body))
}

async function processInfo (release: AppProcess): Promise<{ pluginFile: string | null, stats: MsmStats }> {
  return await (await fetch(`${release.base}/__process`)).json() as { pluginFile: string | null, stats: MsmStats }
}

/** Neither side failed to read or write a session of the other. */
async function assertNoFailures (): Promise<void> {
  for (const [name, release] of [['previous release', previous], ['this checkout', current]] as const) {
    const { stats } = await processInfo(release)
    const failures = {
      schemaFailures: stats.schemaFailures,
      deserializationFailures: stats.deserializationFailures,
      loadFailures: stats.loadFailures,
      saveFailures: stats.saveFailures,
      invalidCookies: stats.invalidCookies,
      expired: stats.expired
    }
    assert.deepEqual(failures, { schemaFailures: 0, deserializationFailures: 0, loadFailures: 0, saveFailures: 0, invalidCookies: 0, expired: 0 }, name)
  }
}

/** The Max-Age of the session cookie in the last response, or null when it sent none or one without Max-Age. */
function cookieMaxAge (client: CookieClient): number | null | 'no cookie' {
  const line = client.lastSetCookie.find((candidate) => candidate.startsWith('sessionId='))
  if (line === undefined) return 'no cookie'
  const match = /;\s*max-age=(\d+)/i.exec(line)
  return match === null ? null : Number(match[1])
}

describe(`rolling deploy: the previous release (${PREVIOUS_RELEASE.version}) and this checkout on the same nodes`, () => {
  test('each process runs its own build: the previous release from its commit, this checkout from lib/', async () => {
    assert.equal((await processInfo(previous)).pluginFile, join(previousDir, 'dist', 'esm', 'index.js'))
    assert.equal((await processInfo(current)).pluginFile, null)
  })

  test('a session created on the previous release is read, changed and written on this checkout, and read back on the previous release', async () => {
    const client = new CookieClient(previous.base)
    await setOn(previous, client, CREATED)
    const id = idOf(client)
    assert.ok(id !== undefined, 'the previous release sent a cookie')
    assert.deepEqual(await attributesOn(previous, client), CREATED)

    assert.deepEqual(await attributesOn(current, client), CREATED, 'this checkout reads every attribute, the Dates as Dates')
    await setOn(current, client, CHANGED_ATTRIBUTES)
    assert.equal(idOf(client), id, 'the same session')
    assert.deepEqual(await attributesOn(current, client), CHANGED)

    assert.deepEqual(await attributesOn(previous, client), CHANGED, 'the previous release reads what this checkout wrote')
    assert.equal(idOf(client), id)
    await assertNoFailures()
  })

  test('a session created on this checkout is read, changed and written on the previous release, and read back on this checkout', async () => {
    const client = new CookieClient(current.base)
    await setOn(current, client, CREATED)
    const id = idOf(client)
    assert.ok(id !== undefined, 'this checkout sent a cookie')
    assert.deepEqual(await attributesOn(current, client), CREATED)

    const before = (await processInfo(previous)).stats
    assert.deepEqual(await attributesOn(previous, client), CREATED, 'the previous release reads every attribute, the Dates as Dates')
    const after = (await processInfo(previous)).stats
    // Without lifetimes of its own the session is written in 0.1.0's record: read as its own, not resolved
    assert.equal(after.schemaResolved - before.schemaResolved, 0, 'read without schema resolution')
    assert.equal(after.saved - before.saved, 0, 'so a read that hands out Dates writes nothing')
    await setOn(previous, client, CHANGED_ATTRIBUTES)
    assert.equal(idOf(client), id, 'the same session')
    assert.deepEqual(await attributesOn(previous, client), CHANGED)

    assert.deepEqual(await attributesOn(current, client), CHANGED, 'this checkout reads what the previous release wrote')
    assert.equal(idOf(client), id)
    await assertNoFailures()
  })

  test('a session the previous release wrote has the configured lifetimes on this checkout', async () => {
    const client = new CookieClient(previous.base)
    await setOn(previous, client, CREATED)
    const lifetimes = (await on(current, client).get('/lifetimes')).body
    assert.deepEqual(lifetimes, { maxInactiveInterval: MAX_INACTIVE_INTERVAL, cookieMaxAge: null })
    await assertNoFailures()
  })

  // What 0.1.0 does with a session this checkout wrote with per-session lifetimes (found by running it):
  // - its Session schema has no field for them (they are meta fields added after 0.1.0, with
  //   defaults), so it reads the value through the writer schema from the registry, and Avro's
  //   resolution skips them: the app sees the attributes, nothing else;
  // - a request that changes nothing and hands out no Date leaves the stored value alone, and its
  //   touch is memcached's touch: the lifetimes are still there for this checkout;
  // - a request that hands out a Date (tracked by comparing bytes, and a resolved value has no loaded
  //   bytes of 0.1.0's schema to compare with) or changes an attribute makes 0.1.0 write the session,
  //   in its own schema: the attributes as they are, maxInactiveInterval = its option (0.1.0 never
  //   stores another: its lib/session/persistence.ts), and no per-session lifetime. This checkout then
  //   reads the attributes intact and the configured lifetimes: the per-session values are lost.

  /** A session of this checkout with CREATED and per-session lifetimes, each response that sends the cookie with its Max-Age. */
  async function sessionWithLifetimes (): Promise<CookieClient> {
    const client = new CookieClient(current.base)
    await setOn(current, client, CREATED)
    const id = idOf(client)
    await on(current, client).post('/remember', REMEMBERED)
    assert.equal(cookieMaxAge(client), REMEMBERED.cookieMaxAgeMs / 1000, 'the response that set it')
    assert.deepEqual((await on(current, client).get('/lifetimes')).body, { maxInactiveInterval: REMEMBERED.mii, cookieMaxAge: REMEMBERED.cookieMaxAgeMs })
    // Stored with the session: a later response that sends the cookie (a write) uses it
    await setOn(current, client, { visits: 4 })
    assert.equal(cookieMaxAge(client), REMEMBERED.cookieMaxAgeMs / 1000, 'a later write sends the remembered cookie lifetime')
    assert.equal(idOf(client), id)
    return client
  }

  async function assertRemembered (client: CookieClient, what: string): Promise<void> {
    assert.deepEqual((await on(current, client).get('/lifetimes')).body, { maxInactiveInterval: REMEMBERED.mii, cookieMaxAge: REMEMBERED.cookieMaxAgeMs }, what)
  }

  /** This checkout reads `attributes`, and the configured lifetimes: the per-session ones are gone. */
  async function assertForgotten (client: CookieClient, attributes: object, what: string): Promise<void> {
    assert.deepEqual(await attributesOn(current, client), attributes, `the attributes survive ${what}`)
    assert.deepEqual((await on(current, client).get('/lifetimes')).body, { maxInactiveInterval: MAX_INACTIVE_INTERVAL, cookieMaxAge: null },
      `after ${what}, the configured lifetimes apply again`)
  }

  test('per-session lifetimes set on this checkout: the previous release reads the session and ignores them, and its first read that hands out a Date drops them', async () => {
    const client = await sessionWithLifetimes()
    const id = idOf(client)
    // Nothing of them is seen on the previous release (no attribute named maxInactiveInterval or the like)
    assert.deepEqual((await on(previous, client).get('/lifetimes')).body, { maxInactiveInterval: null, cookieMaxAge: null })
    await assertRemembered(client, 'a request of the previous release that reads no attribute keeps them')
    await on(previous, client).get('/touch')
    const touchCookie = cookieMaxAge(client)
    assert.ok(touchCookie === null || touchCookie === 'no cookie', `the previous release never sends the per-session cookie lifetime (Max-Age ${String(touchCookie)})`)
    await assertRemembered(client, 'a touch of the previous release keeps them')

    const attributes = { ...CREATED, visits: 4 }
    assert.deepEqual(await attributesOn(previous, client), attributes, 'the previous release reads the attributes, and nothing else')
    assert.equal(idOf(client), id)
    await assertForgotten(client, attributes, 'a read of the previous release that handed out Dates')
    await assertNoFailures()
  })

  test('per-session lifetimes set on this checkout: a write of the previous release keeps the attributes and drops them', async () => {
    const client = await sessionWithLifetimes()
    const id = idOf(client)
    // The previous release's first request of the session writes it, reading nothing
    await setOn(previous, client, { visits: 5 })
    assert.equal(idOf(client), id)
    await assertForgotten(client, { ...CREATED, visits: 5 }, 'a write of the previous release')
    // And the cookie: a write of this checkout sends it no more with the remembered Max-Age
    await setOn(current, client, { visits: 6 })
    const writeCookie = cookieMaxAge(client)
    assert.ok(writeCookie === null || writeCookie === 'no cookie', `no per-session cookie lifetime any more (Max-Age ${String(writeCookie)})`)
    await assertNoFailures()
  })
})
