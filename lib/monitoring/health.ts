import type { NodeRing } from '../cluster/node-ring.js'
import type { MsmHealth } from '../types/index.js'

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
