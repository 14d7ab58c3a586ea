import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { within } from './node-test.js'

const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export interface AppProcess {
  base: string
  child: ChildProcess
  stop: () => Promise<void>
}

export interface AppProcessOptions {
  /** The app module to run (it prints its URL on the first line of stdout); test/helpers/app-process.ts by default. */
  script?: string
  /** How long to wait for the URL, and for the process to exit on stop() before SIGKILL. */
  timeoutMs?: number
  /** @fastify/cookie's secret in the app (signed cookies); none by default. */
  cookieSecret?: string
  /** Variables set in the process's environment beside this one's (undefined leaves one out): MSM_TEST_PLUGIN_FROM. */
  env?: Record<string, string | undefined>
}

/** Starts test/helpers/app-process.ts (or `script`) in a child process and waits for its URL. */
export async function startAppProcess (options: object, { script = join(__dirname, 'app-process.ts'), timeoutMs = 30_000, cookieSecret, env = {} }: AppProcessOptions = {}): Promise<AppProcess> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script, JSON.stringify(options, (_key, value) =>
    value instanceof RegExp ? value.source : value as unknown)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...(cookieSecret === undefined ? {} : { MSM_TEST_COOKIE_SECRET: cookieSecret }), ...env }
  })
  running.add(child)
  child.once('exit', () => running.delete(child))
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  let timer: NodeJS.Timeout | undefined
  const base = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`app process exited with ${code}`)))
    timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`app process ${script} printed no URL within ${timeoutMs} ms`))
    }, timeoutMs)
  }).finally(() => clearTimeout(timer))
  return {
    base,
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      await within(exited, timeoutMs + 10_000, `the app process ${script} to exit after SIGTERM (SIGKILL after ${timeoutMs} ms)`)
      clearTimeout(killer)
    }
  }
}
