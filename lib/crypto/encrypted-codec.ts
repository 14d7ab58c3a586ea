import type { Attributes } from '../types/index.js'
import { type DecodeResult, type SealedWith, type SessionCodec, type SessionMeta, type ValueBytesCodec, textToBytes } from '../serialization/codec-format.js'
import { ENCRYPTED_FORMAT } from './envelope-format.js'
import { open, seal } from './envelope.js'
import type { KeyRing } from './key-ring.js'
import { OpenedValues } from './opened-values.js'

/** The last envelope of each recent session, kept to skip decrypting the same stored text again (docs/security.md#cost). */
const OPENED_LIMITS = { entries: 10_000, bytes: 16 * 1024 * 1024, entryBytes: 64 * 1024 }

/**
 * Option `encryption`: every value is sealed (format 3) around the bytes of
 * the serializer's format, for the session id it is stored under. Everything
 * else (attributes, change detection, validation) is the inner codec's, so
 * encryption is one layer on the way to and from memcached.
 */
export class EncryptedSessionCodec implements SessionCodec {
  readonly keysUnchanged: SessionCodec['keysUnchanged']
  readonly #inner: ValueBytesCodec
  readonly #ring: KeyRing
  readonly #opened = new OpenedValues(OPENED_LIMITS)

  constructor (inner: ValueBytesCodec, ring: KeyRing) {
    this.#inner = inner
    this.#ring = ring
    this.keysUnchanged = inner.keysUnchanged
  }

  emptyAttributes (): Attributes {
    return this.#inner.emptyAttributes()
  }

  validate (key: string, value: unknown): void {
    this.#inner.validate(key, value)
  }

  encodeAttributes (attributes: Attributes): Buffer {
    return this.#inner.encodeAttributes(attributes)
  }

  decodeAttributes (attributesBytes: Buffer): Attributes {
    return this.#inner.decodeAttributes(attributesBytes)
  }

  encodeValue (meta: SessionMeta, attributesBytes: Buffer): string {
    const bytes = this.#inner.encodeBytes(meta, attributesBytes)
    if (this.#ring.plaintext.write) return bytes.toString('base64')
    const key = this.#ring.current
    const text = seal(key, meta.id, bytes).toString('base64')
    this.#opened.remember(text, { sessionId: meta.id, keyId: key.id, plaintext: bytes })
    return text
  }

  /** A value that is not an authentic envelope for `sessionId` is refused as tampered, never partly read. */
  decodeValue (stored: unknown, sessionId: string): DecodeResult {
    const known = typeof stored === 'string' ? this.#opened.find(stored, sessionId) : undefined
    if (known !== undefined) return this.#decodeOpened(known.plaintext, known.keyId)
    const bytes = textToBytes(stored)
    if (bytes === null) return { ok: false, reason: 'the value is not text', tampered: true }
    if (bytes[0] !== ENCRYPTED_FORMAT) {
      if (!this.#ring.plaintext.accept) return { ok: false, reason: 'a value without encryption (encryption.acceptPlaintext is off)', tampered: true }
      return sealedWith(this.#inner.decodeBytes(bytes), 'plaintext')
    }
    const opened = open(this.#ring, sessionId, bytes)
    if (!opened.ok) return { ok: false, reason: opened.reason, tampered: true }
    this.#opened.remember(stored as string, { sessionId, keyId: opened.key.id, plaintext: opened.plaintext })
    return this.#decodeOpened(opened.plaintext, opened.key.id)
  }

  #decodeOpened (plaintext: Buffer, keyId: string): DecodeResult {
    const decoded = this.#inner.decodeBytes(plaintext)
    return keyId === this.#ring.current.id ? decoded : sealedWith(decoded, 'older-key')
  }
}

function sealedWith (decoded: DecodeResult, how: SealedWith): DecodeResult {
  return decoded.ok === false ? decoded : { ...decoded, sealedWith: how }
}
