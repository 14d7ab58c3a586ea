// A consumer's CommonJS app (module: nodenext, .cts): `import x = require()`
// gives the plugin itself, typed as such, with the named exports on it.
import Fastify = require('fastify')
import cookie = require('@fastify/cookie')
import msm = require('fastify-msm')

async function main (): Promise<void> {
  const app = Fastify.default()
  const options: msm.MsmOptions = { nodes: process.env.MSM_NODES ?? 'n1:127.0.0.1:11211', cookieName: 'consumer.sid' }
  await app.register(cookie.default)
  await app.register(msm, options)
  app.get('/visit', async (request) => {
    const session: msm.Session = request.session
    const visits = (Number(session.get('visits')) || 0) + 1
    session.set('visits', visits)
    const stats: msm.MsmStats = app.msm.stats()
    return { visits, saved: stats.saved, sameAsDefault: msm === msm.default && msm === msm.msmPlugin }
  })
  app.get('/error-code', async () => new msm.errors.FST_MSM_OPTION_INVALID('option', 'value', 'fix').code)
  console.log(await app.listen({ port: 0, host: '127.0.0.1' }))
  process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
main().catch((error: unknown) => { console.error(error); process.exit(1) })
