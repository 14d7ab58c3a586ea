/**
 * Starts real memcached processes on free loopback ports for tests, talks to
 * them with a minimal raw text-protocol client (independent of the `memcached`
 * npm package), and stops every one of them, even when a test fails.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createServer, Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { within } from './node-test.js'

const HOST = '127.0.0.1'
const running = new Set<ChildProcess>()

process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export function assertMemcachedInstalled (): void {
  try {
    execFileSync('memcached', ['-V'], { stdio: 'pipe' })
  } catch {
    throw new Error('The tests need the memcached server on PATH. Install it: apt-get install -y memcached (Debian/Ubuntu) or brew install memcached (macOS).')
  }
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** restart(), stop() and stopped, over a node's own start() and kill(); MemcachedNode and MemoryNode. */
export abstract class NodeLifecycle {
  #stopped = false

  abstract start (): Promise<void>
  abstract kill (): Promise<void>

  /** Kills the node and starts it again, empty. */
  async restart (): Promise<void> {
    await this.kill()
    await this.start()
  }

  async stop (): Promise<void> {
    this.#stopped = true
    await this.kill()
  }

  get stopped (): boolean {
    return this.#stopped
  }

  /** For start(): a stopped node that starts again counts as running. */
  protected started (): void {
    this.#stopped = false
  }
}

export class MemcachedNode extends NodeLifecycle {
  #child: ChildProcess | null = null

  /** `memoryMb`: memcached's item memory (-m); the benchmark's size sweep needs more than the default. */
  constructor (readonly id: string, readonly port: number, readonly memoryMb = 64) {
    super()
  }

  get host (): string {
    return HOST
  }

  get spec (): string {
    return `${this.id}:${HOST}:${this.port}`
  }

  get pid (): number | undefined {
    return this.#child?.pid
  }

  async start (): Promise<void> {
    const args = ['-l', HOST, '-p', String(this.port), '-U', '0', '-m', String(this.memoryMb), '-t', '1', '-c', '1024']
    if (process.getuid?.() === 0) args.push('-u', 'nobody')
    const child = spawn('memcached', args, { stdio: 'ignore' })
    running.add(child)
    child.once('exit', () => running.delete(child))
    this.#child = child
    this.started()
    await this.#waitUntilAnswering()
  }

  async #waitUntilAnswering (): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        await this.command('version\r\n', /\r\n$/)
        return
      } catch {
        await sleep(20)
      }
    }
    throw new Error(`memcached on port ${this.port} did not start`)
  }

  /** Sends a signal to the process: SIGKILL, SIGSTOP, SIGCONT. */
  signal (signal: NodeJS.Signals): void {
    this.#child?.kill(signal)
  }

  /** SIGSTOP, and waits until the kernel reports the process stopped (a hung node). */
  async suspend (): Promise<void> {
    const pid = this.#child?.pid
    if (pid === undefined) throw new Error('not running')
    this.#child?.kill('SIGSTOP')
    const { readFileSync } = await import('node:fs')
    for (let attempt = 0; attempt < 200; attempt++) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (/\) T /.test(stat)) return
      await sleep(5)
    }
    throw new Error(`memcached ${this.id} did not stop`)
  }

  async kill (): Promise<void> {
    const child = this.#child
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGCONT')
    child.kill('SIGKILL')
    await within(exited, 10_000, `memcached ${this.id} (pid ${String(child.pid)}) to exit after SIGKILL`)
  }

  /** One raw text-protocol exchange; resolves with everything up to `end`. */
  command (text: string, end: RegExp): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = new Socket()
      let received = ''
      const timer = setTimeout(() => { socket.destroy(); reject(new Error('raw memcached command timed out')) }, 2000)
      socket.setEncoding('latin1')
      socket.on('data', (chunk: string) => {
        received += chunk
        if (end.test(received)) {
          clearTimeout(timer)
          socket.end()
          resolve(received)
        }
      })
      socket.on('error', (error) => { clearTimeout(timer); reject(error) })
      socket.connect(this.port, HOST, () => socket.write(text, 'latin1'))
    })
  }

  /** memcached's own counters (`stats`), as numbers where they are numeric. */
  /** The seconds `key` has left to live (memcached's meta get), -1 without expiry, or null when the node does not hold it. */
  async ttl (key: string): Promise<number | null> {
    const text = await this.command(`mg ${key} t\r\n`, /\r\n$/)
    const match = /^HD t(-?\d+)/.exec(text)
    return match === null ? null : Number(match[1])
  }

  async stats (): Promise<Record<string, number>> {
    const text = await this.command('stats\r\n', /END\r\n$/)
    const stats: Record<string, number> = {}
    for (const line of text.split('\r\n')) {
      const [kind, name, value] = line.split(' ')
      if (kind === 'STAT' && name !== undefined && value !== undefined) stats[name] = Number(value)
    }
    return stats
  }

  /** The raw stored text of `key`, or undefined on a miss. */
  async get (key: string): Promise<string | undefined> {
    const text = await this.command(`get ${key}\r\n`, /(^|\r\n)END\r\n$/)
    const match = /^VALUE \S+ \d+ (\d+)\r\n/.exec(text)
    if (match === null) return undefined
    const start = match[0].length
    return text.slice(start, start + Number(match[1]))
  }

  async set (key: string, value: string, lifetime = 0): Promise<void> {
    const bytes = Buffer.byteLength(value, 'latin1')
    const reply = await this.command(`set ${key} 0 ${lifetime} ${bytes}\r\n${value}\r\n`, /\r\n$/)
    if (reply !== 'STORED\r\n') throw new Error(`raw set failed: ${reply.trim()}`)
  }
}

/** What a cluster needs of its nodes, real processes or in-memory servers. */
export interface ClusterNode {
  readonly id: string
  readonly spec: string
  readonly stopped: boolean
  stats: () => Promise<Record<string, number>>
  stop: () => Promise<void>
}

/** The operation counts that operations() sums over the nodes. */
export interface ClusterOperations { get: number, set: number, touch: number, delete: number, flush: number }

/** Nodes n1..nN with memcached's own counters; MemcachedCluster and the in-memory MemoryCluster. */
export class Cluster<Node extends ClusterNode> {
  constructor (readonly nodes: Node[]) {}

  /** `'n1:host1:p1 n2:host2:p2 ...'` */
  get spec (): string {
    return this.nodes.map((node) => node.spec).join(' ')
  }

  node (id: string): Node {
    const node = this.nodes.find((candidate) => candidate.id === id)
    if (node === undefined) throw new Error(`no node ${id}`)
    return node
  }

  /** Sums one counter over every running node. */
  async total (stat: string): Promise<number> {
    let sum = 0
    for (const node of this.nodes) {
      if (!node.stopped) sum += (await node.stats())[stat] ?? 0
    }
    return sum
  }

  /** cmd_get, cmd_set, cmd_touch and delete_hits + delete_misses, summed over the nodes. */
  async operations (): Promise<ClusterOperations> {
    const result = { get: 0, set: 0, touch: 0, delete: 0, flush: 0 }
    for (const node of this.nodes) {
      if (node.stopped) continue
      const stats = await node.stats()
      result.get += stats.cmd_get ?? 0
      result.set += stats.cmd_set ?? 0
      result.touch += stats.cmd_touch ?? 0
      result.delete += (stats.delete_hits ?? 0) + (stats.delete_misses ?? 0)
      result.flush += stats.cmd_flush ?? 0
    }
    return result
  }

  async stop (): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()))
  }
}

/** What `action` cost, in memcached's own counters summed over the running nodes. */
export async function operationsDuring<T> (cluster: Cluster<ClusterNode>, action: () => Promise<T>): Promise<{ result: T, ops: ClusterOperations }> {
  const before = await cluster.operations()
  const result = await action()
  const after = await cluster.operations()
  return {
    result,
    ops: {
      get: after.get - before.get,
      set: after.set - before.set,
      touch: after.touch - before.touch,
      delete: after.delete - before.delete,
      flush: after.flush - before.flush
    }
  }
}

export class MemcachedCluster extends Cluster<MemcachedNode> {
  /** Nothing to add to the plugin's options: its nodes talk to these processes over TCP (see MemoryCluster.seam). */
  get seam (): object {
    return {}
  }
}

/** Starts `count` memcached nodes with ids n1..nN on free ports, each with `memoryMb` of item memory. */
export async function startCluster (count: number, memoryMb = 64): Promise<MemcachedCluster> {
  assertMemcachedInstalled()
  const nodes: MemcachedNode[] = []
  for (let i = 1; i <= count; i++) nodes.push(new MemcachedNode(`n${i}`, await freePort(), memoryMb))
  const cluster = new MemcachedCluster(nodes)
  try {
    await Promise.all(nodes.map((node) => node.start()))
  } catch (error) {
    await cluster.stop()
    throw error
  }
  return cluster
}
