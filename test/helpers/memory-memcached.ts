// An in-memory memcached server for unit tests that must not start processes.
// It keeps memcached's semantics where the plugin depends on them: NOT_STORED
// for add on an existing key and replace on a missing one, NOT_FOUND for touch
// and delete of a missing key, expiry in whole seconds of the server's clock,
// negative lifetimes and lifetimes over 30 days read as unix times. Its faults
// mirror the process faults of the integration tests: kill() (SIGKILL: every
// command fails, and every connection is reported lost), hang() (SIGSTOP: no
// answer until resume()), restart() (empty, with a new pid: `stats` tells).
// test/integration/memory-memcached.contract.test.ts runs the same cases on it
// and on a real memcached, so that the two cannot drift apart.
import { type Done, kTransport, type MemcachedTransport, type ServerInstance, type TransportFactory } from '../../lib/memcached/transport.js'
import { Cluster, NodeLifecycle } from './memcached.js'

/** memcached reads a relative lifetime above 30 days as a unix timestamp. */
const MAX_RELATIVE_LIFETIME = 60 * 60 * 24 * 30

interface Item { value: string, expiresAt: number }

export type MemoryStats = Record<'cmd_get' | 'cmd_set' | 'cmd_touch' | 'get_hits' | 'get_misses' | 'touch_hits' | 'touch_misses' | 'delete_hits' | 'delete_misses' | 'curr_items', number>

/** Pids of the in-memory servers, unique in the process, as a restarted memcached gets a new one. */
let lastPid = 0

export class MemoryMemcached {
  readonly #items = new Map<string, Item>()
  #instance: ServerInstance = newInstance()
  /** The connection-lost listeners of the transports not ended: kill() closes their connections. */
  readonly #connections = new Set<(reason: string) => void>()
  #state: 'up' | 'killed' | 'hung' | 'partitioned' = 'up'
  #pending: Array<() => void> = []
  readonly #counts: Omit<MemoryStats, 'curr_items'> = {
    cmd_get: 0, cmd_set: 0, cmd_touch: 0, get_hits: 0, get_misses: 0, touch_hits: 0, touch_misses: 0, delete_hits: 0, delete_misses: 0
  }

  /** The server's clock: whole seconds, like memcached's current_time. */
  now: () => number = () => Math.floor(Date.now() / 1000)

  /** A transport for one NodeClient; several may share the server, as connections do. */
  transport (): MemcachedTransport {
    let ended = false
    let lost: (reason: string) => void = () => {}
    const connection = (reason: string): void => { lost(reason) }
    this.#connections.add(connection)
    const run = <T>(done: Done<T>, command: () => T): void => {
      if (ended) return
      this.#answer(() => { if (!ended) done(undefined, command()) }, (error) => {
        if (ended) return
        // A refused connection, as the client reports it
        lost(error.message)
        done(error)
      })
    }
    return {
      get: (key, done) => run(done, () => this.#get(key)),
      set: (key, value, lifetime, done) => run(done, () => this.#store('set', key, value, lifetime)),
      replace: (key, value, lifetime, done) => run(done, () => this.#store('replace', key, value, lifetime)),
      add: (key, value, lifetime, done) => run(done, () => this.#store('add', key, value, lifetime)),
      touch: (key, lifetime, done) => run(done, () => this.#touch(key, lifetime)),
      delete: (key, done) => run(done, () => this.#delete(key)),
      instance: (done) => run(done, () => ({ ...this.#instance })),
      onConnectionLost: (listener) => { lost = listener },
      end: () => {
        ended = true
        this.#connections.delete(connection)
      }
    }
  }

  /**
   * Like SIGKILL: every command fails until restart(); commands in flight
   * never answer; the connections close, which their transports report.
   * `unnoticed`: no connection is reported lost, as in the moment between a
   * node's death and its notice; held open, so that a test can exercise the
   * failover of the write path itself.
   */
  kill (how: { unnoticed?: boolean } = {}): void {
    const wasRunning = this.#state !== 'killed'
    this.#state = 'killed'
    this.#pending = []
    if (wasRunning && how.unnoticed !== true) for (const connection of [...this.#connections]) setImmediate(() => connection('connection closed by the server'))
  }

  /** Like SIGSTOP: commands wait, unanswered, until resume(). */
  hang (): void {
    this.#state = 'hung'
  }

  /**
   * The network between the clients and this server drops every packet:
   * commands are neither executed nor answered, and those sent meanwhile are
   * lost for good (heal() does not deliver them). The server keeps its items.
   * A fault of the network, not of memcached, so the contract test has no
   * case for it.
   */
  partition (): void {
    this.#state = 'partitioned'
  }

  heal (): void {
    this.#state = 'up'
  }

  /** Like SIGCONT: waiting commands are answered. */
  resume (): void {
    this.#state = 'up'
    for (const answer of this.#pending.splice(0)) answer()
  }

  /** A killed server started again: up and empty, with a new pid and start time. */
  restart (): void {
    this.#items.clear()
    this.#pending = []
    this.#state = 'up'
    this.#instance = newInstance()
  }

  /** What `stats` says of the running process. */
  get instance (): ServerInstance {
    return { ...this.#instance }
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
    else if (this.#state !== 'partitioned') setImmediate(reply)
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

function newInstance (): ServerInstance {
  return { pid: ++lastPid, startedAt: Math.floor(Date.now() / 1000) }
}

/** How long a raw command of a test waits for an answer, as MemcachedNode.command does. */
const RAW_TIMEOUT_MS = 2000

/**
 * One in-memory server with the API of MemcachedNode (test/helpers/memcached.ts),
 * so that a test runs the same on either: its faults are the process faults
 * (kill, suspend/SIGSTOP, signal('SIGCONT'), restart, start), and its raw
 * get/set/stats go through a transport of their own, so that they count in
 * memcached's stats and fail on a dead node as the raw commands do.
 */
export class MemoryNode extends NodeLifecycle {
  readonly server = new MemoryMemcached()
  #state: 'up' | 'killed' | 'hung' = 'up'
  /** Raw commands sent while hung: sent once resumed. */
  #waiting: Array<() => void> = []

  constructor (readonly id: string, readonly port: number) {
    super()
  }

  get host (): string {
    return 'memory'
  }

  get spec (): string {
    return `${this.id}:${this.host}:${this.port}`
  }

  /** Like starting the process again: up and empty. */
  async start (): Promise<void> {
    this.server.restart()
    this.#state = 'up'
    this.started()
  }

  /** SIGKILL, SIGSTOP and SIGCONT, as on the process. */
  signal (signal: NodeJS.Signals): void {
    if (signal === 'SIGSTOP' && this.#state === 'up') {
      this.server.hang()
      this.#state = 'hung'
    } else if (signal === 'SIGCONT' && this.#state === 'hung') {
      this.server.resume()
      this.#state = 'up'
      for (const send of this.#waiting.splice(0)) send()
    } else if (signal === 'SIGKILL' || signal === 'SIGTERM') {
      this.server.kill({ unnoticed: true })
      this.#state = 'killed'
      this.#waiting = []
    }
  }

  /** A hung node: commands wait, unanswered, until signal('SIGCONT'). */
  async suspend (): Promise<void> {
    if (this.#state === 'killed') throw new Error('not running')
    this.signal('SIGSTOP')
  }

  /**
   * Killed, unnoticed until a command fails (MemoryMemcached.kill's
   * `unnoticed`): the unit tests exercise the failover of the request path
   * itself. `server.kill()` is the kill that the clients see at once, as
   * test/integration/memory-memcached.contract.test.ts checks against a real
   * memcached.
   */
  async kill (): Promise<void> {
    this.server.kill({ unnoticed: true })
    this.#state = 'killed'
    this.#waiting = []
  }

  /** memcached's own counters; fails on a killed node and times out on a hung one, like `stats` over TCP. */
  async stats (): Promise<Record<string, number>> {
    await this.#raw<undefined>((_transport, done) => done(undefined))
    return { ...this.server.stats() }
  }

  /** The stored text of `key`, or undefined on a miss (a counted get, as over TCP). */
  async get (key: string): Promise<string | undefined> {
    return await this.#raw<unknown>((transport, done) => transport.get(key, done)) as string | undefined
  }

  async set (key: string, value: string, lifetime = 0): Promise<void> {
    const stored = await this.#raw<boolean>((transport, done) => transport.set(key, value, lifetime, done))
    if (stored !== true) throw new Error('raw set failed: NOT_STORED')
  }

  /** The raw text-protocol commands the tests send: `delete <key>` and `version`. */
  async command (text: string, _end?: RegExp): Promise<string> {
    const remove = /^delete (\S+)\r\n$/.exec(text)
    if (remove !== null) {
      const deleted = await this.#raw<boolean>((transport, done) => transport.delete(remove[1] as string, done))
      return deleted === true ? 'DELETED\r\n' : 'NOT_FOUND\r\n'
    }
    if (text === 'version\r\n') {
      await this.#raw<undefined>((_transport, done) => done(undefined))
      return 'VERSION memory\r\n'
    }
    throw new Error(`the in-memory node does not speak ${JSON.stringify(text.slice(0, 20))}`)
  }

  /** One exchange on a connection of its own: refused while killed, unanswered while hung (up to RAW_TIMEOUT_MS). */
  #raw<T> (send: (transport: MemcachedTransport, done: Done<T>) => void): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      if (this.#state === 'killed') {
        reject(new Error(`connect ECONNREFUSED ${this.host}:${this.port}`))
        return
      }
      const transport = this.server.transport()
      const timer = setTimeout(() => { transport.end(); reject(new Error('raw memcached command timed out')) }, RAW_TIMEOUT_MS)
      const finish: Done<T> = (error, result) => {
        clearTimeout(timer)
        transport.end()
        if (error !== undefined && error !== null) reject(error)
        else resolve(result)
      }
      if (this.#state === 'hung') this.#waiting.push(() => send(transport, finish))
      else send(transport, finish)
    })
  }
}

/**
 * Options to spread into the plugin's: `{ nodes: cluster.spec, ...cluster.seam }`.
 * Empty for real processes (MemcachedCluster.seam); on a MemoryCluster every
 * node client of the plugin talks to the in-memory server of its address.
 */
export interface Seam { [kTransport]?: TransportFactory }

/**
 * MemcachedCluster's API on in-memory servers: a test switches between the
 * two by the function that starts its cluster (startCluster or
 * startMemoryCluster), and spreads `cluster.seam` into the plugin's options.
 */
export class MemoryCluster extends Cluster<MemoryNode> {
  get seam (): Seam {
    const factory: TransportFactory = (spec) => {
      const node = this.nodes.find((candidate) => candidate.host === spec.host && candidate.port === spec.port)
      return node === undefined ? unreachable() : node.server.transport()
    }
    return { [kTransport]: factory }
  }
}

/** A transport to an address where no server listens: every command is refused. */
function unreachable (): MemcachedTransport {
  const nobody = new MemoryMemcached()
  nobody.kill()
  return nobody.transport()
}

/**
 * `cluster.seam`'s transport factory with one command failing as memcached
 * fails a command it cannot carry out (`message`: `SERVER_ERROR …`), for each
 * key that `fails(key)` picks when the command is sent.
 */
export function failingTransport (cluster: MemoryCluster, command: 'set' | 'touch' | 'add', fails: (key: string) => boolean, message: string): TransportFactory {
  const seam = cluster.seam[kTransport] as TransportFactory
  return (spec) => {
    const transport = seam(spec)
    const run = transport[command] as (key: string, ...rest: unknown[]) => void
    const failing = (key: string, ...rest: unknown[]): void => {
      const done = rest[rest.length - 1] as Done<boolean>
      if (fails(key)) setImmediate(() => { done(new Error(message)) })
      else run.call(transport, key, ...rest)
    }
    return { ...transport, [command]: failing } as MemcachedTransport
  }
}

/** Starts `count` in-memory nodes with ids n1..nN at addresses memory:1..memory:N. */
export async function startMemoryCluster (count: number): Promise<MemoryCluster> {
  return new MemoryCluster(Array.from({ length: count }, (_, index) => new MemoryNode(`n${index + 1}`, index + 1)))
}
