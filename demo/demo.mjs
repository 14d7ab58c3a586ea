// npm run demo: two memcached nodes, two app instances, one session that
// follows you from one instance to the other. Ctrl-C stops everything.
//
//   DEMO_PORT=3001  the first app's port; the second takes the next one.
//                   DEMO_PORT=0 gives each app any free port.
//   DEMO_EMBEDDED=1 use the small in-process memcached-protocol server
//                   (demo/embedded-memcached.mjs) instead of memcached.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import cookie from '@fastify/cookie'
import { startEmbeddedMemcached } from './embedded-memcached.mjs'

const memcachedChildren = []
const apps = []
let stopping = false

// Set up before anything is spawned. 'exit' runs on process.exit, at the end
// of the event loop and after an uncaught error; kill() is synchronous there.
process.on('exit', () => {
  for (const child of memcachedChildren) child.kill('SIGKILL')
})
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => stop(0))
stopWhenOrphaned()

class DemoError extends Error {}

try {
  await main()
} catch (error) {
  console.error(startupErrorMessage(error))
  await stop(1)
}

async function main () {
  const firstPort = demoPort()
  const root = new URL('..', import.meta.url).pathname
  if (!existsSync(new URL('../dist/cjs/index.js', import.meta.url))) {
    console.log('Building fastify-msm first (npm run build)...')
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
  }
  const { default: msm } = await import('fastify-msm')

  const embedded = chooseEmbedded()
  const nodes = [await startMemcached('n1', embedded), await startMemcached('n2', embedded)].join(' ')
  console.log(`memcached nodes (${embedded ? 'embedded demo server, not the real memcached' : 'real memcached'}): ${nodes}`)
  if (!embedded) console.log(`memcached pids: ${memcachedChildren.map((child) => child.pid).join(' ')}`)

  const urls = []
  for (const index of [0, 1]) {
    const app = await buildApp(msm, nodes, `app${index + 1}`, () => urls[1 - index])
    apps.push(app)
    const port = firstPort === 0 ? 0 : firstPort + index
    urls.push(await app.listen({ port, host: '127.0.0.1' }))
  }
  console.log(`app1: ${urls[0]}/`)
  console.log(`app2: ${urls[1]}/`)
  console.log('Open one, then follow the link to the other: the visit counter continues. Ctrl-C stops everything.')
}

function demoPort () {
  const text = process.env.DEMO_PORT ?? '3001'
  const port = Number(text)
  if (!/^\d+$/.test(text) || port > 65534) {
    throw new DemoError(`DEMO_PORT=${text} is not a usable port: use 1-65534 (the demo takes it and the next one), or 0 for any free ports`)
  }
  return port
}

function chooseEmbedded () {
  if (process.env.DEMO_EMBEDDED === '1') {
    console.log('DEMO_EMBEDDED=1: using the small embedded memcached-protocol server (demo/embedded-memcached.mjs).')
    return true
  }
  if (hasMemcached()) return false
  console.log('memcached is not on PATH, so this demo runs a small embedded memcached-protocol server (demo/embedded-memcached.mjs).')
  console.log('For the real server:')
  console.log('  Debian/Ubuntu: sudo apt-get install -y memcached')
  console.log('  macOS:         brew install memcached')
  return true
}

function hasMemcached () {
  try {
    execFileSync('memcached', ['-V'], { stdio: 'pipe' })
    return true
  } catch {
    return false
  }
}

async function startMemcached (id, embedded) {
  const port = await freePort()
  if (embedded) {
    await startEmbeddedMemcached(port)
  } else {
    const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '32']
    if (process.getuid?.() === 0) args.push('-u', 'nobody')
    const child = spawn('memcached', args, { stdio: ['ignore', 'ignore', 'inherit'] })
    memcachedChildren.push(child)
    await waitUntilListening(port, child)
  }
  return `${id}:127.0.0.1:${port}`
}

async function freePort () {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function waitUntilListening (port, child) {
  const deadline = Date.now() + 5000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new DemoError(`memcached on port ${port} exited at start-up (${child.exitCode ?? child.signalCode})`)
    }
    if (await accepts(port)) return
    await sleep(50)
  }
  throw new DemoError(`memcached on port ${port} did not start within 5 s`)
}

function accepts (port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

async function buildApp (msm, nodes, name, otherUrl) {
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
    return page(name, otherUrl(), {
      visits,
      maskedId: `${id.slice(0, 4)}…${id.slice(-8)}`,
      primary,
      backup: order[(order.indexOf(primary) + 1) % 2]
    })
  })
  app.get('/logout', async (request, reply) => {
    await request.session.destroy()
    return reply.redirect('/')
  })
  // The session is saved after the handler, so the page fetches the statistics
  // from here once it has arrived: then they include the visit that served it.
  // This route leaves sessions alone, so it changes no figure but requestsIgnored.
  app.get('/stats', { config: { session: false } }, async (request, reply) => {
    reply.type('application/json')
    return JSON.stringify(app.msm.stats(), roundFloats, 2)
  })
  return app
}

function roundFloats (key, value) {
  return typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 1000) / 1000 : value
}

function page (name, other, view) {
  const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  return `<!doctype html><meta charset="utf-8"><title>fastify-msm demo: ${name}</title>
<style>body{font:16px system-ui;margin:2rem;max-width:48rem}code{background:#eee;padding:0 .3em}pre{background:#f6f6f6;padding:1em;overflow:auto}</style>
<h1>fastify-msm demo, served by <code>${name}</code></h1>
<p>Visits in this session: <strong>${view.visits}</strong></p>
<p>Session id: <code>${escape(view.maskedId)}</code><br>primary node <code>${view.primary}</code>, backup node <code>${view.backup}</code></p>
<p><a href="/">Visit ${name} again</a> · <a href="${escape(other)}/">Visit the other instance</a> · <a href="/logout">Log out (destroy)</a></p>
<h2>Statistics of ${name} (<a href="/stats">/stats</a>, read after this visit was saved)</h2><pre id="stats">loading…</pre>
<script>fetch('/stats').then((response) => response.text()).then((text) => { document.getElementById('stats').textContent = text })</script>`
}

function startupErrorMessage (error) {
  if (error instanceof DemoError) return error.message
  if (error?.code === 'EADDRINUSE' || error?.code === 'EACCES') {
    const problem = error.code === 'EADDRINUSE' ? 'is in use' : 'needs privileges'
    return `port ${error.port} ${problem}; set DEMO_PORT=<another port> (the demo takes it and the next one) or DEMO_PORT=0 for any free ports`
  }
  return error?.stack ?? String(error)
}

async function stop (code) {
  if (stopping) process.exit(code) // a second Ctrl-C does not wait
  stopping = true
  setTimeout(() => process.exit(code), 3000).unref()
  await Promise.allSettled(apps.map((app) => app.close()))
  process.exit(code)
}

// `npm run demo` starts this process from a shell. A SIGTERM sent to npm stops
// npm and that shell but does not reach this process, which is re-parented:
// stop then too.
function stopWhenOrphaned () {
  const parent = process.ppid
  setInterval(() => { if (process.ppid !== parent) stop(0) }, 500).unref()
}
