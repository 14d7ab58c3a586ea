// The ecosystem's package checkers on the packed tarball, as a registry user
// would meet it: @arethetypeswrong/cli (do the types match the JavaScript in
// every module resolution mode?) and publint (is the manifest sound?). Both
// must report nothing, not even a suggestion.
// Needs a built dist/ (`npm test` builds first).
import { after, before, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = join(__dirname, '..', '..')
let packDir: string
let tarball: string

before(async () => {
  assert.ok(existsSync(join(root, 'dist', 'cjs', 'require.d.ts')), 'dist/ is missing: run `npm run build` first')
  packDir = mkdtempSync(join(tmpdir(), 'fastify-msm-pack-'))
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: root, timeout: 60_000 })
  tarball = join(packDir, (JSON.parse(stdout) as Array<{ filename: string }>)[0]?.filename as string)
})

after(() => { if (packDir !== undefined) rmSync(packDir, { recursive: true, force: true }) })

test('arethetypeswrong: no problem in node10, node16 (from CommonJS and from ES modules) or bundler resolution', async () => {
  const attw = join(root, 'node_modules', '.bin', 'attw')
  // attw exits non-zero when it finds a problem; the JSON report is on stdout either way
  const { stdout } = await run(attw, [tarball, '--format', 'json'], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 })
    .catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }))
  const report = JSON.parse(stdout) as {
    problems: Record<string, unknown[]> | unknown[]
    analysis: { entrypoints: Record<string, { resolutions: Record<string, { resolution?: { fileName: string } }> }> }
  }
  const resolutions = report.analysis.entrypoints['.']?.resolutions ?? {}
  assert.deepEqual(Object.keys(resolutions).sort(), ['bundler', 'node10', 'node16-cjs', 'node16-esm'])
  assert.equal(resolutions.node10?.resolution?.fileName, '/node_modules/fastify-msm/dist/cjs/require.d.ts')
  assert.equal(resolutions['node16-esm']?.resolution?.fileName, '/node_modules/fastify-msm/dist/esm/index.d.ts')
  const problems = Object.values(report.problems).flat()
  if (problems.length > 0) {
    const table = await run(attw, [tarball], { timeout: 60_000 }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }))
    assert.fail(`attw found problems:\n${table.stdout}`)
  }
})

test('publint: no error, warning or suggestion', async () => {
  // publint is an ES module only
  const { publint } = await import('publint')
  const { formatMessage } = await import('publint/utils')
  const bytes = readFileSync(tarball)
  const { messages, pkg } = await publint({
    pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) },
    level: 'suggestion',
    strict: true
  })
  assert.deepEqual(messages.map((message) => `${message.type}: ${formatMessage(message, pkg) ?? message.code}`), [])
})
