import type { NodeSpec } from '../types/index.js'
import { FST_MSM_NODE_DUPLICATE, FST_MSM_NODES_INVALID, FST_MSM_OPTION_INVALID } from '../errors.js'
import { clip, describe, isPlainObject, rejectUnknownKeys } from './checks.js'

const MAX_NODES = 64
export const NODE_ID = /^\w{1,32}$/
const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/

/** Parses `'n1:host:port n2:host:port'` or a list of `{ id, host, port }`. */
export function parseNodes (value: unknown): NodeSpec[] {
  let nodes: NodeSpec[]
  if (typeof value === 'string') {
    const tokens = value.trim().split(/\s+/).filter(Boolean)
    nodes = tokens.map(parseNodeToken)
  } else if (Array.isArray(value)) {
    nodes = value.map(checkNodeObject)
  } else {
    throw new FST_MSM_NODES_INVALID(`expected a string or an array, got ${describe(value)}`)
  }
  if (nodes.length === 0) throw new FST_MSM_NODES_INVALID('no node given')
  if (nodes.length > MAX_NODES) throw new FST_MSM_NODES_INVALID(`more than ${MAX_NODES} nodes`)
  const seen = new Set<string>()
  for (const node of nodes) {
    if (seen.has(node.id)) throw new FST_MSM_NODE_DUPLICATE(node.id)
    seen.add(node.id)
  }
  return nodes
}

function parseNodeToken (token: string): NodeSpec {
  const parts = token.split(':')
  if (parts.length !== 3) {
    throw new FST_MSM_NODES_INVALID(`"${clip(token)}" is not of the form id:host:port`)
  }
  return checkNodeObject({ id: parts[0], host: parts[1], port: Number(parts[2]) })
}

function checkNodeObject (node: unknown): NodeSpec {
  if (!isPlainObject(node)) throw new FST_MSM_NODES_INVALID(`a node must be { id, host, port }, got ${describe(node)}`)
  rejectUnknownKeys(node, ['id', 'host', 'port'], 'nodes[].')
  const { id, host, port } = node
  if (typeof id !== 'string' || !NODE_ID.test(id)) {
    throw new FST_MSM_NODES_INVALID(`node id ${describe(id)} must be 1 to 32 characters from [A-Za-z0-9_]`)
  }
  if (typeof host !== 'string' || !HOST.test(host)) {
    throw new FST_MSM_NODES_INVALID(`node "${id}" has host ${describe(host)}; use a hostname or IPv4 address`)
  }
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new FST_MSM_NODES_INVALID(`node "${id}" has port ${describe(port)}; use an integer from 1 to 65535`)
  }
  return { id, host, port }
}

/** Validates `failoverNodes` against the node list: known ids, and not every node. */
export function parseFailoverNodes (value: unknown, nodes: readonly NodeSpec[]): string[] {
  if (value === undefined) return []
  const ids = typeof value === 'string' ? value.trim().split(/\s+/).filter(Boolean) : value
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
    throw new FST_MSM_OPTION_INVALID('failoverNodes', 'node ids, as an array or a space-separated string', describe(value))
  }
  for (const id of ids) {
    if (!nodes.some((node) => node.id === id)) {
      throw new FST_MSM_OPTION_INVALID('failoverNodes', `ids of configured nodes (${nodes.map((node) => node.id).join(', ')})`, JSON.stringify(id))
    }
  }
  if (new Set(ids).size >= nodes.length) {
    throw new FST_MSM_OPTION_INVALID('failoverNodes', 'a list that leaves at least one regular node', JSON.stringify(ids))
  }
  return [...new Set(ids)]
}
