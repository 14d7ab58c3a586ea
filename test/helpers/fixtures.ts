import { after, afterEach, before } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { type MemcachedCluster, startCluster } from './memcached.js'

/**
 * One memcached cluster for a whole test file: started before the first test,
 * stopped (with every app in the returned list closed) after the last.
 */
export function useSharedCluster (nodes: number, started: (cluster: MemcachedCluster) => void): FastifyInstance[] {
  const apps: FastifyInstance[] = []
  let cluster: MemcachedCluster | undefined
  before(async () => {
    cluster = await startCluster(nodes)
    started(cluster)
  })
  after(async () => {
    await Promise.all(apps.map((app) => app.close()))
    await cluster?.stop()
  })
  return apps
}

/** Clusters and apps that each test creates for itself, all stopped after it, even when it fails. */
export function usePerTestCleanup (): { clusters: MemcachedCluster[], apps: FastifyInstance[] } {
  const resources = { clusters: [] as MemcachedCluster[], apps: [] as FastifyInstance[] }
  afterEach(async () => {
    await Promise.all(resources.apps.splice(0).map((app) => app.close()))
    await Promise.all(resources.clusters.splice(0).map((cluster) => cluster.stop()))
  })
  return resources
}
