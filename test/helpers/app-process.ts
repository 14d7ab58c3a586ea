// A test app in its own process: `node --import tsx app-process.ts '<json options>'`.
// Prints its base URL on the first line of stdout; SIGTERM closes it.
import { buildApp, listen } from './app.js'

async function main (): Promise<void> {
  const options = JSON.parse(process.argv[2] as string, (key, value) =>
    key === 'uriPattern' ? new RegExp(value as string) : value as unknown)
  const app = await buildApp({ msm: options, name: `pid ${process.pid}` })
  process.stdout.write(await listen(app) + '\n')
  process.once('SIGTERM', () => {
    app.close().then(() => process.exit(0), () => process.exit(1))
  })
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
