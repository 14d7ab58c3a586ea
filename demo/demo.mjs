// npm run demo: two memcached nodes, two app instances, one session that
// follows you from one instance to the other. Ctrl-C stops everything.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import { startEmbeddedMemcached } from './embedded-memcached.mjs'

const root = new URL('..', import.meta.url).pathname
if (!existsSync(new URL('../dist/cjs/index.js', import.meta.url))) {
  console.log('Building fastify-msm first (npm run build)...')
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
}
const { default: msm } = await import('fastify-msm')

function hasMemcached () {
  try {
    execFileSync('memcached', ['-V'], { stdio: 'pipe' })
    return true
  } catch {
    return false
  }
}

const embedded = process.env.DEMO_EMBEDDED === '1' || !hasMemcached()
if (embedded) {
  console.log('memcached is not on PATH, so this demo runs a small embedded memcached-protocol server (demo/embedded-memcached.mjs).')
  console.log('For the real server:')
  console.log('  Debian/Ubuntu: sudo apt-get install -y memcached')
  console.log('  macOS:         brew install memcached')
}

async function freePort () {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

const children = []
const embeddedServers = []
async function startMemcached (id) {
  const port = await freePort()
  if (embedded) {
    embeddedServers.push(await startEmbeddedMemcached(port))
    return `${id}:127.0.0.1:${port}`
  }
  const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '32']
  if (process.getuid?.() === 0) args.push('-u', 'nobody')
  children.push(spawn('memcached', args, { stdio: 'ignore' }))
  await sleep(150)
  return `${id}:127.0.0.1:${port}`
}

const nodes = [await startMemcached('n1'), await startMemcached('n2')].join(' ')
const ports = [Number(process.env.DEMO_PORT ?? 3001), Number(process.env.DEMO_PORT ?? 3001) + 1]
const apps = []

function page (name, other, view) {
  const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  return `<!doctype html><meta charset="utf-8"><title>fastify-msm demo: ${name}</title>
<style>body{font:16px system-ui;margin:2rem;max-width:48rem}code{background:#eee;padding:0 .3em}pre{background:#f6f6f6;padding:1em;overflow:auto}</style>
<h1>fastify-msm demo, served by <code>${name}</code></h1>
<p>Visits in this session: <strong>${view.visits}</strong></p>
<p>Session id: <code>${escape(view.maskedId)}</code><br>primary node <code>${view.primary}</code>, backup node <code>${view.backup}</code></p>
<p><a href="/">Visit ${name} again</a> · <a href="${other}/">Visit the other instance</a> · <a href="/logout">Log out (destroy)</a></p>
<h2>Statistics of ${name}</h2><pre>${escape(JSON.stringify(view.stats, null, 2))}</pre>`
}

for (const [index, port] of ports.entries()) {
  const name = `app${index + 1}`
  const other = `http://127.0.0.1:${ports[1 - index]}`
  const app = Fastify()
  await app.register(cookie)
  await app.register(msm, { nodes, cookieName: 'demo.sid' })
  app.get('/', async (request, reply) => {
    const visits = (request.session.get('visits') ?? 0) + 1
    request.session.set('visits', visits)
    const id = request.session.id
    const primary = id.split('-')[1]
    const order = ['n1', 'n2']
    reply.type('text/html')
    return page(name, other, {
      visits,
      maskedId: `${id.slice(0, 4)}…${id.slice(-8)}`,
      primary,
      backup: order[(order.indexOf(primary) + 1) % 2],
      stats: app.msm.stats()
    })
  })
  app.get('/logout', async (request, reply) => {
    await request.session.destroy()
    return reply.redirect('/')
  })
  await app.listen({ port, host: '127.0.0.1' })
  apps.push(app)
}

console.log(`memcached nodes (${embedded ? 'embedded demo server, not the real memcached' : 'real memcached'}): ${nodes}`)
console.log(`app1: http://127.0.0.1:${ports[0]}/`)
console.log(`app2: http://127.0.0.1:${ports[1]}/`)
console.log('Open one, then follow the link to the other: the visit counter continues. Ctrl-C stops everything.')

async function stop () {
  await Promise.all(apps.map((app) => app.close()))
  for (const child of children) child.kill('SIGKILL')
  for (const server of embeddedServers) server.close()
  process.exit(0)
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
