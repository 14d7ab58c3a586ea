import type avro from 'avsc'
import type { NodeRing } from '../cluster/node-ring.js'
import type { NodeClient } from '../memcached/node-client.js'
import { BoundedLru } from '../util/lru.js'
import { schemaKey } from '../memcached/keys.js'
import { buildWriterType, canonicalForm } from '../serialization/avro-types.js'
import { crc64Avro } from '../serialization/crc64-avro.js'
import type { AvroSessionCodec } from '../serialization/session-codec.js'
import type { DecodeResult } from '../serialization/codec-format.js'
import type { StoreEvents } from '../events/store-events.js'

/** Published schemas are checked this many nodeRetryIntervals apart (60 s by default), and re-published where a node lost them. */
const REPUBLISH_INTERVALS = 60
const KNOWN_SCHEMAS = 64
const MISSING_SCHEMA_MS = 5000
/** A schema text larger than this is not parsed: it cannot be one of ours. */
const MAX_SCHEMA_LENGTH = 256 * 1024

export interface RegistryLogger {
  warn (details: object, message: string): void
}

/**
 * Writer schemas travel with the data: every process publishes its own
 * schema under `schema:<fingerprint>` on every node, without expiry, with
 * `add` (so it never overwrites), again whenever a node comes back and every
 * 60 nodeRetryIntervals (60 s by default) in case a node restarted empty. A process that reads a value with an
 * unknown fingerprint fetches that schema, checks that it really has that
 * fingerprint, caches it, and resolves the value with Avro's rules.
 */
export class SchemaRegistry {
  readonly #known = new BoundedLru<string, avro.Type>(KNOWN_SCHEMAS)
  readonly #missing = new BoundedLru<string, number>(KNOWN_SCHEMAS)
  readonly #timer: NodeJS.Timeout

  constructor (
    private readonly ring: NodeRing,
    private readonly codec: AvroSessionCodec,
    private readonly events: StoreEvents,
    private readonly log: RegistryLogger,
    nodeRetryInterval: number
  ) {
    this.#known.set(codec.fingerprintHex, codec.type)
    this.#timer = setInterval(() => { this.publish().catch(() => {}) }, nodeRetryInterval * REPUBLISH_INTERVALS)
    this.#timer.unref()
  }

  /** Publishes the schemas this process writes with on every available node (or on `node`). */
  async publish (node?: NodeClient): Promise<void> {
    const nodes = node === undefined ? this.ring.nodes.filter((candidate) => candidate.isUp) : [node]
    await Promise.all(nodes.map(async (target) => {
      try {
        for (const { fingerprintHex, schemaText } of this.codec.writerSchemas) {
          if (await target.add(schemaKey(fingerprintHex), schemaText, 0)) this.events.schemaPublished()
        }
      } catch {
        // the node is marked down; it is published again when it comes back
      }
    }))
  }

  /**
   * Decodes a value written with another Avro schema: the writer schema is
   * fetched (once) and the value resolved with Avro's rules.
   */
  async decodeWithWriter (fingerprintHex: string, bytes: Buffer): Promise<DecodeResult> {
    const writer = await this.writerType(fingerprintHex)
    if (writer === null) return { ok: false, reason: `writer schema ${fingerprintHex} is not known and not published on any node` }
    return this.codec.decodeWithWriter(bytes, writer)
  }

  async writerType (fingerprintHex: string): Promise<avro.Type | null> {
    const known = this.#known.get(fingerprintHex)
    if (known !== undefined) return known
    const missingUntil = this.#missing.get(fingerprintHex)
    if (missingUntil !== undefined && missingUntil > Date.now()) return null
    for (const node of this.ring.nodes.filter((candidate) => candidate.isUp)) {
      const type = await this.#fetch(node, fingerprintHex)
      if (type !== null) {
        this.#known.set(fingerprintHex, type)
        this.events.schemaFetched()
        return type
      }
    }
    this.#missing.set(fingerprintHex, Date.now() + MISSING_SCHEMA_MS)
    return null
  }

  close (): void {
    clearInterval(this.#timer)
  }

  async #fetch (node: NodeClient, fingerprintHex: string): Promise<avro.Type | null> {
    let text: unknown
    try {
      text = await node.get(schemaKey(fingerprintHex))
    } catch {
      return null
    }
    if (typeof text !== 'string' || text.length > MAX_SCHEMA_LENGTH) return null
    try {
      const type = buildWriterType(JSON.parse(text) as object)
      if (crc64Avro(canonicalForm(type)).toString('hex') !== fingerprintHex) {
        this.log.warn({ node: node.id, fingerprint: fingerprintHex }, 'fastify-msm: a published schema does not match its fingerprint; ignored')
        return null
      }
      return type
    } catch (error) {
      this.log.warn({ node: node.id, fingerprint: fingerprintHex, err: error }, 'fastify-msm: a published schema could not be parsed; ignored')
      return null
    }
  }
}
