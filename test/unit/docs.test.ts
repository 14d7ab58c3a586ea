import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { COOKIE_KEYS, DEFAULTS, OPTION_KEYS } from '../../lib/options/index.js'
import { ENCRYPTION_KEYS } from '../../lib/options/encryption.js'

const root = join(__dirname, '..', '..')
const optionsPage = readFileSync(join(root, 'docs', 'options.md'), 'utf8')

/** The first column of the options table: `name` or `cookie.name`. */
function documentedOptions (): Set<string> {
  const names = new Set<string>()
  for (const line of optionsPage.split('\n')) {
    const match = /^\| `([a-zA-Z.]+)` \|/.exec(line)
    if (match !== null) names.add(match[1] as string)
  }
  return names
}

test('docs/options.md documents every option the plugin accepts, and nothing else', () => {
  const documented = documentedOptions()
  const accepted = new Set<string>([
    ...OPTION_KEYS.filter((key) => key !== 'cookie' && key !== 'encryption'),
    ...COOKIE_KEYS.map((key) => `cookie.${key}`),
    ...ENCRYPTION_KEYS.map((key) => `encryption.${key}`)
  ])
  assert.deepEqual([...accepted].filter((key) => !documented.has(key)), [], 'undocumented options')
  assert.deepEqual([...documented].filter((key) => !accepted.has(key)), [], 'documented options that do not exist')
})

test('docs/options.md states the defaults that lib/options.ts applies', () => {
  const row = (name: string): string => optionsPage.split('\n').find((line) => line.startsWith(`| \`${name}\` |`)) as string
  for (const name of ['maxInactiveInterval', 'operationTimeout', 'lockExpiration', 'lockTimeout', 'lockRetryMin', 'lockRetryMax', 'nodeRetryInterval'] as const) {
    assert.ok(row(name).includes(`\`${DEFAULTS[name]}\``), `${name} default ${DEFAULTS[name]}`)
  }
  for (const name of ['cookieName', 'lockTimeoutPolicy', 'storeFailurePolicy', 'lockingMode'] as const) {
    assert.ok(row(name).includes(`\`'${DEFAULTS[name]}'\``), `${name} default '${DEFAULTS[name]}'`)
  }
  assert.ok(row('maxSessionSize').includes(`\`${DEFAULTS.maxSessionSize}\``))
  assert.ok(row('localSessions').includes('`10000`') && DEFAULTS.localSessions === 10_000)
  assert.ok(row('backupQueueSize').includes('`10000`') && DEFAULTS.backupQueueSize === 10_000)
  assert.ok(row('cookie.sameSite').includes(`\`'${DEFAULTS.cookie.sameSite}'\``))
  assert.ok(row('cookie.secure').includes(`\`'${DEFAULTS.cookie.secure}'\``))
  assert.ok(row('cookie.path').includes(`\`'${DEFAULTS.cookie.path}'\``))
})

test('docs/errors.md lists every FST_MSM code the plugin defines', async () => {
  const errors = await import('../../lib/errors.js')
  const page = readFileSync(join(root, 'docs', 'errors.md'), 'utf8')
  for (const code of Object.keys(errors)) assert.ok(page.includes(`\`${code}\``), code)
})
