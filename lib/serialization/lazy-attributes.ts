import type { Attributes } from '../types/index.js'
import type { MapEntry } from './avro-bounds.js'

/**
 * An attribute of a loaded session that was not read yet: where its value is
 * in the stored bytes. It stands in the attributes object in place of the
 * value until readAttribute() decodes it; nothing outside this module and
 * the codec ever sees one.
 */
class UnreadValue {
  constructor (
    readonly bytes: Buffer,
    readonly start: number,
    readonly end: number,
    readonly decode: (bytes: Buffer, start: number) => unknown
  ) {}
}

/**
 * The attributes of a stored generic session, decoded one at a time: every
 * key is there from the start (`Object.keys` and `Object.hasOwn` see them
 * all), and a value is decoded the first time readAttribute() reads it. A
 * request that reads `user` pays for `user` only, not for the cart next to
 * it; assigning or deleting a key before it was read never decodes it; and a
 * value never read is written back as its stored bytes (unreadValueBytes).
 *
 * `bytes` must have passed the bounds check (checkRecordWithMapEntries), so a
 * value's decoding cannot fail later, inside a route.
 */
export function lazyAttributes (entries: readonly MapEntry[], bytes: Buffer, decode: (bytes: Buffer, start: number) => unknown): Attributes {
  // A plain object, as avsc's own map decoding gives (the bounds check refuses a __proto__ key)
  const attributes: Record<string, unknown> = {}
  for (const entry of entries) attributes[entry.key] = new UnreadValue(bytes, entry.start, entry.end, decode)
  return attributes as Attributes
}

/** The value of an attribute (which must exist), decoded on its first read. */
export function readAttribute (attributes: Attributes, key: string): unknown {
  const value: unknown = attributes[key]
  if (!(value instanceof UnreadValue)) return value
  const decoded = value.decode(value.bytes, value.start)
  attributes[key] = decoded as Attributes[string]
  return decoded
}

/**
 * The stored bytes of an attribute that was never read or assigned since it
 * was loaded; undefined otherwise. Its value is what was stored, so it needs
 * neither validation nor encoding.
 */
export function unreadValueBytes (attributes: Attributes, key: string): Buffer | undefined {
  const value: unknown = attributes[key]
  return value instanceof UnreadValue ? value.bytes.subarray(value.start, value.end) : undefined
}

/** True when an attribute was never read (the object came from lazyAttributes). */
export function hasUnreadValues (attributes: Attributes): boolean {
  for (const key in attributes) {
    if ((attributes[key] as unknown) instanceof UnreadValue) return true
  }
  return false
}
