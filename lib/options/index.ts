import type { LockingMode, MsmCookieOptions, NodeSpec, Serializer } from '../types/index.js'
import { buildType } from '../serialization/avro-types.js'
import { FST_MSM_OPTION_INVALID } from '../errors.js'
import { boolean, describe, isPlainObject, matching, nonNegativeInteger, oneOf, optionalRegExp, positiveInteger, rejectUnknownKeys } from './checks.js'
import { NODE_ID, parseFailoverNodes, parseNodes } from './nodes.js'
import { parseEncryption } from './encryption.js'
import { checkMaxInactiveInterval, defaultTouchInterval } from './lifetimes.js'
import type { KeyRing } from '../crypto/key-ring.js'

/** The validated, normalised options that the rest of the plugin reads. */
export interface MsmConfig {
  nodes: NodeSpec[]
  cookieName: string
  cookie: Required<Pick<MsmCookieOptions, 'path' | 'httpOnly' | 'secure' | 'sameSite'>> &
  Pick<MsmCookieOptions, 'domain' | 'maxAge'>
  maxInactiveInterval: number
  touchInterval: number
  /** touchInterval was given: a session's own maxInactiveInterval keeps it instead of deriving its own. */
  touchIntervalConfigured: boolean
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
  healthCheckInterval: number
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
  /** Option `encryption`: the key ring, or null when values are stored in clear. */
  encryption: KeyRing | null
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
  healthCheckInterval: 1000,
  storeFailurePolicy: 'continue',
  sticky: false,
  route: null,
  localSessions: 10_000,
  backupAsync: 'sticky',
  backupQueueSize: 10_000,
  schema: null,
  serializer: null,
  stats: true,
  maxAge: null,
  encryption: null
})

export const OPTION_KEYS = [
  'nodes', 'cookieName', 'cookie', 'maxInactiveInterval', 'touchInterval',
  'prefix', 'operationTimeout', 'ignore', 'maxSessionSize',
  'lockingMode', 'lockExpiration', 'lockTimeout', 'lockTimeoutPolicy', 'lockRetryMin', 'lockRetryMax',
  'failoverNodes', 'nodeRetryInterval', 'healthCheckInterval', 'storeFailurePolicy',
  'sticky', 'route', 'localSessions', 'backupAsync', 'backupQueueSize',
  'schema', 'serializer', 'stats', 'maxAge', 'encryption'
] as const
export const COOKIE_KEYS = ['path', 'domain', 'httpOnly', 'secure', 'sameSite', 'maxAge'] as const

/** memcached's item limit is 1 MiB including the key and item header. */
export const MAX_STORABLE_SIZE = 1_000_000
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

  const maxInactiveInterval = options.maxInactiveInterval === undefined ? DEFAULTS.maxInactiveInterval : checkMaxInactiveInterval(options.maxInactiveInterval, 'maxInactiveInterval')
  const nodes = parseNodes(options.nodes)
  const config: MsmConfig = {
    nodes,
    cookieName: matching(options, 'cookieName', COOKIE_NAME, 'a cookie name token (letters, digits, !#$%&\'*+-.^_`|~)', DEFAULTS.cookieName),
    cookie: normalizeCookie(options.cookie),
    maxInactiveInterval,
    touchInterval: positiveInteger(options, 'touchInterval', defaultTouchInterval(maxInactiveInterval)),
    touchIntervalConfigured: options.touchInterval !== undefined,
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
    healthCheckInterval: nonNegativeInteger(options, 'healthCheckInterval', DEFAULTS.healthCheckInterval),
    storeFailurePolicy: oneOf(options, 'storeFailurePolicy', ['continue', 'fail'] as const, DEFAULTS.storeFailurePolicy),
    ...stickyOptions(options),
    schema: attributesSchema(options.schema),
    serializer: serializerOption(options.serializer),
    stats: boolean(options, 'stats', DEFAULTS.stats),
    maxAge: options.maxAge === undefined ? null : positiveInteger(options, 'maxAge', 0),
    encryption: parseEncryption(options.encryption)
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
  if (value.maxAge !== undefined) cookie.maxAge = cookieMaxAge(value)
  if (cookie.sameSite === 'none' && cookie.secure === false) {
    throw new FST_MSM_OPTION_INVALID('cookie.secure', 'true or "auto" when cookie.sameSite is "none" (browsers drop such cookies)', 'false')
  }
  return cookie
}

/** Browsers keep a cookie 400 days at most (RFC 6265bis); more is a unit mistake. */
export const MAX_COOKIE_MAX_AGE = 400 * 24 * 60 * 60

/**
 * `cookie.maxAge` is in seconds; @fastify/session's is in milliseconds. A
 * value above 400 days (which no browser keeps) is most likely milliseconds,
 * and is refused rather than silently meaning years.
 */
function cookieMaxAge (cookie: Record<string, unknown>): number {
  const seconds = positiveInteger(cookie, 'maxAge', 0, 'cookie.')
  if (seconds > MAX_COOKIE_MAX_AGE) {
    throw new FST_MSM_OPTION_INVALID('cookie.maxAge', `seconds, at most ${MAX_COOKIE_MAX_AGE} (400 days; browsers keep cookies no longer). ${seconds} s is ${Math.round(seconds / 86400)} days: if you meant milliseconds, as in @fastify/session, use ${Math.max(1, Math.round(seconds / 1000))}`, String(seconds))
  }
  return seconds
}
