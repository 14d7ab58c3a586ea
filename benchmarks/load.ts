// Starting scenario servers, logging their sessions in and putting them under
// load with autocannon: shared by run.ts, profile.ts and compare.ts.
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import type { MemcachedCluster } from '../test/helpers/memcached.js'
import type { Scenario } from './scenarios.js'

export const CONNECTIONS = 32
const LOGIN_BATCH = 50

export interface Server {
  scenario: Scenario
  base: string
  child: ChildProcess
  /** `name=value` pairs, one per logged-in session; requests use them in turn. */
  cookies: string[]
}

export interface StartOptions {
  /** Node options before the script, e.g. --cpu-prof. */
  nodeArgs?: string[]
  /** Added to the environment, e.g. BENCH_MSM_FROM. */
  env?: Record<string, string>
}

export interface Measurement {
  reqPerSec: number
  p50: number
  p99: number
  requests: number
  /** memcached get + set (add, replace) + touch + delete per request, from memcached's own stats. */
  opsPerRequest: number
}

/** Starts servers.ts for `scenario` in its own process; resolves once it listens. */
export async function startServer (scenario: Scenario, nodes: string, options: StartOptions = {}): Promise<Server> {
  const args = [...(options.nodeArgs ?? []), '--import', 'tsx', join(__dirname, 'servers.ts'), scenario.key, nodes]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...options.env } })
  const base = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve)
    child.once('exit', (code) => reject(new Error(`scenario ${scenario.key} exited with ${code}`)))
  })
  return { scenario, base, child, cookies: [] }
}

/** Stops a server started here; SIGTERM lets it close (and write a --cpu-prof profile). */
export async function stopServer (server: Server, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const child = server.child
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill(signal)
  await exited
}

export function hasSessions (scenario: Scenario): boolean {
  return scenario.setup.kind !== 'bare'
}

/** Logs in `count` distinct sessions; throws unless every login set a cookie. */
export async function login (server: Server, count: number): Promise<void> {
  if (!hasSessions(server.scenario)) return
  const cookies: string[] = []
  for (let done = 0; done < count; done += LOGIN_BATCH) {
    const batch = Math.min(LOGIN_BATCH, count - done)
    const responses = await Promise.all(Array.from({ length: batch }, () => fetch(`${server.base}/login`, { method: 'POST' })))
    for (const response of responses) {
      const pair = response.headers.getSetCookie()[0]?.split(';')[0]
      if (response.ok && pair !== undefined) cookies.push(pair)
    }
  }
  if (new Set(cookies).size !== count) throw new Error(`scenario ${server.scenario.key}: ${new Set(cookies).size} distinct sessions logged in, expected ${count}`)
  server.cookies = cookies
}

async function memcachedOperations (cluster: MemcachedCluster | undefined): Promise<number> {
  if (cluster === undefined) return 0
  const ops = await cluster.operations()
  return ops.get + ops.set + ops.touch + ops.delete
}

/**
 * Puts the server's route under load for `seconds`, each request with the
 * next session's cookie. Throws if any request failed or was not 2xx.
 */
export async function measure (server: Server, seconds: number, cluster?: MemcachedCluster): Promise<Measurement> {
  let next = 0
  const cookies = server.cookies
  const before = await memcachedOperations(cluster)
  const result = await autocannon({
    url: server.base,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [{
      method: 'GET',
      path: server.scenario.route,
      setupRequest: (request: { headers?: Record<string, string> }) => {
        if (cookies.length > 0) request.headers = { ...request.headers, cookie: cookies[next++ % cookies.length] as string }
        return request
      }
    }]
  } as autocannon.Options)
  // Requests still in flight when the time ran out are in `sent`, and their operations in memcached once they finish
  if (cluster !== undefined) await sleep(Math.min(2000, result.latency.p99 + 100))
  const after = await memcachedOperations(cluster)
  const sent = (result.requests as { sent?: number }).sent ?? result.requests.total
  const failed = result.errors + result.timeouts + result.non2xx
  if (failed > 0) {
    throw new Error(`scenario ${server.scenario.key}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx responses of ${result.requests.total}`)
  }
  return {
    reqPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    opsPerRequest: (after - before) / Math.max(1, sent)
  }
}

/**
 * The bytes memcached holds for the server's first session (the primary copy),
 * read raw from whichever node has it; null without sessions in memcached.
 */
export async function storedBytes (server: Server, cluster: MemcachedCluster): Promise<number | null> {
  const value = decodeURIComponent(server.cookies[0]?.split('=')[1] ?? '')
  if (value === '') return null
  // fastify-msm and @fastify/session sign their cookie (<id>.<signature>); the floor's is <key>-<node>
  const key = server.scenario.setup.kind === 'floor' ? value.split('-')[0] as string : value.slice(0, value.lastIndexOf('.'))
  for (const node of cluster.nodes) {
    const stored = await node.get(key)
    if (stored !== undefined) return Buffer.byteLength(stored, 'latin1')
  }
  return null
}
