/**
 * Format 3, an encrypted value (docs/storage.md#encrypted-values, byte by byte):
 *   byte 0          0x03
 *   byte 1          length n of the key id (1 to 32)
 *   bytes 2..1+n    the key id, ASCII
 *   next 12 bytes   the nonce, random for every write
 *   then            AES-256-GCM ciphertext of a format 1 or 2 value
 *   last 16 bytes   the GCM tag
 * The associated data is bytes 0..1+n followed by the session id (ASCII),
 * so a value moved under another session's key fails authentication.
 */
export const ENCRYPTED_FORMAT = 3
export const CIPHER = 'aes-256-gcm'
export const KEY_BYTES = 32
export const NONCE_BYTES = 12
export const TAG_BYTES = 16
export const MAX_KEY_ID_LENGTH = 32
/** Key ids go into every stored value and into logs: short, printable, no spaces. */
export const KEY_ID = /^[A-Za-z0-9_.:-]{1,32}$/
