import type avro from 'avsc'

/**
 * A bounds check for untrusted Avro bytes, run before avsc decodes them.
 * avsc trusts lengths and block counts: a stored value that claims 2^50 array
 * items makes it loop for hours. This walk follows the schema and checks that
 * every length fits the bytes left, that every count is at most the bytes
 * left (an item takes at least one byte in the schemas it accepts), that union
 * and enum indexes exist, that nesting stays bounded, and that no map key is
 * `__proto__` (a decoder assigning it would replace an object's prototype).
 */
const MAX_NESTING = 80
const PROTO_KEY = Buffer.from('__proto__')

class Corrupt extends Error {}

interface AvroTypeShape {
  typeName: string
  fields?: Array<{ type: AvroTypeShape }>
  itemsType?: AvroTypeShape
  valuesType?: AvroTypeShape
  types?: AvroTypeShape[]
  underlyingType?: AvroTypeShape
  size?: number
  symbols?: string[]
}

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
      if ((byte & 0x80) === 0) return result % 2 === 0 ? result / 2 : -(result + 1) / 2
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

  skipString (): { start: number, length: number } {
    const length = this.long()
    const start = this.pos
    this.skip(length)
    return { start, length }
  }
}

function walk (reader: Reader, type: AvroTypeShape, depth: number): void {
  if (depth > MAX_NESTING) throw new Corrupt('nested too deeply')
  const name = type.typeName
  switch (name) {
    case 'null': return
    case 'boolean': reader.skip(1); return
    case 'int': case 'long': reader.long(); return
    case 'float': reader.skip(4); return
    case 'double': reader.skip(8); return
    case 'string': case 'bytes': reader.skipString(); return
    case 'fixed': reader.skip(type.size as number); return
    case 'enum': {
      const index = reader.long()
      if (index < 0 || index >= (type.symbols as string[]).length) throw new Corrupt(`enum index ${index} does not exist`)
      return
    }
    case 'record': case 'error':
      for (const field of type.fields as Array<{ type: AvroTypeShape }>) walk(reader, field.type, depth + 1)
      return
    case 'array':
      for (let count = reader.blockCount(); count !== 0; count = reader.blockCount()) {
        for (let i = 0; i < count; i++) walk(reader, type.itemsType as AvroTypeShape, depth + 1)
      }
      return
    case 'map':
      for (let count = reader.blockCount(); count !== 0; count = reader.blockCount()) {
        for (let i = 0; i < count; i++) {
          const key = reader.skipString()
          if (key.length === PROTO_KEY.length && PROTO_KEY.equals(reader.buf.subarray(key.start, key.start + key.length))) {
            throw new Corrupt(`map key __proto__ at byte ${key.start}`)
          }
          walk(reader, type.valuesType as AvroTypeShape, depth + 1)
        }
      }
      return
  }
  if (name.startsWith('union')) {
    const types = type.types as AvroTypeShape[]
    const index = reader.long()
    const branch = types[index]
    if (branch === undefined) throw new Corrupt(`union branch ${index} does not exist`)
    walk(reader, branch, depth + 1)
    return
  }
  if (name.startsWith('logical')) {
    walk(reader, type.underlyingType as AvroTypeShape, depth)
    return
  }
  throw new Corrupt(`unsupported type ${name}`)
}

/**
 * Returns null when `buf` from `start` is one well-formed value of `type`
 * with nothing after it, or the reason it is not. `end` may stop the check
 * earlier, for a value followed by other data.
 */
export function checkAvroBytes (type: avro.Type, buf: Uint8Array, start: number): { end: number } | { problem: string } {
  const reader = new Reader(buf, start)
  try {
    walk(reader, type as unknown as AvroTypeShape, 0)
  } catch (error) {
    if (error instanceof Corrupt) return { problem: error.message }
    throw error
  }
  return { end: reader.pos }
}
