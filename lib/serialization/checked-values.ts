import type { MapEntry } from './avro-bounds.js'
import type { SessionMeta } from './codec-format.js'

/** A stored value that passed the bounds check, taken apart. Never changed once made: every read builds its own objects from it. */
export interface CheckedValue {
  readonly bytes: Buffer
  readonly meta: Readonly<SessionMeta>
  /** Where the attribute map starts in `bytes`. */
  readonly attributesOffset: number
  readonly entries: readonly MapEntry[]
}

interface Entry {
  /** The whole stored text: a hit must match it exactly. */
  text: string
  /** null: the session was read once, and not written since; its next read is remembered. */
  value: CheckedValue | null
  cost: number
}

/** The session's first read: only that it was read, so that a session written on every request retains nothing. */
const READ_ONCE: Entry = { text: '', value: null, cost: 0 }

/** At most 10,000 sessions and 16 MiB (text and bytes), none above 64 KiB: about 6 MiB for 10,000 sessions of 1 KB. */
export const CHECKED_VALUE_LIMITS = { entries: 10_000, bytes: 16 * 1024 * 1024, entryBytes: 64 * 1024 }

/**
 * The last stored value of each session that this process read and checked.
 * memcached hands back the same text on every read of an unchanged session,
 * and decoding it again (base64, the bounds check of every byte, the meta
 * fields) would give the same result: a text found here character for
 * character, under the same session id, is one that passed the check, so it
 * is taken apart again without a check. A changed value (a write anywhere, a
 * hostile one) is a different text, and is checked in full. One entry per
 * session (a new value replaces the old one), bounded by entries and bytes;
 * the least recently remembered goes first. A value is kept from a session's
 * second read on, and a session is forgotten when it is encoded anew: a
 * session written on every request costs a mark, not a copy of its value
 * that would live on as old garbage.
 */
export class CheckedValues {
  readonly #bySession = new Map<string, Entry>()
  #bytes = 0

  get size (): number {
    return this.#bySession.size
  }

  find (text: string, sessionId: string): CheckedValue | undefined {
    const entry = this.#bySession.get(sessionId)
    return entry?.value !== null && entry?.text === text ? entry.value : undefined
  }

  /** Remembers `value` on the session's second read without a write between (the first leaves a mark only). */
  remember (text: string, sessionId: string, value: CheckedValue): void {
    const readBefore = this.#bySession.has(sessionId)
    this.#forget(sessionId)
    const cost = readBefore ? text.length + value.bytes.length : 0
    if (cost > CHECKED_VALUE_LIMITS.entryBytes) return
    while (this.#bySession.size > 0 && (this.#bySession.size >= CHECKED_VALUE_LIMITS.entries || this.#bytes + cost > CHECKED_VALUE_LIMITS.bytes)) {
      this.#forget(this.#bySession.keys().next().value as string)
    }
    this.#bySession.set(sessionId, readBefore ? { text, value, cost } : READ_ONCE)
    this.#bytes += cost
  }

  /** Drops the session's value: it is being written anew (a remembered value would live on as old garbage). */
  forget (sessionId: string): void {
    this.#forget(sessionId)
  }

  #forget (sessionId: string): void {
    const entry = this.#bySession.get(sessionId)
    if (entry === undefined) return
    this.#bySession.delete(sessionId)
    this.#bytes -= entry.cost
  }
}
