import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export interface AppProcess {
  base: string
  child: ChildProcess
  stop: () => Promise<void>
}

/** Starts test/helpers/app-process.ts in a child process and waits for its URL. */
export async function startAppProcess (options: object): Promise<AppProcess> {
  const script = join(__dirname, 'app-process.ts')
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script, JSON.stringify(options, (_key, value) =>
    value instanceof RegExp ? value.source : value as unknown)], { stdio: ['ignore', 'pipe', 'inherit'] })
  running.add(child)
  child.once('exit', () => running.delete(child))
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const base = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`app process exited with ${code}`)))
  })
  return {
    base,
    child,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  }
}
