import type { Attributes } from '../types/index.js'
import type { MapEntry } from './avro-bounds.js'

/**
 * The attributes of a stored generic session, decoded one at a time: each
 * key is there from the start (`in`, `Object.keys` and `JSON.stringify` see
 * them all), and its value is decoded from the stored bytes the first time it
 * is read, then kept as a plain property. A request that reads `user` pays
 * for `user` only, not for the cart next to it. Assigning or deleting a key
 * before it was read never decodes it.
 *
 * `bytes` must have passed the bounds check (checkRecordWithMapEntries), so a
 * value's decoding cannot fail later, inside a route.
 */
export function lazyAttributes (entries: readonly MapEntry[], bytes: Buffer, decode: (bytes: Buffer, start: number) => unknown): Attributes {
  // A plain object, as avsc's own map decoding gives (the bounds check refuses a __proto__ key)
  const attributes: Attributes = {}
  for (const entry of entries) {
    Object.defineProperty(attributes, entry.key, {
      configurable: true,
      enumerable: true,
      get () {
        const value = decode(bytes, entry.start)
        settle(attributes, entry.key, value)
        return value
      },
      set (value: unknown) {
        settle(attributes, entry.key, value)
      }
    })
  }
  return attributes
}

function settle (attributes: Attributes, key: string, value: unknown): void {
  Object.defineProperty(attributes, key, { configurable: true, enumerable: true, writable: true, value })
}
