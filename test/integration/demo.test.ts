// npm run demo (demo/demo.mjs): the session follows the visitor from one
// instance to the other, and however the demo ends, its memcached processes
// end with it.
import { after, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { CookieClient } from '../helpers/app.js'

const root = join(__dirname, '..', '..')
const demoScript = join(root, 'demo', 'demo.mjs')
const throwWhenReady = pathToFileURL(join(__dirname, '..', 'helpers', 'demo-uncaught-error.mjs')).href
const linuxOnly = { timeout: 30_000, skip: process.platform !== 'linux' && 'reads /proc' }

interface Ended { code: number | null, signal: NodeJS.Signals | null }

/** demo/demo.mjs (or npm run demo) in a child process, its output collected. */
class Demo {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  /** Pids this test saw belong to the demo; killed after the file if still running. */
  readonly pids = new Set<number>()
  readonly #ended: Promise<Ended>

  constructor (env: NodeJS.ProcessEnv, command: string[] = [process.execPath, demoScript]) {
    const [file, ...args] = command as [string, ...string[]]
    this.child = spawn(file, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout?.setEncoding('utf8').on('data', (text: string) => { this.stdout += text })
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => { this.stderr += text })
    const exited = new Promise<Ended>((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })))
    // The last output may follow 'exit'. Not 'close': memcached shares the
    // demo's stderr, so a left-over one would hold it open
    const drained = Promise.all([this.child.stdout, this.child.stderr].map((stream) => once(stream as Readable, 'end')))
    this.#ended = exited.then(async (ended) => {
      await Promise.race([drained, sleep(1000)])
      return ended
    })
    this.pids.add(this.child.pid as number)
    started.add(this)
  }

  /** The first match of `pattern` in stdout; rejects if the demo exits before it or after `ms`. */
  async waitFor (pattern: RegExp, ms = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms
    for (;;) {
      const match = this.stdout.match(pattern)
      if (match !== null) return match
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`the demo exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${pattern}\n${this.output}`)
      }
      if (Date.now() > deadline) throw new Error(`the demo did not print ${pattern} within ${ms} ms\n${this.output}`)
      await sleep(25)
    }
  }

  /** Waits for the "Open one" line and returns the printed URLs and memcached pids. */
  async ready (): Promise<{ app1: string, app2: string, memcachedPids: number[] }> {
    await this.waitFor(/^Open one/m)
    const [, app1 = '', app2 = ''] = this.stdout.match(/^app1: (http:\S+)\/\napp2: (http:\S+)\/$/m) ?? []
    return { app1, app2, memcachedPids: this.memcachedPids() }
  }

  /** The pids from the "memcached pids: 123 456" line, if it was printed. */
  memcachedPids (): number[] {
    const line = this.stdout.match(/^memcached pids: ([\d ]+)$/m)?.[1] ?? ''
    const pids = line.split(' ').filter(Boolean).map(Number)
    for (const pid of pids) this.pids.add(pid)
    return pids
  }

  async ended (ms = 10_000): Promise<Ended> {
    return within(this.#ended, ms, `the demo did not exit within ${ms} ms\n${this.output}`)
  }

  get output (): string {
    return `stdout:\n${this.stdout}\nstderr:\n${this.stderr}`
  }
}

const started = new Set<Demo>()
after(() => {
  for (const demo of started) {
    for (const pid of demo.pids) if (isRunning(pid)) process.kill(pid, 'SIGKILL')
  }
})

async function within<T> (promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(message)), ms) })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function isRunning (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH'
  }
  // A zombie has exited: it only waits for its parent (here often an init
  // that does not reap) to collect its status
  return processStat(pid)?.state !== 'Z'
}

function processStat (pid: number | string): { state: string, ppid: number } | undefined {
  try {
    const afterName = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')
    return { state: afterName[0] as string, ppid: Number(afterName[1]) }
  } catch {
    return undefined
  }
}

/** The pids of `pid`'s children, grandchildren and so on, from /proc. */
function descendants (pid: number): number[] {
  const parentOf = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = processStat(entry)
    if (stat !== undefined && stat.state !== 'Z') parentOf.set(Number(entry), stat.ppid)
  }
  const found: number[] = []
  const queue = [pid]
  for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
    for (const [child, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(child)
        queue.push(child)
      }
    }
  }
  return found
}

async function assertAllGone (pids: number[], ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  let running = pids.filter(isRunning)
  while (running.length > 0 && Date.now() < deadline) {
    await sleep(50)
    running = pids.filter(isRunning)
  }
  assert.deepEqual(running, [], `still running ${ms} ms later: ${running.join(' ')} (of ${pids.join(' ')})`)
}

async function occupy (port: number): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  return server
}

function portOf (server: Server): number {
  return (server.address() as { port: number }).port
}

/** A free port whose next port is occupied by the returned server. */
async function freePortBeforeATakenOne (): Promise<{ free: number, blocker: Server }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const blocker = await occupy(0)
    const free = portOf(blocker) - 1
    const probe = await occupy(free).catch(() => null)
    if (probe !== null) {
      await new Promise((resolve) => probe.close(resolve))
      return { free, blocker }
    }
    blocker.close()
  }
  throw new Error('found no free port just below a taken one')
}

/** Checks the demo's memcached processes run as its children before stopping it some way. */
async function startRealDemo (): Promise<{ demo: Demo, app1: string, memcachedPids: number[] }> {
  const demo = new Demo({ DEMO_PORT: '0' })
  const { app1, memcachedPids } = await demo.ready()
  assert.equal(memcachedPids.length, 2, demo.output)
  assert.deepEqual(descendants(demo.child.pid as number).sort(), [...memcachedPids].sort(), 'its children are the memcached it printed')
  assert.match((await new CookieClient(app1).get('/')).body as string, /Visits in this session: <strong>1<\/strong>/)
  return { demo, app1, memcachedPids }
}

test('the session follows the visitor from one instance to the other, with stats that include the visit (embedded server)', { timeout: 30_000 }, async () => {
  const demo = new Demo({ DEMO_EMBEDDED: '1', DEMO_PORT: '0' })
  const { app1, app2 } = await demo.ready()
  assert.match(demo.stdout, /^DEMO_EMBEDDED=1: using the small embedded memcached-protocol server/m)
  assert.doesNotMatch(demo.stdout, /not on PATH/)
  assert.notEqual(app1, app2)

  const visitor = new CookieClient(app1)
  const first = (await visitor.get('/')).body as string
  assert.match(first, /Visits in this session: <strong>1<\/strong>/)
  assert.ok(first.includes(`<a href="${app2}/">Visit the other instance</a>`), 'links to the port app2 got')
  assert.match(first, /fetch\('\/stats'\)/, 'the page loads its statistics after it arrived')
  const statsText = (await fetch(`${app1}/stats`).then((response) => response.text()))
  const stats = JSON.parse(statsText)
  assert.equal(stats.created, 1, 'the first visit is counted')
  assert.equal(stats.saved, 1)
  assert.doesNotMatch(statsText, /\d\.\d{4}/, 'decimals are rounded')

  visitor.base = app2
  const second = (await visitor.get('/')).body as string
  assert.match(second, /served by <code>app2<\/code>/)
  assert.match(second, /Visits in this session: <strong>2<\/strong>/)
  assert.ok(second.includes(`<a href="${app1}/">Visit the other instance</a>`))

  demo.child.kill('SIGINT')
  assert.equal((await demo.ended()).code, 0)
})

test('port in use: one clear line, exit 1, no memcached left behind', linuxOnly, async () => {
  const blocker = await occupy(0)
  try {
    const demo = new Demo({ DEMO_PORT: String(portOf(blocker)) })
    const { code } = await demo.ended()
    assert.equal(code, 1, demo.output)
    assert.equal(demo.stderr, `port ${portOf(blocker)} is in use; set DEMO_PORT=<another port> (the demo takes it and the next one) or DEMO_PORT=0 for any free ports\n`)
    const pids = demo.memcachedPids()
    assert.equal(pids.length, 2, 'memcached was started before the failing listen')
    await assertAllGone(pids)
  } finally {
    blocker.close()
  }
})

test('an error at start-up with the first app listening (the second port taken): exit 1, no memcached left behind', linuxOnly, async () => {
  const { free, blocker } = await freePortBeforeATakenOne()
  try {
    const demo = new Demo({ DEMO_PORT: String(free) })
    const { code } = await demo.ended()
    assert.equal(code, 1, demo.output)
    assert.match(demo.stderr, new RegExp(`^port ${free + 1} is in use; set DEMO_PORT=`))
    const pids = demo.memcachedPids()
    assert.equal(pids.length, 2)
    await assertAllGone(pids)
  } finally {
    blocker.close()
  }
})

test('an invalid DEMO_PORT is refused before anything starts', { timeout: 30_000 }, async () => {
  const demo = new Demo({ DEMO_PORT: '70000' })
  assert.equal((await demo.ended()).code, 1)
  assert.match(demo.stderr, /^DEMO_PORT=70000 is not a usable port/)
  assert.deepEqual(demo.memcachedPids(), [])
})

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal}: exit 0, no memcached left behind`, linuxOnly, async () => {
    const { demo, memcachedPids } = await startRealDemo()
    demo.child.kill(signal)
    assert.equal((await demo.ended()).code, 0, demo.output)
    await assertAllGone([demo.child.pid as number, ...memcachedPids])
  })
}

test('an uncaught error: exit 1, no memcached left behind', linuxOnly, async () => {
  const demo = new Demo({ DEMO_PORT: '0' }, [process.execPath, '--import', throwWhenReady, demoScript])
  const { memcachedPids } = await demo.ready()
  assert.equal(memcachedPids.length, 2)
  assert.equal((await demo.ended()).code, 1, demo.output)
  assert.match(demo.stderr, /simulated uncaught error/)
  await assertAllGone(memcachedPids)
})

test('SIGTERM to `npm run demo` (it reaches npm and its shell, not node): nothing left behind', linuxOnly, async () => {
  const demo = new Demo({ DEMO_PORT: '0' }, ['npm', 'run', 'demo'])
  const { memcachedPids } = await demo.ready()
  const tree = descendants(demo.child.pid as number)
  for (const pid of tree) demo.pids.add(pid)
  assert.ok(memcachedPids.every((pid) => tree.includes(pid)), `${memcachedPids} in ${tree}`)
  demo.child.kill('SIGTERM')
  await demo.ended()
  await assertAllGone(tree)
})
