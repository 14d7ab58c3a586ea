// The performance gate of benchmarks/compare.ts: it fails a change whose read
// or write falls by more than the allowed drop (median of paired rounds).
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { regressions } from '../../benchmarks/gate.js'

test('a read or write that falls by more than 3% fails; exactly 3% and the other scenarios do not', () => {
  assert.deepEqual(regressions({ d: 0.97, e: 1.01 }, 3), [])
  assert.deepEqual(regressions({ d: 0.969, e: 1.2 }, 3), ['read (d) fell by 3.1% (median of paired rounds 0.969), more than 3%'])
  assert.equal(regressions({ d: 1, e: 0.9 }, 3).length, 1)
  assert.deepEqual(regressions({ f: 0.5, g: 0.5, 'e-enc': 0.5 }, 3), [], 'only d and e are gated')
  assert.deepEqual(regressions({ d: 0.95, e: 0.95 }, 10), [], '--max-drop=10')
})
