import type { FastifyRequest } from 'fastify'
import type { ParsedSessionId } from '../ids/session-id.js'
import type { SessionState } from './session-state.js'

/** What sticky mode remembers of a session it holds, for its writes and touches. */
export interface LocalRecord {
  /** The last write or touch sent to memcached, which set its TTL (ms since the epoch). */
  extendedAt: number
  /** The attribute bytes and time of the last write sent to memcached. */
  storedBytes: Buffer
  storedAt: number
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
  /**
   * Holds the session in this process under its current id, after the
   * request. `changed`: the request writes the session (else a copy held
   * since by a concurrent request of this process may be newer).
   */
  keep: (state: SessionState, storedBytes: () => Buffer, now: number, changed: boolean) => LocalRecord
  forget: (id: string) => void
}
