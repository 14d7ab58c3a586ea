import { startCluster } from '/work/main/test/helpers/memcached.js'
import { buildApp, listen, CookieClient } from '/work/main/test/helpers/app.js'
const cluster = await startCluster(3)
const app = await buildApp({ msm: { nodes: cluster.spec, maxInactiveInterval: 3, touchInterval: 1 } })
const c = new CookieClient(await listen(app))
await c.get('/count')
const t0 = Date.now()
console.log(await cluster.operations(), Date.now() - t0)
console.log((await c.get('/read')).body)
console.log(await cluster.operations())
const s = app.msm.stats(); console.log(s.touched, s.refreshed, s.saved)
await app.close(); await cluster.stop()
