import type { NodeRing } from '../cluster/node-ring.js'
import type { NodeClient } from '../memcached/node-client.js'
import type { MsmHealth, NodeHealthView } from '../types/index.js'

/** @internal */
export function health (ring: NodeRing): MsmHealth {
  const nodes = ring.nodes.map((node) => nodeHealthView(ring, node))
  const up = nodes.filter((node) => node.state === 'up')
  let status: MsmHealth['status'] = 'ok'
  if (up.length === 0) status = 'down'
  else if (up.length < nodes.length) status = 'degraded'
  return { status, nodes }
}

/** @internal One node's state and last change, JSON-ready. */
export function nodeHealthView (ring: Pick<NodeRing, 'isFailoverNode'>, node: NodeClient): NodeHealthView {
  const { state, since, lastError, lastChange, restarts } = node.health
  return {
    id: node.id,
    address: node.address,
    state,
    since: new Date(since).toISOString(),
    lastError,
    failover: ring.isFailoverNode(node.id),
    lastChange: lastChange?.kind ?? null,
    lastChangeAt: lastChange === null ? null : new Date(lastChange.at).toISOString(),
    detectedBy: lastChange?.detectedBy ?? null,
    restarts
  }
}
