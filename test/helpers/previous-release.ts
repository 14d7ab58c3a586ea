// The previous release of the package, built from its commit, for tests that
// run it beside this checkout (test/integration/rolling-deploy.test.ts).
//
// Which release that is lives in test/previous-release.json alone: a release
// bump edits its one line. The build goes to .previous-release/<commit>/
// (git-ignored): `git archive <commit>` extracted there, its dependencies
// (this checkout's node_modules through a symlink when the old package.json
// asks for the same ones, else `npm ci` there), then its own `npm run build`.
// A complete build carries a marker file and is reused; a build is made in a
// directory of its own and renamed into place, so that concurrent test
// processes never see half of one.
import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { within } from './node-test.js'

const root = join(__dirname, '..', '..')

export interface PreviousRelease {
  /** The package version of that release (its package.json). */
  version: string
  /** The full commit hash of that release. */
  commit: string
}

/** The previous release, as test/previous-release.json names it. */
export const PREVIOUS_RELEASE: PreviousRelease = JSON.parse(readFileSync(join(root, 'test', 'previous-release.json'), 'utf8'))

const MARKER = '.build-complete'
/** The package.json fields that decide which packages node_modules must hold. */
const DEPENDENCY_FIELDS = ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies', 'overrides'] as const

/** Where the previous release is built: <repo>/.previous-release/<commit>. */
export function previousReleaseDir (release: PreviousRelease = PREVIOUS_RELEASE): string {
  return join(root, '.previous-release', release.commit)
}

let building: Promise<string> | undefined

/**
 * The directory of a built copy of the previous release (its `dist/` as
 * `npm run build` makes it), built on the first call and reused after.
 */
export async function previousReleaseBuild (release: PreviousRelease = PREVIOUS_RELEASE): Promise<string> {
  building ??= build(release).catch((error: unknown) => {
    building = undefined
    throw error
  })
  return building
}

function isComplete (dir: string): boolean {
  return existsSync(join(dir, MARKER)) && existsSync(join(dir, 'dist', 'esm', 'index.js'))
}

async function build (release: PreviousRelease): Promise<string> {
  const dir = previousReleaseDir(release)
  if (isComplete(dir)) return dir
  if (!/^[0-9a-f]{40}$/.test(release.commit)) throw new Error(`test/previous-release.json: "commit" must be a full 40-digit hash, not ${JSON.stringify(release.commit)}`)
  try {
    await run('git', ['cat-file', '-e', `${release.commit}^{commit}`], { cwd: root })
  } catch {
    throw new Error(`The previous release ${release.version} (commit ${release.commit}, test/previous-release.json) is not in this clone, ` +
      'so the rolling-deploy test cannot build it. Fetch the history: `git fetch --unshallow` (or `fetch-depth: 0` in actions/checkout).')
  }
  const started = performance.now()
  const work = `${dir}.building-${process.pid}`
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  try {
    await extract(release.commit, work)
    const manifest = readJson(join(work, 'package.json'))
    if (manifest.version !== release.version) {
      throw new Error(`test/previous-release.json says version ${release.version}, but the package.json of commit ${release.commit} says ${String(manifest.version)}`)
    }
    const dependencies = sameDependencies(manifest, readJson(join(root, 'package.json'))) && existsSync(join(root, 'node_modules'))
      ? 'linked'
      : 'installed'
    // The same dependency set: this checkout's packages serve (no network); otherwise the release's own lock file
    if (dependencies === 'linked') symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'), 'dir')
    else await run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: work }, 240_000)
    await run('npm', ['run', 'build', '--silent'], { cwd: work })
    if (!existsSync(join(work, 'dist', 'esm', 'index.js'))) throw new Error(`the build of ${release.commit} made no dist/esm/index.js`)
    const ms = Math.round(performance.now() - started)
    writeFileSync(join(work, MARKER), JSON.stringify({ ...release, dependencies, buildMs: ms, builtAt: new Date().toISOString() }) + '\n')
    // Another process finished first: its build serves
    if (isComplete(dir)) return dir
    try {
      // An incomplete copy (its marker or dist/ deleted by hand) gives way
      rmSync(dir, { recursive: true, force: true })
      renameSync(work, dir)
    } catch (error) {
      if (!isComplete(dir)) throw error
    }
    return dir
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

function readJson (file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
}

function sameDependencies (old: Record<string, unknown>, current: Record<string, unknown>): boolean {
  return DEPENDENCY_FIELDS.every((field) => JSON.stringify(old[field] ?? {}) === JSON.stringify(current[field] ?? {}))
}

/** `git archive <commit> | tar -x -C <dir>`. */
async function extract (commit: string, dir: string): Promise<void> {
  const git = spawn('git', ['archive', '--format=tar', commit], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  const tar = spawn('tar', ['-x', '-C', dir], { stdio: [git.stdout, 'ignore', 'pipe'] })
  // git's stdout is tar's stdin, never read here, so it never closes here: git is done when it exits
  await Promise.all([exited(git, `git archive ${commit}`, [], 'exit'), exited(tar, `tar -x -C ${dir}`)])
}

/** `ms`: how long it may take (npm ci fetches packages: longer). */
async function run (command: string, args: string[], options: SpawnOptions, ms?: number): Promise<void> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  const output: Buffer[] = []
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk))
  await exited(child, `${command} ${args.join(' ')}`, output, 'close', ms)
}

/**
 * Resolves when `child` exits with 0 (and its output closed); rejects with its stderr (and `output`) otherwise,
 * or after `ms`, when it is killed.
 */
async function exited (child: ChildProcess, what: string, output: Buffer[] = [], event: 'close' | 'exit' = 'close', ms = 60_000): Promise<void> {
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk))
  const finished = new Promise<void>((resolve, reject) => {
    child.once('error', reject)
    child.once(event, (code: number | null, signal: NodeJS.Signals | null) => {
      if (code === 0) resolve()
      else reject(new Error(`${what} failed (${signal ?? `exit code ${String(code)}`}):\n${Buffer.concat(output).toString().trim()}`))
    })
  })
  try {
    await within(finished, ms, `${what} to finish`)
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    throw error
  }
}
