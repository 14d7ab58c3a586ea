// Every diagnostics_channel fastify-msm publishes, in one file, with its
// payload (docs/monitoring.md#tracing lists them). Tracing channels follow
// Fastify's naming (`tracing:fastify.request.handler`): each name below gives
// the five channels `tracing:<name>:start`, `:end`, `:asyncStart`,
// `:asyncEnd` and `:error`. Payloads never carry a session id or an attribute
// value: a session appears as its hashed log id at most.
import { channel, type TracingChannel, tracingChannel } from 'node:diagnostics_channel'
import type { FastifyRequest } from 'fastify'

/** What every session event carries. */
export interface SessionEventBase {
  /** The request, when the event belongs to one. */
  request: FastifyRequest | null
  /** The session's hashed log id (the same as in log lines), never the id itself. */
  session: string
}

/** `fastify-msm.session.load`: a session is read from memcached. */
export interface LoadEvent extends SessionEventBase {
  /** The primary node named in the id. */
  nodeId: string
  /** Set at the end: where it was found (primary, backup, restored, relocated), or why not. */
  outcome?: 'primary' | 'backup' | 'restored' | 'relocated' | 'missing' | 'corrupt' | 'unavailable' | 'primary-failed'
  /** Set at the end: the stored value's length in characters, when one was read. */
  bytes?: number
}

/** `fastify-msm.session.save`: a session is written (both copies). */
export interface SaveEvent extends SessionEventBase {
  nodeId: string
  /** The stored value's length in characters. */
  bytes: number
  /** replace: a loaded session (a concurrent destroy is not undone); set: a new, moved or repaired one. */
  command: 'set' | 'replace'
  /** Set at the end: stored, gone (destroyed meanwhile) or failed; and how many copies were stored. */
  outcome?: 'stored' | 'gone' | 'failed'
  copies?: number
}

/** `fastify-msm.session.touch`: an unchanged session's lifetime is extended on both copies. */
export interface TouchEvent extends SessionEventBase {
  nodeId: string
  /** Seconds. */
  lifetime: number
  /** Set at the end. */
  outcome?: 'touched' | 'failed'
}

/** `fastify-msm.lock.acquire`: a request waits for its session's lock. */
export interface LockEvent extends SessionEventBase {
  nodeId: string
  /** Set at the end. */
  outcome?: 'acquired' | 'timeout' | 'unavailable'
  waitedMs?: number
}

/** `fastify-msm.session.relocated`: a session moved to a new id on another node (a plain channel). */
export interface RelocatedEvent extends SessionEventBase {
  /** The old session's hashed log id. */
  from: string
  fromNode: string
  toNode: string
  /** What moved it. */
  cause: 'load' | 'write' | 'sticky'
}

/** `fastify-msm.node.state`: a node went down, came back or restarted (a plain channel). */
export interface NodeStateEvent {
  nodeId: string
  host: string
  port: number
  change: 'down' | 'up' | 'restarted'
  detectedBy: string | null
  error: string | null
}

/**
 * `fastify-msm.node.operation`: one memcached command (the names of
 * OpenTelemetry's database conventions: db.operation.name, server.address,
 * server.port). The key is not carried: it holds the session id.
 */
export interface NodeOperationEvent {
  nodeId: string
  host: string
  port: number
  /** The memcached command: get, set, replace, add, touch, delete or stats. */
  command: string
  /** The value's length in characters, for commands that send one. */
  bytes?: number
  /** Set at the end: hit or miss (get), stored or not-stored (set, replace, add), touched, deleted, found (a miss of touch or delete is not-found), answered (stats). Errors end on the error channel. */
  outcome?: string
}

/** The names of every channel, for subscribers (docs/monitoring.md#tracing); exported as DIAGNOSTICS_CHANNELS. */
export const CHANNEL_NAMES = Object.freeze({
  /** TracingChannels: subscribe with diagnostics_channel.tracingChannel(name).subscribe({ start, end, asyncStart, asyncEnd, error }). */
  tracing: Object.freeze(['fastify-msm.session.load', 'fastify-msm.session.save', 'fastify-msm.session.touch', 'fastify-msm.lock.acquire', 'fastify-msm.node.operation'] as const),
  /** Plain channels: subscribe with diagnostics_channel.subscribe(name, listener). */
  plain: Object.freeze(['fastify-msm.session.relocated', 'fastify-msm.node.state'] as const)
})

export const CHANNELS = {
  load: tracingChannel<unknown, LoadEvent>('fastify-msm.session.load'),
  save: tracingChannel<unknown, SaveEvent>('fastify-msm.session.save'),
  touch: tracingChannel<unknown, TouchEvent>('fastify-msm.session.touch'),
  lock: tracingChannel<unknown, LockEvent>('fastify-msm.lock.acquire'),
  operation: tracingChannel<unknown, NodeOperationEvent>('fastify-msm.node.operation'),
  relocated: channel('fastify-msm.session.relocated'),
  nodeState: channel('fastify-msm.node.state')
} as const

/** A memcached command on a node, traced on `fastify-msm.node.operation` (its caller checked hasSubscribers). */
export function traceOperation<T> (node: { id: string, host: string, port: number }, command: string, value: string | null, run: () => Promise<T>): Promise<T> {
  const event: NodeOperationEvent = { nodeId: node.id, host: node.host, port: node.port, command }
  if (value !== null) event.bytes = value.length
  return traceQuietly(CHANNELS.operation, event, run, finishOperation)
}

function finishOperation (event: NodeOperationEvent, result: unknown): void {
  event.outcome = outcomeOf(event.command, result)
}

/**
 * Runs `work` traced on `channel` with `event`, as TracingChannel.tracePromise
 * does (start and end around the call, in the stores bound to start; error,
 * asyncStart and asyncEnd once it settles), and `finish` sets the event's end
 * fields from its result before asyncStart (a function made once: no closure per call). Unlike tracePromise it leaves the
 * result out of the event: a load's result is the session itself.
 */
export function traceQuietly<T, E extends object> (channel: TracingChannel<unknown, E>, event: E, work: () => Promise<T>, finish: (event: E, result: T) => void): Promise<T> {
  return channel.start.runStores(event, () => {
    let settled: Promise<T>
    try {
      settled = contextRunner === null ? work() : contextRunner(event, work)
    } catch (error) {
      (event as { error?: unknown }).error = error
      channel.error.publish(event)
      throw error
    } finally {
      channel.end.publish(event)
    }
    return settled.then((result) => {
      finish(event, result)
      channel.asyncStart.publish(event)
      channel.asyncEnd.publish(event)
      return result
    }, (error: unknown) => {
      (event as { error?: unknown }).error = error
      channel.error.publish(event)
      channel.asyncStart.publish(event)
      channel.asyncEnd.publish(event)
      throw error
    })
  })
}

/**
 * Runs a traced event's work in a tracer's context, where the tracer's
 * subscriber made one (OpenTelemetry's context.with: lib/monitoring/tracing.ts),
 * so that what the work does (memcached commands) nests under the event's
 * span. diagnostics_channel's bindStore cannot do this for OpenTelemetry,
 * whose AsyncLocalStorage is not public. Set while tracing is on, else null.
 */
export type ContextRunner = <T>(event: object, work: () => Promise<T>) => Promise<T>

let contextRunner: ContextRunner | null = null

export function setContextRunner (runner: ContextRunner | null): void {
  contextRunner = runner
}

/** What a command's answer says, in the words of NodeOperationEvent.outcome. */
function outcomeOf (command: string, result: unknown): string {
  switch (command) {
    case 'get': return result === undefined ? 'miss' : 'hit'
    case 'touch': return result === true ? 'touched' : 'not-found'
    case 'delete': return result === true ? 'deleted' : 'not-found'
    default: return result === true ? 'stored' : 'not-stored'
  }
}
