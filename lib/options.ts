import type { LockingMode, MsmCookieOptions, NodeSpec } from './types/index.js'
import type { Serializer } from './types/index.js'
import { buildType } from './serialization/avro-types.js'
import {
  FST_MSM_NODE_DUPLICATE,
  FST_MSM_NODES_INVALID,
  FST_MSM_OPTION_INVALID,
  FST_MSM_OPTION_UNKNOWN
} from './errors.js'

/** The validated, normalised options that the rest of the plugin reads. */
export interface MsmConfig {
  nodes: NodeSpec[]
  cookieName: string
  cookie: Required<Pick<MsmCookieOptions, 'path' | 'httpOnly' | 'secure' | 'sameSite'>> &
  Pick<MsmCookieOptions, 'domain' | 'maxAge'>
  maxInactiveInterval: number
  touchInterval: number
  prefix: string
  operationTimeout: number
  ignore: RegExp | null
  maxSessionSize: number
  lockingMode: LockingMode
  lockExpiration: number
  lockTimeout: number
  lockTimeoutPolicy: 'fail' | 'proceed'
  lockRetryMin: number
  lockRetryMax: number
  failoverNodes: string[]
  nodeRetryInterval: number
  storeFailurePolicy: 'continue' | 'fail'
  sticky: boolean
  route: string | null
  localSessions: number
  backupAsync: boolean
  backupQueueSize: number
  schema: Record<string, unknown> | null
  serializer: Serializer | null
  stats: boolean
  maxAge: number | null
}

/** Defaults of every optional option; docs/options.md is checked against this table. */
export const DEFAULTS = Object.freeze({
  cookieName: 'sessionId',
  cookie: Object.freeze({ path: '/', httpOnly: true, secure: 'auto', sameSite: 'lax' } as const),
  maxInactiveInterval: 1800,
  touchInterval: 'min(60, maxInactiveInterval / 2)',
  prefix: '',
  operationTimeout: 1000,
  ignore: null,
  maxSessionSize: 256 * 1024,
  lockingMode: 'none',
  lockExpiration: 5,
  lockTimeout: 2000,
  lockTimeoutPolicy: 'fail',
  lockRetryMin: 10,
  lockRetryMax: 200,
  failoverNodes: Object.freeze([] as string[]),
  nodeRetryInterval: 1000,
  storeFailurePolicy: 'continue',
  sticky: false,
  route: null,
  localSessions: 10_000,
  backupAsync: 'sticky',
  backupQueueSize: 10_000,
  schema: null,
  serializer: null,
  stats: true,
  maxAge: null
})

export const OPTION_KEYS = [
  'nodes', 'cookieName', 'cookie', 'maxInactiveInterval', 'touchInterval',
  'prefix', 'operationTimeout', 'ignore', 'maxSessionSize',
  'lockingMode', 'lockExpiration', 'lockTimeout', 'lockTimeoutPolicy', 'lockRetryMin', 'lockRetryMax',
  'failoverNodes', 'nodeRetryInterval', 'storeFailurePolicy',
  'sticky', 'route', 'localSessions', 'backupAsync', 'backupQueueSize',
  'schema', 'serializer', 'stats', 'maxAge'
] as const
export const COOKIE_KEYS = ['path', 'domain', 'httpOnly', 'secure', 'sameSite', 'maxAge'] as const

/** memcached's item limit is 1 MiB including the key and item header. */
export const MAX_STORABLE_SIZE = 1_000_000
const MAX_NODES = 64
const NODE_ID = /^\w{1,32}$/
const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/
const PREFIX = /^[A-Za-z0-9_.:-]{0,64}$/
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/
const COOKIE_PATH = /^\/[\x21-\x3a\x3c-\x7e]*$/
const COOKIE_DOMAIN = /^\.?[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/

/** Validates `options` once, at registration, and returns the normalised config. */
export function normalizeOptions (options: unknown): MsmConfig {
  if (!isPlainObject(options)) {
    throw new FST_MSM_OPTION_INVALID('options', 'an object with at least "nodes"', describe(options))
  }
  rejectUnknownKeys(options, OPTION_KEYS, '')

  const maxInactiveInterval = positiveInteger(options, 'maxInactiveInterval', DEFAULTS.maxInactiveInterval)
  const nodes = parseNodes(options.nodes)
  const config: MsmConfig = {
    nodes,
    cookieName: matching(options, 'cookieName', COOKIE_NAME, 'a cookie name token (letters, digits, !#$%&\'*+-.^_`|~)', DEFAULTS.cookieName),
    cookie: normalizeCookie(options.cookie),
    maxInactiveInterval,
    touchInterval: positiveInteger(options, 'touchInterval', defaultTouchInterval(maxInactiveInterval)),
    prefix: matching(options, 'prefix', PREFIX, 'at most 64 characters from [A-Za-z0-9_.:-]', DEFAULTS.prefix),
    operationTimeout: positiveInteger(options, 'operationTimeout', DEFAULTS.operationTimeout),
    ignore: optionalRegExp(options, 'ignore'),
    maxSessionSize: positiveInteger(options, 'maxSessionSize', DEFAULTS.maxSessionSize),
    lockingMode: lockingMode(options.lockingMode),
    lockExpiration: positiveInteger(options, 'lockExpiration', DEFAULTS.lockExpiration),
    lockTimeout: positiveInteger(options, 'lockTimeout', DEFAULTS.lockTimeout),
    lockTimeoutPolicy: oneOf(options, 'lockTimeoutPolicy', ['fail', 'proceed'] as const, DEFAULTS.lockTimeoutPolicy),
    lockRetryMin: positiveInteger(options, 'lockRetryMin', DEFAULTS.lockRetryMin),
    lockRetryMax: positiveInteger(options, 'lockRetryMax', DEFAULTS.lockRetryMax),
    failoverNodes: parseFailoverNodes(options.failoverNodes, nodes),
    nodeRetryInterval: positiveInteger(options, 'nodeRetryInterval', DEFAULTS.nodeRetryInterval),
    storeFailurePolicy: oneOf(options, 'storeFailurePolicy', ['continue', 'fail'] as const, DEFAULTS.storeFailurePolicy),
    ...stickyOptions(options),
    schema: attributesSchema(options.schema),
    serializer: serializerOption(options.serializer),
    stats: boolean(options, 'stats', DEFAULTS.stats),
    maxAge: options.maxAge === undefined ? null : positiveInteger(options, 'maxAge', 0)
  }
  if (config.schema !== null && config.serializer !== null) {
    throw new FST_MSM_OPTION_INVALID('serializer', 'absent when "schema" is given (a schema is for the Avro serializer)', 'a serializer')
  }
  if (config.sticky && config.lockingMode !== 'none') {
    throw new FST_MSM_OPTION_INVALID('lockingMode', '"none" in sticky mode (a sticky session is served by one process; locking is for non-sticky sessions)', describe(options.lockingMode))
  }
  if (config.lockRetryMax < config.lockRetryMin) {
    throw new FST_MSM_OPTION_INVALID('lockRetryMax', `at least lockRetryMin (${config.lockRetryMin})`, String(config.lockRetryMax))
  }
  if (config.touchInterval >= config.maxInactiveInterval && config.maxInactiveInterval > 1) {
    throw new FST_MSM_OPTION_INVALID('touchInterval', `smaller than maxInactiveInterval (${config.maxInactiveInterval})`, String(config.touchInterval))
  }
  if (config.maxSessionSize > MAX_STORABLE_SIZE) {
    throw new FST_MSM_OPTION_INVALID('maxSessionSize', `at most ${MAX_STORABLE_SIZE} (memcached stores items up to 1 MiB)`, String(config.maxSessionSize))
  }
  return config
}

function attributesSchema (value: unknown): Record<string, unknown> | null {
  if (value === undefined) return null
  if (!isPlainObject(value) || value.type !== 'record') {
    throw new FST_MSM_OPTION_INVALID('schema', 'an Avro record schema ({ type: "record", name, fields })', describe(value))
  }
  try {
    buildType(value)
  } catch (error) {
    throw new FST_MSM_OPTION_INVALID('schema', 'a valid Avro record schema', (error as Error).message)
  }
  return value
}

function serializerOption (value: unknown): Serializer | null {
  if (value === undefined) return null
  if (value === null || typeof value !== 'object' ||
    typeof (value as Serializer).encode !== 'function' || typeof (value as Serializer).decode !== 'function' ||
    typeof (value as Serializer).name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test((value as Serializer).name)) {
    throw new FST_MSM_OPTION_INVALID('serializer', '{ name: 1 to 64 characters from [A-Za-z0-9_.-], encode(attributes), decode(bytes) }', describe(value))
  }
  return value as Serializer
}

function stickyOptions (options: Record<string, unknown>): Pick<MsmConfig, 'sticky' | 'route' | 'localSessions' | 'backupAsync' | 'backupQueueSize'> {
  const sticky = boolean(options, 'sticky', DEFAULTS.sticky)
  const route = options.route === undefined ? null : matching(options, 'route', NODE_ID, '1 to 32 characters from [A-Za-z0-9_]', '')
  if (route !== null && !sticky) throw new FST_MSM_OPTION_INVALID('route', 'used with sticky: true only', JSON.stringify(route))
  const backupAsync = boolean(options, 'backupAsync', sticky)
  if (sticky && !backupAsync) {
    throw new FST_MSM_OPTION_INVALID('backupAsync', 'true or absent in sticky mode (sticky sessions are always backed up after the response)', 'false')
  }
  return {
    sticky,
    route,
    localSessions: positiveInteger(options, 'localSessions', DEFAULTS.localSessions),
    backupAsync,
    backupQueueSize: positiveInteger(options, 'backupQueueSize', DEFAULTS.backupQueueSize)
  }
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

function lockingMode (value: unknown): LockingMode {
  if (value === undefined) return DEFAULTS.lockingMode
  if (value === 'none' || value === 'all' || value === 'auto') return value
  if (isPlainObject(value) && Object.keys(value).length === 1 && value.uriPattern instanceof RegExp) {
    const pattern = value.uriPattern
    if (pattern.global || pattern.sticky) {
      throw new FST_MSM_OPTION_INVALID('lockingMode.uriPattern', 'a RegExp without the g or y flag (they make test() stateful)', String(pattern))
    }
    return { uriPattern: pattern }
  }
  throw new FST_MSM_OPTION_INVALID('lockingMode', '"none", "all", "auto" or { uriPattern: RegExp }', describe(value))
}

function defaultTouchInterval (maxInactiveInterval: number): number {
  return Math.max(1, Math.min(60, Math.floor(maxInactiveInterval / 2)))
}

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

function normalizeCookie (value: unknown): MsmConfig['cookie'] {
  if (value === undefined) return { ...DEFAULTS.cookie }
  if (!isPlainObject(value)) throw new FST_MSM_OPTION_INVALID('cookie', 'an object', describe(value))
  rejectUnknownKeys(value, COOKIE_KEYS, 'cookie.')
  const cookie: MsmConfig['cookie'] = {
    path: matching(value, 'path', COOKIE_PATH, 'a path starting with "/"', DEFAULTS.cookie.path, 'cookie.'),
    httpOnly: boolean(value, 'httpOnly', DEFAULTS.cookie.httpOnly, 'cookie.'),
    secure: oneOf(value, 'secure', [true, false, 'auto'], DEFAULTS.cookie.secure, 'cookie.'),
    sameSite: oneOf(value, 'sameSite', ['lax', 'strict', 'none'], DEFAULTS.cookie.sameSite, 'cookie.')
  }
  if (value.domain !== undefined) cookie.domain = matching(value, 'domain', COOKIE_DOMAIN, 'a domain name', '', 'cookie.')
  if (value.maxAge !== undefined) cookie.maxAge = positiveInteger(value, 'maxAge', 0, 'cookie.')
  if (cookie.sameSite === 'none' && cookie.secure === false) {
    throw new FST_MSM_OPTION_INVALID('cookie.secure', 'true or "auto" when cookie.sameSite is "none" (browsers drop such cookies)', 'false')
  }
  return cookie
}

function rejectUnknownKeys (object: Record<string, unknown>, known: readonly string[], path: string): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) throw new FST_MSM_OPTION_UNKNOWN(path + key, known.join(', '))
  }
}

function positiveInteger (object: Record<string, unknown>, key: string, fallback: number, path = ''): number {
  const value = object[key]
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new FST_MSM_OPTION_INVALID(path + key, 'a positive integer', describe(value))
  }
  return value
}

function matching (object: Record<string, unknown>, key: string, pattern: RegExp, expected: string, fallback: string, path = ''): string {
  const value = object[key]
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new FST_MSM_OPTION_INVALID(path + key, expected, describe(value))
  }
  return value
}

function boolean (object: Record<string, unknown>, key: string, fallback: boolean, path = ''): boolean {
  const value = object[key]
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw new FST_MSM_OPTION_INVALID(path + key, 'true or false', describe(value))
  return value
}

function oneOf<T> (object: Record<string, unknown>, key: string, allowed: readonly T[], fallback: T, path = ''): T {
  const value = object[key]
  if (value === undefined) return fallback
  if (!allowed.includes(value as T)) {
    throw new FST_MSM_OPTION_INVALID(path + key, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, describe(value))
  }
  return value as T
}

function optionalRegExp (object: Record<string, unknown>, key: string): RegExp | null {
  const value = object[key]
  if (value === undefined || value === null) return null
  if (!(value instanceof RegExp)) throw new FST_MSM_OPTION_INVALID(key, 'a RegExp or null', describe(value))
  if (value.global || value.sticky) {
    throw new FST_MSM_OPTION_INVALID(key, 'a RegExp without the g or y flag (they make test() stateful)', String(value))
  }
  return value
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function describe (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(clip(value))
  if (value === null || value === undefined) return String(value)
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${clip(String(value))}`
}

function clip (text: string): string {
  return text.length > 60 ? text.slice(0, 57) + '...' : text
}
