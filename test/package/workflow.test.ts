// The GitHub Actions workflows cannot run here, so this test holds them to
// what can: they parse, they test the Node.js lines the README promises, and
// they run what .ci/run runs (which stays the source of truth). The smoke
// step's script runs here against a real memcached, as the workflow runs it
// against its service container.
import { after, before, describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parseDocument } from 'yaml'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'

const root = join(__dirname, '..', '..')
const read = (file: string): string => readFileSync(join(root, file), 'utf8')

interface Step { uses?: string, run?: string, with?: Record<string, unknown>, env?: Record<string, string> }
interface Job {
  'runs-on': string
  permissions?: Record<string, string>
  strategy?: { matrix: Record<string, unknown[]> }
  services?: Record<string, { image: string, ports: string[] }>
  steps: Step[]
}
interface Workflow { on: Record<string, unknown>, permissions?: Record<string, string>, jobs: Record<string, Job> }

function parseWorkflow (file: string): Workflow {
  const document = parseDocument(read(file), { strict: true, prettyErrors: true })
  assert.deepEqual([...document.errors, ...document.warnings].map(String), [], `${file} is not clean YAML`)
  return document.toJS() as Workflow
}

/** Every shell line the steps of `job` run. */
function runLines (job: Job): string[] {
  return job.steps.flatMap((step) => (step.run ?? '').split('\n')).map((line) => line.trim()).filter((line) => line !== '')
}

/** The README's test command: the second line of the Quick start block, without its comment. */
function readmeTestCommand (): string {
  const quickStart = /## Quick start\s+```sh\n([^`]+)```/.exec(read('README.md'))?.[1]
  const line = quickStart?.split('\n')[1]?.split('#')[0]?.trim()
  assert.ok(line !== undefined && line !== '', 'README Quick start: the second command is the test command')
  return line
}

const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts

function assertScriptsExist (lines: string[]): void {
  for (const line of lines) {
    const script = /^npm run ([\w:-]+)/.exec(line)?.[1]
    if (script !== undefined) assert.ok(script in scripts, `"${line}" names no script of package.json`)
  }
}

describe('.github/workflows/ci.yml', () => {
  const workflow = parseWorkflow('.github/workflows/ci.yml')
  const lines = Object.values(workflow.jobs).flatMap(runLines)

  test('runs on pushes and pull requests, with read-only permissions', () => {
    assert.ok('push' in workflow.on && 'pull_request' in workflow.on)
    assert.deepEqual(workflow.permissions, { contents: 'read' })
  })

  test('tests the minimum of engines (20.19), 22, the active LTS line (24) and the current one (26) on ubuntu', () => {
    const job = workflow.jobs.test as Job
    assert.match(job['runs-on'], /^ubuntu-/)
    assert.deepEqual(job.strategy?.matrix['node-version'], ['20.19', '22', '24', '26'])
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node
    assert.equal(engines, '>=20.19.0', 'engines changed: change the matrix and the README Requirements table with it')
  })

  test('has a memcached service container, and its smoke step uses it', () => {
    const job = workflow.jobs.test as Job
    assert.match(job.services?.memcached?.image ?? '', /^memcached:/)
    assert.deepEqual(job.services?.memcached?.ports, ['11211:11211'])
    assert.ok(runLines(job).includes('node scripts/service-smoke.mjs 127.0.0.1:11211'))
  })

  test('installs with npm ci and runs the README test command, as .ci/run does', () => {
    const job = workflow.jobs.test as Job
    const jobLines = runLines(job)
    const install = jobLines.indexOf('npm ci --no-audit --no-fund')
    assert.ok(install >= 0, 'npm ci')
    assert.ok(jobLines.indexOf(readmeTestCommand()) > install, `"${readmeTestCommand()}" after npm ci`)
    for (const tool of ['memcached', 'nginx', 'haproxy']) {
      assert.ok(jobLines.some((line) => line.includes('apt-get install') && line.includes(tool)), `the tests need ${tool}, as .ci/run installs it`)
    }
  })

  test('runs every npm command of .ci/run, and only scripts that exist', () => {
    const ciRun = read('.ci/run').split('\n').map((line) => line.trim()).filter((line) => line.startsWith('npm '))
    assert.ok(ciRun.length >= 5, `.ci/run has npm commands: ${ciRun.join(' | ')}`)
    for (const line of ciRun) assert.ok(lines.includes(line), `.ci/run runs "${line}"; the workflow does not`)
    assertScriptsExist(lines)
  })

  test('has a job that builds the docs site', () => {
    assert.ok(Object.values(workflow.jobs).some((job) => runLines(job).includes('npm run docs:build')))
  })
})

describe('.github/workflows/release.yml', () => {
  const workflow = parseWorkflow('.github/workflows/release.yml')
  const job = workflow.jobs.publish as Job
  const lines = runLines(job)

  test('publishes with provenance on a version tag, after the whole suite', () => {
    assert.deepEqual(workflow.on, { push: { tags: ['v*'] } })
    assert.equal(job.permissions?.['id-token'], 'write', 'provenance needs the OIDC token')
    const publish = lines.indexOf('npm publish --provenance --access public')
    assert.ok(publish > lines.indexOf(readmeTestCommand()) && lines.indexOf(readmeTestCommand()) >= 0)
    assert.ok(lines.some((line) => line.includes('GITHUB_REF_NAME') && line.includes('package.json')), 'the tag is checked against the version')
    assert.ok(lines.some((line) => line.includes('repository') && line.includes('GITHUB_REPOSITORY')), 'package.json must name the repository that provenance is checked against')
    assertScriptsExist(lines)
  })
})

describe('scripts/service-smoke.mjs', () => {
  let cluster: MemcachedCluster
  before(async () => { cluster = await startCluster(1) })
  after(async () => { await cluster?.stop() })

  test('saves a session to the memcached it is given and reads it back', async () => {
    const address = cluster.spec.split(':').slice(1).join(':')
    const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'scripts', 'service-smoke.mjs'), address], { cwd: root, timeout: 30_000 })
    assert.match(stdout, /saved to and read back from memcached/)
    assert.ok(await cluster.total('cmd_set') >= 2, 'the sessions reached this memcached')
  })
})
