import type { FastifyRequest } from 'fastify'
import type { ParsedSessionId } from '../ids/session-id.js'
import type { SessionState } from './session-state.js'
import type { Lifetimes } from './expiry.js'

/** What sticky mode remembers of a session it holds, for its writes and touches. */
export interface LocalRecord {
  /** The last write or touch sent to memcached, which set its TTL (ms since the epoch). */
  extendedAt: number
  /** The attribute bytes and time of the last write sent to memcached. */
  storedBytes: Buffer
  storedAt: number
}

/** A session held in this process, as a request adopts it (state-changes.ts adoptHeld). */
export interface HeldSession extends LocalRecord {
  nodeId: string
  createdAt: number
  /** Its lifetimes as stored (shared and immutable). */
  lifetimes: Lifetimes
}

/**
 * Sticky mode's part in the request flow (lib/sticky/sticky-sessions.ts):
 * sessions held in this process, memcached as their backup. In non-sticky
 * mode the manager and persistence hold no strategy at all.
 */
export interface StickyStrategy {
  /** Serves the session from this process. False when the process does not hold it. */
  open: (state: SessionState, parsed: ParsedSessionId) => Promise<boolean>
  /** A session just loaded from memcached: take it over from another route, move it off an unfit node. */
  claim: (state: SessionState, parsed: ParsedSessionId, request: FastifyRequest) => void
  /** Holds the session in this process under its current id, after a request that writes it as `bytes`. */
  keepWritten: (state: SessionState, bytes: Buffer, now: number) => LocalRecord
  /**
   * Holds the session after a request that only read it. A copy held since
   * by a concurrent request of this process may be newer: it is kept then.
   */
  keepRead: (state: SessionState, bytesOf: (state: SessionState) => Buffer, now: number) => LocalRecord
  forget: (id: string) => void
}
