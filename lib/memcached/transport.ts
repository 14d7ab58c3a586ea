/**
 * The memcached commands a node sends, answered through a callback the way the
 * server answered. NodeClient adds the per-operation timeout, the counts and
 * the node's health on top, so that any transport gets the same failure
 * handling: the `memcached` client (memcached-transport.ts) in production, an
 * in-memory server in tests (test/helpers/memory-memcached.ts).
 *
 * A callback may never come (a hung or killed server); NodeClient times it out.
 */
import type { NodeSpec } from '../types/index.js'

export type Done<T> = (error: unknown, result?: T) => void

/**
 * Who answers at a node's address: memcached's `stats` pid and start time
 * (`time - uptime`, whole seconds). A new value means the server restarted,
 * and lost every item. null when the server answered `stats` without them.
 */
export interface ServerInstance {
  pid: number
  startedAt: number
}

/**
 * @internal The test seam: `options[kTransport] = (spec) => transport` makes
 * every node of the plugin use that transport. A Symbol, so that it is no
 * option a user can set by accident (and the options check never sees it).
 */
export const kTransport = Symbol('fastify-msm.transport')

/** @internal */
export type TransportFactory = (spec: NodeSpec) => MemcachedTransport

export interface MemcachedTransport {
  /** The stored value, or undefined on a miss. */
  get: (key: string, done: Done<unknown>) => void
  /** true when stored. */
  set: (key: string, value: string, lifetime: number, done: Done<boolean>) => void
  /** false (and no error) when the key does not exist: memcached's NOT_STORED. */
  replace: (key: string, value: string, lifetime: number, done: Done<boolean>) => void
  /** false (and no error) when the key exists: memcached's NOT_STORED. */
  add: (key: string, value: string, lifetime: number, done: Done<boolean>) => void
  /** false when the key does not exist: memcached's NOT_FOUND. */
  touch: (key: string, lifetime: number, done: Done<boolean>) => void
  /** false when the key did not exist. */
  delete: (key: string, done: Done<boolean>) => void
  /**
   * The health check, one `stats`: the instance that answers (see
   * ServerInstance), or null when the answer does not name one.
   */
  instance: (done: Done<ServerInstance | null>) => void
  /**
   * `listener` is called when the server closes or resets a connection, or
   * refuses one: the node may have died. Never after end(), nor for
   * connections this side closes (idle ones).
   */
  onConnectionLost: (listener: (reason: string) => void) => void
  /** Closes the connections; no callback is due after it. */
  end: () => void
}
