import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { Histogram } from '../../lib/stats/timings.js'

test('the histogram keeps fixed buckets and answers quantiles by bucket bound', () => {
  const histogram = new Histogram([1, 2, 5, 10])
  for (let i = 0; i < 98; i++) histogram.record(0.5)
  histogram.record(4)
  histogram.record(30)
  assert.deepEqual(histogram.counts, [98, 0, 1, 0, 1])
  assert.equal(histogram.quantile(0.5), 1)
  assert.equal(histogram.quantile(0.99), 5)
  assert.equal(histogram.quantile(1), 30)
  assert.deepEqual(histogram.summary(), { count: 100, p50: 1, p99: 5, max: 30, sum: 83 })
  assert.equal(new Histogram([1]).quantile(0.5), 0, 'empty')
  const small = new Histogram([10])
  small.record(3)
  assert.equal(small.quantile(0.99), 3, 'never above the max')
})
