// Redundancy guarantees on real memcached: the idle timeout is never cut short
// by memcached's own clock, which ticks in whole seconds. The other redundancy
// rules are tested on the in-memory memcached (test/unit/redundancy.seam.test.ts).
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { startCluster } from '../helpers/memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { CookieClient, startApp } from '../helpers/app.js'

const { clusters, apps } = usePerTestCleanup()

describe('case 3: the idle timeout is never cut short', () => {
  test('maxInactiveInterval 1: present at mII − 50 ms after the last request, gone by mII + 2 s', async () => {
    const cluster = await startCluster(2)
    clusters.push(cluster)
    const { base } = await startApp(cluster, apps, { operationTimeout: 300, nodeRetryInterval: 200, maxInactiveInterval: 1 })
    const early = await Promise.all(Array.from({ length: 8 }, async () => {
      const client = new CookieClient(base)
      await client.get('/count')
      return { client, at: Date.now() }
    }))
    const late = await Promise.all(Array.from({ length: 4 }, async () => {
      const client = new CookieClient(base)
      await client.get('/count')
      return { client, at: Date.now() }
    }))
    // Three idle periods of mII − 50 ms in a row: the write, then read-only requests
    for (let round = 0; round < 3; round++) {
      const missing: number[] = []
      await Promise.all(early.map(async (entry, index) => {
        await sleep(Math.max(0, entry.at + 950 - Date.now()))
        const response = await entry.client.get('/read')
        entry.at = Date.now()
        if (response.body.n !== 1) missing.push(index)
      }))
      assert.deepEqual(missing, [], `round ${round}: every session is present 950 ms after its last request`)
    }
    await Promise.all(late.map(async (entry) => {
      await sleep(Math.max(0, entry.at + 3000 - Date.now()))
      const response = await entry.client.get('/read')
      assert.deepEqual(response.body, { n: null, isNew: true, id: null }, 'gone 3 s after its last request')
    }))
  })
})
