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
// fastifyMsm: the name fastify-plugin also gives it, as in the ecosystem's fastifyCookie, fastifySession
export { msmPlugin, msmPlugin as fastifyMsm }
export type * from './types/index.js'
export { Session, type MsmSession, type SessionCallback } from './session/session.js'
export type { SessionCookieView } from './session/cookie-view.js'
export * as errors from './errors.js'
export { SESSION_SCHEMA, SESSION_SCHEMA_V1, JSON_VALUE_SCHEMA } from './serialization/avro-types.js'
export { jsonSerializer } from './serialization/serializer-codec.js'
export { CHANNEL_NAMES as DIAGNOSTICS_CHANNELS } from './events/channels.js'
export type { LoadEvent, SaveEvent, TouchEvent, LockEvent, NodeOperationEvent, RelocatedEvent, NodeStateEvent } from './events/channels.js'
