/**
 * First-in-first-out mutual exclusion per key, inside one process. Requests for
 * one session queue here instead of hammering memcached with `add` retries.
 * Every structure is removed as soon as its key is free again.
 */
interface Waiter {
  grant: () => void
  timer: NodeJS.Timeout
}

interface Entry {
  waiters: Waiter[]
}

export class KeyedMutex {
  readonly #entries = new Map<string, Entry>()

  /** Resolves true once the caller holds `key`, or false after `timeoutMs`. */
  lock (key: string, timeoutMs: number): Promise<boolean> {
    const entry = this.#entries.get(key)
    if (entry === undefined) {
      this.#entries.set(key, { waiters: [] })
      return Promise.resolve(true)
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(waiter.timer)
          resolve(true)
        },
        timer: setTimeout(() => {
          const index = entry.waiters.indexOf(waiter)
          if (index !== -1) entry.waiters.splice(index, 1)
          resolve(false)
        }, Math.max(0, timeoutMs))
      }
      entry.waiters.push(waiter)
    })
  }

  /** Whether someone in this process waits for `key`. */
  hasWaiters (key: string): boolean {
    return (this.#entries.get(key)?.waiters.length ?? 0) > 0
  }

  /** Passes `key` to the next waiter, or frees it. */
  unlock (key: string): void {
    const entry = this.#entries.get(key)
    if (entry === undefined) return
    const next = entry.waiters.shift()
    if (next === undefined) this.#entries.delete(key)
    else next.grant()
  }

  /** Number of keys held or waited for (for tests and stats). */
  get size (): number {
    return this.#entries.size
  }
}
