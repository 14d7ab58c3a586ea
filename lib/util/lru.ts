/**
 * A small least-recently-used map with a hard bound on its entries. JavaScript
 * Maps iterate in insertion order, so re-inserting on access keeps the oldest
 * entry first.
 */
export class BoundedLru<K, V> {
  readonly #map = new Map<K, V>()
  readonly #capacity: number

  constructor (capacity: number) {
    this.#capacity = capacity
  }

  get size (): number {
    return this.#map.size
  }

  get (key: K): V | undefined {
    const value = this.#map.get(key)
    if (value !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, value)
    }
    return value
  }

  /** The value, without making it the most recently used (cheaper: for caches where FIFO eviction is good enough). */
  peek (key: K): V | undefined {
    return this.#map.get(key)
  }

  set (key: K, value: V): void {
    this.#map.delete(key)
    this.#map.set(key, value)
    if (this.#map.size > this.#capacity) {
      const oldest = this.#map.keys().next().value as K
      this.#map.delete(oldest)
    }
  }

  delete (key: K): void {
    this.#map.delete(key)
  }
}
