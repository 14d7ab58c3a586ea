import { randomInt } from 'node:crypto'
import type { NodeSpec } from '../types.js'
import { NodeClient } from '../memcached/node-client.js'

/**
 * The configured memcached nodes, in order. A session's primary node is named
 * in its id; its backup node is the next node in the configured order,
 * wrapping around. With a single node there is no backup.
 */
export class NodeRing {
  readonly nodes: readonly NodeClient[]
  readonly ids: ReadonlySet<string>
  readonly #byId: Map<string, NodeClient>

  constructor (specs: readonly NodeSpec[], operationTimeout: number) {
    this.nodes = specs.map((spec) => new NodeClient(spec, operationTimeout))
    this.#byId = new Map(this.nodes.map((node) => [node.id, node]))
    this.ids = new Set(this.#byId.keys())
  }

  get (nodeId: string): NodeClient | undefined {
    return this.#byId.get(nodeId)
  }

  /** The backup of the session whose primary is `nodeId`, or undefined when there is none. */
  backupOf (nodeId: string): NodeClient | undefined {
    const index = this.nodes.findIndex((node) => node.id === nodeId)
    if (index === -1 || this.nodes.length < 2) return undefined
    return this.nodes[(index + 1) % this.nodes.length]
  }

  /** A random primary for a new session. */
  pickPrimary (): NodeClient {
    return this.nodes[randomInt(this.nodes.length)] as NodeClient
  }

  close (): void {
    for (const node of this.nodes) node.close()
  }
}
