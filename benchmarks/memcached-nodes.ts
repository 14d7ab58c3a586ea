// The benchmark's memcached nodes. The test helper starts nodes with 64 MB,
// too little for the size sweep (1,000 sessions of 100 KB, two copies each, per
// scenario), so these nodes take a memory limit; everything else (raw
// commands, stats, operation counts) is the test helper's.
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { assertMemcachedInstalled, MemcachedCluster, MemcachedNode } from '../test/helpers/memcached.js'

const HOST = '127.0.0.1'
const running = new Set<ChildProcess>()

process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no free port')
  return address.port
}

/** A memcached node with `memoryMb` of item memory; otherwise as the test helper starts them (1 thread, 1,024 connections). */
class BenchmarkNode extends MemcachedNode {
  #process: ChildProcess | null = null

  constructor (id: string, port: number, readonly memoryMb: number) {
    super(id, port)
  }

  override async start (): Promise<void> {
    const args = ['-l', HOST, '-p', String(this.port), '-U', '0', '-m', String(this.memoryMb), '-t', '1', '-c', '1024']
    if (process.getuid?.() === 0) args.push('-u', 'nobody')
    const child = spawn('memcached', args, { stdio: 'ignore' })
    running.add(child)
    child.once('exit', () => running.delete(child))
    this.#process = child
    this.started()
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

  override async kill (): Promise<void> {
    const child = this.#process
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }
}

/** Starts `count` nodes n1..nN on free ports, each with `memoryMb` of item memory. */
export async function startBenchmarkCluster (count: number, memoryMb: number): Promise<MemcachedCluster> {
  assertMemcachedInstalled()
  const nodes: MemcachedNode[] = []
  for (let i = 1; i <= count; i++) nodes.push(new BenchmarkNode(`n${i}`, await freePort(), memoryMb))
  const cluster = new MemcachedCluster(nodes)
  try {
    await Promise.all(nodes.map((node) => node.start()))
  } catch (error) {
    await cluster.stop()
    throw error
  }
  return cluster
}

/** Items memcached evicted to make room, summed over the nodes: must stay 0, or sessions were lost. */
export function evictions (cluster: MemcachedCluster): Promise<number> {
  return cluster.total('evictions')
}
