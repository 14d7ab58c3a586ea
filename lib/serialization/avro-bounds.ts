import type avro from 'avsc'
import { MAX_DEPTH } from './attribute-value.js'

/**
 * A bounds check for untrusted Avro bytes, run before avsc decodes them.
 * avsc trusts lengths and block counts: a stored value that claims 2^50 array
 * items makes it loop for hours. This walk follows the schema and checks that
 * every length fits the bytes left, that every count is at most the bytes
 * left (an item takes at least one byte in the schemas it accepts), that union
 * and enum indexes exist, that nesting stays bounded, and that no map key is
 * `__proto__` (a decoder assigning it would replace an object's prototype).
 */
/**
 * Deep enough for every value set() accepts (MAX_DEPTH objects and arrays,
 * attribute-value.ts): under the Session record (depth 0) and the attributes
 * map (1), an attribute's JsonValue record is at 2; each object or array adds
 * 3 (its JsonValue record, union, map or array), so the innermost leaf's
 * record is at 2 + 3 * 64, its union at one more and its branch at 196.
 * A lower bound made such sessions unreadable after they were saved.
 */
const MAX_NESTING = 2 + 3 * MAX_DEPTH + 2
/** avsc's own bound (isSafeLong): beyond it, decoding throws "potential precision loss". */
const MAX_SAFE_LONG = 9007199254740990
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

const enum Kind { Null, Boolean, Varint, Float, Double, Bytes, Fixed, Enum, Record, Array, Map, Union }

/** A type compiled once for the walk: no getters or string compares per byte. */
interface Node {
  kind: Kind
  size: number
  children: Node[]
}

const compiled = new WeakMap<object, Node>()

function compile (type: AvroTypeShape): Node {
  const known = compiled.get(type)
  if (known !== undefined) return known
  const name = type.typeName
  if (name.startsWith('logical')) {
    const node = compile(type.underlyingType as AvroTypeShape)
    compiled.set(type, node)
    return node
  }
  const node: Node = { kind: Kind.Null, size: 0, children: [] }
  // registered before the children, so recursive types (JsonValue) terminate
  compiled.set(type, node)
  switch (name) {
    case 'null': break
    case 'boolean': node.kind = Kind.Boolean; break
    case 'int': case 'long': node.kind = Kind.Varint; break
    case 'float': node.kind = Kind.Float; break
    case 'double': node.kind = Kind.Double; break
    case 'string': case 'bytes': node.kind = Kind.Bytes; break
    case 'fixed': node.kind = Kind.Fixed; node.size = type.size as number; break
    case 'enum': node.kind = Kind.Enum; node.size = (type.symbols as string[]).length; break
    case 'record': case 'error':
      node.kind = Kind.Record
      node.children = (type.fields as Array<{ type: AvroTypeShape }>).map((field) => compile(field.type))
      break
    case 'array': node.kind = Kind.Array; node.children = [compile(type.itemsType as AvroTypeShape)]; break
    case 'map': node.kind = Kind.Map; node.children = [compile(type.valuesType as AvroTypeShape)]; break
    default:
      if (!name.startsWith('union')) throw new Error(`unsupported Avro type ${name}`)
      node.kind = Kind.Union
      node.children = (type.types as AvroTypeShape[]).map(compile)
  }
  return node
}

/** Skips a map key; `__proto__` is refused (a decoder assigning it would replace an object's prototype). */
function mapKey (reader: Reader): { start: number, length: number } {
  const key = reader.skipString()
  if (key.length === PROTO_KEY.length && PROTO_KEY.equals(reader.buf.subarray(key.start, key.start + key.length))) {
    throw new Corrupt(`map key __proto__ at byte ${key.start}`)
  }
  return key
}

function walk (reader: Reader, node: Node, depth: number): void {
  if (depth > MAX_NESTING) throw new Corrupt('nested too deeply')
  switch (node.kind) {
    case Kind.Null: return
    case Kind.Boolean: reader.skip(1); return
    case Kind.Varint: {
      // avsc refuses to decode a long it cannot represent exactly; so does this check, with the same bounds
      const value = reader.long()
      if (value > MAX_SAFE_LONG || value < -MAX_SAFE_LONG) throw new Corrupt('a long outside the range JavaScript numbers hold exactly')
      return
    }
    case Kind.Float: reader.skip(4); return
    case Kind.Double: reader.skip(8); return
    case Kind.Bytes: reader.skipString(); return
    case Kind.Fixed: reader.skip(node.size); return
    case Kind.Enum: {
      const index = reader.long()
      if (index < 0 || index >= node.size) throw new Corrupt(`enum index ${index} does not exist`)
      return
    }
    case Kind.Record:
      for (const child of node.children) walk(reader, child, depth + 1)
      return
    case Kind.Array: {
      const items = node.children[0] as Node
      for (let count = reader.blockCount(); count !== 0; count = reader.blockCount()) {
        for (let i = 0; i < count; i++) walk(reader, items, depth + 1)
      }
      return
    }
    case Kind.Map: {
      const values = node.children[0] as Node
      for (let count = reader.blockCount(); count !== 0; count = reader.blockCount()) {
        for (let i = 0; i < count; i++) {
          mapKey(reader)
          walk(reader, values, depth + 1)
        }
      }
      return
    }
    case Kind.Union: {
      const index = reader.long()
      const branch = node.children[index]
      if (branch === undefined) throw new Corrupt(`union branch ${index} does not exist`)
      walk(reader, branch, depth + 1)
    }
  }
}

/**
 * Returns null when `buf` from `start` is one well-formed value of `type`
 * with nothing after it, or the reason it is not. `end` may stop the check
 * earlier, for a value followed by other data.
 */
export function checkAvroBytes (type: avro.Type, buf: Uint8Array, start: number): { end: number } | { problem: string } {
  const reader = new Reader(buf, start)
  try {
    walk(reader, compile(type as unknown as AvroTypeShape), 0)
  } catch (error) {
    if (error instanceof Corrupt) return { problem: error.message }
    throw error
  }
  return { end: reader.pos }
}

/** A top-level map entry: its key and the byte range of its value. */
export interface MapEntry {
  key: string
  start: number
  end: number
}

/**
 * checkAvroBytes for a record whose last field may be a map (the generic
 * Session record): the same check, and in the same pass the byte range of
 * each entry of that map, so that values can be decoded one by one later.
 * `entries` is null when the last field is not a map.
 */
export function checkRecordWithMapEntries (type: avro.Type, buf: Buffer, start: number): { end: number, entries: MapEntry[] | null } | { problem: string } {
  const reader = new Reader(buf, start)
  const record = compile(type as unknown as AvroTypeShape)
  const fields = record.children
  const last = fields[fields.length - 1]
  try {
    for (let i = 0; i < fields.length - 1; i++) walk(reader, fields[i] as Node, 1)
    if (last === undefined || last.kind !== Kind.Map) {
      if (last !== undefined) walk(reader, last, 1)
      return { end: reader.pos, entries: null }
    }
    return { entries: walkMapEntries(reader, buf, last), end: reader.pos }
  } catch (error) {
    if (error instanceof Corrupt) return { problem: error.message }
    throw error
  }
}

function walkMapEntries (reader: Reader, buf: Buffer, map: Node): MapEntry[] {
  const values = map.children[0] as Node
  const entries: MapEntry[] = []
  for (let count = reader.blockCount(); count !== 0; count = reader.blockCount()) {
    for (let i = 0; i < count; i++) {
      const key = mapKey(reader)
      const start = reader.pos
      walk(reader, values, 2)
      entries.push({ key: buf.toString('utf8', key.start, key.start + key.length), start, end: reader.pos })
    }
  }
  return entries
}

/** The entries of trusted map bytes (bytes this process encoded, or that passed the check). */
export function mapEntries (mapType: avro.Type, buf: Buffer): MapEntry[] {
  return walkMapEntries(new Reader(buf, 0), buf, compile(mapType as unknown as AvroTypeShape))
}

/** The bytes of each top-level entry's value in trusted map bytes, for per-key change detection. */
export function mapValueSlices (mapType: avro.Type, buf: Buffer): Map<string, Buffer> {
  return new Map(mapEntries(mapType, buf).map((entry) => [entry.key, buf.subarray(entry.start, entry.end)]))
}
