/**
 * The Avro schema of a stored session. docs/storage.md documents it field by
 * field; another language's Avro library can read stored values with it.
 *
 * `JsonValue` wraps one JSON-like value in a single-field record, because Avro
 * needs a named type for recursion. The record adds no bytes on the wire: a
 * JsonValue is its union branch index followed by the branch's encoding.
 */
export const JSON_VALUE_SCHEMA = {
  type: 'record',
  name: 'JsonValue',
  logicalType: 'json-value',
  fields: [{
    name: 'v',
    type: [
      'null',
      'boolean',
      'double',
      'string',
      { type: 'array', items: 'JsonValue' },
      { type: 'map', values: 'JsonValue' }
    ]
  }]
} as const

/** Every field except `attributes`; it is encoded separately for change detection. */
export const SESSION_META_FIELDS = [
  { name: 'id', type: 'string' },
  { name: 'createdAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
  { name: 'lastAccessedAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
  { name: 'maxInactiveInterval', type: 'int' }
] as const

export const SESSION_SCHEMA = {
  type: 'record',
  name: 'Session',
  namespace: 'fastify.msm',
  fields: [
    ...SESSION_META_FIELDS,
    { name: 'attributes', type: { type: 'map', values: JSON_VALUE_SCHEMA } }
  ]
} as const
