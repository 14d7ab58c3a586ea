// Re-runs chosen mutants of a finished Stryker run and folds the new results
// into its report, so that REPORT.md shows one, checked result per mutant.
//
// Why: a mutant that outlives its time limit counts as detected (Timeout).
// On a loaded 2-core machine a surviving mutant that many seam files cover
// (it runs all of them) can outlive the limit too, so a Timeout without
// Stryker's "Hit limit reached" (an endless loop it caught itself) is not
// proof. Re-run those with fewer processes; re-run the mutants a new test
// is meant to kill, to see it killed by Stryker rather than by hand.
//
//   node scripts/mutation-recheck.mjs ranges --status Timeout > /tmp/ranges
//   # in a copy of the project (the run writes reports/mutation/ there):
//   npx stryker run --mutate "$(cat /tmp/ranges)" --concurrency 2 --reporters json,progress
//   cp reports/mutation/mutation.json <project>/reports/mutation/recheck.json
//   node scripts/mutation-recheck.mjs merge --recheck reports/mutation/recheck.json
//
// `ranges` prints Stryker --mutate ranges (comma-separated) for the mutants
// of --json that have one of the given --status values (Timeouts that hit
// Stryker's own loop limit are left out: they are proven), or the given
// --key values (keys of test/mutation/dispositions.json). A range can hold
// mutants nested in it; they are re-run too, which does no harm.
// `merge` replaces, in --json, the result of every mutant that --recheck ran
// again (same file, mutator, place and replacement), keeps the other
// results, and maps the killing tests by file name. A file whose source
// changed since (a fix) is taken whole from --recheck: re-run all of it
// (--mutate <file>), or its old mutants stay in the report.
import { readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { originalOf } from './mutation-source.mjs'

const root = join(import.meta.dirname, '..')
const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: 'string', default: join(root, 'reports/mutation/mutation.json') },
    dispositions: { type: 'string', default: join(root, 'test/mutation/dispositions.json') },
    recheck: { type: 'string' },
    status: { type: 'string', multiple: true, default: [] },
    key: { type: 'string', multiple: true, default: [] }
  }
})

const PROVEN_TIMEOUT = /^Hit limit reached/

const identity = (file, mutant) =>
  `${file}|${mutant.mutatorName}|${mutant.replacement}|${mutant.location.start.line}:${mutant.location.start.column}-${mutant.location.end.line}:${mutant.location.end.column}`

function printRanges () {
  const report = JSON.parse(readFileSync(args.json, 'utf8'))
  const entries = JSON.parse(readFileSync(args.dispositions, 'utf8')).mutants ?? {}
  const wanted = new Set(args.key.map((key) => {
    const entry = entries[key]
    if (entry === undefined) throw new Error(`${key} is not in ${args.dispositions}`)
    return `${entry.where}|${key.split('#')[1]}|${entry.original}|${entry.replacement}`
  }))
  const ranges = []
  for (const [path, file] of Object.entries(report.files)) {
    const name = relative(root, join(root, path))
    for (const mutant of file.mutants) {
      const byStatus = args.status.includes(mutant.status) && !PROVEN_TIMEOUT.test(mutant.statusReason ?? '')
      const where = `${name}:${mutant.location.start.line}`
      const byKey = wanted.has(`${where}|${mutant.mutatorName}|${originalOf(file.source, mutant.location)}|${mutant.replacement}`)
      if (!byStatus && !byKey) continue
      // Stryker's ranges count lines from 1 and columns from 0; the report counts both from 1
      const { start, end } = mutant.location
      ranges.push(`${name}:${start.line}:${start.column - 1}-${end.line}:${end.column - 1}`)
    }
  }
  const unique = [...new Set(ranges)]
  process.stdout.write(unique.join(','))
  process.stderr.write(`${ranges.length} mutants in ${unique.length} ranges\n`)
}

function merge () {
  if (args.recheck === undefined) throw new Error('merge needs --recheck <report of the re-run>')
  const report = JSON.parse(readFileSync(args.json, 'utf8'))
  const recheck = JSON.parse(readFileSync(args.recheck, 'utf8'))
  const testFileOf = new Map(Object.entries(recheck.testFiles ?? {}).flatMap(([name, file]) => file.tests.map((test) => [test.id, name])))
  const idOfTestFile = new Map(Object.entries(report.testFiles ?? {}).flatMap(([name, file]) => file.tests.map((test) => [name, test.id])))
  const idFor = (recheckId) => {
    const name = testFileOf.get(recheckId)
    if (name === undefined) return recheckId
    if (!idOfTestFile.has(name)) {
      const id = `recheck-${recheckId}`
      report.testFiles[name] = { tests: [{ id, name }] }
      idOfTestFile.set(name, id)
    }
    return idOfTestFile.get(name)
  }
  const changes = {}
  let replaced = 0
  const rerun = new Map()
  for (const [path, file] of Object.entries(recheck.files)) {
    const before = report.files[path]
    if (before !== undefined && before.source !== file.source) {
      report.files[path] = { ...file, mutants: file.mutants.map((mutant) => ({ ...mutant, killedBy: mutant.killedBy?.map(idFor) })) }
      changes[`file changed, taken whole: ${path}`] = file.mutants.length
      continue
    }
    for (const mutant of file.mutants) rerun.set(identity(path, mutant), mutant)
  }
  for (const [path, file] of Object.entries(report.files)) {
    file.mutants = file.mutants.map((mutant) => {
      const again = rerun.get(identity(path, mutant))
      if (again === undefined) return mutant
      replaced++
      const change = `${mutant.status} -> ${again.status}`
      changes[change] = (changes[change] ?? 0) + 1
      return {
        ...mutant,
        status: again.status,
        statusReason: again.statusReason,
        killedBy: again.killedBy?.map(idFor),
        testsCompleted: again.testsCompleted
      }
    })
  }
  writeFileSync(args.json, JSON.stringify(report))
  console.log(`${replaced} of ${rerun.size} re-run mutants replaced in ${relative(root, args.json)}:`, changes)
}

if (positionals[0] === 'ranges') printRanges()
else if (positionals[0] === 'merge') merge()
else throw new Error('usage: mutation-recheck.mjs ranges|merge [options] (see the comment at the top)')
