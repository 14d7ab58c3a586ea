/**
 * A bounded queue of memcached work done after the response: asynchronous
 * backups (sticky mode, backupAsync). Work for one session runs in order, one
 * job at a time; a job still waiting is replaced by a newer one for the same
 * session (repeated writes coalesce). When the queue is full, enqueue() waits
 * for room, so a burst slows responses down instead of dropping writes.
 */
export type Job = () => Promise<void>

/** A key with a job running. */
interface Slot {
  /** The newest job waiting behind the running one, if any. */
  next: Job | null
}

/** What the queue reports (StoreEvents.queued). */
export interface QueueEvents {
  queued: (coalesced: boolean) => void
}

export class WriteQueue {
  readonly #slots = new Map<string, Slot>()
  readonly #capacity: number
  readonly #events: QueueEvents
  #pending = 0
  #roomWaiters: Array<() => void> = []
  #idleWaiters: Array<() => void> = []

  constructor (capacity: number, events: QueueEvents) {
    this.#capacity = capacity
    this.#events = events
  }

  /** Jobs waiting or running. */
  get size (): number {
    return this.#pending
  }

  /** Queues `job` for `key`, replacing a waiting job of the same key. */
  async enqueue (key: string, job: Job): Promise<void> {
    const slot = this.#slots.get(key)
    if (slot?.next != null) {
      slot.next = job
      this.#events.queued(true)
      return
    }
    while (this.#pending >= this.#capacity) await new Promise<void>((resolve) => this.#roomWaiters.push(resolve))
    this.#pending++
    this.#events.queued(false)
    if (slot !== undefined) {
      slot.next = job
      return
    }
    this.#slots.set(key, { next: null })
    this.#run(key, job)
  }

  /** Resolves once every queued job has run. */
  flush (): Promise<void> {
    if (this.#pending === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  #run (key: string, job: Job): void {
    job().catch(() => {}).finally(() => {
      this.#pending--
      this.#roomWaiters.shift()?.()
      const slot = this.#slots.get(key) as Slot
      const next = slot.next
      if (next === null) {
        this.#slots.delete(key)
      } else {
        slot.next = null
        this.#run(key, next)
      }
      if (this.#pending === 0) {
        const waiters = this.#idleWaiters
        this.#idleWaiters = []
        for (const resolve of waiters) resolve()
      }
    })
  }
}
