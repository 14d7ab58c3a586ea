// Sticky mode keeps each session between requests as its encoded bytes
// (lib/sticky/sticky-sessions.ts), and shares one attributes object among
// the requests in flight. Logic only: no memcached is involved.
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { FastifyBaseLogger } from 'fastify'
import { StickySessions, type StickyParts } from '../../lib/sticky/sticky-sessions.js'
import { LocalSessions } from '../../lib/sticky/local-sessions.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { Expiry, type Lifetimes } from '../../lib/session/expiry.js'
import { readAttribute } from '../../lib/serialization/lazy-attributes.js'
import { allAttributes } from '../helpers/attributes.js'
import { createState, type SessionHost, type SessionState } from '../../lib/session/session-state.js'
import { createCounters } from '../../lib/stats/counters.js'
import { Events } from '../../lib/events/events.js'
import { Timings } from '../../lib/stats/timings.js'
import type { ParsedSessionId } from '../../lib/ids/session-id.js'

const codec = new AvroSessionCodec()
/** No log line is expected here. */
const silent = { warn: () => {}, error: () => {}, info: () => {}, debug: () => {} } as unknown as FastifyBaseLogger
const expiry = new Expiry({ maxInactiveInterval: 1800, touchInterval: 60, touchIntervalConfigured: false, maxAge: null })
const ID = '0123456789abcdef0123456789abcdef-n1'
const parsed = { id: ID, nodeId: 'n1', route: null } as unknown as ParsedSessionId
const stored = { user: { id: 'u1', since: new Date(1_700_000_000_123) }, n: 7 }

function setUp (): { sticky: StickySessions, local: LocalSessions } {
  const local = new LocalSessions(10)
  const parts = {
    local,
    ring: { isAvailable: () => true, isFailoverNode: () => false },
    expiry,
    events: new Events({ counters: createCounters(), timings: new Timings(false), log: silent, hashId: (id: string) => id }),
    route: null,
    decodeAttributes: (bytes: Buffer) => codec.decodeAttributes(bytes)
  } as unknown as StickyParts
  return { sticky: new StickySessions(parts), local }
}

function request (): SessionState {
  const host = { emptyAttributes: () => codec.emptyAttributes(), lifetimes: (own: Lifetimes) => expiry.lifetimes(own.ownMaxInactiveInterval, own.ownCookieMaxAge) }
  return createState(host as unknown as SessionHost, null, Date.now(), false, expiry.defaults)
}

function held (sticky: StickySessions): void {
  const first = request()
  Object.assign(first, { id: ID, nodeId: 'n1', attributes: { ...stored } })
  sticky.keepWritten(first, codec.encodeAttributes(first.attributes), Date.now())
}

test('between requests a session is held as its bytes; the attributes object only weakly', () => {
  const { sticky, local } = setUp()
  held(sticky)
  const entry = local.get(ID)
  assert.ok(entry !== undefined)
  assert.ok(entry.live instanceof WeakRef, 'the attributes object is not kept alive by the cache')
  assert.deepEqual(allAttributes(codec.decodeAttributes(entry.storedBytes)), stored)
  // Besides the bytes and the weak reference, only the session's lifetimes: shared, immutable and small
  for (const value of Object.values(entry)) assert.equal(typeof value === 'object' && value !== null && !(value instanceof Buffer) && !(value instanceof WeakRef) && value !== expiry.defaults, false)
})

test('a request after the attributes object was collected decodes them from the bytes, Dates included', async () => {
  const { sticky, local } = setUp()
  held(sticky)
  ;(local.get(ID) as { live: unknown }).live = null // what a garbage collection leaves
  const state = request()
  assert.equal(await sticky.open(state, parsed), true)
  assert.deepEqual(allAttributes(state.attributes), stored)
  assert.ok((readAttribute(state.attributes, 'user') as { since: unknown }).since instanceof Date)
  assert.equal(state.loadedBytes, local.get(ID)?.storedBytes, 'change detection compares with the held bytes')
})

test('requests in flight share one attributes object, as a servlet session is shared', async () => {
  const { sticky, local } = setUp()
  held(sticky)
  ;(local.get(ID) as { live: unknown }).live = null
  const first = request()
  const second = request()
  await sticky.open(first, parsed)
  await sticky.open(second, parsed)
  assert.equal(first.attributes, second.attributes)
  first.attributes.n = 8
  assert.equal(second.attributes.n, 8, "one request's change is seen by the other before either ends")
})
