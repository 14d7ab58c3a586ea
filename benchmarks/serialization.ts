// Encode, decode and change-detection cost per request for typical sessions
// of about 200 B, 1 KB and 10 KB: generic Avro, typed Avro, JSON, and generic
// Avro with option encryption.
// Run: node --import tsx benchmarks/serialization.ts [--quick]
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Attributes } from '../lib/types/index.js'
import { AvroSessionCodec } from '../lib/serialization/session-codec.js'
import type { SessionCodec } from '../lib/serialization/codec-format.js'
import { readAttribute } from '../lib/serialization/lazy-attributes.js'
import { jsonSerializer, SerializerSessionCodec } from '../lib/serialization/serializer-codec.js'
import { EncryptedSessionCodec } from '../lib/crypto/encrypted-codec.js'
import { KeyRing } from '../lib/crypto/key-ring.js'
import { opsPerSecond as measuredOpsPerSecond } from './micro-timing.js'

/** Option encryption with one key (AES-256-GCM): the cost of sealing and opening on top of generic Avro. */
const BENCH_RING = new KeyRing([{ id: '2026-12', material: Buffer.alloc(32, 7) }], { accept: false, write: false })

const quick = process.argv.includes('--quick')
const BUDGET_MS = quick ? 80 : 400

const typedSchema = {
  type: 'record',
  name: 'ShopSession',
  fields: [
    { name: 'user', type: { type: 'record', name: 'User', fields: [{ name: 'id', type: 'string' }, { name: 'name', type: 'string' }, { name: 'roles', type: { type: 'array', items: 'string' } }] } },
    { name: 'cart', type: { type: 'array', items: { type: 'record', name: 'Item', fields: [{ name: 'sku', type: 'string' }, { name: 'qty', type: 'int' }, { name: 'price', type: 'double' }] } } },
    { name: 'csrf', type: 'string' },
    { name: 'visits', type: 'int' }
  ]
}

function session (items: number): Attributes {
  return {
    user: { id: 'user-1234', name: 'Ada Lovelace', roles: ['reader', 'writer'] },
    cart: Array.from({ length: items }, (_, i) => ({ sku: `SKU-${1000 + i}`, qty: 1 + (i % 3), price: 9.99 + i })),
    csrf: 'c'.repeat(43),
    visits: 42
  }
}

const sizes: Array<[string, number]> = [['~200 B', 1], ['~1 KB', 17], ['~10 KB', 200]]
const codecs: Array<[string, SessionCodec]> = [
  ['Avro, generic', new AvroSessionCodec()],
  ['Avro, typed', new AvroSessionCodec(typedSchema)],
  ['JSON', new SerializerSessionCodec(jsonSerializer)],
  ['Avro, generic, encrypted', new EncryptedSessionCodec(new AvroSessionCodec(), BENCH_RING)]
]
const meta = { id: '0123456789abcdef0123456789abcdef-n1', createdAt: 1, lastAccessedAt: 2, maxInactiveInterval: 1800, ownMaxInactiveInterval: null, ownCookieMaxAge: null }

function loaded (codec: SessionCodec, stored: string): Attributes {
  const decoded = codec.decodeValue(stored, meta.id)
  if (decoded.ok !== true) throw new Error('did not decode')
  return decoded.session.attributes
}

function opsPerSecond (run: () => void): number {
  return measuredOpsPerSecond(run, BUDGET_MS)
}

const rows: string[] = []
const results: object[] = []
for (const [sizeName, items] of sizes) {
  const attributes = session(items)
  for (const [codecName, codec] of codecs) {
    const bytes = codec.encodeAttributes(attributes)
    const stored = codec.encodeValue(meta, bytes)
    const decoded = codec.decodeValue(stored, meta.id)
    if (decoded.ok !== true) throw new Error(`${codecName} did not decode`)
    const encode = opsPerSecond(() => { codec.encodeValue(meta, codec.encodeAttributes(attributes)) })
    // Every attribute read: what a request that reads the whole session pays
    const decode = opsPerSecond(() => {
      const fresh = loaded(codec, stored)
      for (const key of Object.keys(fresh)) readAttribute(fresh, key)
    })
    // The common request: load the session and read one object attribute
    const readOne = opsPerSecond(() => { readAttribute(loaded(codec, stored), 'user') })
    // Load, change one attribute, encode: what a request that changes one attribute pays
    const writeOne = opsPerSecond(() => {
      const fresh = loaded(codec, stored)
      fresh.visits = 43
      codec.encodeAttributes(fresh)
    })
    const detect = opsPerSecond(() => {
      for (const key of Object.keys(attributes)) codec.validate(key, attributes[key])
      codec.encodeAttributes(attributes).equals(bytes)
    })
    const jsonLength = JSON.stringify(attributes).length
    results.push({ size: sizeName, codec: codecName, jsonBytes: jsonLength, storedBytes: stored.length, encode, decode, readOne, writeOne, detect })
    const micros = [encode, decode, readOne, writeOne, detect].map((perSecond) => (1e6 / perSecond).toFixed(1))
    rows.push(`| ${sizeName} (${jsonLength} B JSON) | ${codecName} | ${stored.length} | ${micros.join(' | ')} |`)
  }
}

const table = [
  '| Session | Codec | Stored bytes (base64) | Encode µs | Decode all µs | Load + read one µs | Load + change one µs | Change detection µs |',
  '|---|---|---|---|---|---|---|---|',
  ...rows
].join('\n')
console.log(table)
if (!quick) {
  const dir = join(__dirname, 'results')
  writeFileSync(join(dir, 'serialization.json'), JSON.stringify({ node: process.version, date: new Date().toISOString(), results }, null, 2) + '\n')
  // The table alone, included by docs/serialization.md
  writeFileSync(join(dir, 'serialization-table.md'), table + '\n')
  writeFileSync(join(dir, 'serialization.md'), `# Serialization micro-benchmark\n\n${process.version}, ${new Date().toISOString().slice(0, 10)}. Encode = attributes + header to the stored text; decode all = stored text to attributes (with the bounds check), every attribute read (generic Avro decodes an attribute when it is first read); load + read one = the stored text to attributes, then user read; load + change one = the stored text to attributes, visits set, the attributes encoded (generic Avro copies the attributes never read from their stored bytes); change detection = validate + encode attributes + compare bytes, what a request that may have changed its session pays. The encrypted codec seals every encode; its decodes here open a stored text that this process has opened before, which its cache of opened envelopes serves without decrypting (docs/security.md#cost); benchmarks/encryption.ts measures a decryption.\n\n${table}\n`)
}
