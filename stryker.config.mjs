// Mutation testing with StrykerJS: `npm run mutate`. docs/contributing.md#mutation-testing
// explains the habit; test/mutation/REPORT.md holds the last run and what was
// decided about every mutant that survived.
//
// node:test has no Stryker runner of its own, so the tap runner starts every
// test file as its own `node` process and reads its TAP output. Coverage is
// per test file: a mutant runs only the files that executed it, in the order
// below, and stops at the first failing test. The sandbox is compiled to
// JavaScript once (buildCommand, type checks off) so that these processes do
// not each load tsx: a file starts in a third of the CPU time.
import { readdirSync } from 'node:fs'

/** test/mutation/tsconfig.json writes lib/ and test/ there, inside the sandbox. */
const BUILD = 'mutation-build'
// Tests of the source text, not of behaviour: they fail on any instrumented
// copy of lib/ (architecture.test.ts counts its lines) or never run lib/ code.
const NOT_FOR_MUTANTS = new Set(['architecture.test.ts', 'docs.test.ts', 'test-hygiene.test.ts'])
// Seam files that would wait in real time (none now): every mutant that
// survives the other files would run them in full. Seam tests that need time
// to pass move a mocked Date instead (test/helpers/clock.ts), so they take
// milliseconds. A file listed here is left out; MUTATE_FULL=1 puts it back (last).
const SLOW = []
const full = process.env.MUTATE_FULL === '1'
// Order matters: a mutant runs the files that cover it in this order and
// stops at its first failing test. Files that are fast or test one module
// come first (everything not named here, by name), then the broad seam
// files from the quickest to the slowest.
const LAST = [
  'session-api.seam.test.ts',
  'relocation.seam.test.ts',
  'memory-cluster.test.ts',
  'prom-client-collector.test.ts',
  'fastify-session-compat.test.ts',
  'redundancy.seam.test.ts',
  'core.seam.test.ts',
  ...SLOW
]

const unitTests = readdirSync(new URL('./test/unit/', import.meta.url))
  .filter((name) => name.endsWith('.test.ts') && !NOT_FOR_MUTANTS.has(name) && (full || !SLOW.includes(name)))
  .sort((a, b) => LAST.indexOf(a) - LAST.indexOf(b) || a.localeCompare(b))
  .map((name) => `${BUILD}/test/unit/${name.replace(/\.ts$/, '.js')}`)

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  buildCommand: 'tsc -p test/mutation/tsconfig.json --noCheck',
  tap: {
    testFiles: unitTests,
    nodeArgs: ['--test-reporter=tap', '-r', '{{hookFile}}', '{{testFile}}'],
    forceBail: true
  },
  mutate: [
    'lib/session/**/*.ts',
    'lib/store/**/*.ts',
    'lib/locking/**/*.ts',
    'lib/cluster/**/*.ts',
    'lib/serialization/**/*.ts',
    'lib/sticky/**/*.ts',
    // types only: nothing to mutate
    '!lib/session/sticky-strategy.ts'
  ],
  coverageAnalysis: 'perTest',
  // 4 processes on 2 cores: a mutant that hangs a test (a lock never released,
  // a promise never settled) waits out its timeout without using the CPU.
  concurrency: 4,
  // A file's time in the dry run, times 1.5, plus 10 s: a seam file takes 1
  // to 2 s, so this is room for a loaded 2-core machine, and load does not
  // pass for a detected mutant. A hung mutant ends as a Timeout (which counts
  // as detected). Do not run other heavy work beside a mutation run.
  timeoutFactor: 1.5,
  timeoutMS: 10_000,
  dryRunTimeoutMinutes: 10,
  // Only what the tests read: lib/, test/ and the config files.
  ignorePatterns: ['/*', '!/lib', '!/test', '!/package.json', '!/tsconfig.json'],
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  thresholds: { high: 90, low: 85, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true
}
