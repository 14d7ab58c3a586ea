import { createSecretKey, type KeyObject } from 'node:crypto'
import { ENCRYPTED_FORMAT } from './envelope-format.js'

/** One key of the ring, ready to seal and open values. */
export interface SealingKey {
  readonly id: string
  /** The envelope's header for this key: format byte, key id length, key id. */
  readonly header: Buffer
  /** AES-256 key material, held as a KeyObject so that it is never printed or serialized by accident. */
  readonly secret: KeyObject
}

/** What an instance does with values that are not encrypted; see docs/security.md (turning encryption on and off). */
export interface PlaintextPolicy {
  /** Read values written without encryption (format 1 and 2). */
  readonly accept: boolean
  /** Write values without encryption (the first and last step of a switch-over). */
  readonly write: boolean
}

/**
 * The keys of option `encryption`: the first seals every new value, every
 * one opens values. Keys are looked up by the id stored in each envelope.
 */
export class KeyRing {
  readonly current: SealingKey
  readonly plaintext: PlaintextPolicy
  readonly #byId: Map<string, SealingKey>

  constructor (keys: ReadonlyArray<{ id: string, material: Buffer }>, plaintext: PlaintextPolicy) {
    const sealing = keys.map(({ id, material }) => sealingKey(id, material))
    if (sealing[0] === undefined) throw new RangeError('a key ring has at least one key')
    this.current = sealing[0]
    this.#byId = new Map(sealing.map((key) => [key.id, key]))
    this.plaintext = plaintext
  }

  /** The key named `id`, or undefined when the ring does not hold it (removed, or never known here). */
  find (id: string): SealingKey | undefined {
    return this.#byId.get(id)
  }

  get ids (): string[] {
    return [...this.#byId.keys()]
  }
}

function sealingKey (id: string, material: Buffer): SealingKey {
  const idBytes = Buffer.from(id, 'ascii')
  return {
    id,
    header: Buffer.concat([Buffer.from([ENCRYPTED_FORMAT, idBytes.length]), idBytes]),
    secret: createSecretKey(Buffer.from(material))
  }
}
