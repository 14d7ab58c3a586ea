import { after, afterEach, before, beforeEach } from './node-test.js'
import type { FastifyInstance } from 'fastify'
import { type MemcachedCluster, startCluster } from './memcached.js'

interface Stoppable { stop: () => Promise<void> }

/**
 * One cluster for a whole test file: started before the first test, stopped
 * (with every app in the returned list closed) after the last. Real memcached
 * processes unless `start` says otherwise (startMemoryCluster).
 */
export function useSharedCluster<C extends Stoppable = MemcachedCluster> (nodes: number, started: (cluster: C) => void, start?: (count: number) => Promise<C>): FastifyInstance[] {
  const apps: FastifyInstance[] = []
  let cluster: C | undefined
  before(async () => {
    cluster = await (start ?? startCluster as unknown as (count: number) => Promise<C>)(nodes)
    started(cluster)
  })
  after(async () => {
    await Promise.all(apps.map((app) => app.close()))
    await cluster?.stop()
  })
  return apps
}

/**
 * A fresh cluster for every test, for tests that count memcached operations:
 * the counts see no other test's traffic (queued writes, probes or touches of
 * apps that earlier tests started), because no other test uses these nodes.
 * Each test's apps (the returned list) are closed and its nodes stopped after
 * it, even when it fails.
 */
export function useClusterPerTest<C extends Stoppable> (nodes: number, started: (cluster: C) => void, start: (count: number) => Promise<C>): FastifyInstance[] {
  const apps: FastifyInstance[] = []
  let cluster: C | undefined
  beforeEach(async () => {
    cluster = await start(nodes)
    started(cluster)
  })
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()))
    await cluster?.stop()
    cluster = undefined
  })
  return apps
}

/**
 * Clusters and apps that each test creates for itself, all stopped after it,
 * even when it fails. `cluster(nodes)` starts real memcached nodes and tracks them.
 */
export function usePerTestCleanup (): { clusters: Stoppable[], apps: FastifyInstance[], cluster: (nodes?: number) => Promise<MemcachedCluster> } {
  const clusters: Stoppable[] = []
  const apps: FastifyInstance[] = []
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()))
    await Promise.all(clusters.splice(0).map((cluster) => cluster.stop()))
  })
  const cluster = async (nodes = 3): Promise<MemcachedCluster> => {
    const started = await startCluster(nodes)
    clusters.push(started)
    return started
  }
  return { clusters, apps, cluster }
}
