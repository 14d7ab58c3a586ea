import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto'
import { CIPHER, ENCRYPTED_FORMAT, NONCE_BYTES, TAG_BYTES } from './envelope-format.js'
import type { KeyRing, SealingKey } from './key-ring.js'

/** Nonces are cut from a pool of random bytes refilled at once: one CSPRNG call per 256 writes. */
const NONCE_POOL_SIZE = NONCE_BYTES * 256
const noncePool = Buffer.alloc(NONCE_POOL_SIZE)
let nonceOffset = NONCE_POOL_SIZE

function freshNonce (): Buffer {
  if (nonceOffset === NONCE_POOL_SIZE) {
    randomFillSync(noncePool)
    nonceOffset = 0
  }
  // A view: it is copied into the cipher and the envelope at once, long before the pool is refilled
  const nonce = noncePool.subarray(nonceOffset, nonceOffset + NONCE_BYTES)
  nonceOffset += NONCE_BYTES
  return nonce
}

/** The associated data: the envelope header (format, key id) and the session id the value belongs to. */
function associatedData (header: Buffer, sessionId: string): Buffer {
  const data = Buffer.allocUnsafe(header.length + sessionId.length)
  header.copy(data)
  data.write(sessionId, header.length, 'latin1')
  return data
}

/** Every encryption's tag is 16 bytes; decryption refuses a shorter one. */
const TAG_OPTION = { authTagLength: TAG_BYTES }

/**
 * Encrypts `plaintext` (the bytes of a format 1 or 2 value) for `sessionId`
 * with `key`. `nonce` is for the documented test vector only: every write
 * takes a fresh random one.
 */
export function seal (key: SealingKey, sessionId: string, plaintext: Buffer, nonce: Buffer = freshNonce()): Buffer {
  const cipher = createCipheriv(CIPHER, key.secret, nonce, TAG_OPTION)
  cipher.setAAD(associatedData(key.header, sessionId))
  return Buffer.concat([key.header, nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
}

export type OpenResult =
  | { ok: true, plaintext: Buffer, key: SealingKey }
  | { ok: false, reason: string }

/**
 * Decrypts a format 3 value stored for `sessionId`. Any problem (a short or
 * malformed envelope, an unknown key id, a failed tag check) is a refusal:
 * no byte of an unauthenticated value is ever returned.
 */
export function open (ring: KeyRing, sessionId: string, bytes: Buffer): OpenResult {
  if (bytes.length < 2 || bytes[0] !== ENCRYPTED_FORMAT) return { ok: false, reason: 'not an encrypted value' }
  const idLength = bytes[1] as number
  const headerLength = 2 + idLength
  if (idLength === 0 || bytes.length < headerLength + NONCE_BYTES + TAG_BYTES) return { ok: false, reason: 'the encrypted value is truncated' }
  const key = ring.find(bytes.toString('latin1', 2, headerLength))
  if (key === undefined) return { ok: false, reason: 'sealed with a key this instance does not have' }
  const nonce = bytes.subarray(headerLength, headerLength + NONCE_BYTES)
  const tagStart = bytes.length - TAG_BYTES
  try {
    const decipher = createDecipheriv(CIPHER, key.secret, nonce, TAG_OPTION)
    decipher.setAAD(associatedData(key.header, sessionId))
    decipher.setAuthTag(bytes.subarray(tagStart))
    const plaintext = decipher.update(bytes.subarray(headerLength + NONCE_BYTES, tagStart))
    decipher.final()
    return { ok: true, plaintext, key }
  } catch {
    return { ok: false, reason: 'the value failed authentication (changed, or stored for another session)' }
  }
}
