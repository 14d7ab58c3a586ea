// How the session cookie is verified, on the in-memory memcached with a
// signer of our own given to @fastify/cookie as its `secret` (it counts its
// unsign calls): a cookie longer than a signed id can be is refused before
// its signature is checked (docs/security.md: length first), a cookie of
// exactly that length is still checked and accepted, and a cookie verified
// once is not verified again by later requests of the same process.
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm, { type MsmOptions } from '../../lib/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { useClusterPerTest } from '../helpers/fixtures.js'
import { CookieClient, idOf, startApp, type StartedApp, type TestAppOptions } from '../helpers/app.js'

let cluster: MemoryCluster
const apps = useClusterPerTest(2, (started) => { cluster = started }, startMemoryCluster)

/** The longest cookie the plugin checks: the longest id, a dot and 128 characters of signature. */
const MAX_COOKIE_LENGTH = 98 + 1 + 128

type Unsigned = { valid: true, renew: false, value: string } | { valid: false, renew: false, value: null }

/** A signer whose signatures are `length` characters (an HMAC, padded), counting its unsign calls. */
function countingSigner (length: number): { unsignCalls: () => number, signer: { sign: (value: string) => string, unsign: (signed: string) => Unsigned } } {
  let calls = 0
  const mac = (value: string): string => createHmac('sha256', 'test secret').update(value).digest('hex').padEnd(length, '0').slice(0, length)
  return {
    unsignCalls: () => calls,
    signer: {
      sign: (value) => `${value}.${mac(value)}`,
      unsign: (signed) => {
        calls++
        const dot = signed.lastIndexOf('.')
        const value = signed.slice(0, dot)
        return dot > 0 && mac(value) === signed.slice(dot + 1) ? { valid: true, renew: false, value } : { valid: false, renew: false, value: null }
      }
    }
  }
}

/** An app whose @fastify/cookie signs with `signer`; GET /count increments n. */
async function appSignedWith (signer: ReturnType<typeof countingSigner>['signer'], options: Partial<MsmOptions> = {}): Promise<StartedApp> {
  const build = async (app: TestAppOptions): Promise<FastifyInstance> => {
    const fastify = Fastify()
    await fastify.register(cookie, { secret: signer })
    await fastify.register(msm, app.msm)
    fastify.get('/count', async (request) => {
      const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
      request.session.set('n', n)
      return { n }
    })
    return fastify
  }
  return await startApp(cluster, apps, options, { build })
}

test('a cookie longer than a signed id can be is refused before its signature is checked, and counted', async () => {
  const { unsignCalls, signer } = countingSigner(43)
  const { app, base } = await appSignedWith(signer)
  const client = new CookieClient(base)
  client.cookies.set('sessionId', 'a'.repeat(MAX_COOKIE_LENGTH + 1))
  const response = await client.get('/count')
  assert.equal(response.body.n, 1, 'a new session')
  assert.equal(unsignCalls(), 0, 'no signature check')
  assert.equal(app.msm.stats().invalidCookies, 1)
})

test('a signed cookie of exactly the longest checked length is verified and its session loaded', async () => {
  const client0 = await appSignedWith(countingSigner(1).signer)
  await client0.client.get('/count')
  // The signature that makes this app's cookies exactly MAX_COOKIE_LENGTH long
  const signatureLength = MAX_COOKIE_LENGTH - (idOf(client0.client).split('.')[0] as string).length - 1
  const { unsignCalls, signer } = countingSigner(signatureLength)
  const { app, client } = await appSignedWith(signer)
  await client.get('/count')
  assert.equal(idOf(client).length, MAX_COOKIE_LENGTH)
  assert.equal((await client.get('/count')).body.n, 2, 'the session continues')
  assert.equal(unsignCalls(), 1)
  assert.equal(app.msm.stats().invalidCookies, 0)
})

test("a cookie verified once is not verified again by the same process's later requests", async () => {
  const { unsignCalls, signer } = countingSigner(43)
  const { client } = await appSignedWith(signer)
  await client.get('/count')
  assert.equal((await client.get('/count')).body.n, 2)
  assert.equal(unsignCalls(), 1)
  assert.equal((await client.get('/count')).body.n, 3)
  assert.equal((await client.get('/count')).body.n, 4)
  assert.equal(unsignCalls(), 1, 'remembered as verified')
})
