import avro from 'avsc'
import type { SessionValue } from '../types/index.js'

/**
 * The Avro types of stored sessions and the logical types they use.
 *
 * - `timestamp-millis` longs are read and written as JavaScript Dates, in the
 *   generic attribute type and in typed schemas alike.
 * - `json-value` is the generic attribute type: a single-field record around a
 *   union of every JSON-like type plus a timestamp. Its union is always
 *   "wrapped" in JavaScript ({ double: 1 }) because a Date and a map are both
 *   objects; the wrapping is a JavaScript detail, the bytes are plain Avro.
 */
export const JSON_VALUE_SCHEMA = {
  type: 'record',
  name: 'JsonValue',
  namespace: 'fastify.msm',
  logicalType: 'json-value',
  fields: [{
    name: 'v',
    type: [
      'null',
      'boolean',
      'double',
      'string',
      { type: 'array', items: 'fastify.msm.JsonValue' },
      { type: 'map', values: 'fastify.msm.JsonValue' },
      { type: 'long', logicalType: 'timestamp-millis' }
    ]
  }]
} as const

/** The meta fields of release 0.1.0: stored values of that release carry these alone. */
export const SESSION_META_FIELDS_V1 = [
  { name: 'id', type: 'string' },
  { name: 'createdAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
  { name: 'lastAccessedAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
  /** The idle timeout in effect when the value was written, in seconds (for other readers; 0.1.0 never read it). */
  { name: 'maxInactiveInterval', type: 'int' }
] as const

/** The symbol of ownCookieMaxAge that stands for a browser-session cookie (no Max-Age). */
export const BROWSER_SESSION_COOKIE = 'BROWSER_SESSION'

/**
 * The meta fields. Fields added after 0.1.0 have defaults, so that each
 * release reads the other's values by Avro's resolution rules (a rolling
 * deploy): an older reader skips them, a newer one reads an older value with
 * the defaults. docs/serialization.md#evolving-the-format.
 */
export const SESSION_META_FIELDS = [
  ...SESSION_META_FIELDS_V1,
  /** This session's own idle timeout in seconds; null: the plugin's maxInactiveInterval. */
  { name: 'ownMaxInactiveInterval', type: ['null', 'int'], default: null },
  /** This session's own cookie lifetime in milliseconds, or a browser-session cookie; null: the plugin's cookie.maxAge. */
  { name: 'ownCookieMaxAge', type: ['null', 'long', { type: 'enum', name: 'CookieLifetime', namespace: 'fastify.msm', symbols: [BROWSER_SESSION_COOKIE] }], default: null }
] as const

/** The Session record around an attributes type (the generic map, or a typed record). */
export function sessionSchema (attributes: object, metaFields: readonly object[] = SESSION_META_FIELDS): object {
  return {
    type: 'record',
    name: 'Session',
    namespace: 'fastify.msm',
    fields: [...metaFields, { name: 'attributes', type: attributes }]
  }
}

/** The generic Session schema, exported as SESSION_SCHEMA: every meta field, for sessions with lifetimes of their own. */
export const SESSION_SCHEMA = sessionSchema({ type: 'map', values: JSON_VALUE_SCHEMA })

/**
 * The generic Session schema of release 0.1.0, exported as
 * SESSION_SCHEMA_V1: sessions without lifetimes of their own are still
 * written in it (docs/serialization.md#evolving-the-format).
 */
export const SESSION_SCHEMA_V1 = sessionSchema({ type: 'map', values: JSON_VALUE_SCHEMA }, SESSION_META_FIELDS_V1)

type Wrapped = { v: null | Record<string, unknown> }

class JsonValueType extends avro.types.LogicalType {
  override _fromValue (value: Wrapped): SessionValue | Date {
    const branch = value.v
    if (branch === null) return null
    const key = Object.keys(branch)[0]
    return key === undefined ? null : branch[key] as SessionValue | Date
  }

  override _toValue (value: unknown): Wrapped {
    if (value === null) return { v: null }
    switch (typeof value) {
      case 'boolean': return { v: { boolean: value } }
      case 'number': return { v: { double: value } }
      case 'string': return { v: { string: value } }
    }
    if (Array.isArray(value)) return { v: { array: value } }
    if (value instanceof Date) return { v: { long: value } }
    return { v: { map: value } }
  }

  /** Any version of the generic type reads as JSON-like values. */
  override _resolve (type: avro.Type): ((value: unknown) => unknown) | undefined {
    if (avro.Type.isType(type, 'logical:json-value')) return (value) => value
    return undefined
  }
}

class TimestampType extends avro.types.LogicalType {
  override _fromValue (value: number): Date {
    return new Date(value)
  }

  override _toValue (value: unknown): number | undefined {
    return value instanceof Date ? value.getTime() : undefined
  }

  override _resolve (type: avro.Type): ((value: unknown) => unknown) | undefined {
    if (avro.Type.isType(type, 'logical:timestamp-millis')) return (value) => value
    if (avro.Type.isType(type, 'long', 'int')) return (value) => new Date(value as number)
    return undefined
  }
}

const LOGICAL_TYPES = { 'json-value': JsonValueType, 'timestamp-millis': TimestampType }

function registryWithJsonValue (): Record<string, avro.Type> {
  const registry: Record<string, avro.Type> = {}
  avro.Type.forSchema(JSON_VALUE_SCHEMA as unknown as avro.Schema, { logicalTypes: LOGICAL_TYPES, wrapUnions: true, registry })
  return registry
}

/** The generic attributes type, referring to the JsonValue that buildType() registers. */
export const GENERIC_ATTRIBUTES = { type: 'map', values: 'fastify.msm.JsonValue' }

/**
 * Builds a type for this process. Unions outside JsonValue stay unwrapped, so
 * a typed `["null", "string"]` field takes plain values.
 */
export function buildType (schema: object): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { logicalTypes: LOGICAL_TYPES, registry: registryWithJsonValue() })
}

/**
 * Builds a writer type from a schema fetched from the registry. Only logical
 * types read writer values in JavaScript, so wrapping every union is safe and
 * handles any version of JsonValue.
 */
export function buildWriterType (schema: object): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { logicalTypes: LOGICAL_TYPES, wrapUnions: true })
}

/** The Parsing Canonical Form, whose CRC-64-AVRO is the schema fingerprint. */
export function canonicalForm (type: avro.Type): string {
  return JSON.stringify(type.schema())
}

/** The full schema, logical types included, as published in the registry. */
export function fullSchema (type: avro.Type): string {
  return JSON.stringify(type.schema({ exportAttrs: true }))
}
