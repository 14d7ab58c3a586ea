// The per-request stages of a session read and write, each alone, in ns per
// call: the micro-benchmark half of the budget in docs/benchmarks.md (the
// other half is the CPU profile of the scenario servers, benchmarks/profile.ts
// --stages). Inputs are the benchmark's own: its ~1 KB session, a signed cookie.
// Run: node --import tsx benchmarks/stages.ts [--quick]
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import { AvroSessionCodec } from '../lib/serialization/session-codec.js'
import { readAttribute } from '../lib/serialization/lazy-attributes.js'
import { formatSessionId, generateRandomPart, parseSessionId } from '../lib/ids/session-id.js'
import { Timings } from '../lib/stats/timings.js'
import { createCounters } from '../lib/stats/counters.js'
import { BoundedLru } from '../lib/util/lru.js'
import type { Attributes } from '../lib/types/index.js'
import { PAYLOAD } from './payload.js'
import { opsPerSecond } from './micro-timing.js'

const BUDGET_MS = process.argv.includes('--quick') ? 60 : 500
const SECRET = 'a benchmark secret that is long enough!!'

/** ns per call of `run`. */
function ns (run: () => void): number {
  return 1e9 / opsPerSecond(run, BUDGET_MS, 2000)
}

/** µs per app.inject() of GET / on an app with `hooks` empty async hooks of each kind the plugin adds (onRequest, onSend). */
async function injectMicros (hooks: number): Promise<number> {
  const app: FastifyInstance = Fastify()
  for (let i = 0; i < hooks; i++) {
    app.addHook('onRequest', async () => {})
    app.addHook('onSend', async () => {})
  }
  app.get('/', async () => ({ ok: true }))
  await app.ready()
  for (let i = 0; i < 2000; i++) await app.inject('/')
  const rounds = 10_000
  const start = process.hrtime.bigint()
  for (let i = 0; i < rounds; i++) await app.inject('/')
  const micros = Number(process.hrtime.bigint() - start) / 1e3 / rounds
  await app.close()
  return micros
}

async function main (): Promise<void> {
  // @fastify/cookie's functions, as a registered app has them (it loads the cookie module at registration)
  const cookies = Fastify()
  await cookies.register(cookie, { secret: SECRET })
  await cookies.ready()
  const id = formatSessionId(generateRandomPart(), 'n1')
  const signed = cookies.signCookie(id)
  const header = `sessionId=${encodeURIComponent(signed)}`
  const codec = new AvroSessionCodec()
  const now = Date.now()
  const meta = { id, createdAt: now, lastAccessedAt: now, maxInactiveInterval: 1800, ownMaxInactiveInterval: null, ownCookieMaxAge: null }
  const stored = codec.encodeValue(meta, codec.encodeAttributes(PAYLOAD as unknown as Attributes))
  const decoded = codec.decodeValue(stored)
  if (decoded.ok !== true) throw new Error('the benchmark session does not decode')
  const attributes = decoded.session.attributes
  const verified = new BoundedLru<string, string>(10_000)
  verified.set(signed, id)
  const counters = createCounters()
  const timings = new Timings(true)
  let sink: unknown

  const rows: Array<[string, number, string]> = [
    ['cookie: parse the Cookie header (@fastify/cookie)', ns(() => { sink = cookies.parseCookie(header) }), 'read, write'],
    ['cookie: verify the signature (HMAC), first request of a session in a process', ns(() => { sink = cookies.unsignCookie(signed) }), 'once per session and process'],
    ['cookie: verified before, a cache lookup', ns(() => { sink = verified.peek(signed) }), 'read, write'],
    ['id: parse and check', ns(() => { sink = parseSessionId(id, () => true) }), 'read, write'],
    ['decode: bounds check of the stored value, meta decoded (attributes lazily)', ns(() => { sink = codec.decodeValue(stored) }), 'read, write'],
    ['decode: the attribute a route reads (user)', ns(() => { const fresh = codec.decodeValue(stored); sink = fresh.ok === true && readAttribute(fresh.session.attributes, 'user') }), 'read, write (includes the line above)'],
    ['counters and timings: 3 increments, 2 histogram records', ns(() => { counters.loaded++; counters.saved++; counters.requestsWithSession++; timings.histograms.load.record(0.21); timings.histograms.save.record(0.4) }), 'read, write'],
    ['encode: attributes (unread ones copied as bytes) and the stored value', ns(() => { sink = codec.encodeValue(meta, codec.encodeAttributes(attributes)) }), 'write'],
    ['cookie: sign and serialize a Set-Cookie (new id only)', ns(() => { sink = cookies.serializeCookie('sessionId', cookies.signCookie(id), { path: '/', httpOnly: true, sameSite: 'lax' }) }), 'a new or moved session only']
  ]
  // Alternating rounds, medians: one pair of runs is too noisy for a difference of about a microsecond
  const [none, two]: [number[], number[]] = [[], []]
  for (let round = 0; round < 7; round++) {
    none.push(await injectMicros(0))
    two.push(await injectMicros(1))
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number
  rows.push(['Fastify: an onRequest and an onSend hook (empty, async), per request', (median(two) - median(none)) * 1000, 'read, write'])
  if (sink === Symbol.for('never')) console.log('')
  await cookies.close()

  console.log('| stage | ns per call | on which requests |')
  console.log('|---|---|---|')
  for (const [stage, cost, when] of rows) console.log(`| ${stage} | ${Math.round(cost).toLocaleString('en-US')} | ${when} |`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
