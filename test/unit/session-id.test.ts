import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { formatSessionId, generateRandomPart, movedRandomPart, parseSessionId } from '../../lib/ids/session-id.js'

const nodeIds = new Set(['n1', 'node_2'])
const known = (id: string): boolean => nodeIds.has(id)

test('generated ids carry 128 random bits in hex and parse back', () => {
  const seen = new Set<string>()
  for (let i = 0; i < 1000; i++) {
    const random = generateRandomPart()
    assert.match(random, /^[0-9a-f]{32}$/)
    seen.add(random)
    const id = formatSessionId(random, 'node_2')
    assert.deepEqual(parseSessionId(id, known), { id, random, nodeId: 'node_2', route: null })
    const routed = formatSessionId(random, 'n1', 'app_1')
    assert.deepEqual(parseSessionId(routed, known), { id: routed, random, nodeId: 'n1', route: 'app_1' })
  }
  assert.equal(seen.size, 1000)
})

test('anything else is no session', () => {
  const random = generateRandomPart()
  const rejected = [
    undefined, null, 42, '', `${random}`, `${random}-`, `${random}-n9`, `${random}-n1-n1`,
    `${random.toUpperCase()}-n1`, `${random.slice(1)}-n1`, `${random}0-n1`, ` ${random}-n1`,
    `${random}-n1\r\nflush_all`, `${random}-n1$'`, `${random}-n$&`, `${random}-n\`1`,
    `${random}-n1.app-1`, `${random}-n1.`, `${random}-n1.a.b`, `${random}-n1.${'a'.repeat(33)}`, `${random}-${'n'.repeat(33)}`, 'x'.repeat(10_000), `${random}-ｎ1`
  ]
  for (const value of rejected) assert.equal(parseSessionId(value, known), null, String(value))
})

test('a moved session gets a derived random part that never cycles back', () => {
  const first = formatSessionId(generateRandomPart(), 'n1')
  const seen = new Set([first.split('-')[0]])
  let id = first
  for (let move = 0; move < 10; move++) {
    const random = movedRandomPart(id)
    assert.match(random, /^[0-9a-f]{32}$/)
    assert.ok(!seen.has(random), 'a new random part on every move')
    seen.add(random)
    id = formatSessionId(random, `n${(move % 3) + 1}`)
  }
  assert.equal(movedRandomPart(first), movedRandomPart(first), 'deterministic')
})
