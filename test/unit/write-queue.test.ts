import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { WriteQueue } from '../../lib/store/write-queue.js'

/** The queue's counts, as StoreEvents.queued() keeps them. */
function counters (): { backupsQueued: number, backupsCoalesced: number, queued: (coalesced: boolean) => void } {
  const counts = {
    backupsQueued: 0,
    backupsCoalesced: 0,
    queued: (coalesced: boolean): void => {
      if (coalesced) counts.backupsCoalesced++
      else counts.backupsQueued++
    }
  }
  return counts
}

function gate (): { promise: Promise<void>, open: () => void } {
  let open = (): void => {}
  const promise = new Promise<void>((resolve) => { open = resolve })
  return { promise, open }
}

test('jobs of one key run in order, one at a time, and waiting ones coalesce to the newest', async () => {
  const stats = counters()
  const queue = new WriteQueue(100, stats)
  const ran: string[] = []
  const first = gate()
  await queue.enqueue('s1', async () => { ran.push('v1'); await first.promise })
  for (const version of ['v2', 'v3', 'v4']) await queue.enqueue('s1', async () => { ran.push(version) })
  await queue.enqueue('s2', async () => { ran.push('other') })
  assert.deepEqual(ran, ['v1', 'other'], 'v1 runs; s2 is independent; v2..v4 wait')
  first.open()
  await queue.flush()
  assert.deepEqual(ran, ['v1', 'other', 'v4'], 'only the newest waiting job of s1 ran')
  assert.equal(stats.backupsCoalesced, 2)
  assert.equal(queue.size, 0)
})

test('a full queue makes enqueue wait for room instead of dropping work', async () => {
  const queue = new WriteQueue(2, counters())
  const hold = gate()
  await queue.enqueue('a', () => hold.promise)
  await queue.enqueue('b', () => hold.promise)
  let third = false
  const waiting = queue.enqueue('c', async () => { third = true })
  await new Promise((resolve) => setTimeout(resolve, 20))
  assert.equal(queue.size, 2)
  assert.equal(third, false)
  hold.open()
  await waiting
  await queue.flush()
  assert.equal(third, true)
})

test('a failing job does not stop the queue', async () => {
  const queue = new WriteQueue(10, counters())
  let after = false
  await queue.enqueue('a', async () => { throw new Error('node down') })
  await queue.enqueue('a', async () => { after = true })
  await queue.flush()
  assert.equal(after, true)
  assert.equal(await Promise.race([queue.flush().then(() => 'flushed'), new Promise((resolve) => setTimeout(() => resolve('hung'), 100))]), 'flushed')
})
