// Regression test: a value nested as deep as set() accepts (generic type or a
// recursive typed schema) must be readable
// after it is saved. set() takes objects and arrays up to 64 levels
// (attribute-value.ts, docs/serialization.md), but the bounds check that every
// stored value passes before it is decoded stopped at a walk depth of 80,
// about 26 levels of the generic type: a session holding a value nested 26 to
// 64 levels was saved, then read back as "no session" on every request.
import { describe, test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { readAttribute } from '../../lib/serialization/lazy-attributes.js'
import { MAX_DEPTH } from '../../lib/serialization/attribute-value.js'
import type { Attributes } from '../../lib/types/index.js'

const meta = { id: '0123456789abcdef0123456789abcdef-n1', createdAt: 1_700_000_000_000, lastAccessedAt: 1_700_000_100_000, maxInactiveInterval: 1800, ownMaxInactiveInterval: null, ownCookieMaxAge: null }
const codec = new AvroSessionCodec()

/** `levels` objects and arrays, alternately, around `leaf`. */
function nested (levels: number, leaf: unknown): unknown {
  let value = leaf
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? { inner: value } : [value]
  return value
}

function storedAndLoaded (attributes: Record<string, unknown>): ReturnType<AvroSessionCodec['decodeValue']> {
  return codec.decodeValue(codec.encodeValue(meta, codec.encodeAttributes(attributes as Attributes)))
}

test('a value nested 64 levels, as deep as set() accepts, is read back whole, whatever its leaf', () => {
  for (const leaf of [1, 'text', null, true, new Date(1_700_000_000_000)]) {
    const value = nested(64, leaf)
    codec.validate('deep', value)
    const loaded = storedAndLoaded({ deep: value, other: 1 })
    assert.ok(loaded.ok === true, `leaf ${String(leaf)}: ${JSON.stringify(loaded)}`)
    assert.deepEqual(readAttribute(loaded.session.attributes, 'deep'), value)
    assert.equal(readAttribute(loaded.session.attributes, 'other'), 1)
  }
})

test('every depth set() accepts is read back, from 1 to 64 levels', () => {
  for (let levels = 1; levels <= 64; levels++) {
    const value = nested(levels, levels)
    codec.validate('deep', value)
    const loaded = storedAndLoaded({ deep: value })
    assert.ok(loaded.ok === true, `${levels} levels: ${JSON.stringify(loaded)}`)
    assert.deepEqual(readAttribute(loaded.session.attributes, 'deep'), value)
  }
})

test('one level more than set() accepts is refused by set(), and as stored bytes (written elsewhere) too', () => {
  const tooDeep = nested(65, 1)
  assert.throws(() => { codec.validate('deep', tooDeep) }, /nested deeper than 64 levels/)
  // encodeAttributes does not validate: these are the bytes another writer could store
  const loaded = storedAndLoaded({ deep: tooDeep })
  assert.equal(loaded.ok, false)
  assert.equal((loaded as { reason: string }).reason, 'nested too deeply')
})

describe('a typed schema (option schema) with a recursive type', () => {
  const tree = {
    type: 'record',
    name: 'Attributes',
    fields: [{
      name: 'tree',
      type: ['null', { type: 'record', name: 'Node', fields: [{ name: 'label', type: 'string' }, { name: 'children', type: { type: 'array', items: 'Node' } }] }],
      default: null
    }]
  }
  const typed = new AvroSessionCodec(tree)
  /** `nodes` nodes, one inside the other: an object and an array per node. */
  const chain = (nodes: number): unknown => {
    let node: unknown = { label: 'leaf', children: [] }
    for (let i = 1; i < nodes; i++) node = { label: `n${i}`, children: [node] }
    return node
  }

  test('a value nested 64 levels is accepted by set() and read back whole', () => {
    const value = chain(32) // 32 objects and 32 arrays
    typed.validate('tree', value)
    const loaded = typed.decodeValue(typed.encodeValue(meta, typed.encodeAttributes({ tree: value } as unknown as Attributes)))
    assert.ok(loaded.ok === true, JSON.stringify(loaded))
    // avsc reads records back as instances of its generated classes: compare their fields
    assert.deepEqual(JSON.parse(JSON.stringify(readAttribute(loaded.session.attributes, 'tree'))), value)
  })

  test('set() refuses deeper values, which a bounded reader could not read back, with a coded error', () => {
    assert.throws(() => { typed.validate('tree', chain(33)) }, (err: Error & { code?: string }) =>
      err.code === 'FST_MSM_SCHEMA_MISMATCH' && /deeper than 64 levels/.test(err.message))
  })

  test('set() refuses a cycle with a coded error instead of overflowing the stack', () => {
    const looped: { label: string, children: unknown[] } = { label: 'a', children: [] }
    looped.children.push(looped)
    assert.throws(() => { typed.validate('tree', looped) }, (err: Error & { code?: string }) => err.code === 'FST_MSM_SCHEMA_MISMATCH')
  })
})

function refusedAsMismatch (run: () => void, message: RegExp): void {
  assert.throws(run, (error: Error & { code?: string }) => {
    assert.equal(error.code, 'FST_MSM_SCHEMA_MISMATCH', error.message)
    assert.match(error.message, message)
    return true
  })
}

// The exact bounds docs/serialization.md gives for a recursive schema ("A
// recursive schema (a tree of records) is bounded like the generic type: set()
// refuses a value whose objects and arrays nest deeper than 64 levels, or
// loop, with FST_MSM_SCHEMA_MISMATCH"), here with one object per level
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
