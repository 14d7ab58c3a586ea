/** What one remembered envelope opens to. */
export interface Opened {
  sessionId: string
  keyId: string
  plaintext: Buffer
}

interface Entry {
  /** The whole stored text: a hit must match it exactly, not only its tag. */
  text: string
  sessionId: string
  keyId: string
  /** The plaintext as a latin1 string: heap memory, cheaper to keep and collect than a Buffer's native memory. */
  plaintext: string
}

/** Characters at the end of a stored text that encode the GCM tag: a short, unpredictable lookup key. */
const TAG_CHARACTERS = 24

/**
 * Envelopes this process sealed or opened, by their exact stored text, with
 * what they open to. memcached hands the same text back on every read of an
 * unchanged session, and decrypting it again would give the same bytes: a
 * text found here, byte for byte, for the same session id, is one that came
 * from or passed AES-GCM with a key of the ring (which never changes while
 * the process runs), so it is opened without a decryption. Bounded by entries
 * and by bytes; the oldest goes first.
 */
export class OpenedValues {
  readonly #byTag = new Map<string, Entry>()
  /** Lookup keys in insertion order, a circular queue from #oldest: eviction is O(1). */
  readonly #order: Array<string | undefined>
  #oldest = 0
  #bytes = 0
  readonly #maxBytes: number
  readonly #maxEntryBytes: number

  constructor (limits: { entries: number, bytes: number, entryBytes: number }) {
    this.#order = new Array<string | undefined>(limits.entries)
    this.#maxBytes = limits.bytes
    this.#maxEntryBytes = limits.entryBytes
  }

  get size (): number {
    return this.#byTag.size
  }

  get bytes (): number {
    return this.#bytes
  }

  /** The plaintext of `text` when it was remembered for `sessionId`, as a copy of the caller's own. */
  find (text: string, sessionId: string): { plaintext: Buffer, keyId: string } | undefined {
    const entry = this.#byTag.get(text.slice(-TAG_CHARACTERS))
    if (entry === undefined || entry.text !== text || entry.sessionId !== sessionId) return undefined
    return { plaintext: Buffer.from(entry.plaintext, 'latin1'), keyId: entry.keyId }
  }

  remember (text: string, opened: Opened): void {
    const cost = entryBytes(text, opened.plaintext)
    const tag = text.slice(-TAG_CHARACTERS)
    if (cost > this.#maxEntryBytes || this.#byTag.has(tag)) return
    while (this.#byTag.size > 0 && (this.#byTag.size === this.#order.length || this.#bytes + cost > this.#maxBytes)) this.#evictOldest()
    this.#byTag.set(tag, { text, sessionId: opened.sessionId, keyId: opened.keyId, plaintext: opened.plaintext.toString('latin1') })
    this.#order[(this.#oldest + this.#byTag.size - 1) % this.#order.length] = tag
    this.#bytes += cost
  }

  #evictOldest (): void {
    const tag = this.#order[this.#oldest] as string
    this.#order[this.#oldest] = undefined
    this.#oldest = (this.#oldest + 1) % this.#order.length
    const entry = this.#byTag.get(tag) as Entry
    this.#byTag.delete(tag)
    this.#bytes -= entryBytes(entry.text, entry.plaintext)
  }
}

/** Both are one byte per character (base64, latin1). */
function entryBytes (text: string, plaintext: { length: number }): number {
  return text.length + plaintext.length
}
