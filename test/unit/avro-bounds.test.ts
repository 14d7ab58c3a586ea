// The bounds check that every stored value passes before avsc decodes it
// (lib/serialization/avro-bounds.ts): stored bytes are untrusted, and avsc
// trusts lengths and counts. For every kind of Avro type it must accept
// exactly what avsc reads, ending where avsc ends, and refuse, with a reason,
// what is cut short, claims more than the bytes left, names a branch or symbol
// that does not exist, nests too deeply, or holds a `__proto__` map key.
// Written for mutants that survived the rest of the suite (test/mutation/REPORT.md).
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import avro from 'avsc'
import { checkAvroBytes, checkRecordWithMapEntries, mapEntries, mapValueSlices } from '../../lib/serialization/avro-bounds.js'

/** Avro's zig-zag varint of any integer, computed exactly (BigInt). */
function varint (value: bigint | number): number[] {
  const n = BigInt(value)
  let zigzag = n >= 0n ? 2n * n : -2n * n - 1n
  const bytes: number[] = []
  do {
    let byte = Number(zigzag & 0x7fn)
    zigzag >>= 7n
    if (zigzag > 0n) byte |= 0x80
    bytes.push(byte)
  } while (zigzag > 0n)
  return bytes
}

const bytes = (...parts: Array<number | number[]>): Buffer => Buffer.from(parts.flat())
const string = (text: string): number[] => [...varint(Buffer.byteLength(text)), ...Buffer.from(text)]

function accepted (type: avro.Type, buf: Buffer, start = 0): number {
  const result = checkAvroBytes(type, buf, start)
  assert.ok('end' in result, `refused: ${'problem' in result ? result.problem : ''}`)
  return result.end
}

function refused (type: avro.Type, buf: Buffer): string {
  const result = checkAvroBytes(type, buf, 0)
  assert.ok('problem' in result, `accepted bytes ${buf.toString('hex')}`)
  return result.problem
}

/** Accepted, and ends exactly where avsc's decoder ends. */
function agreesWithAvsc (type: avro.Type, buf: Buffer): void {
  assert.equal(accepted(type, buf), type.decode(buf, 0).offset, `end of ${buf.toString('hex')}`)
}

const schemas: Record<string, avro.Schema> = {
  null: 'null',
  boolean: 'boolean',
  int: 'int',
  long: 'long',
  float: 'float',
  double: 'double',
  string: 'string',
  bytes: 'bytes',
  fixed: { type: 'fixed', name: 'Hash', size: 5 },
  enum: { type: 'enum', name: 'Color', symbols: ['red', 'green', 'blue'] },
  error: { type: 'error', name: 'Failure', fields: [{ name: 'code', type: 'int' }, { name: 'why', type: 'string' }] },
  record: {
    type: 'record',
    name: 'Everything',
    fields: [
      { name: 'flag', type: 'boolean' },
      { name: 'f', type: 'float' },
      { name: 'd', type: 'double' },
      { name: 'raw', type: 'bytes' },
      { name: 'hash', type: { type: 'fixed', name: 'Digest', size: 3 } },
      { name: 'color', type: { type: 'enum', name: 'Shade', symbols: ['a', 'b'] } },
      { name: 'list', type: { type: 'array', items: 'long' } },
      { name: 'dict', type: { type: 'map', values: ['null', 'string', 'double'] } },
      { name: 'when', type: { type: 'long', logicalType: 'timestamp-millis' } }
    ]
  }
}

describe('every kind of type: accepted exactly where avsc reads it', () => {
  for (const [name, schema] of Object.entries(schemas)) {
    test(`${name}: random values end where avsc ends, with a value after them too`, () => {
      const type = avro.Type.forSchema(schema)
      for (let i = 0; i < 30; i++) {
        const buf = type.toBuffer(type.random())
        agreesWithAvsc(type, buf)
        const followed = Buffer.concat([Buffer.from([7, 7]), buf, Buffer.from([1, 2, 3])])
        assert.equal(accepted(type, followed, 2), 2 + buf.length, 'a start offset and bytes after the value')
      }
    })

    test(`${name}: every value cut short is refused`, () => {
      const type = avro.Type.forSchema(schema)
      for (let i = 0; i < 10; i++) {
        const buf = type.toBuffer(type.random())
        for (let cut = 0; cut < buf.length; cut++) refused(type, buf.subarray(0, cut))
      }
    })
  }
})

describe('longs', () => {
  const long = avro.Type.forSchema('long')

  test('negative values read as avsc reads them', () => {
    const record = avro.Type.forSchema({ type: 'record', name: 'Pair', fields: [{ name: 'a', type: 'long' }, { name: 'b', type: 'string' }] })
    for (const a of [-1, -2, -3, -64, -65, -1_000_000, -(2 ** 40)]) agreesWithAvsc(record, record.toBuffer({ a, b: 'x' }))
  })

  test('the largest long avsc decodes exactly is accepted; one more is refused, as avsc refuses it', () => {
    assert.equal(accepted(long, bytes(varint(9007199254740990n))), 8)
    assert.throws(() => long.decode(bytes(varint(9007199254740991n))), /precision/)
    assert.match(refused(long, bytes(varint(9007199254740991n))), /^a long outside the range JavaScript numbers hold exactly$/)
  })

  test('a varint of 10 bytes is read; an eleventh byte is refused as too long, not read', () => {
    const tenBytes = bytes(Array(9).fill(0x80), 0x00)
    assert.equal(accepted(long, tenBytes), 10)
    assert.match(refused(long, bytes(Array(10).fill(0x80), 0x00)), /^varint longer than 10 bytes$/)
  })

  test('a varint with its last byte missing is "truncated"', () => {
    assert.match(refused(long, bytes(0x80, 0x80)), /^truncated varint$/)
    assert.match(refused(long, bytes()), /^truncated varint$/)
  })
})

describe('lengths', () => {
  const str = avro.Type.forSchema('string')

  test('an empty string is a value; a negative length and a length past the end are refused', () => {
    assert.equal(accepted(str, bytes(0)), 1)
    assert.match(refused(str, bytes(varint(-1))), /^length past the end$/)
    assert.match(refused(str, bytes(varint(-2), 0x41, 0x41)), /^length past the end$/)
    assert.match(refused(str, bytes(varint(3), 0x41, 0x41)), /^length past the end$/)
    assert.equal(accepted(str, bytes(varint(3), 0x41, 0x41, 0x41)), 4)
  })

  test('a boolean takes one byte whatever its value, as avsc reads it', () => {
    const record = avro.Type.forSchema({ type: 'record', name: 'B', fields: [{ name: 'b', type: 'boolean' }, { name: 'i', type: 'int' }] })
    agreesWithAvsc(record, bytes(0x80, 0x02))
    agreesWithAvsc(record, bytes(0x01, 0x7f))
  })
})

describe('block counts', () => {
  const ints = avro.Type.forSchema({ type: 'array', items: 'int' })

  test('a block with a negative count and its byte size (as Java writers send) is read like avsc reads it', () => {
    // -3 items, 3 bytes, items 1, 2, 3, then the end block
    const buf = bytes(varint(-3), varint(3), varint(1), varint(2), varint(3), 0)
    agreesWithAvsc(ints, buf)
    assert.deepEqual(ints.decode(buf, 0).value, [1, 2, 3])
    const two = bytes(varint(-2), varint(2), varint(5), varint(6), varint(1), varint(7), 0)
    agreesWithAvsc(ints, two)
    assert.deepEqual(ints.decode(two, 0).value, [5, 6, 7])
  })

  test('a count larger than the bytes left is refused before any item is read', () => {
    assert.match(refused(ints, bytes(varint(3), varint(1), varint(2))), /^block count larger than the bytes left$/)
    assert.match(refused(ints, bytes(varint(2 ** 40))), /^block count larger than the bytes left$/)
    // one byte more than the count (the end block): the items decide
    agreesWithAvsc(ints, bytes(varint(2), varint(1), varint(2), 0))
  })

  test('maps: the same rule, and keys are read', () => {
    const map = avro.Type.forSchema({ type: 'map', values: 'int' })
    agreesWithAvsc(map, bytes(varint(-1), varint(3), string('k'), varint(1), 0))
    assert.match(refused(map, bytes(varint(5), string('k'), varint(1), 0)), /^block count larger than the bytes left$/)
  })
})

describe('indexes', () => {
  test('enum: the first and the last symbol are accepted; -1 and one past the last are refused', () => {
    const type = avro.Type.forSchema(schemas.enum as avro.Schema)
    assert.equal(accepted(type, bytes(varint(0))), 1)
    assert.equal(accepted(type, bytes(varint(2))), 1)
    assert.match(refused(type, bytes(varint(3))), /^enum index 3 does not exist$/)
    assert.match(refused(type, bytes(varint(-1))), /^enum index -1 does not exist$/)
  })

  test('union: a branch that does not exist is refused', () => {
    const type = avro.Type.forSchema(['null', 'string'])
    assert.equal(accepted(type, bytes(varint(1), string('x'))), 3)
    assert.match(refused(type, bytes(varint(2))), /^union branch 2 does not exist$/)
    assert.match(refused(type, bytes(varint(-1))), /^union branch -1 does not exist$/)
  })
})

describe('map keys', () => {
  const map = avro.Type.forSchema({ type: 'map', values: 'int' })

  test('__proto__ is refused, with where it starts; other keys of the same length are values', () => {
    assert.match(refused(map, bytes(varint(1), string('__proto__'), varint(1), 0)), /^map key __proto__ at byte 2$/)
    agreesWithAvsc(map, bytes(varint(2), string('prototype'), varint(1), string('__proto_x'), varint(2), 0))
  })
})

describe('nesting', () => {
  /** A chain of `levels` values of a recursive type, each one holding the next. */
  const chains: Record<string, { schema: avro.Schema, value: (levels: number) => unknown, depthOf: (levels: number) => number }> = {
    'record in a union': {
      schema: { type: 'record', name: 'Node', fields: [{ name: 'next', type: ['null', 'Node'] }] },
      value: (levels) => { let v: unknown = { next: null }; for (let i = 1; i < levels; i++) v = { next: { Node: v } }; return v },
      // Node at 0, union at 1, Node at 2, ..., the last union at 2(levels-1)+1, its null at +1
      depthOf: (levels) => 2 * levels
    },
    'record in an array': {
      schema: { type: 'record', name: 'Tree', fields: [{ name: 'kids', type: { type: 'array', items: 'Tree' } }] },
      value: (levels) => { let v: unknown = { kids: [] }; for (let i = 1; i < levels; i++) v = { kids: [v] }; return v },
      depthOf: (levels) => 2 * levels - 1
    },
    'record in a map': {
      schema: { type: 'record', name: 'Dir', fields: [{ name: 'entries', type: { type: 'map', values: 'Dir' } }] },
      value: (levels) => { let v: unknown = { entries: {} }; for (let i = 1; i < levels; i++) v = { entries: { e: v } }; return v },
      depthOf: (levels) => 2 * levels - 1
    }
  }

  for (const [name, chain] of Object.entries(chains)) {
    test(`${name}: depth 196 is accepted, 197 refused`, () => {
      const type = avro.Type.forSchema(chain.schema, { wrapUnions: true })
      let levels = 1
      while (chain.depthOf(levels + 1) <= 196) levels++
      assert.ok(chain.depthOf(levels) >= 195, 'the deepest accepted chain reaches the limit')
      agreesWithAvsc(type, type.toBuffer(chain.value(levels)))
      assert.match(refused(type, type.toBuffer(chain.value(levels + 1))), /^nested too deeply$/)
    })
  }
})

describe('what is not a bounds problem', () => {
  test('a type the check does not know is a programming error, thrown, never read as corrupt bytes', () => {
    const unknown = { typeName: 'decimal-ish' } as unknown as avro.Type
    assert.throws(() => checkAvroBytes(unknown, bytes(0), 0), /^Error: unsupported Avro type decimal-ish$/)
  })

  test('a record without fields has no map entries and ends where it starts', () => {
    const empty = avro.Type.forSchema({ type: 'record', name: 'Empty', fields: [] })
    assert.deepEqual(checkRecordWithMapEntries(empty, bytes(9), 0), { end: 0, entries: null })
  })

  test('a record whose last field is not a map is checked whole, with no entries', () => {
    const type = avro.Type.forSchema({ type: 'record', name: 'Two', fields: [{ name: 'a', type: 'int' }, { name: 'b', type: 'string' }] })
    assert.deepEqual(checkRecordWithMapEntries(type, bytes(varint(1), string('xy')), 0), { end: 4, entries: null })
    assert.deepEqual(checkRecordWithMapEntries(type, bytes(varint(1), varint(5)), 0), { problem: 'length past the end' })
  })
})

describe('map entries of trusted bytes', () => {
  const map = avro.Type.forSchema({ type: 'map', values: 'string' })

  test('each key with the byte range of its value, and its value bytes', () => {
    const buf = map.toBuffer({ a: 'one', bc: 'two!' })
    const entries = mapEntries(map, buf)
    assert.deepEqual(entries.map((entry) => entry.key), ['a', 'bc'])
    for (const entry of entries) assert.equal(avro.Type.forSchema('string').fromBuffer(buf.subarray(entry.start, entry.end)), entry.key === 'a' ? 'one' : 'two!')
    const slices = mapValueSlices(map, buf)
    assert.deepEqual([...slices.keys()], ['a', 'bc'])
    assert.deepEqual(slices.get('bc'), Buffer.from(string('two!')))
  })
})

describe('logical types', () => {
  class Millis extends avro.types.LogicalType {
    override _fromValue (value: number): Date { return new Date(value) }
    override _toValue (value: unknown): unknown { return value instanceof Date ? value.getTime() : value }
  }

  test('are checked as their underlying type', () => {
    const type = avro.Type.forSchema({ type: 'long', logicalType: 'timestamp-millis' }, { logicalTypes: { 'timestamp-millis': Millis } })
    assert.equal(type.typeName, 'logical:timestamp-millis')
    agreesWithAvsc(type, type.toBuffer(new Date(1_700_000_000_000)))
    assert.match(refused(type, bytes(0x80)), /^truncated varint$/)
  })
})

describe('a record whose last field is a map', () => {
  test('the fields are checked and each entry has the byte range of its value', () => {
    const type = avro.Type.forSchema({ type: 'record', name: 'S', fields: [{ name: 'id', type: 'string' }, { name: 'attrs', type: { type: 'map', values: 'int' } }] })
    const buf = type.toBuffer({ id: 'x', attrs: { a: 1, b: 300 } })
    const result = checkRecordWithMapEntries(type, buf, 0)
    assert.ok('end' in result)
    assert.equal(result.end, buf.length)
    assert.deepEqual(result.entries?.map((entry) => [entry.key, buf.subarray(entry.start, entry.end)]), [['a', bytes(varint(1))], ['b', bytes(varint(300))]])
    assert.deepEqual(checkRecordWithMapEntries(type, buf.subarray(0, buf.length - 1), 0), { problem: 'truncated varint' })
  })
})
