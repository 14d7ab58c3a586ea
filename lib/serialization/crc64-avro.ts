/**
 * CRC-64-AVRO, the 64-bit Rabin fingerprint that the Avro specification
 * defines for schema fingerprints ("Schema Fingerprints" and "Single-object
 * encoding"). Computed once per schema, so BigInt's cost does not matter.
 */
const EMPTY = 0xc15d213aa4d7a795n
const MASK = 0xffffffffffffffffn

const TABLE: bigint[] = Array.from({ length: 256 }, (_, i) => {
  let fp = BigInt(i)
  for (let j = 0; j < 8; j++) {
    fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n) & MASK)
  }
  return fp
})

/** Returns the fingerprint of `text` (UTF-8) as 8 little-endian bytes. */
export function crc64Avro (text: string): Buffer {
  let fp = EMPTY
  for (const byte of Buffer.from(text, 'utf8')) {
    fp = (fp >> 8n) ^ (TABLE[Number((fp ^ BigInt(byte)) & 0xffn)] as bigint)
  }
  const out = Buffer.alloc(8)
  out.writeBigUInt64LE(fp)
  return out
}
