import type { NodeRing } from '../cluster/node-ring.js'

export interface MsmHealth {
  /**
   * ok: every node is up. degraded: some node is down, or only failover nodes
   * are left, but sessions are served. down: no node is up.
   */
  status: 'ok' | 'degraded' | 'down'
  nodes: Array<{ id: string, address: string, state: 'up' | 'down', since: string, lastError: string | null, failover: boolean }>
}

/** @internal */
export function health (ring: NodeRing): MsmHealth {
  const nodes = ring.nodes.map((node) => ({
    id: node.id,
    address: node.address,
    state: node.health.state,
    since: new Date(node.health.since).toISOString(),
    lastError: node.health.lastError,
    failover: ring.isFailoverNode(node.id)
  }))
  const up = nodes.filter((node) => node.state === 'up')
  let status: MsmHealth['status'] = 'ok'
  if (up.length === 0) status = 'down'
  else if (up.length < nodes.length) status = 'degraded'
  return { status, nodes }
}
