// The Session API as a handler sees it, on the in-memory memcached:
// createdAt, get() of names every object has, delete() of an absent
// attribute, destroy() of a session that was never stored, isSaved(),
// changes made through Object.defineProperty and delete inside an object
// read from the session, session.cookie.maxAge, the stand-in session of an
// ignored route, and what 'auto' locking learns from a request
// (docs/getting-started.md, docs/locking.md). Written for mutants of
// lib/session/{session,session-state,tracking,cookie-view}.ts that survived
// the rest of the suite.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import msm, { jsonSerializer, type MsmOptions } from '../../lib/index.js'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { useClusterPerTest } from '../helpers/fixtures.js'
import { CookieClient, idOf, startApp, type StartedApp, type TestAppOptions, waitFor } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'

let cluster: MemoryCluster
const apps = useClusterPerTest(2, (started) => { cluster = started }, startMemoryCluster)

type Handler = (request: any, reply: any) => Promise<unknown>

/** An app with GET /count (increments n) and the given routes ('METHOD /url': handler, or [handler, route config]). */
async function appWith (options: Partial<MsmOptions>, routes: Record<string, Handler | [Handler, object]>): Promise<StartedApp> {
  const build = async (app: TestAppOptions): Promise<FastifyInstance> => {
    const fastify = Fastify()
    await fastify.register(cookie)
    await fastify.register(msm, app.msm)
    fastify.get('/count', async (request) => {
      const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
      request.session.set('n', n)
      return { n }
    })
    for (const [route, entry] of Object.entries(routes)) {
      const [method, url] = route.split(' ') as [string, string]
      const [handler, config] = Array.isArray(entry) ? entry : [entry, {}]
      fastify.route({ method: method as 'GET', url, handler, config })
    }
    return fastify
  }
  return await startApp(cluster, apps, { operationTimeout: 300, ...options }, { build })
}

const total = (stat: 'cmd_set' | 'delete_hits' | 'delete_misses'): number => cluster.nodes.reduce((sum, node) => sum + node.server.stats()[stat], 0)

describe('reading the session', () => {
  test('createdAt is when the session was created, kept across requests, and renewed by changeSessionId()', async (t) => {
    const advance = mockedClock(t)
    const { client } = await appWith({}, {
      'GET /created': async (request: any) => ({ createdAt: request.session.createdAt }),
      'POST /change-id': async (request: any) => {
        await request.session.changeSessionId()
        return { createdAt: request.session.createdAt }
      }
    })
    const created = Date.now()
    await client.get('/count')
    await advance(5_000)
    assert.deepEqual((await client.get('/created')).body, { createdAt: created })
    await advance(5_000)
    assert.deepEqual((await client.post('/change-id')).body, { createdAt: created + 10_000 })
    assert.deepEqual((await client.get('/created')).body, { createdAt: created + 10_000 })
  })

  test('get() of a name every object has, such as toString or constructor, is undefined on a loaded session', async () => {
    const { client } = await appWith({ serializer: jsonSerializer }, {
      'GET /inherited': async (request: any) => ({
        types: ['toString', 'constructor', 'hasOwnProperty', 'n'].map((key) => typeof request.session.get(key))
      })
    })
    await client.get('/count')
    assert.deepEqual((await client.get('/inherited')).body, { types: ['undefined', 'undefined', 'undefined', 'number'] })
  })
})

describe('changes', () => {
  test('deleting an attribute a loaded session does not have leaves it unmodified', async () => {
    const { client } = await appWith({}, {
      'GET /delete-absent': async (request: any) => {
        request.session.delete('absent')
        return { modified: request.session.isModified() }
      }
    })
    await client.get('/count')
    const sets = total('cmd_set')
    assert.deepEqual((await client.get('/delete-absent')).body, { modified: false })
    assert.equal(total('cmd_set'), sets, 'nothing written')
  })

  test('a property deleted from, or defined on, an object read from the session is saved', async () => {
    const { client } = await appWith({}, {
      'GET /seed': async (request: any) => {
        request.session.set('profile', { name: 'ada', role: 'admin' })
        return { ok: true }
      },
      'GET /drop-role': async (request: any) => {
        delete request.session.get('profile').role
        return { ok: true }
      },
      'GET /define-team': async (request: any) => {
        Object.defineProperty(request.session.get('profile'), 'team', { value: 'core', enumerable: true, writable: true, configurable: true })
        return { ok: true }
      },
      'GET /profile': async (request: any) => ({ profile: request.session.get('profile') })
    })
    await client.get('/seed')
    await client.get('/drop-role')
    assert.deepEqual((await client.get('/profile')).body, { profile: { name: 'ada' } })
    await client.get('/define-team')
    assert.deepEqual((await client.get('/profile')).body, { profile: { name: 'ada', team: 'core' } })
  })

  test('isSaved() is false until the session is stored in this request', async () => {
    const { client } = await appWith({}, {
      'GET /saved': async (request: any) => {
        const before = request.session.isSaved()
        request.session.set('n', 1)
        const afterSet = request.session.isSaved()
        await request.session.save()
        return { before, afterSet, afterSave: request.session.isSaved() }
      },
      'GET /read-saved': async (request: any) => ({ saved: request.session.isSaved(), n: request.session.get('n') })
    })
    assert.deepEqual((await client.get('/saved')).body, { before: false, afterSet: false, afterSave: true })
    assert.deepEqual((await client.get('/read-saved')).body, { saved: false, n: 1 })
  })
})

describe('destroy()', () => {
  test('of a session created in this request sends nothing to memcached, no cookie, and leaves it new', async () => {
    const { client } = await appWith({}, {
      'GET /create-and-destroy': async (request: any) => {
        request.session.set('n', 1)
        await request.session.destroy()
        return { isNew: request.session.isNew, id: request.session.id }
      }
    })
    const deletes = total('delete_hits') + total('delete_misses')
    const sets = total('cmd_set')
    const response = await client.get('/create-and-destroy')
    assert.deepEqual(response.body, { isNew: true, id: null })
    assert.equal(total('delete_hits') + total('delete_misses'), deletes, 'no delete sent')
    assert.equal(total('cmd_set'), sets, 'nothing written')
    assert.deepEqual(response.headers.getSetCookie(), [])
  })

  test('of a loaded session deletes it and leaves the request a new, empty session', async () => {
    const { client } = await appWith({}, {
      'POST /destroy': async (request: any) => {
        await request.session.destroy()
        return { isNew: request.session.isNew, n: request.session.get('n') ?? null }
      }
    })
    await client.get('/count')
    const id = idOf(client)
    assert.deepEqual((await client.post('/destroy')).body, { isNew: true, n: null })
    assert.equal(cluster.nodes.filter((node) => node.server.peek(id) !== undefined).length, 0)
  })
})

describe('session.cookie.maxAge', () => {
  test('assigning it sends the cookie again with that lifetime, even when nothing else changed', async () => {
    const { client } = await appWith({}, {
      'GET /max-age': async (request: any) => {
        request.session.cookie.maxAge = 60_000
        return { ok: true }
      }
    })
    await client.get('/count')
    const response = await client.get('/max-age')
    const [line] = response.headers.getSetCookie()
    assert.match(line ?? '', /^sessionId=[^;]+;.*Max-Age=60\b/)
  })

  test('undefined means the configured lifetime again, null a browser-session cookie; an invalid value is refused with a message in milliseconds', async () => {
    const { client } = await appWith({ cookie: { maxAge: 3600 } }, {
      'POST /max-age': async (request: any) => {
        request.session.cookie.maxAge = 1000
        request.session.cookie.maxAge = undefined
        const after = request.session.cookie.maxAge
        request.session.cookie.maxAge = null
        if (request.session.cookie.maxAge !== null) return { after, browserSession: false }
        try {
          request.session.cookie.maxAge = -1
          return { after }
        } catch (error) {
          return { after, error: (error as Error).message }
        }
      }
    })
    const { body } = await client.post('/max-age')
    assert.equal(body.after, 3_600_000)
    assert.match(body.error, /milliseconds/)
  })
})

describe('writes', () => {
  test('a new session whose save() was refused as too large, then made smaller, is stored and gets its cookie with its own maxAge', async () => {
    const { client } = await appWith({ maxSessionSize: 2000 }, {
      'GET /recover': async (request: any) => {
        request.session.options({ maxAge: 60_000 })
        request.session.set('big', 'x'.repeat(5000))
        const refused = await request.session.save().then(() => null, (error: { code: string }) => error.code)
        request.session.set('big', 'small')
        return { refused }
      },
      'GET /big': async (request: any) => ({ big: request.session.get('big') ?? null })
    })
    const response = await client.get('/recover')
    assert.deepEqual(response.body, { refused: 'FST_MSM_SESSION_TOO_LARGE' })
    assert.match(response.headers.getSetCookie()[0] ?? '', /^sessionId=[^;]+;.*Max-Age=60\b/)
    assert.deepEqual((await client.get('/big')).body, { big: 'small' })
  })

  test('sticky mode: a session served from the process sends its cookie only once', async () => {
    const { app, client } = await appWith({ sticky: true }, {})
    await client.get('/count')
    assert.equal(client.lastSetCookie.length, 1)
    assert.equal((await client.get('/count')).body.n, 2)
    assert.equal(app.msm.stats().localHits, 1, 'served from the process')
    assert.deepEqual(client.lastSetCookie, [], 'no cookie sent again')
  })

  test('sticky mode: save() of a held session whose memcached copy was lost writes it there again', async () => {
    const { app, client } = await appWith({ sticky: true }, {
      'GET /count-and-save': async (request: any) => {
        request.session.set('n', (request.session.get('n') as number) + 1)
        await request.session.save()
        return { n: request.session.get('n') }
      }
    })
    await client.get('/count')
    const id = idOf(client)
    await waitFor(() => cluster.nodes.some((node) => node.server.peek(id) !== undefined), 'the queued write')
    const primary = cluster.nodes.find((node) => node.server.peek(id) !== undefined) as MemoryCluster['nodes'][number]
    primary.server.restart()
    const response = await client.get('/count-and-save')
    assert.deepEqual({ status: response.status, body: response.body }, { status: 200, body: { n: 2 } })
    assert.notEqual(primary.server.peek(id), undefined, 'stored again on its primary')
    assert.equal(app.msm.stats().revivalsPrevented, 0)
  })
})

test('the stand-in session of an ignored route fails on its API but not on generic inspection', async () => {
  const { client } = await appWith({}, {
    'GET /ignored': [async (request: any) => {
      const session = request.session
      const generic = { constructor: session.constructor === Object, tag: Object.prototype.toString.call(session) }
      try {
        session.get('n')
        return { generic }
      } catch (error) {
        return { generic, code: (error as { code: string }).code }
      }
    }, { session: false }]
  })
  assert.deepEqual((await client.get('/ignored')).body, { generic: { constructor: true, tag: '[object Object]' }, code: 'FST_MSM_SESSION_DISABLED' })
})

describe("what 'auto' locking learns", () => {
  test('a route that only read a session stops locking; a route that destroyed one keeps locking', async () => {
    const { base } = await appWith({ lockingMode: 'auto' }, {
      'GET /read': async (request: any) => ({ n: request.session.get('n') ?? null }),
      'POST /destroy': async (request: any) => {
        await request.session.destroy()
        return { ok: true }
      }
    })
    /** memcached `add`s and `set`s a request caused: its lock, if it took one (these routes write nothing). */
    const setsOf = async (client: CookieClient, method: 'get' | 'post', path: string): Promise<number> => {
      const before = total('cmd_set')
      assert.equal((await client[method](path)).status, 200)
      return total('cmd_set') - before
    }
    const reader = new CookieClient(base)
    await reader.get('/count')
    assert.equal(await setsOf(reader, 'get', '/read'), 1, 'the first read locks')
    assert.equal(await setsOf(reader, 'get', '/read'), 0, 'learned: read-only')
    for (const attempt of [1, 2]) {
      const client = new CookieClient(base)
      await client.get('/count')
      assert.equal(await setsOf(client, 'post', '/destroy'), 1, `destroy ${attempt} locks`)
    }
  })

  test('a route whose changeSessionId() was not stored (refused as too large) is still learned as writing, so it keeps its lock', async () => {
    const { app, client } = await appWith({ lockingMode: 'auto', maxSessionSize: 4096 }, {
      'GET /rotate': async (request: any) => {
        await request.session.changeSessionId()
        request.session.set('note', (request.query as { big?: string }).big === undefined ? 'small' : 'x'.repeat(8192))
        return {}
      }
    })
    await client.get('/count')
    const before = app.msm.stats().lockAcquired
    assert.equal((await client.get('/rotate?big=1')).body.code, 'FST_MSM_SESSION_TOO_LARGE')
    assert.equal(app.msm.stats().lockAcquired - before, 1, 'an unknown route locks')
    assert.equal((await client.get('/rotate')).status, 200)
    assert.equal(app.msm.stats().lockAcquired - before, 2, 'the route changed the session id: it locks again')
  })
})
