// Child process for client-lifecycle.test.ts: uses the plugin against a live
// node and a dead one (more often than the client's default `failures` limit,
// after which it would spawn `ping`, absent from this PATH), closes the app,
// and must then exit by itself.
import { buildApp, CookieClient, listen } from './app.js'

async function main (): Promise<void> {
  const live = process.argv[2] as string
  const app = await buildApp({ msm: { nodes: `${live} dead:127.0.0.1:1`, operationTimeout: 300 } })
  const client = new CookieClient(await listen(app))
  for (let i = 0; i < 30; i++) {
    client.cookies.clear()
    await client.get('/count')
  }
  // Regression: concurrent failures on one server made the client schedule a
  // reconnect that spawns `ping` after `reconnect` ms, an uncaught ENOENT here
  const dead = await buildApp({ msm: { nodes: 'dead:127.0.0.1:1', operationTimeout: 300 } })
  await Promise.all(Array.from({ length: 20 }, () => dead.inject({ url: '/count' })))
  await new Promise((resolve) => setTimeout(resolve, 1500))
  await dead.close()
  await app.close()
  process.stdout.write('closed\n')
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
