// A test app in its own process: `node --import tsx app-process.ts '<json options>'`.
// Prints its base URL on the first line of stdout; SIGTERM closes it.
import { buildApp, listen } from './app.js'

async function main (): Promise<void> {
  const options = JSON.parse(process.argv[2] as string, (key, value) =>
    key === 'uriPattern' ? new RegExp(value as string) : value as unknown)
  const app = await buildApp({ msm: options, name: `pid ${process.pid}` })
  // For the soak test: heap after a full GC, open file descriptors, active handles, the plugin's stats
  app.get('/__process', { config: { session: false } }, async () => {
    (globalThis as { gc?: () => void }).gc?.()
    const { readdirSync } = await import('node:fs')
    return {
      heapUsed: process.memoryUsage().heapUsed,
      fds: readdirSync('/proc/self/fd').length,
      handles: (process as unknown as { _getActiveHandles: () => unknown[] })._getActiveHandles().length,
      stats: app.msm.stats()
    }
  })
  process.stdout.write(await listen(app) + '\n')
  process.once('SIGTERM', () => {
    app.close().then(() => process.exit(0), () => process.exit(1))
  })
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
