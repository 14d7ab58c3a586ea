// An in-memory memcached server for unit tests that must not start processes.
// It keeps memcached's semantics where the plugin depends on them: NOT_STORED
// for add on an existing key and replace on a missing one, NOT_FOUND for touch
// and delete of a missing key, expiry in whole seconds of the server's clock,
// negative lifetimes and lifetimes over 30 days read as unix times. Its faults
// mirror the process faults of the integration tests: kill() (SIGKILL: every
// command fails), hang() (SIGSTOP: no answer until resume()), restart() (empty).
// test/integration/memory-memcached.contract.test.ts runs the same cases on it
// and on a real memcached, so that the two cannot drift apart.
import type { Done, MemcachedTransport } from '../../lib/memcached/transport.js'

/** memcached reads a relative lifetime above 30 days as a unix timestamp. */
const MAX_RELATIVE_LIFETIME = 60 * 60 * 24 * 30

interface Item { value: string, expiresAt: number }

export type MemoryStats = Record<'cmd_get' | 'cmd_set' | 'cmd_touch' | 'get_hits' | 'get_misses' | 'touch_hits' | 'touch_misses' | 'delete_hits' | 'delete_misses' | 'curr_items', number>

export class MemoryMemcached {
  readonly #items = new Map<string, Item>()
  #state: 'up' | 'killed' | 'hung' = 'up'
  #pending: Array<() => void> = []
  readonly #counts: Omit<MemoryStats, 'curr_items'> = {
    cmd_get: 0, cmd_set: 0, cmd_touch: 0, get_hits: 0, get_misses: 0, touch_hits: 0, touch_misses: 0, delete_hits: 0, delete_misses: 0
  }

  /** The server's clock: whole seconds, like memcached's current_time. */
  now: () => number = () => Math.floor(Date.now() / 1000)

  /** A transport for one NodeClient; several may share the server, as connections do. */
  transport (): MemcachedTransport {
    let ended = false
    const run = <T>(done: Done<T>, command: () => T): void => {
      if (ended) return
      this.#answer(() => { if (!ended) done(undefined, command()) }, (error) => { if (!ended) done(error) })
    }
    return {
      get: (key, done) => run(done, () => this.#get(key)),
      set: (key, value, lifetime, done) => run(done, () => this.#store('set', key, value, lifetime)),
      replace: (key, value, lifetime, done) => run(done, () => this.#store('replace', key, value, lifetime)),
      add: (key, value, lifetime, done) => run(done, () => this.#store('add', key, value, lifetime)),
      touch: (key, lifetime, done) => run(done, () => this.#touch(key, lifetime)),
      delete: (key, done) => run(done, () => this.#delete(key)),
      end: () => { ended = true }
    }
  }

  /** Like SIGKILL: every command fails until restart(); commands in flight never answer. */
  kill (): void {
    this.#state = 'killed'
    this.#pending = []
  }

  /** Like SIGSTOP: commands wait, unanswered, until resume(). */
  hang (): void {
    this.#state = 'hung'
  }

  /** Like SIGCONT: waiting commands are answered. */
  resume (): void {
    this.#state = 'up'
    for (const answer of this.#pending.splice(0)) answer()
  }

  /** A killed server started again: up and empty. */
  restart (): void {
    this.#items.clear()
    this.#pending = []
    this.#state = 'up'
  }

  stats (): MemoryStats {
    let live = 0
    for (const key of this.#items.keys()) if (this.#live(key) !== undefined) live++
    return { ...this.#counts, curr_items: live }
  }

  /** The raw stored value, without counting a get (as a test's own look at the server). */
  peek (key: string): string | undefined {
    return this.#live(key)?.value
  }

  #answer (reply: () => void, fail: (error: Error) => void): void {
    // Answers come on a later tick, as from a socket
    if (this.#state === 'killed') setImmediate(() => fail(new Error('connect ECONNREFUSED (memory memcached killed)')))
    else if (this.#state === 'hung') this.#pending.push(() => setImmediate(reply))
    else setImmediate(reply)
  }

  #live (key: string): Item | undefined {
    const item = this.#items.get(key)
    if (item === undefined) return undefined
    if (item.expiresAt !== 0 && item.expiresAt <= this.now()) {
      this.#items.delete(key)
      return undefined
    }
    return item
  }

  /** memcached's exptime: 0 never, negative at once, over 30 days a unix time. */
  #expiresAt (lifetime: number): number {
    if (lifetime === 0) return 0
    if (lifetime < 0) return this.now()
    return lifetime > MAX_RELATIVE_LIFETIME ? lifetime : this.now() + lifetime
  }

  #get (key: string): string | undefined {
    this.#counts.cmd_get++
    const item = this.#live(key)
    if (item === undefined) this.#counts.get_misses++
    else this.#counts.get_hits++
    return item?.value
  }

  #store (command: 'set' | 'add' | 'replace', key: string, value: string, lifetime: number): boolean {
    this.#counts.cmd_set++
    const exists = this.#live(key) !== undefined
    if ((command === 'add' && exists) || (command === 'replace' && !exists)) return false
    this.#items.set(key, { value, expiresAt: this.#expiresAt(lifetime) })
    this.#live(key)
    return true
  }

  #touch (key: string, lifetime: number): boolean {
    this.#counts.cmd_touch++
    const item = this.#live(key)
    if (item === undefined) {
      this.#counts.touch_misses++
      return false
    }
    this.#counts.touch_hits++
    item.expiresAt = this.#expiresAt(lifetime)
    this.#live(key)
    return true
  }

  #delete (key: string): boolean {
    const existed = this.#live(key) !== undefined
    this.#items.delete(key)
    if (existed) this.#counts.delete_hits++
    else this.#counts.delete_misses++
    return existed
  }
}
