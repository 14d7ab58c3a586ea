// Real load balancers (nginx, HAProxy) in front of test app processes, run
// from the exact config text that docs/sticky.md shows: a block marked
// `<!-- tested-config: <name> -->` is extracted, its placeholder addresses
// replaced with the test's loopback ports, and nothing else changed (nginx
// also gets its temp and log paths in the test's own directory, since a
// user's nginx has them from its package and the test may not run as root).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { within } from './node-test.js'

export type BalancerKind = 'nginx' | 'haproxy'

/** The addresses the docs' configs use, and what a test puts there. */
export const PLACEHOLDERS = {
  app1: '10.0.0.11:3000',
  app2: '10.0.0.12:3000',
  nginxListen: 'listen 80;',
  haproxyBind: 'bind :80'
} as const

const DOCS = join(__dirname, '..', '..', 'docs', 'sticky.md')

/** The fenced code block that follows `<!-- tested-config: name -->` in docs/sticky.md. */
export function configFromDocs (name: string, file = DOCS): string {
  const text = readFileSync(file, 'utf8')
  const marker = `<!-- tested-config: ${name} -->`
  const at = text.indexOf(marker)
  if (at < 0) throw new Error(`${file} has no block marked ${marker}`)
  const block = /^```[\w-]*\n([\s\S]*?)^```/m.exec(text.slice(at + marker.length))
  if (block === null) throw new Error(`no fenced code block after ${marker}`)
  return block[1] as string
}

/** What to install when `kind` is missing (null: it is installed). */
export function missingBalancer (kind: BalancerKind): string | null {
  try {
    execFileSync(kind, ['-v'], { stdio: 'ignore' })
    return null
  } catch {
    return `${kind} is not installed: apt-get install -y ${kind} (or brew install ${kind}); .ci/run installs it`
  }
}

export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface Balancer {
  readonly kind: BalancerKind
  readonly base: string
  /** The config it runs, after the address replacements. */
  readonly config: string
  stop: () => Promise<void>
}

/** The docs' config with the test's addresses in place of the placeholders; each placeholder must occur. */
export function withAddresses (kind: BalancerKind, config: string, apps: { app1: string, app2: string }, port: number): string {
  const replacements: Array<[string, string]> = [
    [PLACEHOLDERS.app1, apps.app1],
    [PLACEHOLDERS.app2, apps.app2],
    kind === 'nginx' ? [PLACEHOLDERS.nginxListen, `listen 127.0.0.1:${port};`] : [PLACEHOLDERS.haproxyBind, `bind 127.0.0.1:${port}`]
  ]
  let result = config
  for (const [placeholder, value] of replacements) {
    if (!result.includes(placeholder)) throw new Error(`the ${kind} config has no ${placeholder}: the docs and the test disagree`)
    result = result.split(placeholder).join(value)
  }
  return result
}

/** Starts `kind` with `config` (the docs' text) in front of the two apps, and waits until it accepts connections. */
export async function startBalancer (kind: BalancerKind, config: string, apps: { app1: string, app2: string }): Promise<Balancer> {
  const missing = missingBalancer(kind)
  if (missing !== null) throw new Error(missing)
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), `fastify-msm-${kind}-`))
  const addressed = withAddresses(kind, config, apps, port)
  const child = kind === 'nginx' ? startNginx(dir, addressed) : startHaproxy(dir, addressed)
  const output: Buffer[] = []
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk))
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  try {
    await acceptsConnections(port, child, () => Buffer.concat(output).toString())
  } catch (error) {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  return {
    kind,
    base: `http://127.0.0.1:${port}`,
    config: addressed,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000)
        await within(exited, 10_000, `${kind} to exit after SIGTERM (SIGKILL after 5 s)`)
        clearTimeout(killer)
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

function startNginx (dir: string, config: string): ChildProcess {
  // Paths only: a packaged nginx has these under /var; the test keeps them in its directory
  const paths = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => {
    mkdirSync(join(dir, name))
    return `${name}_temp_path ${join(dir, name)};`
  })
  const file = join(dir, 'nginx.conf')
  writeFileSync(file, config.replace(/^http \{$/m, `http {\n    access_log off;\n    ${paths.join('\n    ')}`))
  return spawn('nginx', ['-p', dir, '-c', file, '-e', join(dir, 'error.log'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`], { stdio: ['ignore', 'pipe', 'pipe'] })
}

function startHaproxy (dir: string, config: string): ChildProcess {
  const file = join(dir, 'haproxy.cfg')
  writeFileSync(file, config)
  // -db: foreground, no daemon
  return spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] })
}

async function acceptsConnections (port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the balancer exited with ${child.exitCode}:\n${output()}`)
    const open = await within(new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' })
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    }), 5_000, `a connection to the ${child.spawnfile} balancer on port ${port} to open or be refused`)
    if (open) return
    await sleep(50)
  }
  throw new Error(`the balancer did not accept connections on port ${port} within 10 s:\n${output()}`)
}
