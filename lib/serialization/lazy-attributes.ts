import type { Attributes } from '../types/index.js'
import type { MapEntry } from './avro-bounds.js'

/** The getter and the stored bytes of each attribute not read yet. */
type Unread = Map<string, { getter: () => unknown, bytes: Buffer }>

const unreadOf = new WeakMap<Attributes, Unread>()

/**
 * The attributes of a stored generic session, decoded one at a time: each
 * key is there from the start (`in`, `Object.keys` and `JSON.stringify` see
 * them all), and its value is decoded from the stored bytes the first time it
 * is read, then kept as a plain property. A request that reads `user` pays
 * for `user` only, not for the cart next to it. Assigning or deleting a key
 * before it was read never decodes it, and a value never read is written
 * back as its stored bytes (see unreadValueBytes).
 *
 * `bytes` must have passed the bounds check (checkRecordWithMapEntries), so a
 * value's decoding cannot fail later, inside a route.
 */
export function lazyAttributes (entries: readonly MapEntry[], bytes: Buffer, decode: (bytes: Buffer, start: number) => unknown): Attributes {
  // A plain object, as avsc's own map decoding gives (the bounds check refuses a __proto__ key)
  const attributes: Attributes = {}
  const unread: Unread = new Map()
  for (const entry of entries) {
    const getter = (): unknown => {
      const value = decode(bytes, entry.start)
      settle(attributes, entry.key, value)
      return value
    }
    unread.set(entry.key, { getter, bytes: bytes.subarray(entry.start, entry.end) })
    Object.defineProperty(attributes, entry.key, {
      configurable: true,
      enumerable: true,
      get: getter,
      set (value: unknown) {
        settle(attributes, entry.key, value)
      }
    })
  }
  unreadOf.set(attributes, unread)
  return attributes
}

/**
 * The stored bytes of an attribute that was never read, assigned or deleted
 * since it was loaded; undefined otherwise. Its value is what was stored, so
 * it needs neither validation nor encoding.
 */
export function unreadValueBytes (attributes: Attributes, key: string): Buffer | undefined {
  const unread = unreadOf.get(attributes)?.get(key)
  if (unread === undefined) return undefined
  // Deleted and set again: a data property, no longer the lazy getter
  return Object.getOwnPropertyDescriptor(attributes, key)?.get === unread.getter ? unread.bytes : undefined
}

/** True when some attribute of this object was never read (it came from lazyAttributes). */
export function hasUnreadValues (attributes: Attributes): boolean {
  return unreadOf.has(attributes)
}

function settle (attributes: Attributes, key: string, value: unknown): void {
  Object.defineProperty(attributes, key, { configurable: true, enumerable: true, writable: true, value })
  unreadOf.get(attributes)?.delete(key)
}
