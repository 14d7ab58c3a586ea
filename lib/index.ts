import fp from 'fastify-plugin'
import { msmPluginBody } from './plugin.js'

/**
 * fastify-msm: sessions in memcached with a primary and a backup node.
 * Register @fastify/cookie first.
 */
const msmPlugin = fp(msmPluginBody, {
  fastify: '5.x',
  name: 'fastify-msm',
  dependencies: ['@fastify/cookie']
})

export default msmPlugin
export { msmPlugin }
export type { MsmDecorator } from './plugin.js'
export type { MsmHealth } from './monitoring/health.js'
export type { HistogramSummary } from './monitoring/histogram.js'
export type { MsmOptions, MsmCookieOptions, NodeSpec, SessionData, SessionKey, SessionValue, SessionValueOf, RouteSessionConfig, LockingMode } from './types.js'
export type { MsmStats, MsmCounters, LockCounters, NodeStats } from './stats.js'
export { Session } from './session/session.js'
export * as errors from './errors.js'
export { SESSION_SCHEMA, JSON_VALUE_SCHEMA } from './serialization/avro-types.js'
export { jsonSerializer } from './serialization/session-codec.js'
export type { Serializer } from './serialization/session-codec.js'
