// The benchmark's memcached nodes: as the tests start them, with more item
// memory, enough for the size sweep (1,000 sessions of 100 KB, two copies
// each, per scenario).
import { type MemcachedCluster, startCluster } from '../test/helpers/memcached.js'

/** Starts `count` nodes n1..nN on free ports, each with `memoryMb` of item memory. */
export async function startBenchmarkCluster (count: number, memoryMb: number): Promise<MemcachedCluster> {
  return await startCluster(count, memoryMb)
}

/** Items memcached evicted to make room, summed over the nodes: must stay 0, or sessions were lost. */
export function evictions (cluster: MemcachedCluster): Promise<number> {
  return cluster.total('evictions')
}
