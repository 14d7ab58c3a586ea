import { FST_MSM_ENCRYPTION_KEY_INVALID, FST_MSM_OPTION_INVALID } from '../errors.js'
import { KEY_BYTES, KEY_ID } from '../crypto/envelope-format.js'
import { KeyRing } from '../crypto/key-ring.js'
import { boolean, isPlainObject, rejectUnknownKeys } from './checks.js'

export const ENCRYPTION_KEYS = ['keys', 'acceptPlaintext', 'writePlaintext'] as const
const KEY_KEYS = ['id', 'key'] as const
/** Canonical base64 of 32 bytes: 43 characters and one `=`. */
const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/

/**
 * Option `encryption`, checked once at registration. Errors name the option
 * and the problem, and never contain key material.
 */
export function parseEncryption (value: unknown): KeyRing | null {
  if (value === undefined) return null
  if (!isPlainObject(value)) throw new FST_MSM_OPTION_INVALID('encryption', 'an object { keys: [{ id, key }], acceptPlaintext?, writePlaintext? }', kindOf(value))
  rejectUnknownKeys(value, ENCRYPTION_KEYS, 'encryption.')
  const keys = parseKeys(value.keys)
  const write = boolean(value, 'writePlaintext', false, 'encryption.')
  const accept = boolean(value, 'acceptPlaintext', write, 'encryption.')
  if (write && !accept) {
    throw new FST_MSM_OPTION_INVALID('encryption.acceptPlaintext', 'true or absent when encryption.writePlaintext is true (an instance reads what it writes)', 'false')
  }
  return new KeyRing(keys, { accept, write })
}

function parseKeys (value: unknown): Array<{ id: string, material: Buffer }> {
  if (!Array.isArray(value)) throw new FST_MSM_ENCRYPTION_KEY_INVALID('encryption.keys', `it must be a list of keys; got ${kindOf(value)}`)
  if (value.length === 0) throw new FST_MSM_ENCRYPTION_KEY_INVALID('encryption.keys', 'the list is empty: give at least one key (the first one encrypts)')
  const keys = value.map((entry: unknown, index) => parseKey(entry, `encryption.keys[${index}]`))
  keys.forEach((key, index) => {
    const earlier = keys.findIndex((other) => other.id === key.id)
    if (earlier !== index) throw new FST_MSM_ENCRYPTION_KEY_INVALID(`encryption.keys[${index}].id`, `id ${JSON.stringify(key.id)} is also the id of keys[${earlier}]: every key needs an id of its own`)
    const same = keys.findIndex((other) => other.material.equals(key.material))
    if (same !== index) throw new FST_MSM_ENCRYPTION_KEY_INVALID(`encryption.keys[${index}].key`, `it is the same key as keys[${same}]: give every id its own random key`)
  })
  return keys
}

function parseKey (entry: unknown, path: string): { id: string, material: Buffer } {
  if (!isPlainObject(entry)) throw new FST_MSM_ENCRYPTION_KEY_INVALID(path, `a key is an object { id, key }; got ${kindOf(entry)}`)
  rejectUnknownKeys(entry, KEY_KEYS, `${path}.`)
  const { id } = entry
  if (typeof id !== 'string' || !KEY_ID.test(id)) {
    throw new FST_MSM_ENCRYPTION_KEY_INVALID(`${path}.id`, `a key id is 1 to 32 characters from [A-Za-z0-9_.:-]; got ${typeof id === 'string' ? `${id.length} characters that are not (not printed: it may be a key pasted in the wrong place)` : kindOf(id)}`)
  }
  return { id, material: keyMaterial(entry.key, `${path}.key`) }
}

/** 32 bytes from a Buffer or base64 text. Only lengths and types are ever reported. */
function keyMaterial (key: unknown, path: string): Buffer {
  let material: Buffer
  if (typeof key === 'string') {
    if (!BASE64_KEY.test(key)) throw new FST_MSM_ENCRYPTION_KEY_INVALID(path, `it must be base64 of exactly ${KEY_BYTES} bytes (44 characters ending in "="); got a string of ${key.length} characters that is not`)
    material = Buffer.from(key, 'base64')
  } else if (key instanceof Uint8Array) {
    if (key.length !== KEY_BYTES) throw new FST_MSM_ENCRYPTION_KEY_INVALID(path, `it must be exactly ${KEY_BYTES} bytes; got ${key.length} bytes`)
    material = Buffer.from(key)
  } else {
    throw new FST_MSM_ENCRYPTION_KEY_INVALID(path, `it must be a Buffer of ${KEY_BYTES} bytes or base64 text; got ${kindOf(key)}`)
  }
  if (material.every((byte) => byte === 0)) throw new FST_MSM_ENCRYPTION_KEY_INVALID(path, 'all its bytes are zero, which is a placeholder, not a random key')
  return material
}

/** The type of a value, never its content: a misplaced key must not be printed. */
function kindOf (value: unknown): string {
  if (value === null || value === undefined) return String(value)
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}
