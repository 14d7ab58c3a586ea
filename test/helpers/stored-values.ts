// Sessions written straight onto the nodes of an in-memory cluster, as another
// process or another Avro writer stores them: the same header, meta and
// attribute encoding as this package, built with its generic codec.
import { schemaKey } from '../../lib/memcached/keys.js'
import { AvroSessionCodec } from '../../lib/serialization/session-codec.js'
import { buildWriterType, canonicalForm } from '../../lib/serialization/avro-types.js'
import { crc64Avro } from '../../lib/serialization/crc64-avro.js'
import type { Attributes } from '../../lib/types/index.js'
import type { MemoryCluster } from './memory-memcached.js'
import { nodeOf } from './app.js'

/** The generic codec (no option `schema`), as the test app uses it. */
export const codec = new AvroSessionCodec()

/** Format byte, 2 marker bytes and the 8-byte schema fingerprint (docs/storage.md). */
export const HEADER_LENGTH = 11

type Meta = Parameters<AvroSessionCodec['encodeValue']>[0]

/** The meta fields of session `id`, last accessed (and created) at `lastAccessedAt`. */
export function metaOf (id: string, lastAccessedAt = Date.now()): Meta {
  return { id, createdAt: lastAccessedAt, lastAccessedAt, maxInactiveInterval: 1800, ownMaxInactiveInterval: null, ownCookieMaxAge: null }
}

/** Writes both copies of `id` (primary on its node, backup on the other of two). */
export async function storeBoth (cluster: MemoryCluster, id: string, value: string): Promise<void> {
  const primary = nodeOf(id)
  const backup = primary === 'n1' ? 'n2' : 'n1'
  await cluster.node(primary).set(id, value, 3600)
  await cluster.node(backup).set(`bak:${id}`, value, 3600)
}

/**
 * This package's session schema with one more field at the end (as a newer
 * writer could add): another fingerprint, which readers resolve by Avro's
 * rules. Published on every node, as a writer does.
 */
export async function publishWriterSchema (cluster: MemoryCluster): Promise<Buffer> {
  const schema = JSON.parse(plainWriterSchema(codec).schemaText) as { fields: object[] }
  schema.fields.push({ name: 'tenant', type: 'string' })
  const fingerprint = crc64Avro(canonicalForm(buildWriterType(schema)))
  for (const node of cluster.nodes) await node.set(schemaKey(fingerprint.toString('hex')), JSON.stringify(schema), 0)
  return fingerprint
}

/** A session stored by the writer of publishWriterSchema: its fingerprint, then the record with tenant 'x'. */
export function storedByOtherWriter (fingerprint: Buffer, id: string, attributes: Attributes, lastAccessedAt?: number): string {
  const ours = Buffer.from(codec.encodeValue(metaOf(id, lastAccessedAt), codec.encodeAttributes(attributes)), 'base64')
  return Buffer.concat([ours.subarray(0, 3), fingerprint, ours.subarray(HEADER_LENGTH), Buffer.from([2, 0x78])]).toString('base64')
}

/**
 * The writer schema `value` (format 1 bytes) was written with, of those
 * `writer` writes: this release's record, or release 0.1.0's, which a
 * session without lifetimes of its own is still written in.
 */
export function writerTypeOf (writer: AvroSessionCodec, value: Buffer): ReturnType<typeof buildWriterType> {
  const fingerprint = value.subarray(3, HEADER_LENGTH).toString('hex')
  const schema = writer.writerSchemas.find((candidate) => candidate.fingerprintHex === fingerprint)
  if (schema === undefined) throw new Error(`not written by this codec: fingerprint ${fingerprint}`)
  return buildWriterType(JSON.parse(schema.schemaText) as object)
}

/**
 * The writer schema of sessions without lifetimes of their own (release
 * 0.1.0's record, which they are still written in), as found in a value
 * `writer` writes.
 */
export function plainWriterSchema (writer: AvroSessionCodec): { fingerprintHex: string, schemaText: string } {
  const value = Buffer.from(writer.encodeValue(metaOf('0123456789abcdef0123456789abcdef-n1'), writer.encodeAttributes(writer.emptyAttributes())), 'base64')
  const fingerprint = value.subarray(3, HEADER_LENGTH).toString('hex')
  return writer.writerSchemas.find((candidate) => candidate.fingerprintHex === fingerprint) as { fingerprintHex: string, schemaText: string }
}
