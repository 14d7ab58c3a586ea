import Memcached from 'memcached'
import type { Done, MemcachedTransport, ServerInstance } from './transport.js'

/**
 * @internal The published types never name the `memcached` package, whose
 * types are only a devDependency.
 *
 * `memcached` client (2.2.2) options chosen around its measured traps; each
 * trap and the test that guards it are listed in docs/dependencies.md:
 * - a single server per client, so its hashing, failover and `remove` never act;
 * - pool pulls are retried briefly, so a cold burst never fails with
 *   "connection pool is full";
 * - its issue log is replaced (see disableIssueLog), so it never marks a node
 *   dead on its own and never spawns `ping`; `failures`, `retry` and
 *   `failuresTimeout` are set defensively in case that changes;
 * - `failuresTimeout` is short because its timer is not unref'd and would hold
 *   the process open after `end()`.
 */
export function clientOptions (operationTimeout: number): Memcached.options {
  // @types/memcached omits the pool-pull retry tuning and failuresTimeout
  const options: Memcached.options & { minTimeout: number, maxTimeout: number, factor: number, randomize: boolean, failuresTimeout: number } = {
    poolSize: 16,
    retries: 2,
    minTimeout: 10,
    maxTimeout: 10,
    factor: 1,
    randomize: false,
    timeout: operationTimeout,
    retry: 0,
    failures: Number.MAX_SAFE_INTEGER,
    failuresTimeout: 500,
    reconnect: 1000,
    remove: false,
    idle: 30_000,
    keyCompression: false
  }
  return options
}

/** The `memcached` client as a transport: one client per node, its traps disarmed. */
export function createMemcachedTransport (address: string, operationTimeout: number): MemcachedTransport {
  const client = new Memcached(address, clientOptions(operationTimeout))
  let ended = false
  let listener: (reason: string) => void = () => {}
  const report = (reason: string): void => { if (!ended) listener(reason) }
  disableIssueLog(client, report)
  reportServerCloses(client, report)
  return {
    get: (key, done) => client.get(key, done),
    set: (key, value, lifetime, done) => client.set(key, value, lifetime, done as Done<unknown>),
    replace: (key, value, lifetime, done) => client.replace(key, value, lifetime, notStoredIsFalse(done)),
    add: (key, value, lifetime, done) => client.add(key, value, lifetime, notStoredIsFalse(done)),
    touch: (key, lifetime, done) => client.touch(key, lifetime, done as (error: unknown) => void),
    delete: (key, done) => client.del(key, done as Done<unknown>),
    instance: (done) => client.stats((error: unknown, answers: unknown) => {
      // A server that does not know `stats` (ERROR) answered all the same: it is alive, with no identity
      if (isErrorAnswer(error)) done(undefined, null)
      else if (error) done(error)
      else done(undefined, serverInstance(answers))
    }),
    onConnectionLost: (next) => { listener = next },
    end: () => {
      ended = true
      client.end()
    }
  }
}

/** The pid and start time in the client's parsed `stats` answer (one server: an array of one). */
export function serverInstance (answers: unknown): ServerInstance | null {
  const stats = Array.isArray(answers) ? answers[0] as Record<string, unknown> | undefined : undefined
  const pid = Number(stats?.pid)
  const startedAt = Number(stats?.time) - Number(stats?.uptime)
  return Number.isSafeInteger(pid) && Number.isSafeInteger(startedAt) ? { pid, startedAt } : null
}

/** The client reports memcached's NOT_STORED as an error; it is an answer. */
function notStoredIsFalse (done: Done<boolean>): (error: unknown, result: unknown) => void {
  return (error, result) => {
    if (isNotStored(error)) done(undefined, false)
    else done(error, result as boolean)
  }
}

/**
 * The client's own failure tracking (its IssueLog) marks servers dead, and a
 * second failure while it is "locked" schedules a reconnect that spawns the
 * system `ping`, whatever `failures` says: an uncaught ENOENT on machines
 * without ping. NodeClient tracks health itself, so each connection issue
 * (refused, reset, a socket error) only closes the socket, as the client's
 * own handler does first, and is reported.
 */
function disableIssueLog (client: Memcached, report: (reason: string) => void): void {
  (client as unknown as { connectionIssue: (error: unknown, socket?: { end?: () => void }) => void }).connectionIssue =
    (error, socket) => {
      socket?.end?.()
      report(String(error))
    }
}

interface ClientSocket {
  writableEnded: boolean
  prependListener: (event: 'end', listener: () => void) => void
}

/**
 * A server that exits closes its connections (a FIN, not an error): the
 * client then only drops the socket from its pool, and calls back nothing for
 * the commands that were in flight. Every pooled socket passes through the
 * client's connect(), so it is watched there. A socket this side ended first
 * (an idle one, or end()) is not reported.
 */
function reportServerCloses (client: Memcached, report: (reason: string) => void): void {
  const internals = client as unknown as { connect: (server: string, callback: (error: unknown, socket?: ClientSocket) => void) => void }
  const connect = internals.connect
  const watched = new WeakSet<ClientSocket>()
  internals.connect = function (server, callback) {
    connect.call(this, server, (error, socket) => {
      if (socket !== undefined && typeof socket.prependListener === 'function' && !watched.has(socket)) {
        watched.add(socket)
        socket.prependListener('end', () => { if (!socket.writableEnded) report('connection closed by the server') })
      }
      callback(error, socket)
    })
  }
}

/** memcached's ERROR answer, as the client reports it (in an array, for `stats`). */
function isErrorAnswer (error: unknown): boolean {
  const first: unknown = Array.isArray(error) ? error[0] : error
  return first instanceof Error && first.message === 'Received an ERROR response'
}

function isNotStored (error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { notStored?: unknown }).notStored === true
}
