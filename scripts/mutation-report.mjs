// Turns Stryker's JSON report into test/mutation/REPORT.md:
//
//   npm run mutate                        writes reports/mutation/mutation.json
//   node scripts/mutation-report.mjs      writes test/mutation/REPORT.md
//
// Every mutant that survived or had no coverage is listed with what was
// decided about it, read from test/mutation/dispositions.json, which is
// edited by hand: `mutants` holds one entry per mutant, keyed by file,
// mutator and a hash of the mutated code and its replacement (not by line,
// so entries survive edits elsewhere in the file); `rules` decide whole
// classes at once (a mutator, and regular expressions on the file and the
// mutated code), for mutants no entry decides. `--sync` adds an empty entry
// for each undecided mutant and drops the entries of mutants that are now
// killed or gone.
//
// Options: --json <file> (default reports/mutation/mutation.json),
// --out <file> (default test/mutation/REPORT.md), --sync,
// --duration <text> (the wall-clock time of the run, for the header),
// --notes <file> (default test/mutation/NOTES.md, hand-written, copied in
// after the header when it exists).
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { originalOf } from './mutation-source.mjs'

const root = join(import.meta.dirname, '..')
const { values: args } = parseArgs({
  options: {
    json: { type: 'string', default: join(root, 'reports/mutation/mutation.json') },
    out: { type: 'string', default: join(root, 'test/mutation/REPORT.md') },
    dispositions: { type: 'string', default: join(root, 'test/mutation/dispositions.json') },
    notes: { type: 'string', default: join(root, 'test/mutation/NOTES.md') },
    duration: { type: 'string' },
    sync: { type: 'boolean', default: false }
  }
})

const UNDETECTED = new Set(['Survived', 'NoCoverage'])

const report = JSON.parse(readFileSync(args.json, 'utf8'))
const decided = existsSync(args.dispositions) ? JSON.parse(readFileSync(args.dispositions, 'utf8')) : {}
const rules = decided.rules ?? []
const dispositions = decided.mutants ?? {}

/** The disposition of a mutant: its own entry, else the first rule that matches it. */
function dispositionOf ({ key, file, mutant, original }) {
  const own = dispositions[key]?.disposition
  if (own) return own
  const rule = rules.find((candidate) =>
    (candidate.mutator === undefined || candidate.mutator === mutant.mutatorName) &&
    (candidate.file === undefined || new RegExp(candidate.file).test(file)) &&
    (candidate.original === undefined || new RegExp(candidate.original).test(original)))
  return rule === undefined ? '' : rule.disposition
}

/** One line, at most `max` characters, safe inside a markdown table cell. */
function cell (text, max = 80) {
  const flat = String(text).replace(/\s+/g, ' ').trim()
  const short = flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
  return short.replace(/\|/g, '\\|').replace(/`/g, "'")
}

function percent (detected, total) {
  return total === 0 ? 'n/a' : `${(100 * detected / total).toFixed(2)}`
}

function emptyCounts () {
  return { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, Ignored: 0, RuntimeError: 0, CompileError: 0, Pending: 0 }
}

/** Stryker's scores: detected / valid mutants, and detected / covered ones. */
function scores (counts) {
  const detected = counts.Killed + counts.Timeout
  const valid = detected + counts.Survived + counts.NoCoverage
  return { detected, valid, score: percent(detected, valid), covered: percent(detected, detected + counts.Survived) }
}

const files = Object.entries(report.files)
  .map(([name, file]) => [relative(root, join(report.projectRoot ?? root, name)).split('\\').join('/'), file])
  .sort(([a], [b]) => a.localeCompare(b))

const total = emptyCounts()
const byModule = new Map()
const byFile = []
const undetected = []
/** Mutants killed, by the test file that failed first (files run in the order of stryker.config.mjs). */
const killers = new Map()

for (const [name, file] of files) {
  const module = name.split('/').slice(0, 2).join('/')
  const moduleCounts = byModule.get(module) ?? emptyCounts()
  byModule.set(module, moduleCounts)
  const fileCounts = emptyCounts()
  const seen = new Map()
  const mutants = [...file.mutants].sort((a, b) => a.location.start.line - b.location.start.line || a.location.start.column - b.location.start.column)
  for (const mutant of mutants) {
    for (const counts of [total, moduleCounts, fileCounts]) counts[mutant.status] = (counts[mutant.status] ?? 0) + 1
    if (!UNDETECTED.has(mutant.status)) continue
    const original = originalOf(file.source, mutant.location)
    const replacement = mutant.replacement ?? mutant.mutatorName
    // Identical mutations of identical code in one file are told apart by their order
    const base = `${name}\0${mutant.mutatorName}\0${original}\0${replacement}`
    const occurrence = seen.get(base) ?? 0
    seen.set(base, occurrence + 1)
    const hash = createHash('sha256').update(`${base}\0${occurrence}`).digest('hex').slice(0, 10)
    undetected.push({ key: `${name}#${mutant.mutatorName}#${hash}`, file: name, mutant, original, replacement })
  }
  byFile.push([name, fileCounts])
  for (const mutant of mutants) {
    for (const test of mutant.killedBy ?? []) killers.set(test, (killers.get(test) ?? 0) + 1)
  }
}

/** Test ids name tests of report.testFiles; the tap runner's tests are the compiled files (stryker.config.mjs): name their sources. */
const testNames = new Map(Object.values(report.testFiles ?? {}).flatMap((file) => file.tests.map((test) => [test.id, test.name])))
function testFileName (id) {
  return (testNames.get(id) ?? id).replace(/^mutation-build\//, '').replace(/\.js$/, '.ts')
}

if (args.sync) {
  const next = {}
  for (const entry of undetected) {
    const { key, file, mutant, original, replacement } = entry
    if (!dispositions[key]?.disposition && dispositionOf(entry)) continue
    next[key] = {
      where: `${file}:${mutant.location.start.line}`,
      original: original.length > 200 ? `${original.slice(0, 199)}…` : original,
      replacement: replacement.length > 200 ? `${replacement.slice(0, 199)}…` : replacement,
      disposition: dispositions[key]?.disposition ?? ''
    }
  }
  const dropped = Object.keys(dispositions).filter((key) => !(key in next))
  writeFileSync(args.dispositions, `${JSON.stringify({ rules, mutants: next }, null, 2)}\n`)
  console.log(`${args.dispositions}: ${Object.keys(next).length} entries, ${dropped.length} dropped (killed, gone or decided by a rule)`)
  for (const key of dropped) delete dispositions[key]
  Object.assign(dispositions, next)
}

const undecided = undetected.filter((entry) => !dispositionOf(entry))
const all = scores(total)
const started = report.performance === undefined ? null : report.performance
const mutationMinutes = started === null ? null : ((started.setup + started.initialRun + started.mutation) / 60_000).toFixed(1)

const lines = [
  '# Mutation testing report',
  '',
  '<!-- Written by scripts/mutation-report.mjs from reports/mutation/mutation.json; dispositions come from test/mutation/dispositions.json. Edit those, not this file. -->',
  '',
  `- Date: ${new Date().toISOString().slice(0, 10)}`,
  `- Stryker: ${report.framework?.name ?? 'StrykerJS'} ${report.framework?.version ?? ''}, tap runner (stryker.config.mjs)`,
  '- Command: `npm run mutate`, then `node scripts/mutation-report.mjs`',
  `- Duration: ${args.duration ?? (mutationMinutes === null ? 'not recorded' : `${mutationMinutes} min (Stryker's own phases)`)}`,
  `- Mutants: ${Object.values(total).reduce((a, b) => a + b, 0)}; killed ${total.Killed}, timeout ${total.Timeout}, survived ${total.Survived}, no coverage ${total.NoCoverage}, ignored ${total.Ignored}, errors ${total.RuntimeError + total.CompileError}`,
  `- **Mutation score: ${all.score}%** (killed + timeout over all valid mutants; no coverage counts as survived). Goal: at least 85%.`,
  `- Score of covered code: ${all.covered}%`,
  '',
  ...(existsSync(args.notes) ? [readFileSync(args.notes, 'utf8').trim(), ''] : []),
  '## Per module',
  '',
  '| Module | Score % | Covered % | Killed | Timeout | Survived | No coverage |',
  '|---|---:|---:|---:|---:|---:|---:|',
  ...[...byModule].map(([module, counts]) => {
    const s = scores(counts)
    return `| ${module} | ${s.score} | ${s.covered} | ${counts.Killed} | ${counts.Timeout} | ${counts.Survived} | ${counts.NoCoverage} |`
  }),
  `| **all** | **${all.score}** | ${all.covered} | ${total.Killed} | ${total.Timeout} | ${total.Survived} | ${total.NoCoverage} |`,
  '',
  '## Per file',
  '',
  '| File | Score % | Killed | Timeout | Survived | No coverage |',
  '|---|---:|---:|---:|---:|---:|',
  ...byFile.map(([name, counts]) => `| ${name} | ${scores(counts).score} | ${counts.Killed} | ${counts.Timeout} | ${counts.Survived} | ${counts.NoCoverage} |`),
  '',
  '## Killed by',
  '',
  'The first test file that failed for each killed mutant (a mutant runs the files that cover it in the order of stryker.config.mjs and stops at the first failure).',
  '',
  '| Test file | Mutants killed |',
  '|---|---:|',
  ...[...killers].sort(([a, x], [b, y]) => y - x || a.localeCompare(b)).map(([test, count]) => `| ${testFileName(test)} | ${count} |`),
  '',
  '## Mutants not detected',
  '',
  'Each one has a test that kills it in a later run, or a written reason why no test can or should (equivalent: no observable behaviour changes; harmless: only a log text or a statistic nobody asserts on changes).',
  undecided.length > 0 ? `\n**${undecided.length} without a disposition yet.**\n` : '',
  '| Where | Status | Mutator | Original | Replacement | Disposition |',
  '|---|---|---|---|---|---|',
  ...undetected.map((entry) => {
    const { file, mutant, original, replacement } = entry
    return `| ${file}:${mutant.location.start.line} | ${mutant.status} | ${mutant.mutatorName} | \`${cell(original, 60)}\` | \`${cell(replacement, 60)}\` | ${cell(dispositionOf(entry) || '**undecided**', 400)} |`
  }),
  ''
]

writeFileSync(args.out, lines.filter((line, index) => !(line === '' && lines[index - 1] === '')).join('\n'))
console.log(`${args.out}: score ${all.score}% (${all.detected}/${all.valid}), ${undetected.length} not detected, ${undecided.length} undecided`)
