/** What one remembered envelope opens to. */
export interface Opened {
  sessionId: string
  keyId: string
  plaintext: Buffer
}

interface Entry {
  /** The whole stored text: a hit must match it exactly. */
  text: string
  keyId: string
  /** The plaintext as a latin1 string: heap memory, cheaper to keep and collect than a Buffer's native memory. */
  plaintext: string
}

/**
 * The last envelope each session's value was sealed into or opened from, in
 * this process, with what it opens to. memcached hands the same text back on
 * every read of an unchanged session, and decrypting it again would give the
 * same bytes: a text found here byte for byte, under the same session id, is
 * one that came from or passed AES-GCM with a key of the ring (which never
 * changes while the process runs), so it is opened without a decryption. One
 * entry per session (a new value replaces the old one), bounded by entries and
 * by bytes; the least recently remembered goes first.
 */
export class OpenedValues {
  readonly #bySession = new Map<string, Entry>()
  readonly #maxEntries: number
  readonly #maxBytes: number
  readonly #maxEntryBytes: number
  #bytes = 0

  constructor (limits: { entries: number, bytes: number, entryBytes: number }) {
    this.#maxEntries = limits.entries
    this.#maxBytes = limits.bytes
    this.#maxEntryBytes = limits.entryBytes
  }

  get size (): number {
    return this.#bySession.size
  }

  get bytes (): number {
    return this.#bytes
  }

  /** The plaintext of `text` when it is what was remembered for `sessionId`, as a Buffer of the caller's own. */
  find (text: string, sessionId: string): { plaintext: Buffer, keyId: string } | undefined {
    const entry = this.#bySession.get(sessionId)
    if (entry === undefined || entry.text !== text) return undefined
    return { plaintext: Buffer.from(entry.plaintext, 'latin1'), keyId: entry.keyId }
  }

  remember (text: string, opened: Opened): void {
    this.#forget(opened.sessionId)
    const cost = text.length + opened.plaintext.length
    if (cost > this.#maxEntryBytes) return
    while (this.#bySession.size > 0 && (this.#bySession.size >= this.#maxEntries || this.#bytes + cost > this.#maxBytes)) {
      this.#forget(this.#bySession.keys().next().value as string)
    }
    this.#bySession.set(opened.sessionId, { text, keyId: opened.keyId, plaintext: opened.plaintext.toString('latin1') })
    this.#bytes += cost
  }

  #forget (sessionId: string): void {
    const entry = this.#bySession.get(sessionId)
    if (entry === undefined) return
    this.#bySession.delete(sessionId)
    this.#bytes -= entry.text.length + entry.plaintext.length
  }
}
