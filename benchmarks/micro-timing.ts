// The timing loop of the micro-benchmarks (serialization.ts, encryption.ts):
// a warm-up, then batches of calls until the time budget is spent.

/** Calls of `run` per second, measured for about `budgetMs` after `warmup` calls. */
export function opsPerSecond (run: () => void, budgetMs: number, warmup = 200): number {
  for (let i = 0; i < warmup; i++) run()
  let count = 0
  const start = process.hrtime.bigint()
  let elapsed = 0
  while (elapsed < budgetMs) {
    for (let i = 0; i < 50; i++) run()
    count += 50
    elapsed = Number(process.hrtime.bigint() - start) / 1e6
  }
  return count / (elapsed / 1000)
}
