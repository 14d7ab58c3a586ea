import { randomInt } from 'node:crypto'
import type { NodeSpec } from '../types/index.js'
import { type HealthListener, NodeClient } from '../memcached/node-client.js'
import type { TransportFactory } from '../memcached/transport.js'

/** Node ids removed by setNodes() that sessions may still name; bounded. */
const MAX_RETIRED = 256

/**
 * The health timer looks this many times per healthCheckInterval for nodes
 * that have been silent a whole interval, so that a node is checked between
 * 1 and 1.25 intervals after its last answer (one check per interval at most).
 */
const HEALTH_TICKS = 4

export interface RingSettings {
  operationTimeout: number
  /** Milliseconds between two probes of a down node. */
  nodeRetryInterval: number
  /** Milliseconds of silence after which an up node is sent a health check; 0: never. */
  healthCheckInterval: number
  failoverNodes: readonly string[]
  onHealthChange: HealthListener
  /** How each node talks to its server: the `memcached` client unless a test says otherwise. */
  createTransport?: TransportFactory
}

/**
 * The configured memcached nodes, in order, with their health.
 *
 * - A new session's primary is a random available regular node; failover
 *   nodes are used only when no regular node is available.
 * - A session's backup is the next available node after its primary in the
 *   configured order, wrapping around (failover nodes last).
 * - A session whose primary is down or removed moves to its relocation
 *   target: the node that would hold its backup. Every process that sees the
 *   same node states picks the same target, so concurrent requests converge.
 */
export class NodeRing {
  #nodes: NodeClient[] = []
  #byId = new Map<string, NodeClient>()
  #failover = new Set<string>()
  readonly #retired = new Set<string>()
  readonly #settings: RingSettings
  readonly #probeTimer: NodeJS.Timeout
  readonly #healthTimer: NodeJS.Timeout | null
  #probing = false
  #changedAt = 0

  constructor (specs: readonly NodeSpec[], settings: RingSettings) {
    this.#settings = {
      ...settings,
      onHealthChange: (node, previous) => {
        this.#changedAt = Date.now()
        settings.onHealthChange(node, previous)
      }
    }
    this.setNodes(specs, settings.failoverNodes)
    this.#changedAt = 0
    this.#probeTimer = setInterval(() => { this.#probeDownNodes().catch(() => {}) }, settings.nodeRetryInterval)
    this.#probeTimer.unref()
    this.#healthTimer = settings.healthCheckInterval > 0
      ? setInterval(() => { this.#checkQuietNodes() }, Math.max(1, Math.floor(settings.healthCheckInterval / HEALTH_TICKS)))
      : null
    this.#healthTimer?.unref()
  }

  get nodes (): readonly NodeClient[] {
    return this.#nodes
  }

  /**
   * When a node last went down, came back or was found restarted, or the node list changed (ms
   * since the epoch; 0 if never). A session last extended before then may
   * have lost a copy, or have it on a node that is now down: it is checked
   * on its next request (see SessionManager).
   */
  get changedAt (): number {
    return this.#changedAt
  }

  get (nodeId: string): NodeClient | undefined {
    return this.#byId.get(nodeId)
  }

  /** Ids a session id may name: configured nodes and recently removed ones. */
  knows (nodeId: string): boolean {
    return this.#byId.has(nodeId) || this.#retired.has(nodeId)
  }

  isFailoverNode (nodeId: string): boolean {
    return this.#failover.has(nodeId)
  }

  isAvailable (nodeId: string): boolean {
    return this.#byId.get(nodeId)?.isUp === true
  }

  /** A random available primary for a new session, or undefined when every node is down. */
  pickPrimary (): NodeClient | undefined {
    const up = this.#nodes.filter((node) => node.isUp)
    const regular = up.filter((node) => !this.#failover.has(node.id))
    const pool = regular.length > 0 ? regular : up
    return pool.length === 0 ? undefined : pool[randomInt(pool.length)]
  }

  /** The available nodes after `nodeId`, in order: regular nodes first, then failover nodes. */
  successors (nodeId: string): NodeClient[] {
    const index = this.#nodes.findIndex((node) => node.id === nodeId)
    const ordered = index === -1
      ? [...this.#nodes]
      : [...this.#nodes.slice(index + 1), ...this.#nodes.slice(0, index)]
    const up = ordered.filter((node) => node.isUp && node.id !== nodeId)
    return [...up.filter((node) => !this.#failover.has(node.id)), ...up.filter((node) => this.#failover.has(node.id))]
  }

  /** Where the backup of a session on `nodeId` goes now, or undefined when there is none. */
  backupOf (nodeId: string): NodeClient | undefined {
    return this.successors(nodeId)[0]
  }

  /** Where a session whose primary `nodeId` is down or removed moves to. */
  relocationTarget (nodeId: string): NodeClient | undefined {
    // The node that would hold its backup, which usually already has the newest copy
    return this.backupOf(nodeId)
  }

  /**
   * Replaces the node list. Nodes whose id and address are unchanged keep
   * their client and health; removed nodes are closed and their ids kept, so
   * that their sessions can be relocated from their backups.
   */
  setNodes (specs: readonly NodeSpec[], failoverNodes: readonly string[]): void {
    const next = specs.map((spec) => {
      const existing = this.#byId.get(spec.id)
      if (existing !== undefined && existing.address === `${spec.host}:${spec.port}`) return existing
      const node = new NodeClient(spec, this.#settings.operationTimeout, this.#settings.onHealthChange, this.#settings.createTransport?.(spec))
      // Checked at once: its connection is open from now on, so its death is seen when it happens
      if (this.#settings.healthCheckInterval > 0) node.check().catch(() => {})
      return node
    })
    const kept = new Set(next)
    for (const node of this.#nodes) {
      if (kept.has(node)) continue
      node.close()
      if (!specs.some((spec) => spec.id === node.id)) this.#retire(node.id)
    }
    this.#nodes = next
    this.#byId = new Map(next.map((node) => [node.id, node]))
    this.#failover = new Set(failoverNodes)
    for (const id of this.#byId.keys()) this.#retired.delete(id)
    this.#changedAt = Date.now()
  }

  close (): void {
    clearInterval(this.#probeTimer)
    if (this.#healthTimer !== null) clearInterval(this.#healthTimer)
    for (const node of this.#nodes) node.close()
  }

  #retire (nodeId: string): void {
    this.#retired.add(nodeId)
    if (this.#retired.size > MAX_RETIRED) this.#retired.delete(this.#retired.values().next().value as string)
  }

  /** One health check for each up node that has not answered anything for healthCheckInterval. */
  #checkQuietNodes (): void {
    const now = Date.now()
    for (const node of this.#nodes) {
      if (node.isUp && node.quietFor(now) >= this.#settings.healthCheckInterval) node.check().catch(() => {})
    }
  }

  async #probeDownNodes (): Promise<void> {
    if (this.#probing) return
    this.#probing = true
    try {
      await Promise.all(this.#nodes.filter((node) => !node.isUp).map((node) => node.probe()))
    } finally {
      this.#probing = false
    }
  }
}
