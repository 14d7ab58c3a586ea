/**
 * A bounds check for untrusted Avro bytes of the generic session schema, run
 * before avsc decodes them. avsc trusts block counts: a stored value that
 * claims 2^50 array items makes it loop for hours. Every item of this schema
 * takes at least one byte, so a count above the bytes left is corrupt.
 */
import { MAX_DEPTH } from './attribute-value.js'

class Corrupt extends Error {}

class Reader {
  pos: number
  constructor (readonly buf: Uint8Array, start: number) {
    this.pos = start
  }

  long (): number {
    let result = 0
    let multiplier = 1
    for (let i = 0; i < 10; i++) {
      const byte = this.buf[this.pos++]
      if (byte === undefined) throw new Corrupt('truncated varint')
      result += (byte & 0x7f) * multiplier
      if ((byte & 0x80) === 0) {
        // zig-zag decoding without 32-bit bitwise operators
        return result % 2 === 0 ? result / 2 : -(result + 1) / 2
      }
      multiplier *= 128
    }
    throw new Corrupt('varint longer than 10 bytes')
  }

  skip (bytes: number): void {
    if (bytes < 0 || this.pos + bytes > this.buf.length) throw new Corrupt('length past the end')
    this.pos += bytes
  }

  blockCount (): number {
    let count = this.long()
    if (count < 0) {
      count = -count
      this.long() // the block's size in bytes, which a reader may ignore
    }
    if (count > this.buf.length - this.pos) throw new Corrupt('block count larger than the bytes left')
    return count
  }
}

function skipMeta (reader: Reader): void {
  reader.skip(reader.long()) // id
  reader.long() // createdAt
  reader.long() // lastAccessedAt
  reader.long() // maxInactiveInterval
}

const PROTO_KEY = Buffer.from('__proto__')

function skipMapOfJson (reader: Reader, depth: number): void {
  for (let count = reader.blockCount(); count !== 0; count = reader.blockCount()) {
    for (let i = 0; i < count; i++) {
      const keyStart = reader.pos + 0
      const keyLength = reader.long()
      reader.skip(keyLength)
      // A decoder assigning obj['__proto__'] would replace the prototype instead
      if (keyLength === PROTO_KEY.length && PROTO_KEY.equals(reader.buf.subarray(reader.pos - keyLength, reader.pos))) {
        throw new Corrupt(`map key __proto__ at byte ${keyStart}`)
      }
      skipJson(reader, depth)
    }
  }
}

function skipJson (reader: Reader, depth: number): void {
  if (depth > MAX_DEPTH + 1) throw new Corrupt('nested too deeply')
  const branch = reader.long()
  switch (branch) {
    case 0: return
    case 1: reader.skip(1); return
    case 2: reader.skip(8); return
    case 3: reader.skip(reader.long()); return
    case 4:
      for (let count = reader.blockCount(); count !== 0; count = reader.blockCount()) {
        for (let i = 0; i < count; i++) skipJson(reader, depth + 1)
      }
      return
    case 5: skipMapOfJson(reader, depth + 1); return
    default: throw new Corrupt(`union branch ${branch} does not exist`)
  }
}

/**
 * Returns null when `buf` from `start` is one well-formed Session record with
 * nothing after it, or the reason it is not.
 */
export function checkSessionBytes (buf: Uint8Array, start: number): string | null {
  const reader = new Reader(buf, start)
  try {
    skipMeta(reader)
    skipMapOfJson(reader, 0)
  } catch (error) {
    if (error instanceof Corrupt) return error.message
    throw error
  }
  return reader.pos === buf.length ? null : 'trailing bytes after the record'
}
