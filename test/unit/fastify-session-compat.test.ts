// The request.session tests of @fastify/session (test/base.test.js,
// test/session.test.js, test/cookie.test.js, test/expiration.test.js and
// test/verifyPath.test.js of github.com/fastify/session), ported to
// fastify-msm: same names and intents, our own code. Each test names the
// original it ports. Their tests of the store, of checkOptions and of the id
// generator are not ported.
//
// How their options map onto ours:
// - their `secret` is @fastify/cookie's secret (and `algorithm` its algorithm);
// - their `cookie.maxAge` is in milliseconds, ours in seconds;
// - their `store` is memcached: a store that fails is a memcached node whose
//   commands fail (the `faults` of setup());
// - their session expiry is maxInactiveInterval, or memcached's own expiry;
// - saveUninitialized is always false here: where an original handler writes
//   nothing but expects a session cookie (their default saveUninitialized:
//   true), the ported handler writes one attribute, and says so;
// - their rolling: true (the default) re-sends the cookie on every response;
//   where an original only needs that to get a cookie to look at, the ported
//   handler calls session.touch(), which renews a cookie that has a maxAge.
// Tests that cannot pass are kept, marked todo (a difference of behaviour,
// documented in docs/migrating.md) or skip (an option we do not have).
import { test, type TestContext, within } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type LightMyRequestResponse } from 'fastify'
import cookie, { type FastifyCookieOptions, sign, Signer } from '@fastify/cookie'
import msm, { type MsmOptions, type MsmSession } from '../../lib/index.js'
import { kTransport, type MemcachedTransport } from '../../lib/memcached/transport.js'
import { type MemoryCluster, type Seam, startMemoryCluster } from '../helpers/memory-memcached.js'
import { msmOptions } from '../helpers/app.js'

const DEFAULT_SECRET = 'cNaoPYAwF60HZJzkcNaoPYAwF60HZJzk'
/** A @fastify/session id: not an id of ours (ours are `<32 hex>-<node id>`). */
const FOREIGN_SESSION_ID = 'Qk_XT2K7-clT-x1tVvoY6tIQ83iP72KN'
const FOREIGN_ENCRYPTED_SESSION_ID = sign(FOREIGN_SESSION_ID, DEFAULT_SECRET)
const FOREIGN_COOKIE = `sessionId=${FOREIGN_ENCRYPTED_SESSION_ID}`
/** An id of ours, well formed and correctly signed, that no node holds. */
const UNKNOWN_SESSION_ID = `${'0'.repeat(32)}-n1`
const UNKNOWN_COOKIE = `sessionId=${encodeURIComponent(sign(UNKNOWN_SESSION_ID, DEFAULT_SECRET))}`
/** A cookie value of ours, signed: the id, a dot, the signature (URL-encoded). */
const SIGNED_VALUE = String.raw`[0-9a-f]{32}-n\d+\.[^;]+`
const HTTPS = { 'x-forwarded-proto': 'https' }

const NOT_APPLICABLE = {
  store: 'not applicable: no store option (memcached is the store)',
  idGenerator: 'not applicable: no idGenerator option (ids are <32 hex>-<node id>, naming the primary node)',
  decryptSession: 'not applicable: no fastify.decryptSession decorator (sessions are loaded per request only)',
  cookiePrefix: 'not applicable: no cookiePrefix option (express-session cookie compatibility)',
  cookieExpires: 'not applicable: no cookie.expires option (an absolute expiry date for every cookie); cookie.maxAge only',
  partitioned: 'not applicable: no cookie.partitioned option'
}
const DIFFERENCE = {
  destroyNull: 'why: destroy() leaves request.session a usable empty session instead of null, documented in docs/migrating.md',
  deleteNeverFails: 'why: deleting a session never fails: a failed delete is logged and counted (deleteFailures) and the copy expires in memcached, so neither destroy() nor the request fails, documented in docs/migrating.md',
  regenerateWritesAtEnd: 'why: regenerate() writes nothing itself (the session is written under its new id at the end of the request, where a failure follows storeFailurePolicy), so it does not reject on a failing write, documented in docs/migrating.md',
  noClear: 'why: a cookie naming an unknown or expired session is not cleared; it is replaced once the session holds data, documented in docs/migrating.md',
  rolling: 'why: no rolling option: an unchanged session is not rewritten, and its cookie not re-sent, on every response; it is touched at most once per touchInterval (renewing a cookie that has a maxAge), documented in docs/migrating.md',
  optionsMaxAgeOnly: 'why: session.options() takes maxAge only (no per-session httpOnly, secure, path... overrides), documented in docs/migrating.md',
  cookieExpiresSetter: 'why: setting session.cookie.expires sets the session\'s cookie lifetime (originalMaxAge becomes the ms until that date) instead of an absolute expiry with originalMaxAge null, documented in docs/migrating.md',
  noPathCheck: 'why: the request path is not checked against cookie.path (the browser does that): a session cookie that comes is honoured on any route, documented in docs/migrating.md',
  secureOverHttp: 'why: with cookie.secure true the Secure cookie is sent over plain HTTP too (the browser drops it) instead of being withheld, documented in docs/migrating.md'
}

type Fault = 'get' | 'set' | 'delete'

/** The in-memory cluster's seam, with commands that fail while their name is in `faults` (a store that fails). */
function faulty (seam: Seam, faults: Set<Fault>, writes: { count: number }): Seam {
  const factory = seam[kTransport]
  if (factory === undefined) throw new Error('an in-memory cluster has a seam')
  const fail = (done: (error: unknown) => void): void => { setImmediate(() => done(new Error('no can do'))) }
  return {
    [kTransport]: (spec) => {
      const inner = factory(spec)
      // Session writes only (not the Avro schema the plugin publishes once, nor locks)
      const count = (key: string): void => { if (!key.startsWith('schema:') && !key.startsWith('lock:')) writes.count++ }
      const transport: MemcachedTransport = {
        get: (key, done) => { if (faults.has('get')) fail(done); else inner.get(key, done) },
        set: (key, value, lifetime, done) => { count(key); if (faults.has('set')) fail(done); else inner.set(key, value, lifetime, done) },
        replace: (key, value, lifetime, done) => { count(key); if (faults.has('set')) fail(done); else inner.replace(key, value, lifetime, done) },
        add: (key, value, lifetime, done) => { count(key); if (faults.has('set')) fail(done); else inner.add(key, value, lifetime, done) },
        touch: (key, lifetime, done) => inner.touch(key, lifetime, done),
        delete: (key, done) => { if (faults.has('delete')) fail(done); else inner.delete(key, done) },
        instance: (done) => inner.instance(done),
        onConnectionLost: (listener) => inner.onConnectionLost(listener),
        end: () => inner.end()
      }
      return transport
    }
  }
}

interface SetupOptions {
  msm?: Partial<MsmOptions>
  /** @fastify/cookie's options; default: signed with DEFAULT_SECRET. */
  cookie?: FastifyCookieOptions
  trustProxy?: boolean
  /** Sets request.raw.socket.encrypted before the session is loaded (an HTTPS request, or not). */
  encrypted?: boolean
  /** Another app's cluster, shared (it is stopped by its own setup). */
  cluster?: MemoryCluster
}

interface Setup {
  app: FastifyInstance
  cluster: MemoryCluster
  /** memcached commands that fail while listed here. */
  faults: Set<Fault>
  /** Session writes sent to memcached (set, add, replace of a session copy). */
  writes: { count: number }
}

/** A Fastify app with @fastify/cookie and fastify-msm on two in-memory memcached nodes, closed after the test. */
async function setup (t: TestContext, options: SetupOptions = {}): Promise<Setup> {
  const cluster = options.cluster ?? await startMemoryCluster(2)
  const faults = new Set<Fault>()
  const writes = { count: 0 }
  const app = Fastify({ trustProxy: options.trustProxy ?? false })
  t.after(async () => {
    await app.close()
    if (options.cluster === undefined) await cluster.stop()
  })
  const encrypted = options.encrypted
  if (encrypted !== undefined) {
    app.addHook('onRequest', async (request) => { (request.raw.socket as { encrypted?: boolean }).encrypted = encrypted })
  }
  await app.register(cookie, options.cookie ?? { secret: DEFAULT_SECRET })
  await app.register(msm, msmOptions({ spec: cluster.spec, seam: faulty(cluster.seam, faults, writes) }, options.msm))
  return { app, cluster, faults, writes }
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => unknown

/** Like the original's buildFastify: trustProxy, and `handler` on GET /. */
async function build (t: TestContext, handler: Handler, options: SetupOptions = {}): Promise<Setup> {
  const built = await setup(t, { trustProxy: true, ...options })
  built.app.get('/', handler)
  return built
}

/** The Set-Cookie lines of a response. */
function setCookies (response: LightMyRequestResponse): string[] {
  const header = response.headers['set-cookie']
  return header === undefined ? [] : Array.isArray(header) ? header : [header]
}

/** The one Set-Cookie line of a response (the original tests read the header as a string). */
function setCookie (response: LightMyRequestResponse): string {
  const lines = setCookies(response)
  assert.equal(lines.length, 1, `one Set-Cookie line, got ${JSON.stringify(lines)}`)
  return lines[0] as string
}

/** The Cookie header a browser would send back after `response`. */
function jar (response: LightMyRequestResponse): string {
  return setCookies(response).map((line) => line.split(';')[0]).join('; ')
}

/** The cookie's lifetime in seconds: Max-Age, else Expires (@fastify/session sends Expires, we send Max-Age). */
function lifetimeOf (line: string): number | null {
  const maxAge = /;\s*Max-Age=(\d+)/i.exec(line)
  if (maxAge !== null) return Number(maxAge[1])
  const expires = /;\s*Expires=([^;]+)/i.exec(line)
  return expires === null ? null : Math.round((Date.parse(expires[1] as string) - Date.now()) / 1000)
}

/** The session id in a cookie line or value. */
function idIn (text: string): string | undefined {
  return /([0-9a-f]{32}-n\d+)/.exec(decodeURIComponent(text))?.[1]
}

/** How many copies of session `id` (primary and backup) the nodes hold. */
function copies (cluster: MemoryCluster, id: string): number {
  let count = 0
  for (const node of cluster.nodes) {
    if (node.server.peek(id) !== undefined) count++
    if (node.server.peek(`bak:${id}`) !== undefined) count++
  }
  return count
}

/**
 * Moves the plugin's clock `ms` ahead (Date.now, as the original tests do),
 * while memcached keeps the real time: a stored session the plugin sees as
 * expired. Restored after the test.
 */
function travel (t: TestContext, cluster: MemoryCluster, ms: number): void {
  const realNow = Date.now
  for (const node of cluster.nodes) node.server.now = () => Math.floor(realNow() / 1000)
  Date.now = () => realNow() + ms
  t.after(() => { Date.now = realNow })
}

/** session.options() with options of @fastify/session that ours does not take. */
function legacyOptions (session: MsmSession, options: Record<string, unknown>): void {
  (session.options as unknown as (options: Record<string, unknown>) => void).call(session, options)
}

/** An app whose GET /new creates a session (attribute `name` = `value`), and its cookie. */
async function sessionCookie (built: Setup, value: unknown = 42, url = '/new'): Promise<string> {
  built.app.get(url, async (request) => {
    request.session.userId = value
    return { id: request.session.id }
  })
  const response = await built.app.inject({ url })
  assert.equal(response.statusCode, 200)
  return jar(response)
}

// ---------------------------------------------------------------------------
// test/base.test.js
// ---------------------------------------------------------------------------

test('should not set session cookie on post without params', async (t) => {
  const { app } = await build(t, async () => 200)
  const response = await app.inject({ method: 'POST', url: '/test', headers: { 'content-type': 'application/json' } })
  assert.equal(response.statusCode, 400)
  assert.ok(response.body.includes('FST_ERR_CTP_EMPTY_JSON_BODY'))
  assert.equal(response.headers['set-cookie'], undefined)
})

test('should save the session properly', async (t) => {
  // The original looks into its store: one session, holding `test` (and its
  // cookie) but not sessionId/encryptedSessionId. Here: one session in
  // memcached (a primary and a backup copy), whose attributes are just `test`.
  const state = await setup(t, { trustProxy: true })
  let saved!: Promise<{ error: Error | undefined, copies: number }>
  state.app.get('/', (request, reply) => {
    request.session.test = true
    saved = new Promise((resolve) => {
      request.session.save((error) => resolve({ error, copies: copies(state.cluster, request.session.id as string) }))
    })
    reply.send(200)
  })
  state.app.get('/look', async (request) => ({ keys: Object.keys(request.session), test: request.session.test }))
  const response = await state.app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  const { error, copies: stored } = await within(saved, 5_000, 'the callback of session.save() in GET /')
  assert.ifError(error)
  assert.equal(stored, 2)
  const look = await state.app.inject({ url: '/look', headers: { cookie: jar(response) } })
  assert.deepEqual(look.json(), { keys: ['test'], test: true })
})

test('should set session cookie', async (t) => {
  const { app } = await build(t, (request, reply) => {
    request.session.test = {}
    reply.send(200)
  })
  const pattern = new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; Secure`)
  const response1 = await app.inject({ url: '/', headers: HTTPS })
  assert.equal(response1.statusCode, 200)
  assert.match(setCookie(response1), pattern)
  const response2 = await app.inject({ url: '/', headers: HTTPS })
  assert.equal(response2.statusCode, 200)
  assert.match(setCookie(response2), pattern)
})

test('should support multiple secrets', async (t) => {
  // The original puts { test: 0 } in its store under an id and sends that id
  // signed with the old secret. Here an app signing with the old secret
  // creates the session; an app on the same nodes with [newSecret, oldSecret]
  // serves it.
  const newSecret = 'geheim'
  const before = await setup(t, { cookie: { secret: DEFAULT_SECRET } })
  const created = await sessionCookie(before, 0)
  const sessionId = idIn(created) as string
  const signedWithOld = sign(sessionId, DEFAULT_SECRET)
  const signedWithNew = sign(sessionId, newSecret)
  assert.equal(decodeURIComponent(created.slice('sessionId='.length)), signedWithOld)

  const { app } = await build(t, async (request) => {
    seen.push({ sessionId: request.session.sessionId, test: request.session.userId })
    request.session.userId = ++counter
    await request.session.save()
    return 200
  }, { cluster: before.cluster, cookie: { secret: [newSecret, DEFAULT_SECRET] } })
  app.get('/read', async (request) => ({ test: request.session.userId, keys: Object.keys(request.session) }))
  const seen: Array<{ sessionId: string, test: unknown }> = []
  let counter = 0

  const response1 = await app.inject({ url: '/', headers: { ...HTTPS, cookie: `sessionId=${signedWithOld}` } })
  assert.equal(response1.statusCode, 200)
  assert.equal(decodeURIComponent(setCookie(response1).split(';', 1)[0]?.slice('sessionId='.length) as string), signedWithNew)

  const response2 = await app.inject({ url: '/', headers: { ...HTTPS, cookie: `sessionId=${encodeURIComponent(signedWithNew)}` } })
  assert.equal(response2.statusCode, 200)
  assert.deepEqual(seen, [{ sessionId, test: 0 }, { sessionId, test: 1 }])
  // The original's store holds test: 2 and no sessionId
  const read = await app.inject({ url: '/read', headers: { cookie: `sessionId=${encodeURIComponent(signedWithNew)}` } })
  assert.deepEqual(read.json(), { test: 2, keys: ['userId'] })
  // The original also expects a Set-Cookie on response 2: that is its
  // rolling: true, ported on its own ('when rolling is true, keep saving the session')
})

test('should set session cookie using the specified cookie name', async (t) => {
  const { app } = await build(t, (request, reply) => {
    request.session.test = {}
    reply.send(200)
  }, { msm: { cookieName: 'anothername' } })
  const response = await app.inject({ url: '/', headers: HTTPS })
  assert.equal(response.statusCode, 200)
  assert.match(setCookie(response), new RegExp(String.raw`^anothername=${SIGNED_VALUE}; Path=/; HttpOnly; Secure`))
})

test('should set session cookie using the default cookie name', async (t) => {
  const { app } = await build(t, (request, reply) => {
    request.session.test = {}
    reply.send(200)
  })
  const response = await app.inject({ url: '/', headers: { ...HTTPS, cookie: FOREIGN_COOKIE } })
  assert.equal(response.statusCode, 200)
  assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; Secure`))
})

test('should set express sessions using the specified cookiePrefix', { skip: NOT_APPLICABLE.cookiePrefix }, () => {})

test('should create new session on expired session', async (t) => {
  // The original stores a session whose cookie expired; here the session
  // expired in memcached (its clock moved an hour ahead). Their cookie.maxAge
  // 100 ms is 1 s here. Their handler writes nothing and still gets a cookie
  // (saveUninitialized: true); ours writes one attribute.
  const built = await build(t, (request, reply) => {
    request.session.test = 1
    reply.send(200)
  }, { msm: { cookie: { maxAge: 1 } } })
  const old = await sessionCookie(built)
  const oldId = idIn(old) as string
  for (const node of built.cluster.nodes) node.server.now = () => Math.floor(Date.now() / 1000) + 3600
  const response = await built.app.inject({ url: '/', headers: { ...HTTPS, cookie: old } })
  assert.equal(response.statusCode, 200)
  const line = setCookie(response)
  assert.equal(line.includes(oldId), false)
  assert.match(line, new RegExp(String.raw`^sessionId=${SIGNED_VALUE};.* Path=/;.* HttpOnly; Secure`))
  assert.equal(lifetimeOf(line), 1)
})

test('should set session.cookie.expires if maxAge', async (t) => {
  // Their maxAge 42 ms is 42 s here; their handler writes nothing (saveUninitialized: true), ours writes one attribute
  let expires: unknown
  const { app } = await build(t, (request, reply) => {
    expires = request.session.cookie.expires
    request.session.test = 1
    reply.send(200)
  }, { msm: { cookie: { maxAge: 42 } } })
  const response = await app.inject({ url: '/', headers: { ...HTTPS, cookie: FOREIGN_COOKIE } })
  assert.equal(response.statusCode, 200)
  assert.ok(expires instanceof Date)
  const line = setCookie(response)
  assert.match(line, new RegExp(String.raw`^sessionId=${SIGNED_VALUE};.* Path=/;.* HttpOnly; Secure`))
  assert.equal(lifetimeOf(line), 42)
})

test('should set new session cookie if expired', async (t) => {
  // Expired: memcached's clock moved an hour ahead of the session's lifetime
  const built = await build(t, (request, reply) => {
    request.session.test = {}
    reply.send(200)
  })
  const old = await sessionCookie(built)
  for (const node of built.cluster.nodes) node.server.now = () => Math.floor(Date.now() / 1000) + 3600
  const response = await built.app.inject({ url: '/', headers: { ...HTTPS, cookie: old } })
  assert.equal(response.statusCode, 200)
  assert.equal(setCookie(response).includes(old.slice('sessionId='.length)), false)
  assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; Secure`))
})

test('should return new session cookie if does not exist in store', async (t) => {
  const { app } = await build(t, (request, reply) => {
    request.session.test = {}
    reply.send(200)
  })
  for (const cookieHeader of [UNKNOWN_COOKIE, FOREIGN_COOKIE]) {
    const response = await app.inject({ url: '/', headers: { ...HTTPS, cookie: cookieHeader } })
    assert.equal(response.statusCode, 200)
    assert.equal(setCookie(response).includes(cookieHeader.slice('sessionId='.length)), false)
    assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; Secure`))
  }
})

test('should not set session cookie on invalid path', { todo: DIFFERENCE.noPathCheck }, async (t) => {
  // Their handler writes nothing, and a request on a cookie.path would get a
  // cookie (saveUninitialized: true); ours writes one attribute, so that the
  // test is about the path
  const { app } = await build(t, (request, reply) => {
    request.session.test = 1
    reply.send(200)
  }, { msm: { cookie: { path: '/path/' } } })
  const response = await app.inject({ url: '/', headers: HTTPS })
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['set-cookie'], undefined)
})

test('should create new session if cookie contains invalid session', async (t) => {
  const { app } = await build(t, (request, reply) => {
    request.session.test = {}
    reply.send(200)
  })
  const response = await app.inject({ url: '/', headers: { ...HTTPS, cookie: `sessionId=${DEFAULT_SECRET}.badinvalidsignaturenoooo` } })
  assert.equal(response.statusCode, 200)
  assert.equal(setCookie(response).includes('badinvalidsignaturenoooo'), false)
  assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; Secure`))
})

test('should not set session cookie if no data in session and saveUninitialized is false', async (t) => {
  // saveUninitialized is always false here: no option
  const { app } = await build(t, (_request, reply) => { reply.send(200) })
  const response = await app.inject({ url: '/', headers: HTTPS })
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['set-cookie'], undefined)
})

for (const [name, secret] of [
  ['should handle algorithm sha256', { secret: DEFAULT_SECRET, algorithm: 'sha256' }],
  ['should handle algorithm sha512', { secret: DEFAULT_SECRET, algorithm: 'sha512' }],
  ['should handle custom signer', { secret: new Signer(DEFAULT_SECRET, 'sha512') }]
] as const) {
  test(name, async (t) => {
    // Their algorithm/secret options are @fastify/cookie's here. Their handler
    // writes nothing (saveUninitialized: true); ours writes one attribute.
    const { app } = await build(t, (request, reply) => {
      request.session.test = 1
      reply.send(200)
    }, { cookie: secret })
    const response = await app.inject({ url: '/', headers: { ...HTTPS, cookie: FOREIGN_COOKIE } })
    assert.equal(response.statusCode, 200)
    const line = setCookie(response)
    assert.equal(line.includes(FOREIGN_ENCRYPTED_SESSION_ID), false)
    assert.match(line, new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; Secure`))
    const value = decodeURIComponent(line.slice('sessionId='.length, line.indexOf(';')))
    assert.deepEqual(app.unsignCookie(value), { valid: true, renew: false, value: idIn(value) })
  })
}

// ---------------------------------------------------------------------------
// test/session.test.js
// ---------------------------------------------------------------------------

test('should add session object to request', async (t) => {
  let session: unknown
  const { app } = await build(t, (request, reply) => {
    session = request.session
    reply.send(200)
  })
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.ok(session)
})

test('should destroy the session', { todo: DIFFERENCE.destroyNull }, async (t) => {
  const seen: { error?: Error | null, session?: unknown } = {}
  const { app } = await build(t, (request, reply) => {
    request.session.destroy((error) => {
      seen.error = error
      seen.session = request.session
      reply.send(200)
    })
  })
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.ifError(seen.error)
  assert.equal(seen.session, null)
})

for (const member of ['encryptedSessionId', 'cookie', 'sessionId'] as const) {
  test(`should add session.${member} object to request`, async (t) => {
    let value: unknown
    const { app } = await build(t, (request, reply) => {
      value = request.session[member]
      reply.send(200)
    })
    const response = await app.inject({ url: '/' })
    assert.equal(response.statusCode, 200)
    assert.ok(value)
  })
}

test('should allow get/set methods for fetching/updating session values', async (t) => {
  let value: unknown
  const { app } = await build(t, (request, reply) => {
    request.session.set('foo', 'bar')
    value = request.session.get('foo')
    reply.send(200)
  })
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.equal(value, 'bar')
})

test('should use custom sessionId generator if available (without request)', { skip: NOT_APPLICABLE.idGenerator }, () => {})

test('should keep user data in session throughout the time', async (t) => {
  let foo: unknown
  const { app } = await setup(t, { msm: { cookie: { secure: false } } })
  app.get('/', (request, reply) => {
    request.session.foo = 'bar'
    reply.send(200)
  })
  app.get('/check', (request, reply) => {
    foo = request.session.foo
    reply.send(200)
  })
  const response1 = await app.inject({ url: '/' })
  assert.equal(response1.statusCode, 200)
  const response2 = await app.inject({ url: '/check', headers: { cookie: jar(response1) } })
  assert.equal(response2.statusCode, 200)
  assert.equal(foo, 'bar')
})

test('should generate new sessionId', async (t) => {
  let oldSessionId: string | undefined
  let checked: string | undefined
  const { app } = await setup(t, { msm: { cookie: { secure: false } } })
  app.get('/', (request, reply) => {
    oldSessionId = request.session.sessionId
    request.session.regenerate((error) => {
      if (error !== undefined && error !== null) reply.status(500).send('Error ' + String(error))
      else reply.send(200)
    })
  })
  app.get('/check', (request, reply) => {
    checked = request.session.sessionId
    reply.send(200)
  })
  const response1 = await app.inject({ url: '/' })
  assert.equal(response1.statusCode, 200)
  const response2 = await app.inject({ url: '/check', headers: { cookie: jar(response1) } })
  assert.equal(response2.statusCode, 200)
  assert.ok(oldSessionId)
  assert.notEqual(checked, oldSessionId)
})

for (const style of ['callback', 'async'] as const) {
  const name = style === 'callback' ? 'should generate new sessionId keeping ignoreFields' : 'should generate new sessionId keeping ignoreFields (async)'
  test(name, async (t) => {
    let oldSessionId: string | undefined
    const checked: { sessionId?: string, message?: unknown } = {}
    const { app } = await setup(t, { msm: { cookie: { secure: false } } })
    app.get('/', async (request, reply) => {
      oldSessionId = request.session.sessionId
      request.session.set('message', 'hello world')
      if (style === 'async') {
        await request.session.regenerate(['message'])
        return reply.send(200)
      }
      request.session.regenerate(['message'], (error) => {
        if (error !== undefined && error !== null) reply.status(500).send('Error ' + String(error))
        else reply.send(200)
      })
      return reply
    })
    app.get('/check', (request, reply) => {
      checked.sessionId = request.session.sessionId
      checked.message = request.session.get('message')
      reply.send(200)
    })
    const response1 = await app.inject({ url: '/' })
    assert.equal(response1.statusCode, 200)
    const response2 = await app.inject({ url: '/check', headers: { cookie: jar(response1) } })
    assert.equal(response2.statusCode, 200)
    assert.notEqual(checked.sessionId, oldSessionId)
    assert.equal(checked.message, 'hello world')
  })
}

test('should decorate the server with decryptSession', { skip: NOT_APPLICABLE.decryptSession }, () => {})
test('should decryptSession with custom request object', { skip: NOT_APPLICABLE.decryptSession }, () => {})
test('should decryptSession with custom cookie options', { skip: NOT_APPLICABLE.decryptSession }, () => {})

test('should bubble up errors with destroy call if session expired', { todo: DIFFERENCE.deleteNeverFails }, async (t) => {
  // The original's store returns an expired session and fails to destroy it.
  // Here: a stored session the plugin finds idle for an hour (its clock moved
  // ahead, memcached's did not), on nodes whose deletes fail.
  const built = await setup(t, { msm: { cookie: { secure: false } } })
  built.app.get('/', (_request, reply) => { reply.send(200) })
  const old = await sessionCookie(built)
  travel(t, built.cluster, 3_600_000)
  built.faults.add('delete')
  const response = await built.app.inject({ url: '/', headers: { cookie: old } })
  assert.equal(response.statusCode, 500)
  assert.equal(response.json().message, 'no can do')
})

test('should not reset session cookie expiration if rolling is false', async (t) => {
  // rolling: false is our behaviour within touchInterval. The original's
  // onRequest hook answers with request.session.expires (an attribute, never
  // set, in both); the session is created by the route here (their
  // saveUninitialized: true created it), and the point is that the second
  // response does not send the cookie again.
  const { app } = await setup(t, { msm: { cookie: { secure: false, maxAge: 10 } } })
  app.addHook('onRequest', async (request, reply) => {
    await sleep(1)
    if (request.url === '/check') return reply.send(request.session.expires)
  })
  app.get('/', (request, reply) => {
    request.session.test = 1
    reply.send(request.session.expires)
  })
  app.get('/check', (_request, reply) => { reply.send(200) })
  const response1 = await app.inject({ url: '/' })
  assert.equal(response1.statusCode, 200)
  assert.equal(setCookies(response1).length, 1)
  const response2 = await app.inject({ url: '/check', headers: { cookie: jar(response1) } })
  assert.equal(response2.statusCode, 200)
  assert.equal(response1.body, response2.body)
  assert.equal(response2.headers['set-cookie'], undefined)
})

test('should update the expires property of the session using Session#touch() even if rolling is false', async (t) => {
  // Their maxAge 10000 ms is 10 s here
  const { app } = await setup(t, { msm: { cookie: { secure: false, maxAge: 10 } } })
  app.addHook('onRequest', async (request, reply) => {
    await sleep(1)
    request.session.touch()
    return reply.send(request.session.cookie.expires)
  })
  app.get('/', (_request, reply) => { reply.send(200) })
  app.get('/check', (_request, reply) => { reply.send(200) })
  const response1 = await app.inject({ url: '/' })
  assert.equal(response1.statusCode, 200)
  await sleep(1)
  const response2 = await app.inject({ url: '/check', headers: { cookie: jar(response1) } })
  assert.equal(response2.statusCode, 200)
  assert.notEqual(response1.body, response2.body)
})

test('should use custom sessionId generator if available (with request)', { skip: NOT_APPLICABLE.idGenerator }, () => {})
test('should use custom sessionId generator if available (with request and rolling false)', { skip: NOT_APPLICABLE.idGenerator }, () => {})

test('should reload the session', async (t) => {
  const seen: { before?: unknown, error?: Error | null, after?: unknown } = {}
  const { app } = await build(t, (request, reply) => {
    request.session.someData = 'some-data'
    seen.before = request.session.someData
    request.session.reload((error) => {
      seen.error = error
      seen.after = request.session.someData
      reply.send(200)
    })
  })
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.equal(seen.before, 'some-data')
  // The original checks deepStrictEqual(err, null): @fastify/session passes
  // null; ours passes no error (undefined). Both mean success to a callback.
  assert.ifError(seen.error)
  assert.equal(seen.after, undefined)
})

test('should save the reloaded session with callback', async (t) => {
  const errors: Array<Error | undefined> = []
  const { app } = await build(t, (request, reply) => {
    request.session.someData = 'some-data'
    request.session.save((error) => {
      errors.push(error)
      request.session.reload((error) => {
        errors.push(error)
        reply.send(200)
      })
    })
  }, { msm: { cookie: { secure: false } } })
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.equal(errors.length, 2)
  for (const error of errors) assert.ifError(error)
})

test('should save the session', async (t) => {
  const seen: unknown[] = []
  const { app } = await build(t, (request, reply) => {
    request.session.someData = 'some-data'
    seen.push(request.session.someData)
    request.session.save((error) => {
      seen.push(error, request.session.someData)
      // unlike the previous test, the data remains after a save
      request.session.reload((error) => {
        seen.push(error, request.session.someData)
        reply.send(200)
      })
    })
  })
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.deepEqual(seen, ['some-data', undefined, 'some-data', undefined, 'some-data'])
})

// destroy, regenerate, reload and save supports promises: one test each in the original
for (const method of ['destroy', 'regenerate', 'reload', 'save'] as const) {
  test(`${method} supports promises`, async (t) => {
    let outcome: unknown = 'pending'
    const { app } = await build(t, async (request) => {
      outcome = await request.session[method]().then(() => 'resolved', (error: Error) => error)
      return 200
    })
    const response = await app.inject({ url: '/' })
    assert.equal(response.statusCode, 200)
    assert.equal(outcome, 'resolved')
  })
}

test('destroy supports rejecting promises', { todo: DIFFERENCE.deleteNeverFails }, async (t) => {
  // The original's store fails to destroy; here a stored session is destroyed while deletes fail
  let outcome: unknown = 'pending'
  const built = await build(t, async (request) => {
    built.faults.add('delete')
    outcome = await request.session.destroy().then(() => 'resolved', (error: Error) => error.message)
    built.faults.delete('delete')
    return 200
  })
  const old = await sessionCookie(built)
  const response = await built.app.inject({ url: '/', headers: { cookie: old } })
  // 200 since the handler swallows the error
  assert.equal(response.statusCode, 200)
  assert.equal(outcome, 'no can do')
})

test('regenerate supports rejecting promises', { todo: DIFFERENCE.regenerateWritesAtEnd }, async (t) => {
  // The original's store fails to set; here memcached's writes fail during regenerate()
  let outcome: unknown = 'pending'
  const built = await build(t, async (request) => {
    built.faults.add('set')
    outcome = await request.session.regenerate().then(() => 'resolved', (error: Error) => error.message)
    built.faults.delete('set')
    return 200
  })
  const old = await sessionCookie(built)
  const response = await built.app.inject({ url: '/', headers: { cookie: old } })
  assert.equal(response.statusCode, 200)
  assert.equal(outcome, 'no can do')
})

test('regenerate destroys the previous session in the store', async (t) => {
  let oldSessionId: string | undefined
  let newSessionId: string | undefined
  const { app, cluster } = await build(t, (request, reply) => {
    if (request.session.get('userId') !== undefined) {
      // Second request: a stored session, regenerated
      oldSessionId = request.session.sessionId
      request.session.regenerate((error) => {
        if (error !== undefined && error !== null) {
          reply.status(500).send('Error ' + String(error))
          return
        }
        newSessionId = request.session.sessionId
        reply.send(200)
      })
    } else {
      // First request: a session is created and stored
      request.session.set('userId', 42)
      reply.send(200)
    }
  }, { msm: { cookie: { secure: false } } })
  const response1 = await app.inject({ url: '/' })
  assert.equal(response1.statusCode, 200)
  // One session: a primary and a backup copy
  assert.equal(copies(cluster, idIn(jar(response1)) as string), 2)
  const response2 = await app.inject({ url: '/', headers: { cookie: jar(response1) } })
  assert.equal(response2.statusCode, 200)
  assert.ok(oldSessionId !== undefined && newSessionId !== undefined)
  assert.notEqual(newSessionId, oldSessionId)
  assert.equal(copies(cluster, oldSessionId), 0)
  assert.equal(copies(cluster, newSessionId), 2)
})

test('reload supports rejecting promises', async (t) => {
  // The original's store fails to get; here a stored session is reloaded while memcached's reads fail
  let outcome: unknown = 'pending'
  const built = await build(t, async (request) => {
    built.faults.add('get')
    outcome = await request.session.reload().then(() => 'resolved', (error: Error) => error.message)
    built.faults.delete('get')
    return 200
  })
  const old = await sessionCookie(built)
  const response = await built.app.inject({ url: '/', headers: { cookie: old } })
  assert.equal(response.statusCode, 200)
  // memcached's error, named by the node that failed
  assert.match(String(outcome), /no can do/)
})

test('save supports rejecting promises', async (t) => {
  // The original's store fails to set. A new session that holds nothing is
  // not written at all here (saveUninitialized false), so ours holds an attribute.
  let outcome: unknown = 'pending'
  const built = await build(t, async (request) => {
    request.session.test = 1
    built.faults.add('set')
    outcome = await request.session.save().then(() => 'resolved', (error: Error) => error)
    built.faults.delete('set')
    return 200
  })
  const response = await built.app.inject({ url: '/' })
  // 200 since the handler swallows the error
  assert.equal(response.statusCode, 200)
  assert.ok(outcome instanceof Error, `rejected, got ${String(outcome)}`)
})

/** A Set-Cookie line that clears the session cookie. */
const CLEARING = /^sessionId=; (?=.*Max-Age=0)(?=.*Expires=Thu, 01 Jan 1970 00:00:00 GMT)/

test("clears cookie if not backed by a session, and there's nothing to save", { todo: DIFFERENCE.noClear }, async (t) => {
  const { app } = await build(t, (_request, reply) => { reply.send(200) })
  const response = await app.inject({ url: '/', headers: { cookie: UNKNOWN_COOKIE } })
  assert.equal(response.statusCode, 200)
  assert.match(setCookies(response)[0] ?? '', CLEARING)
  assert.match(setCookies(response)[0] ?? '', /; Path=\/(;|$)/)
})

test("clearing cookie sets the domain if it's specified in the cookie options", { todo: DIFFERENCE.noClear }, async (t) => {
  const { app } = await build(t, (_request, reply) => { reply.send(200) }, { msm: { cookie: { domain: 'domain.test' } } })
  const response = await app.inject({ url: '/', headers: { cookie: UNKNOWN_COOKIE } })
  assert.equal(response.statusCode, 200)
  assert.match(setCookies(response)[0] ?? '', CLEARING)
  assert.match(setCookies(response)[0] ?? '', /; Domain=domain\.test(;|$)/)
})

test("clearing cookie sets the path if it's specified in the cookie options", { todo: DIFFERENCE.noClear }, async (t) => {
  const { app } = await setup(t, { trustProxy: true, msm: { cookie: { path: '/admin' } } })
  app.get('/admin', (_request, reply) => { reply.send(200) })
  const response = await app.inject({ url: '/admin', headers: { cookie: UNKNOWN_COOKIE } })
  assert.equal(response.statusCode, 200)
  assert.match(setCookies(response)[0] ?? '', CLEARING)
  assert.match(setCookies(response)[0] ?? '', /; Path=\/admin(;|$)/)
})

test('does not clear cookie if no session cookie in request', async (t) => {
  const { app } = await build(t, (_request, reply) => { reply.send(200) })
  const response = await app.inject({ url: '/', headers: { cookie: 'someOtherCookie=foobar' } })
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['set-cookie'], undefined)
})

// The original counts its store's set() calls; one save here is two
// memcached sets (the primary and the backup copy).
const SETS_PER_SAVE = 2

test('when rolling is false, only save session when it changes', async (t) => {
  const { app, writes } = await setup(t, { msm: { cookie: { secure: false } } })
  app.get('/', (request, reply) => {
    request.session.userId = 42
    reply.send(200)
  })
  const response1 = await app.inject('/')
  assert.equal(response1.statusCode, 200)
  assert.equal(writes.count, SETS_PER_SAVE)
  assert.equal(typeof response1.headers['set-cookie'], 'string')
  const response2 = await app.inject({ path: '/', headers: { cookie: jar(response1) } })
  assert.equal(response2.statusCode, 200)
  // still saved once: the same value was set again
  assert.equal(writes.count, SETS_PER_SAVE)
  assert.equal(response2.headers['set-cookie'], undefined)
})

test('when rolling is false, only save session when it changes, but.assert.notStrictEqual if manually saved', async (t) => {
  const modified: boolean[] = []
  const { app, writes } = await setup(t, { msm: { cookie: { secure: false } } })
  app.get('/', async (request, reply) => {
    request.session.userId = 42
    modified.push(request.session.isModified())
    await request.session.save()
    modified.push(request.session.isModified())
    await reply.send(200)
  })
  const { statusCode, headers } = await app.inject('/')
  assert.equal(statusCode, 200)
  assert.deepEqual(modified, [true, false])
  // saved manually, so once (not again at the end of the request)
  assert.equal(writes.count, SETS_PER_SAVE)
  assert.equal(typeof headers['set-cookie'], 'string')
})

test('when rolling is true, keep saving the session', { todo: DIFFERENCE.rolling }, async (t) => {
  const { app, writes } = await setup(t, { msm: { cookie: { secure: false } } })
  app.get('/', (request, reply) => {
    request.session.userId = 42
    reply.send(200)
  })
  const response1 = await app.inject('/')
  assert.equal(response1.statusCode, 200)
  assert.equal(writes.count, SETS_PER_SAVE)
  assert.equal(typeof response1.headers['set-cookie'], 'string')
  const response2 = await app.inject({ path: '/', headers: { cookie: jar(response1) } })
  assert.equal(response2.statusCode, 200)
  assert.equal(writes.count, 2 * SETS_PER_SAVE)
  assert.equal(typeof response2.headers['set-cookie'], 'string')
})

test('will not update expires property of the session using Session#touch() if maxAge is not set', async (t) => {
  const { app } = await setup(t, { msm: { cookie: { secure: false } } })
  app.addHook('onRequest', (request, _reply, done) => {
    request.session.touch()
    done()
  })
  app.get('/', (request, reply) => { reply.send({ expires: request.session.cookie.expires }) })
  const response1 = await app.inject({ url: '/' })
  assert.equal(response1.statusCode, 200)
  assert.deepEqual(response1.json(), { expires: null })
  const response2 = await app.inject({ url: '/', headers: { cookie: jar(response1) } })
  assert.equal(response2.statusCode, 200)
  assert.deepEqual(response2.json(), { expires: null })
})

test('should save session if existing, modified, rolling false, and cookie.expires null', async (t) => {
  const seen: unknown[] = []
  const { app } = await setup(t, { msm: { cookie: { secure: false } } })
  app.get('/', (request, reply) => {
    request.session.set('foo', 'bar')
    seen.push(request.session.cookie.expires)
    reply.send(200)
  })
  app.get('/second', (request, reply) => {
    seen.push(request.session.get('foo'))
    request.session.set('foo', 'baz')
    seen.push(request.session.cookie.expires)
    reply.send(200)
  })
  app.get('/third', (request, reply) => {
    seen.push(request.session.get('foo'), request.session.cookie.expires)
    reply.send(200)
  })
  const response1 = await app.inject({ url: '/' })
  assert.equal(response1.statusCode, 200)
  const response2 = await app.inject({ url: '/second', headers: { cookie: jar(response1) } })
  assert.equal(response2.statusCode, 200)
  const response3 = await app.inject({ url: '/third', headers: { cookie: jar(response1) } })
  assert.equal(response3.statusCode, 200)
  assert.deepEqual(seen, [null, 'bar', null, 'baz', null])
})

/** POST / stores the body and gives the session a 1 hour cookie; GET / answers the stored body (404 without). */
function dataRoutes (app: FastifyInstance, get: Handler = (request, reply) => {
  const data = request.session.get('data')
  if (data === undefined) reply.code(404).send()
  else reply.send(data)
}): void {
  app.post('/', (request, reply) => {
    request.session.set('data', request.body as never)
    request.session.options({ maxAge: 1000 * 60 * 60 })
    reply.send('hello world')
  })
  app.get('/', get)
}

test('Custom options', async (t) => {
  const { app } = await setup(t, { msm: { cookie: { secure: false, path: '/' } } })
  dataRoutes(app)
  const response1 = await app.inject({ method: 'POST', url: '/', payload: { some: 'data' } })
  assert.equal(response1.statusCode, 200)
  // The original compares Expires with now + 1 h; we send Max-Age
  assert.equal(lifetimeOf(setCookie(response1)), 60 * 60)
  const response2 = await app.inject({ method: 'GET', url: '/', headers: { cookie: jar(response1) } })
  assert.deepEqual(response2.json(), { some: 'data' })
})

test('session.options should not leak cookie overrides to new sessions', { todo: DIFFERENCE.optionsMaxAgeOnly }, async (t) => {
  const { app } = await setup(t, { msm: { cookie: { secure: false, httpOnly: true, path: '/' } } })
  app.post('/override', (request, reply) => {
    request.session.set('data', 'overridden')
    legacyOptions(request.session, { httpOnly: false })
    reply.send(200)
  })
  app.get('/default', (request, reply) => {
    request.session.set('data', 'default')
    reply.send(200)
  })
  let response = await app.inject({ method: 'POST', url: '/override' })
  assert.equal(response.statusCode, 200)
  assert.doesNotMatch(setCookie(response), /HttpOnly/)
  response = await app.inject({ method: 'GET', url: '/default' })
  assert.equal(response.statusCode, 200)
  assert.match(setCookie(response), /HttpOnly/)
})

for (const regenerate of [false, true]) {
  test(regenerate ? 'Override global options with regenerate' : 'Override global options', async (t) => {
    // Their global maxAge 42 ms is 42 s here. Their second response sends the
    // cookie again because of rolling: true; ours touches the session for that.
    const { app } = await setup(t, { msm: { cookie: { secure: false, maxAge: 42, path: '/' } } })
    dataRoutes(app, async (request, reply) => {
      const data = request.session.get('data')
      if (regenerate) await request.session.regenerate()
      else request.session.touch()
      if (data === undefined) return reply.code(404).send()
      return reply.send(data)
    })
    const response1 = await app.inject({ method: 'POST', url: '/', payload: { some: 'data' } })
    assert.equal(response1.statusCode, 200)
    let line = setCookie(response1)
    assert.equal(lifetimeOf(line), 60 * 60)
    assert.match(line, /; Path=\/(;|$)/)
    const response2 = await app.inject({ method: 'GET', url: '/', headers: { cookie: jar(response1) } })
    assert.equal(response2.statusCode, 200)
    assert.deepEqual(response2.json(), { some: 'data' })
    line = setCookie(response2)
    assert.equal(lifetimeOf(line), 60 * 60)
    assert.match(line, /; Path=\/(;|$)/)
  })
}

// ---------------------------------------------------------------------------
// test/cookie.test.js
// ---------------------------------------------------------------------------

const setsTest: Handler = (request, reply) => {
  request.session.test = {}
  reply.send(200)
}

test('should set session cookie (cookie.test.js)', async (t) => {
  const { app } = await setup(t, { encrypted: true })
  app.get('/', setsTest)
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; Secure`))
})

// Their cookie.secure defaults to true, ours to 'auto': these say true. Their
// handlers write nothing, and a secure request would get a cookie
// (saveUninitialized: true); ours write one attribute, so that the test is
// about the secure flag.
test('should not set session cookie is request is not secure', { todo: DIFFERENCE.secureOverHttp }, async (t) => {
  const { app } = await setup(t, { encrypted: false, msm: { cookie: { secure: true } } })
  app.get('/', setsTest)
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['set-cookie'], undefined)
})

test('should not set session cookie is request is not secure and x-forwarded-proto != https', { todo: DIFFERENCE.secureOverHttp }, async (t) => {
  const { app } = await setup(t, { trustProxy: true, encrypted: false, msm: { cookie: { secure: true } } })
  app.get('/', setsTest)
  const response = await app.inject({ url: '/', headers: { 'x-forwarded-proto': 'http' } })
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['set-cookie'], undefined)
})

test('should set session cookie is request is not secure and x-forwarded-proto = https', async (t) => {
  const { app } = await setup(t, { trustProxy: true, encrypted: false, msm: { cookie: { secure: true } } })
  app.get('/', setsTest)
  const response = await app.inject({ url: '/', headers: HTTPS })
  assert.equal(response.statusCode, 200)
  assert.ok(response.headers['set-cookie'])
})

test('session.cookie should have expires if maxAge is set', async (t) => {
  // Their maxAge 100000000 ms is 100000 s here. Their handler writes nothing (saveUninitialized: true).
  let originalMaxAge: unknown
  const { app } = await build(t, (request, reply) => {
    originalMaxAge = request.session.cookie.originalMaxAge
    request.session.test = 1
    reply.send(200)
  }, { msm: { cookie: { maxAge: 100000, secure: false } } })
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.equal(originalMaxAge, 100000000)
  assert.equal(lifetimeOf(setCookie(response)), 100000)
})

test('should set session cookie with expires if maxAge', async (t) => {
  // Their maxAge 42 ms is 42 s here; they send Expires, we send Max-Age
  const { app } = await build(t, setsTest, { msm: { cookie: { maxAge: 42 } } })
  const response = await app.inject({ url: '/', headers: HTTPS })
  assert.equal(response.statusCode, 200)
  const line = setCookie(response)
  assert.match(line, new RegExp(String.raw`^sessionId=${SIGNED_VALUE};.* Path=/;.* HttpOnly; Secure`))
  assert.equal(lifetimeOf(line), 42)
})

test('should set session cookie with maxAge', async (t) => {
  // (the original sets a domain)
  const { app } = await build(t, setsTest, { msm: { cookie: { domain: 'localhost' } } })
  const response = await app.inject({ url: '/', headers: HTTPS })
  assert.equal(response.statusCode, 200)
  assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Domain=localhost; Path=/; HttpOnly; Secure`))
})

test('should set session cookie with sameSite', async (t) => {
  // Their sameSite: true is 'strict' here
  const { app } = await build(t, setsTest, { msm: { cookie: { sameSite: 'strict' } } })
  const response = await app.inject({ url: '/', headers: HTTPS })
  assert.equal(response.statusCode, 200)
  assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; Secure; SameSite=Strict`))
})

test('should set session another path in cookie', async (t) => {
  const { app } = await setup(t, { trustProxy: true, msm: { cookie: { path: '/a/test/path' } } })
  app.get('/a/test/path', setsTest)
  const response = await app.inject({ url: '/a/test/path', headers: HTTPS })
  assert.equal(response.statusCode, 200)
  assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/a/test/path; HttpOnly; Secure`))
})

test('should set session cookie with expires', { skip: NOT_APPLICABLE.cookieExpires }, () => {})

test('should set session non HttpOnly cookie', async (t) => {
  const { app } = await build(t, setsTest, { msm: { cookie: { httpOnly: false } } })
  const response = await app.inject({ url: '/', headers: HTTPS })
  assert.equal(response.statusCode, 200)
  const line = setCookie(response)
  assert.match(line, new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; Secure`))
  assert.doesNotMatch(line, /HttpOnly/)
})

test('should set session non secure cookie', async (t) => {
  const { app } = await build(t, setsTest, { msm: { cookie: { secure: false } } })
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  const line = setCookie(response)
  assert.match(line, new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly`))
  assert.doesNotMatch(line, /Secure/)
})

test('should use session cookie secure override when saving non secure cookie', { todo: DIFFERENCE.optionsMaxAgeOnly }, async (t) => {
  const { app } = await build(t, (request, reply) => {
    legacyOptions(request.session, { secure: false })
    request.session.test = {}
    reply.send(200)
  }, { msm: { cookie: { secure: true } } })
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.equal(setCookie(response).includes('Secure'), false)
})

test('should use session cookie secure override when saving secure cookie', { todo: DIFFERENCE.optionsMaxAgeOnly }, async (t) => {
  const { app } = await build(t, (request, reply) => {
    legacyOptions(request.session, { secure: true })
    request.session.test = {}
    reply.send(200)
  }, { msm: { cookie: { secure: false } } })
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  // A Secure cookie over plain HTTP is withheld
  assert.equal(response.headers['set-cookie'], undefined)
})

test('should set session non secure cookie secureAuto', async (t) => {
  const { app } = await build(t, setsTest, { msm: { cookie: { secure: 'auto' } } })
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  const line = setCookie(response)
  assert.match(line, new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly`))
  assert.doesNotMatch(line, /Secure/)
})

test('should set session cookie secureAuto', async (t) => {
  const { app } = await setup(t, { encrypted: false, msm: { cookie: { secure: 'auto' } } })
  app.get('/', setsTest)
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; SameSite=Lax$`))
})

test('should set session cookie secureAuto change SameSite', async (t) => {
  const { app } = await setup(t, { encrypted: false, msm: { cookie: { secure: 'auto', sameSite: 'none' } } })
  app.get('/', setsTest)
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; SameSite=Lax$`))
})

test('should set session cookie secureAuto keep SameSite when secured', async (t) => {
  const { app } = await setup(t, { encrypted: true, msm: { cookie: { secure: 'auto', sameSite: 'none' } } })
  app.get('/', setsTest)
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; Secure; SameSite=None`))
})

test('should set session secure cookie secureAuto http encrypted', async (t) => {
  const { app } = await setup(t, { encrypted: true, msm: { cookie: { secure: 'auto' } } })
  app.get('/', setsTest)
  const response = await app.inject({ url: '/' })
  assert.equal(response.statusCode, 200)
  assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; Secure`))
})

test('should set session secure cookie secureAuto x-forwarded-proto header', async (t) => {
  const { app } = await build(t, setsTest, { msm: { cookie: { secure: 'auto' } } })
  const response = await app.inject({ url: '/', headers: HTTPS })
  assert.equal(response.statusCode, 200)
  assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; Secure`))
})

test('should set session partitioned cookie secure http encrypted', { skip: NOT_APPLICABLE.partitioned }, () => {})
test('should use maxAge instead of expires in session if both are set in options.cookie', { skip: NOT_APPLICABLE.cookieExpires }, () => {})

test('should use session.cookie.originalMaxAge instead of the default maxAge', async (t) => {
  // The original stores a session whose cookie has originalMaxAge 1000 ms
  // under a default maxAge of 2000 ms. Here the session gets its own 1000 s
  // (options()) under a default 2000 s; the next request touches it (their
  // rolling: true) and its cookie keeps the session's own lifetime.
  let originalMaxAge: unknown
  const { app } = await build(t, (request, reply) => {
    originalMaxAge = request.session.cookie.originalMaxAge
    request.session.touch()
    reply.send(200)
  }, { msm: { cookie: { maxAge: 2000 } } })
  app.get('/new', (request, reply) => {
    request.session.test = 1
    request.session.options({ maxAge: 1000 * 1000 })
    reply.send(200)
  })
  const created = await app.inject({ url: '/new', headers: HTTPS })
  assert.equal(lifetimeOf(setCookie(created)), 1000)
  const response = await app.inject({ url: '/', headers: { ...HTTPS, cookie: jar(created) } })
  assert.equal(response.statusCode, 200)
  assert.equal(originalMaxAge, 1000 * 1000)
  const line = setCookie(response)
  assert.match(line, /^sessionId=.*; Path=\/;.* HttpOnly/)
  assert.equal(lifetimeOf(line), 1000)
})

test('when cookie secure is set to false then store secure as false', async (t) => {
  // Their saveUninitialized: true is never here: the handler writes one
  // attribute. Their exact header has no SameSite; ours adds our default SameSite=Lax.
  let secure: unknown
  const { app } = await setup(t, { msm: { cookie: { secure: false } } })
  app.get('/', (request, reply) => {
    secure = request.session.cookie.secure
    request.session.test = 1
    reply.send(200)
  })
  const response = await app.inject({ path: '/' })
  assert.equal(response.statusCode, 200)
  assert.equal(secure, false)
  assert.equal(typeof response.headers['set-cookie'], 'string')
  assert.match(setCookie(response), new RegExp(String.raw`^sessionId=${SIGNED_VALUE}; Path=/; HttpOnly; SameSite=Lax$`))
})

test('Cookie', async (t) => {
  // The original tests its Cookie class; here request.session.cookie, the
  // same object shape, in a request
  const built = await build(t, (request, reply) => {
    probe(request.session)
    reply.send(200)
  })
  let probe: (session: MsmSession) => void = () => {}
  const inRequest = async (check: (session: MsmSession) => void): Promise<void> => {
    let failure: unknown
    probe = (session) => { try { check(session) } catch (error) { failure = error } }
    const response = await built.app.inject({ url: '/' })
    assert.equal(response.statusCode, 200)
    if (failure !== undefined) throw failure
  }

  await t.test('properties', async () => {
    // Their '_expires' (a private field) and 'partitioned' (no such option here) are not ported
    await inRequest(({ cookie }) => {
      for (const name of ['expires', 'originalMaxAge', 'sameSite', 'secure', 'path', 'httpOnly', 'domain', 'maxAge']) {
        assert.equal(name in cookie, true, name)
      }
    })
  })

  await t.test('toJSON', async () => {
    await inRequest(({ cookie }) => {
      const json = cookie.toJSON()
      for (const name of ['expires', 'originalMaxAge', 'sameSite', 'secure', 'path', 'httpOnly', 'domain']) {
        assert.equal(name in json, true, name)
      }
      assert.equal('_expires' in json, false)
      assert.equal('maxAge' in json, false)
    })
  })

  // The clock ticks while testing: allow for the time the check took
  await t.test('maxAge calculated from expires', { todo: DIFFERENCE.cookieExpiresSetter }, async () => {
    await inRequest(({ cookie }) => {
      const start = Date.now()
      cookie.expires = new Date(Date.now() + 1000)
      const maxAge = cookie.maxAge as number
      const duration = Date.now() - start
      assert.equal(maxAge <= 1000 && maxAge >= 1000 - duration, true)
      assert.equal(cookie.originalMaxAge, null)
    })
  })

  await t.test('maxAge set by maxAge', async () => {
    await inRequest(({ cookie }) => {
      const start = Date.now()
      cookie.maxAge = 1000
      const maxAge = cookie.maxAge as number
      const duration = Date.now() - start
      assert.equal(maxAge <= 1000 && maxAge >= 1000 - duration, true)
      assert.equal(cookie.originalMaxAge, 1000)
    })
  })

  await t.test('maxAge returns null when no expires date is set', async () => {
    await inRequest(({ cookie }) => {
      assert.equal(cookie.maxAge, null)
    })
  })
})

// ---------------------------------------------------------------------------
// test/expiration.test.js
// ---------------------------------------------------------------------------

test('sessions should be deleted if expired', async (t) => {
  // Their cookie.maxAge 1000 ms both expires the cookie and the stored
  // session; here maxInactiveInterval 1 s expires the session (and the cookie
  // lives 1 s). Instead of waiting, the plugin's clock moves a minute ahead
  // while memcached's does not: the plugin finds the stored session expired
  // and deletes it. (memcached's expiry is the exact limit; the plugin's own
  // check allows 2 x maxInactiveInterval + touchInterval, hence a minute.) Their handler writes nothing (saveUninitialized: true).
  const built = await build(t, (request, reply) => {
    request.session.test = 1
    reply.send(200)
  }, { msm: { maxInactiveInterval: 1, cookie: { maxAge: 1, secure: false } } })
  let response = await built.app.inject({ url: '/' })
  const initialSession = setCookie(response).split(' ')[0]?.replace(';', '') as string
  assert.ok(initialSession.startsWith('sessionId='))
  const initialId = idIn(initialSession) as string
  assert.equal(copies(built.cluster, initialId), 2)

  travel(t, built.cluster, 60_000)
  response = await built.app.inject({ url: '/', headers: { cookie: initialSession } })
  const endingSession = setCookie(response).split(' ')[0]?.replace(';', '') as string
  assert.ok(endingSession.startsWith('sessionId='))
  assert.notEqual(initialSession, endingSession)
  assert.equal(copies(built.cluster, initialId), 0)
})

// ---------------------------------------------------------------------------
// test/verifyPath.test.js: a session cookie is honoured on the routes under
// its cookie.path only
// ---------------------------------------------------------------------------

const verifyPathCases: Array<{ name: string, path: string, write: [string, string], read: string, expected: string | undefined, query?: Record<string, string> }> = [
  { name: 'should handle path properly /1', path: '/', write: ['GET', '/'], read: '/check', expected: 'bar' },
  { name: 'should handle path properly /2', path: '/check', write: ['POST', '/check'], read: '/check', expected: 'bar' },
  { name: 'should handle path properly /2 (the second test of that name)', path: '/check', write: ['POST', '/check'], read: '/check/page1', expected: 'bar' },
  { name: 'should handle path properly /3', path: '/check', write: ['POST', '/check'], read: '/check_page1', expected: undefined },
  { name: 'should handle path properly /4', path: '/check', write: ['POST', '/check'], read: '/chick/page1', expected: undefined },
  { name: 'should handle path properly /4 (the second test of that name)', path: '/check', write: ['POST', '/check'], read: '/chick/page1', expected: undefined },
  { name: 'should handle path properly /5', path: '/check', write: ['POST', '/check'], read: '/chck', expected: undefined },
  { name: 'should handle path properly /6', path: '/check', write: ['POST', '/check/index'], read: '/check/page1', expected: 'bar' },
  { name: 'should handle path properly /7', path: '/check/', write: ['POST', '/check/index'], read: '/check/page1', expected: 'bar' },
  { name: 'should handle path properly /9', path: '/check', write: ['GET', '/check'], read: '/check/page1', expected: 'bar', query: { foo: 'bar' } }
]

for (const { name, path, write: [method, writeUrl], read, expected, query } of verifyPathCases) {
  test(name, expected === undefined ? { todo: DIFFERENCE.noPathCheck } : {}, async (t) => {
    let foo: unknown = 'unread'
    const { app } = await setup(t, { msm: { cookie: { secure: false, path } } })
    app.route({
      method: method as 'GET' | 'POST',
      url: writeUrl,
      handler: (request, reply) => {
        request.session.foo = 'bar'
        reply.send(200)
      }
    })
    if (read !== writeUrl || method !== 'GET') {
      app.get(read, (request, reply) => {
        foo = request.session.foo
        reply.send(200)
      })
    }
    const response1 = await app.inject({ method: method as 'GET' | 'POST', url: writeUrl, ...(query === undefined ? {} : { query }) })
    assert.equal(response1.statusCode, 200)
    const response2 = await app.inject({ url: read, headers: { cookie: jar(response1) } })
    assert.equal(response2.statusCode, 200)
    assert.equal(foo, expected)
  })
}
