import type { Attributes } from '../../lib/types/index.js'
import { readAttribute } from '../../lib/serialization/lazy-attributes.js'

/** Every attribute of a decoded session, decoded (loaded generic sessions decode each attribute on first read). */
export function allAttributes (attributes: Attributes): Record<string, unknown> {
  return Object.fromEntries(Object.keys(attributes).map((key) => [key, readAttribute(attributes, key)]))
}
