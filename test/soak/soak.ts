// npm run soak [-- --short]: load over 2 app processes and 3 memcached nodes
// while random nodes are SIGKILLed and restarted empty, or SIGSTOPped and
// resumed. Every acknowledged write is verified; heap, file descriptors,
// handles and the plugin's counters are compared before and after.
// Full: 200 s; --short: 30 s (run by CI).
//
// npm run soak -- --backup-faults [--short]: kills BACKUP nodes (left down, or
// restarted empty), lets the sessions only be read for a while, then kills
// the primary of the sessions whose backup was on the killed node. Every
// session must survive with its acknowledged value. Full: 15 rounds; --short: 5.
//
// npm run soak -- --close-faults [--short]: two node faults less than
// touchInterval apart (a backup node, then the primary of its sessions), while
// half the sessions are only read and the other half written, with the
// default detection settings. The read-only sessions all have their primary
// on the node killed second and are read through one app process that sends
// nothing else: no touch is due and no request of that process fails on the
// first node, so only the plugin's own detection saves them (without it, they
// are lost). 0 sessions lost, 0 acknowledged writes lost. Full: 15 rounds;
// --short: 5.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type MemcachedCluster, startCluster } from '../helpers/memcached.js'
import { startAppProcess } from '../helpers/processes.js'
import { CookieClient, idOf, nodeOf } from '../helpers/app.js'
import { clientOptions } from '../../lib/memcached/memcached-transport.js'

const short = process.argv.includes('--short')
const backupFaults = process.argv.includes('--backup-faults')
const closeFaults = process.argv.includes('--close-faults')
const DURATION_MS = short ? 30_000 : 200_000
const CLIENTS = 40
const FAULT_EVERY_MS = short ? 4000 : 6000
const FAULT_LENGTH_MS = 1500
/** What the memcached pools of one app may hold: 3 nodes, poolSize connections each. */
const MEMCACHED_SOCKETS_BOUND = 3 * (clientOptions(300).poolSize as number)

interface ProcessReport { heapUsed: number, fds: number, httpSockets: number, outgoingSockets: number, otherFds: number, handlesExceptSockets: number, stats: { saved: number, relocated: number, restored: number, nodes: Array<{ state: string }> } }

async function report (base: string): Promise<ProcessReport> {
  return await (await fetch(`${base}/__process`)).json() as ProcessReport
}

async function main (): Promise<void> {
  const cluster = await startCluster(3)
  const options = { nodes: cluster.spec, operationTimeout: 300, nodeRetryInterval: 200, storeFailurePolicy: 'fail', lockingMode: 'none' }
  const apps = await Promise.all([startAppProcess(options), startAppProcess(options)])
  const bases = apps.map((app) => app.base)
  const faults: string[] = []
  const control = { stopping: false }
  try {
    const users = await Promise.all(Array.from({ length: CLIENTS }, async () => {
      const client = new CookieClient(bases[0] as string)
      await client.get('/count')
      return { client, acknowledged: 1, failures: 0, lost: 0 }
    }))
    // Warm up, then take the baseline
    for (let i = 0; i < 5; i++) await Promise.all(users.map(async (user) => { user.client.base = bases[i % 2] as string; user.acknowledged = (await user.client.get('/count')).body.n }))
    const before = await Promise.all(bases.map(report))

    const faultLoop = (async () => {
      while (!control.stopping) {
        await sleep(FAULT_EVERY_MS)
        if (control.stopping) break
        const node = cluster.nodes[Math.floor(Math.random() * cluster.nodes.length)] as typeof cluster.nodes[number]
        if (Math.random() < 0.5) {
          faults.push(`SIGKILL ${node.id}, restart empty`)
          await node.kill()
          await sleep(FAULT_LENGTH_MS)
          await node.start()
        } else {
          faults.push(`SIGSTOP ${node.id}, SIGCONT`)
          await node.suspend()
          await sleep(FAULT_LENGTH_MS)
          node.signal('SIGCONT')
        }
      }
    })()

    const deadline = Date.now() + DURATION_MS
    let requests = 0
    /** Why requests failed: `<status> <code>`, or the client's error, with how many times. */
    const failureKinds: Record<string, number> = {}
    const failure = (user: typeof users[number], kind: string): void => {
      user.failures++
      failureKinds[kind] = (failureKinds[kind] ?? 0) + 1
    }
    await Promise.all(users.map(async (user) => {
      while (Date.now() < deadline) {
        user.client.base = bases[Math.floor(Math.random() * 2)] as string
        requests++
        try {
          const response = await user.client.get('/count')
          if (response.status !== 200) {
            failure(user, `${response.status} ${(response.body as { code?: string } | null)?.code ?? ''}`.trim())
            continue
          }
          if (response.body.n !== user.acknowledged + 1) user.lost += Math.max(1, user.acknowledged + 1 - response.body.n)
          user.acknowledged = response.body.n
        } catch (error) {
          failure(user, `request error: ${(error as Error).message}`)
        }
      }
    }))
    control.stopping = true
    await faultLoop
    // Let every node come back into service
    const ready = Date.now() + 10_000
    while (Date.now() < ready && !(await Promise.all(bases.map(report))).every((r) => r.stats.nodes.every((node) => node.state === 'up'))) await sleep(200)

    let lostAtEnd = 0
    for (const user of users) {
      const read = await user.client.get('/read')
      if (read.body.n !== user.acknowledged) lostAtEnd++
    }
    const after = await Promise.all(bases.map(report))
    const acknowledged = users.reduce((sum, user) => sum + user.acknowledged, 0)
    const lostDuring = users.reduce((sum, user) => sum + user.lost, 0)
    const failed = users.reduce((sum, user) => sum + user.failures, 0)
    const saved = after.reduce((sum, r, i) => sum + r.stats.saved - (before[i] as ProcessReport).stats.saved, 0)
    const acknowledgedSince = requests - failed
    const heapGrowth = after.map((r, i) => r.heapUsed - (before[i] as ProcessReport).heapUsed)
    const result = {
      seconds: DURATION_MS / 1000,
      requests,
      acknowledgedWrites: acknowledgedSince,
      failedRequests: failed,
      failureKinds,
      faultsInjected: faults.length,
      faults,
      lostWritesDuringRun: lostDuring,
      sessionsNotMatchingAtEnd: lostAtEnd,
      savedByPlugin: saved,
      heapGrowthBytesPer100kRequests: heapGrowth.map((bytes) => Math.round((bytes / Math.max(1, requests / 2)) * 100_000)),
      fds: after.map((r, i) => ({ before: (before[i] as ProcessReport).fds, after: r.fds })),
      fdsOtherThanSockets: after.map((r, i) => ({ before: (before[i] as ProcessReport).otherFds, after: r.otherFds })),
      memcachedSockets: after.map((r, i) => ({ before: (before[i] as ProcessReport).outgoingSockets, after: r.outgoingSockets })),
      handlesOtherThanSockets: after.map((r, i) => ({ before: (before[i] as ProcessReport).handlesExceptSockets, after: r.handlesExceptSockets })),
      relocated: after.reduce((sum, r) => sum + r.stats.relocated, 0),
      restored: after.reduce((sum, r) => sum + r.stats.restored, 0),
      totalEntries: acknowledged
    }
    console.log(JSON.stringify(result, null, 2))
    const problems: string[] = []
    if (lostDuring > 0 || lostAtEnd > 0) problems.push(`lost writes: ${lostDuring} during the run, ${lostAtEnd} sessions wrong at the end`)
    if (saved !== acknowledgedSince) problems.push(`the plugin saved ${saved} times for ${acknowledgedSince} acknowledged writes`)
    for (const [i, r] of after.entries()) {
      // HTTP sockets follow the load generator's keep-alive connections, and
      // memcached sockets the pools (up to poolSize per node, re-opened after
      // a fault): neither is a leak while it stays in its bound.
      const was = before[i] as ProcessReport
      if (r.otherFds > was.otherFds + 10) problems.push(`app ${i}: file descriptors other than sockets ${was.otherFds} -> ${r.otherFds}`)
      if (r.handlesExceptSockets > was.handlesExceptSockets + 10) problems.push(`app ${i}: handles other than sockets ${was.handlesExceptSockets} -> ${r.handlesExceptSockets}`)
      if (r.outgoingSockets > MEMCACHED_SOCKETS_BOUND) problems.push(`app ${i}: ${r.outgoingSockets} memcached sockets, more than ${MEMCACHED_SOCKETS_BOUND} (3 nodes × poolSize)`)
    }
    if (!short) {
      writeFileSync(join(__dirname, '..', '..', 'benchmarks', 'results', 'soak.json'), JSON.stringify(result, null, 2) + '\n')
    }
    if (problems.length > 0) {
      console.error(`soak FAILED:\n- ${problems.join('\n- ')}`)
      process.exitCode = 1
    } else {
      console.log('soak passed: 0 lost writes, counters reconcile, no descriptor or handle leak')
    }
  } finally {
    control.stopping = true
    await Promise.all(apps.map((app) => app.stop()))
    await cluster.stop()
  }
}

interface Reader { client: CookieClient, acknowledged: number, lost: boolean, mismatches: number }

/** Every reader reads (never writes) its session on a random app for `ms`; returns the number of reads. */
async function readOnlyPhase (readers: Reader[], bases: string[], ms: number): Promise<number> {
  const deadline = Date.now() + ms
  let reads = 0
  await Promise.all(readers.map(async (reader) => {
    while (Date.now() < deadline) {
      reader.client.base = bases[Math.floor(Math.random() * bases.length)] as string
      const response = await reader.client.get('/read').catch(() => null)
      reads++
      if (response === null || response.status !== 200) continue
      if (response.body.n !== reader.acknowledged) {
        reader.mismatches++
        reader.lost = true
      }
    }
  }))
  return reads
}

async function allUp (bases: string[]): Promise<void> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline && !(await Promise.all(bases.map(report))).every((r) => r.stats.nodes.every((node) => node.state === 'up'))) await sleep(100)
}

/** 3 memcached nodes and 2 app processes on them with `options`, all stopped once `run` settles. */
async function onSoakCluster (options: object, run: (cluster: MemcachedCluster, bases: string[]) => Promise<void>): Promise<void> {
  const cluster = await startCluster(3)
  const settings = { nodes: cluster.spec, ...options }
  const apps = await Promise.all([startAppProcess(settings), startAppProcess(settings)])
  try {
    await run(cluster, apps.map((app) => app.base))
  } finally {
    await Promise.all(apps.map((app) => app.stop()))
    await cluster.stop()
  }
}

/** The --backup-faults variant: backup nodes die, sessions are only read, then their primaries die. */
async function backupFaultSoak (): Promise<void> {
  const rounds = short ? 5 : 15
  const faults: string[] = []
  const started = Date.now()
  let reads = 0
  let writes = 0
  await onSoakCluster({ operationTimeout: 300, nodeRetryInterval: 200, maxInactiveInterval: 60, touchInterval: 1 }, async (cluster, bases) => {
    const readers: Reader[] = Array.from({ length: CLIENTS }, () => ({ client: new CookieClient(bases[0] as string), acknowledged: 0, lost: false, mismatches: 0 }))
    for (let round = 0; round < rounds; round++) {
      // Every session written once: two fresh copies
      await Promise.all(readers.map(async (reader) => {
        const response = await reader.client.get('/count')
        if (response.status === 200) {
          reader.acknowledged = response.body.n
          writes++
        }
      }))
      const nodes = cluster.nodes
      const backup = nodes[round % 3] as typeof nodes[number]
      // The node whose sessions have their backup on `backup`: the one before it
      const primary = nodes[(round + 2) % 3] as typeof nodes[number]
      const restartEmpty = round % 2 === 1
      await backup.kill()
      if (restartEmpty) await backup.start()
      faults.push(`round ${round}: SIGKILL backup node ${backup.id}${restartEmpty ? ', restarted empty' : ', left down'}; reads only; SIGKILL primary ${primary.id}`)
      reads += await readOnlyPhase(readers, bases, 1500)
      await primary.kill()
      reads += await readOnlyPhase(readers, bases, 1000)
      await Promise.all((restartEmpty ? [primary] : [primary, backup]).map((node) => node.start()))
      await allUp(bases)
    }
    reads += await readOnlyPhase(readers, bases, 500)
    const after = await Promise.all(bases.map(report))
    const sum = (name: string): number => after.reduce((total, r) => total + ((r.stats as unknown as Record<string, number>)[name] ?? 0), 0)
    const result = {
      mode: 'backup-faults',
      rounds,
      seconds: Math.round((Date.now() - started) / 1000),
      sessions: readers.length,
      acknowledgedWrites: writes,
      reads,
      faults,
      sessionsLost: readers.filter((reader) => reader.lost).length,
      wrongReads: readers.reduce((total, reader) => total + reader.mismatches, 0),
      relocated: sum('relocated'),
      restored: sum('restored'),
      backupsRecreated: sum('backupsRecreated'),
      backupFailures: sum('backupFailures'),
      singleCopyWrites: sum('singleCopyWrites')
    }
    console.log(JSON.stringify(result, null, 2))
    if (result.sessionsLost > 0) {
      console.error(`soak FAILED: ${result.sessionsLost} sessions lost (${result.wrongReads} wrong reads)`)
      process.exitCode = 1
    } else {
      console.log('soak passed: 0 sessions lost to backup-node faults followed by primary faults')
    }
  })
}

interface Writer { client: CookieClient, acknowledged: number, lost: boolean }

/** Every writer increments its session on a random app until `control.stopping`; a 200 is an acknowledged write. */
async function writeLoop (writers: Writer[], bases: string[], control: { stopping: boolean }): Promise<number> {
  let writes = 0
  await Promise.all(writers.map(async (writer) => {
    while (!control.stopping) {
      writer.client.base = bases[Math.floor(Math.random() * bases.length)] as string
      const response = await writer.client.get('/count').catch(() => null)
      if (response === null || response.status !== 200) continue
      // A write that failed after storing (no 200) may have counted once more, never less
      if (response.body.n <= writer.acknowledged) writer.lost = true
      writer.acknowledged = response.body.n
      writes++
    }
  }))
  return writes
}

/** The --close-faults variant: a backup node, then the primary of its sessions, die within one touchInterval. */
async function closeFaultSoak (): Promise<void> {
  const rounds = short ? 5 : 15
  const gapMs = 400
  // No touch is due between the two faults (nor during the whole soak)
  const touchInterval = 30
  const faults: string[] = []
  const started = Date.now()
  let reads = 0
  let writes = 0
  await onSoakCluster({ maxInactiveInterval: 120, touchInterval, storeFailurePolicy: 'fail', operationTimeout: 300, nodeRetryInterval: 200 }, async (cluster, bases) => {
    // Readers on one process, writers on the other: the readers' process learns of the faults by itself
    const [readerBase, writerBase] = bases as [string, string]
    const readers: Reader[] = Array.from({ length: CLIENTS / 2 }, () => ({ client: new CookieClient(readerBase), acknowledged: 0, lost: false, mismatches: 0 }))
    const writers: Writer[] = Array.from({ length: CLIENTS / 2 }, () => ({ client: new CookieClient(writerBase), acknowledged: 0, lost: false }))
    for (let round = 0; round < rounds; round++) {
      const nodes = cluster.nodes
      const backup = nodes[round % 3] as typeof nodes[number]
      const primary = nodes[(round + 2) % 3] as typeof nodes[number]
      // Each reader gets a session whose primary is `primary` (so its backup is on `backup`), written once, then only read
      await Promise.all(readers.map(async (reader) => {
        do {
          reader.client = new CookieClient(readerBase)
          reader.acknowledged = (await reader.client.get('/count')).body.n
        } while (nodeOf(idOf(reader.client)) !== primary.id)
      }))
      const restartEmpty = round % 2 === 1
      const control = { stopping: false }
      const writing = writeLoop(writers, [writerBase], control)
      const reading = readOnlyPhase(readers, [readerBase], gapMs + 1500)
      await sleep(200)
      await backup.kill()
      if (restartEmpty) await backup.start()
      await sleep(gapMs)
      await primary.kill()
      faults.push(`round ${round}: SIGKILL backup node ${backup.id}${restartEmpty ? ', restarted empty' : ', left down'}; ${gapMs} ms later SIGKILL primary ${primary.id}`)
      reads += await reading
      control.stopping = true
      writes += await writing
      await Promise.all((restartEmpty ? [primary] : [primary, backup]).map((node) => node.start()))
      await allUp(bases)
    }
    const result = {
      mode: 'close-faults',
      rounds,
      gapMs,
      touchIntervalSeconds: touchInterval,
      seconds: Math.round((Date.now() - started) / 1000),
      readOnlySessions: readers.length,
      writtenSessions: writers.length,
      reads,
      acknowledgedWrites: writes,
      faults,
      readOnlySessionsLost: readers.filter((reader) => reader.lost).length,
      writtenSessionsLost: writers.filter((writer) => writer.lost).length
    }
    console.log(JSON.stringify(result, null, 2))
    if (result.readOnlySessionsLost + result.writtenSessionsLost > 0) {
      console.error(`soak FAILED: ${result.readOnlySessionsLost} read-only and ${result.writtenSessionsLost} written sessions lost`)
      process.exitCode = 1
    } else {
      console.log('soak passed: 0 sessions lost to two node faults within one touchInterval')
    }
  })
}

;(closeFaults ? closeFaultSoak() : backupFaults ? backupFaultSoak() : main()).catch((error) => {
  console.error(error)
  process.exit(1)
})
