// What publishing on the diagnostics channels costs per traced event, in one
// process: a memcached command's event (fastify-msm.node.operation) awaited
// untraced, with no subscriber, and with a no-op subscriber on its channel.
// A read request publishes 2 traced events (session.load, its get), a write
// request 5 (load, get, save, 2 sets). req/s on these machines moves by
// ±5-15 % from run to run, more than this cost; docs/benchmarks.md#tracing.
// Run: node --import tsx benchmarks/tracing.ts [--quick]
import { CHANNELS, traceOperation } from '../lib/events/channels.js'

const quick = process.argv.includes('--quick')
const CALLS = quick ? 20_000 : 500_000
const node = { id: 'n1', host: '127.0.0.1', port: 11211 }
const answered = (): Promise<boolean> => Promise.resolve(true)
const noop = { start () {}, end () {}, asyncStart () {}, asyncEnd () {}, error () {} }

async function nanosecondsPerCall (traced: boolean): Promise<number> {
  const started = process.hrtime.bigint()
  for (let call = 0; call < CALLS; call++) {
    if (traced && CHANNELS.operation.hasSubscribers) await traceOperation(node, 'set', 'value', answered)
    else await answered()
  }
  return Number(process.hrtime.bigint() - started) / CALLS
}

async function main (): Promise<void> {
  const rounds = quick ? 1 : 5
  const none: number[] = []
  const subscribed: number[] = []
  for (let round = 0; round < rounds; round++) {
    none.push(await nanosecondsPerCall(true))
    CHANNELS.operation.subscribe(noop)
    subscribed.push(await nanosecondsPerCall(true))
    CHANNELS.operation.unsubscribe(noop)
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number
  const extra = median(subscribed) - median(none)
  console.log(`an awaited command, no subscriber: ${median(none).toFixed(0)} ns; with a no-op subscriber: ${median(subscribed).toFixed(0)} ns (median of ${rounds})`)
  console.log(`publishing costs ${extra.toFixed(0)} ns per traced event: ${(2 * extra / 1000).toFixed(2)} µs per read request (2 events), ${(5 * extra / 1000).toFixed(2)} µs per write request (5 events)`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
