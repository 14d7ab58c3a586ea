// Locking across two app processes on real memcached. Locking within one
// process is tested on the in-memory memcached (test/unit/locking.seam.test.ts).
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import type { MsmOptions } from '../../lib/index.js'
import type { MemcachedCluster } from '../helpers/memcached.js'
import { useSharedCluster } from '../helpers/fixtures.js'
import { CookieClient } from '../helpers/app.js'
import { startAppProcess } from '../helpers/processes.js'

let cluster: MemcachedCluster
useSharedCluster(2, (started) => { cluster = started })

/**
 * 200 concurrent increments of ONE session, alternating between two app
 * processes. Returns the final counter and the number of increments lost.
 */
async function concurrentIncrements (lockingMode: MsmOptions['lockingMode']): Promise<{ final: number, lost: number, statuses: number[] }> {
  const options = { nodes: cluster.spec, lockingMode, lockTimeout: 30_000, lockExpiration: 5 }
  const [a, b] = await Promise.all([startAppProcess(options), startAppProcess(options)])
  try {
    const first = new CookieClient(a.base)
    await first.get('/count')
    const cookie = first.cookieHeader
    const requests = 200
    const responses = await Promise.all(Array.from({ length: requests }, (_, i) =>
      fetch(`${i % 2 === 0 ? a.base : b.base}/count`, { headers: { cookie } })))
    const statuses = responses.map((response) => response.status)
    await Promise.all(responses.map((response) => response.text()))
    const final = (await first.get('/read')).body.n as number
    return { final, lost: 1 + requests - final, statuses }
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
}

describe('lost updates with concurrent requests on two app processes', () => {
  test("lockingMode 'all': 200 concurrent increments, none lost", async () => {
    const { final, lost, statuses } = await concurrentIncrements('all')
    assert.deepEqual(statuses, Array(200).fill(200))
    assert.equal(final, 201)
    assert.equal(lost, 0)
  })

  test("lockingMode 'none': the same test loses updates (so it can fail)", async (t) => {
    const { lost, statuses } = await concurrentIncrements('none')
    assert.deepEqual(statuses, Array(200).fill(200))
    t.diagnostic(`lost updates without locking: ${lost} of 200`)
    assert.ok(lost > 0, 'without locking, concurrent read-modify-write requests overwrite each other')
  })
})
