// What set() accepts in a typed session whose schema is recursive, at the
// exact bounds docs/serialization.md gives ("A recursive schema (a tree of
// records) is bounded like the generic type: set() refuses a value whose
// objects and arrays nest deeper than 64 levels, or loop, with
// FST_MSM_SCHEMA_MISMATCH"), and what sticky mode's local copy of a generic
// session writes back. Written for mutants that survived the rest of the
// suite (test/mutation/REPORT.md).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { HEADER_LENGTH } from '../../lib/serialization/codec-format.js'
import { MAX_DEPTH } from '../../lib/serialization/attribute-value.js'
import type { Attributes } from '../../lib/types/index.js'

const meta = { id: '0123456789abcdef0123456789abcdef-n1', createdAt: 1_700_000_000_000, lastAccessedAt: 1_700_000_100_000, maxInactiveInterval: 1800 }

function refusedAsMismatch (run: () => void, message: RegExp): void {
  assert.throws(run, (error: Error & { code?: string }) => {
    assert.equal(error.code, 'FST_MSM_SCHEMA_MISMATCH', error.message)
    assert.match(error.message, message)
    return true
  })
}

describe('a typed schema with a chain of records (one object per level)', () => {
  const typed = new AvroSessionCodec({
    type: 'record',
    name: 'Attributes',
    fields: [{
      name: 'chain',
      type: ['null', {
        type: 'record',
        name: 'Link',
        fields: [
          { name: 'label', type: 'string' },
          { name: 'blob', type: ['null', 'bytes'], default: null },
          { name: 'at', type: ['null', { type: 'long', logicalType: 'timestamp-millis' }], default: null },
          { name: 'next', type: ['null', 'Link'], default: null }
        ]
      }],
      default: null
    }]
  })

  interface Link { label: string, blob: Buffer | null, at: Date | null, next: Link | null }

  /** `links` records, one inside the other; `innermost` adds to the last one; `create` makes each record's object. */
  function chain (links: number, innermost: Partial<Link> = {}, create: () => object = () => ({})): Link {
    let link = Object.assign(create(), { label: 'last', blob: null, at: null, next: null }, innermost) as Link
    for (let i = 1; i < links; i++) link = Object.assign(create(), { label: `link ${i}`, blob: null, at: null, next: link }) as Link
    return link
  }

  function savedAndLoaded (value: unknown): unknown {
    const loaded = typed.decodeValue(typed.encodeValue(meta, typed.encodeAttributes({ chain: value } as unknown as Attributes)))
    assert.ok(loaded.ok === true, JSON.stringify(loaded))
    return loaded.session.attributes.chain
  }

  test('null is a value, not a level: set() takes null for the field and inside it', () => {
    typed.validate('chain', null)
    typed.validate('chain', chain(1))
    assert.equal(savedAndLoaded(null), null)
  })

  test('set() accepts exactly 64 nested levels and refuses 65, like the generic type', () => {
    assert.equal(MAX_DEPTH, 64)
    const deepest = chain(64)
    typed.validate('chain', deepest)
    assert.deepEqual(JSON.parse(JSON.stringify(savedAndLoaded(deepest))), deepest)
    refusedAsMismatch(() => { typed.validate('chain', chain(65)) }, /deeper than 64 levels/)
  })

  test('a Buffer or a Date at the deepest level is a leaf, not one level more', () => {
    const blob = chain(64, { blob: Buffer.from('bytes') })
    typed.validate('chain', blob)
    let last = savedAndLoaded(blob) as Link
    while (last.next !== null) last = last.next
    assert.deepEqual(last.blob, Buffer.from('bytes'))
    typed.validate('chain', chain(64, { at: new Date(1_700_000_000_000) }))
    typed.validate('chain', chain(64, { blob: Buffer.from('bytes'), at: new Date(1_700_000_000_000) }))
  })

  test('objects without a prototype are levels like plain objects: 65 of them, or a loop through them, are refused', () => {
    const bare = (): object => Object.create(null) as object
    typed.validate('chain', chain(64, {}, bare))
    refusedAsMismatch(() => { typed.validate('chain', chain(65, {}, bare)) }, /deeper than 64 levels/)
    const looped = chain(2, {}, bare)
    ;(looped.next as Link).next = looped
    refusedAsMismatch(() => { typed.validate('chain', looped) }, /or in a cycle/)
  })

  test('undefined for a required field inside the value is refused with a coded error naming the path', () => {
    refusedAsMismatch(() => { typed.validate('chain', chain(3, { label: undefined as unknown as string })) }, /chain\.next\.next\.label = undefined is not a valid string/)
  })
})

describe("sticky mode's local copy of a generic session (decodeAttributes)", () => {
  const generic = new AvroSessionCodec()

  /** Avro's zigzag varint of a non-negative integer, exactly. */
  function varint (value: number): Buffer {
    let n = BigInt(value) * 2n
    const bytes: number[] = []
    while (n >= 0x80n) {
      bytes.push(Number(n & 0x7fn) | 0x80)
      n >>= 7n
    }
    bytes.push(Number(n))
    return Buffer.from(bytes)
  }

  /** The generic map { w: timestamp `millis`, n: `n` }, as any Avro writer encodes it. */
  function attributesBytes (millis: number, n: number): Buffer {
    const double = Buffer.alloc(8)
    double.writeDoubleLE(n)
    // count 2; "w", JsonValue branch 6 (timestamp-millis); "n", branch 2 (double); end of the map
    return Buffer.concat([Buffer.from([4, 2, 0x77, 12]), varint(millis), Buffer.from([2, 0x6e, 4]), double, Buffer.from([0])])
  }

  test('writes a value never read back exactly as stored, even a timestamp past the range of Date that another writer stored', () => {
    const farFuture = 9e15 // a valid Avro long, beyond Date's 8.64e15: it reads as an invalid Date
    const header = Buffer.from(generic.encodeValue(meta, generic.encodeAttributes({} as Attributes)), 'base64')
    const stored = Buffer.concat([header.subarray(0, header.length - 1), attributesBytes(farFuture, 1)])
    assert.ok(stored.length > HEADER_LENGTH)
    const loaded = generic.decodeValue(stored.toString('base64'))
    assert.ok(loaded.ok === true && loaded.session.attributesBytes !== null, JSON.stringify(loaded))
    // the bytes sticky mode keeps, decoded again by a later request that changes n only
    const local = generic.decodeAttributes(loaded.session.attributesBytes)
    local.n = 2 as Attributes[string]
    assert.deepEqual(generic.encodeAttributes(local), attributesBytes(farFuture, 2), 'w is written as stored')
    const fromMemcached = loaded.session.attributes
    fromMemcached.n = 2 as Attributes[string]
    assert.deepEqual(generic.encodeAttributes(local), generic.encodeAttributes(fromMemcached), 'as a session loaded from memcached writes it')
  })
})
