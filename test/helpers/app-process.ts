// A test app in its own process: `node --import tsx app-process.ts '<json options>'`.
// Prints its base URL on the first line of stdout; SIGTERM closes it.
// MSM_TEST_PORT=<port> listens there (a balancer's config names it; a restart reuses it),
// MSM_TEST_NAME=<name> is what GET /whoami answers as `served`.
// MSM_TEST_PLUGIN_FROM=<dir> registers the plugin built in another checkout,
// <dir>/dist/esm/index.js (as BENCH_MSM_FROM does in benchmarks/servers.ts),
// instead of this checkout's lib/: test/helpers/previous-release.ts builds one.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { buildApp, listen, type TestAppOptions } from './app.js'

/** The plugin that MSM_TEST_PLUGIN_FROM names, and the file it came from; none: this checkout's lib/. */
async function pluginFrom (dir: string | undefined): Promise<{ plugin?: TestAppOptions['plugin'], file: string | null }> {
  if (dir === undefined || dir === '') return { file: null }
  const file = join(resolve(dir), 'dist', 'esm', 'index.js')
  const { default: plugin } = await import(pathToFileURL(file).href) as { default: NonNullable<TestAppOptions['plugin']> }
  return { plugin, file }
}

async function main (): Promise<void> {
  const options = JSON.parse(process.argv[2] as string, (key, value) =>
    key === 'uriPattern' ? new RegExp(value as string) : value as unknown)
  // A key of option encryption is base64 text in JSON; the cookie secret comes beside the options
  const secret = process.env.MSM_TEST_COOKIE_SECRET
  const logger = process.env.MSM_TEST_LOG === undefined ? {} : { logger: { level: process.env.MSM_TEST_LOG, stream: process.stderr } }
  const { plugin, file: pluginFile } = await pluginFrom(process.env.MSM_TEST_PLUGIN_FROM)
  const app = await buildApp({ msm: options, name: process.env.MSM_TEST_NAME ?? `pid ${process.pid}`, ...(secret === undefined ? {} : { secret }), ...logger, ...(plugin === undefined ? {} : { plugin }) })
  // For the soak test: heap after a full GC, open file descriptors, active handles, the plugin's stats;
  // and the plugin build this process runs (pluginFile: null for this checkout's lib/)
  app.get('/__process', { config: { session: false } }, async () => {
    (globalThis as { gc?: () => void }).gc?.()
    const sockets = openDescriptors((app.server.address() as AddressInfo).port)
    const handles = (process as unknown as { _getActiveHandles: () => unknown[] })._getActiveHandles().length
    return {
      heapUsed: process.memoryUsage().heapUsed,
      ...sockets,
      // Every TCP socket is a handle too: what is left is timers, pipes, the server…
      handlesExceptSockets: handles - sockets.httpSockets - sockets.outgoingSockets,
      stats: app.msm.stats(),
      pluginFile
    }
  })
  process.stdout.write(await listen(app, Number(process.env.MSM_TEST_PORT ?? 0)) + '\n')
  process.once('SIGTERM', () => {
    app.close().then(() => process.exit(0), () => process.exit(1))
  })
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})

/**
 * This process's open file descriptors, its TCP sockets told apart: those of
 * its HTTP server (their number follows the load generator's keep-alive
 * connections), the outgoing ones (memcached connections: bounded by the
 * client's pools), and all the others, which must not grow.
 */
function openDescriptors (httpPort: number): { fds: number, httpSockets: number, outgoingSockets: number, otherFds: number } {
  const localPortOfInode = new Map<string, number>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try { text = readFileSync(table, 'utf8') } catch { continue }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length > 9) localPortOfInode.set(fields[9] as string, Number.parseInt((fields[1] as string).split(':')[1] as string, 16))
    }
  }
  const counts = { fds: 0, httpSockets: 0, outgoingSockets: 0, otherFds: 0 }
  for (const fd of readdirSync('/proc/self/fd')) {
    let target = ''
    try { target = readlinkSync(`/proc/self/fd/${fd}`) } catch { continue }
    counts.fds++
    const port = localPortOfInode.get(/^socket:\[(\d+)\]$/.exec(target)?.[1] ?? '')
    if (port === undefined) counts.otherFds++
    else if (port === httpPort) counts.httpSockets++
    else counts.outgoingSockets++
  }
  return counts
}
