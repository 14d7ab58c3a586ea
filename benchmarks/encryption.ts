// The cost of option encryption alone, for a ~1 KB session: sealing (AES-256-GCM
// with a fresh nonce, then base64) and opening (base64, then the tag check
// and decryption) of the serialized bytes, and the bytes it adds per value.
// Run: node --import tsx benchmarks/encryption.ts [--quick]
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { AvroSessionCodec } from '../lib/serialization/session-codec.js'
import { KeyRing } from '../lib/crypto/key-ring.js'
import { open, seal } from '../lib/crypto/envelope.js'
import type { Attributes } from '../lib/types/index.js'
import { opsPerSecond } from './micro-timing.js'

const quick = process.argv.includes('--quick')
const BUDGET_MS = quick ? 80 : 1000
const id = '0123456789abcdef0123456789abcdef-n1'
const ring = new KeyRing([{ id: '2026-12', material: randomBytes(32) }], { accept: false, write: false })

function microseconds (run: () => void): number {
  return 1e6 / opsPerSecond(run, BUDGET_MS, 1000)
}

const codec = new AvroSessionCodec()
const attributes = { user: { id: 'user-1234', name: 'Ada Lovelace', roles: ['reader', 'writer'] }, notes: 'n'.repeat(880), visits: 42 } as unknown as Attributes
const plaintext = codec.encodeBytes({ id, createdAt: 1, lastAccessedAt: 2, maxInactiveInterval: 1800, ownMaxInactiveInterval: null, ownCookieMaxAge: null }, codec.encodeAttributes(attributes))
const sealedText = seal(ring.current, id, plaintext).toString('base64')
const plainText = plaintext.toString('base64')

const result = {
  node: process.version,
  date: new Date().toISOString(),
  plaintextBytes: plaintext.length,
  sealedBytes: Buffer.from(sealedText, 'base64').length,
  storedTextPlain: plainText.length,
  storedTextSealed: sealedText.length,
  sealMicros: microseconds(() => { seal(ring.current, id, plaintext).toString('base64') }),
  openMicros: microseconds(() => { open(ring, id, Buffer.from(sealedText, 'base64')) }),
  base64OnlyEncodeMicros: microseconds(() => { plaintext.toString('base64') }),
  base64OnlyDecodeMicros: microseconds(() => { Buffer.from(plainText, 'base64') })
}
const table = [
  '| Value | Bytes | Stored text (base64) | Seal µs | Open µs |',
  '|---|---|---|---|---|',
  `| ~1 KB session, in clear | ${result.plaintextBytes} | ${result.storedTextPlain} | ${result.base64OnlyEncodeMicros.toFixed(2)} (base64 only) | ${result.base64OnlyDecodeMicros.toFixed(2)} (base64 only) |`,
  `| the same, encrypted (key id \`2026-12\`) | ${result.sealedBytes} (+${result.sealedBytes - result.plaintextBytes}) | ${result.storedTextSealed} (+${result.storedTextSealed - result.storedTextPlain}) | ${result.sealMicros.toFixed(2)} | ${result.openMicros.toFixed(2)} |`
].join('\n')
console.log(table)
if (!quick) {
  const dir = join(__dirname, 'results')
  writeFileSync(join(dir, 'encryption.json'), JSON.stringify(result, null, 2) + '\n')
  writeFileSync(join(dir, 'encryption-table.md'), table + '\n')
}
