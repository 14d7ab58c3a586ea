import { BoundedLru } from '../util/lru.js'

/** Sessions whose last touch this process remembers, to touch each at most once per touchInterval. */
const TOUCH_MEMORY = 10_000

/**
 * When this process last extended each session it touched (non-sticky
 * mode; sticky mode keeps it with the session it holds). A session written
 * or deleted is forgotten: its stored lastAccessedAt says it all.
 */
export class TouchMemory {
  readonly #lastTouch = new BoundedLru<string, number>(TOUCH_MEMORY)

  /** The last touch of `id` by this process, or 0. */
  last (id: string): number {
    return this.#lastTouch.get(id) ?? 0
  }

  record (id: string, at: number): void {
    this.#lastTouch.set(id, at)
  }

  forget (id: string): void {
    this.#lastTouch.delete(id)
  }
}
