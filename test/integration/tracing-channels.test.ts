// Every documented diagnostics channel of lib/events/channels.ts, subscribed
// while a real app on real memcached loads, saves, touches, locks, relocates a
// session and sees a node die. Each event's fields and order are checked, and
// no payload may carry a session id or an attribute value (canaries).
import { after, before, describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel'
import type { MemcachedCluster } from '../helpers/memcached.js'
import { startCluster } from '../helpers/memcached.js'
import { CookieClient, idOf, nodeOf, startApp, type StartedApp, waitFor } from '../helpers/app.js'
import type { FastifyInstance } from 'fastify'

const TRACING = ['fastify-msm.session.load', 'fastify-msm.session.save', 'fastify-msm.session.touch', 'fastify-msm.lock.acquire', 'fastify-msm.node.operation']
const PLAIN = ['fastify-msm.session.relocated', 'fastify-msm.node.state']
const CANARY = 'canary-7f3a9c-secret-attribute'

interface Seen { channel: string, phase: string, event: Record<string, unknown>, at: number }

let seen: Seen[] = []
let order = 0
const handlers: Array<() => void> = []

function record (channel: string, phase: string) {
  return (message: unknown): void => { seen.push({ channel, phase, event: { ...(message as object) }, at: order++ }) }
}

before(() => {
  for (const name of TRACING) {
    const subscribers = {
      start: record(name, 'start'),
      end: record(name, 'end'),
      asyncStart: record(name, 'asyncStart'),
      asyncEnd: record(name, 'asyncEnd'),
      error: record(name, 'error')
    }
    tracingChannel(name).subscribe(subscribers)
    handlers.push(() => { tracingChannel(name).unsubscribe(subscribers) })
  }
  for (const name of PLAIN) {
    const handler = record(name, 'publish')
    subscribe(name, handler)
    handlers.push(() => { unsubscribe(name, handler) })
  }
})
after(() => { for (const off of handlers) off() })

const apps: FastifyInstance[] = []
let cluster: MemcachedCluster
before(async () => { cluster = await startCluster(3) })
after(async () => {
  await Promise.all(apps.map((app) => app.close()))
  await cluster.stop()
})

/** The events of `channel` and `phase` since the last reset. */
const of = (channel: string, phase?: string): Seen[] => seen.filter((entry) => entry.channel === channel && (phase === undefined || entry.phase === phase))

/** No payload holds a session id or an attribute value; the request object is left out of the search (it holds the cookie). */
function assertNothingSecret (ids: string[]): void {
  const text = JSON.stringify(seen.map(({ event }) => ({ ...event, request: event.request === null || event.request === undefined ? event.request : 'a request' })))
  assert.ok(!text.includes(CANARY), 'an attribute value in a payload')
  for (const id of ids) assert.ok(!text.includes(id.split('.')[0] as string), 'a session id in a payload')
}

describe('diagnostics channels', () => {
  let app: StartedApp
  before(async () => {
    app = await startApp(cluster, apps, { operationTimeout: 300, nodeRetryInterval: 200, touchInterval: 1, maxInactiveInterval: 60, lockingMode: { uriPattern: /locked/ } })
  })

  test('a load traces start, then the memcached get, then asyncEnd with where it was found', async () => {
    const client = new CookieClient(app.base)
    await client.post('/set', { key: 'secret', value: CANARY })
    seen = []
    assert.equal((await client.get('/read')).status, 200)
    const [start] = of('fastify-msm.session.load', 'start')
    const [end] = of('fastify-msm.session.load', 'asyncEnd')
    assert.ok(start !== undefined && end !== undefined, 'load start and asyncEnd')
    assert.equal(end.event.outcome, 'primary')
    assert.equal(typeof end.event.session, 'string')
    assert.equal(end.event.nodeId, nodeOf(idOf(client)))
    assert.ok(end.event.request !== null, 'the request is carried')
    const get = of('fastify-msm.node.operation', 'asyncEnd').find((entry) => entry.event.command === 'get')
    assert.ok(get !== undefined && get.at > start.at && get.at < end.at, 'the get ends inside the load')
    assert.equal(get.event.outcome, 'hit')
    assert.equal(typeof get.event.port, 'number')
    assertNothingSecret([idOf(client)])
  })

  test('a write traces a save with its command, size and copies; each memcached set is traced beneath it', async () => {
    const client = new CookieClient(app.base)
    seen = []
    await client.post('/set', { key: 'secret', value: CANARY })
    const [end] = of('fastify-msm.session.save', 'asyncEnd')
    assert.ok(end !== undefined)
    assert.deepEqual([end.event.command, end.event.outcome, end.event.copies], ['set', 'stored', 2])
    assert.ok((end.event.bytes as number) > CANARY.length)
    const sets = of('fastify-msm.node.operation', 'asyncEnd').filter((entry) => entry.event.command === 'set')
    assert.equal(sets.length, 2, 'primary and backup')
    seen = []
    await client.post('/set', { key: 'other', value: 1 })
    assert.equal(of('fastify-msm.session.save', 'asyncEnd')[0]?.event.command, 'replace', 'a loaded session is rewritten with replace')
    assertNothingSecret([idOf(client)])
  })

  test('a touch after touchInterval traces the touch and its lifetime', async () => {
    const client = new CookieClient(app.base)
    await client.post('/set', { key: 'secret', value: CANARY })
    await new Promise((resolve) => setTimeout(resolve, 1100))
    seen = []
    await client.get('/read')
    const [end] = of('fastify-msm.session.touch', 'asyncEnd')
    assert.ok(end !== undefined, 'traced')
    assert.deepEqual([end.event.outcome, end.event.lifetime], ['touched', 60 + 1 + 1])
    assertNothingSecret([idOf(client)])
  })

  test('a locked request traces its lock acquisition, before its load', async () => {
    const client = new CookieClient(app.base)
    await client.post('/set', { key: 'n', value: 1 })
    seen = []
    await client.get('/count-locked')
    const [lock] = of('fastify-msm.lock.acquire', 'asyncEnd')
    const [load] = of('fastify-msm.session.load', 'start')
    assert.ok(lock !== undefined && load !== undefined)
    assert.equal(lock.event.outcome, 'acquired')
    assert.ok(lock.at < load.at, 'the lock is taken before the read')
  })

  test('a dead primary: node.state reports it down, and the session is relocated (a plain event)', async () => {
    const client = new CookieClient(app.base)
    await client.post('/set', { key: 'secret', value: CANARY })
    const before = idOf(client)
    seen = []
    await cluster.node(nodeOf(before)).stop()
    await waitFor(() => of('fastify-msm.node.state').some((entry) => entry.event.change === 'down'), 'the node reported down')
    const down = of('fastify-msm.node.state').find((entry) => entry.event.change === 'down') as Seen
    assert.equal(down.event.nodeId, nodeOf(before))
    assert.equal(typeof down.event.port, 'number')
    assert.equal((await client.get('/read')).status, 200)
    const [moved] = of('fastify-msm.session.relocated')
    assert.ok(moved !== undefined, 'relocated')
    assert.deepEqual([moved.event.cause, moved.event.fromNode], ['load', nodeOf(before)])
    assertNothingSecret([before, idOf(client)])
    await cluster.node(nodeOf(before)).start()
  })
})
