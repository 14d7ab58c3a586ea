/**
 * The attributes of a session. Extend it through declaration merging to type
 * `session.get()` and `session.set()`:
 *
 * ```ts
 * declare module 'fastify-msm' {
 *   interface SessionData { user?: { id: string } }
 * }
 * ```
 */
export interface SessionData {}

/** A JSON-like value, or a Date, that the generic attribute type stores faithfully. */
export type SessionValue =
  | null
  | boolean
  | number
  | string
  | Date
  | SessionValue[]
  | { [key: string]: SessionValue }

/** Keys of {@link SessionData}, or any string while SessionData is empty. */
export type SessionKey = keyof SessionData extends never ? string : keyof SessionData & string

/**
 * The type stored under `key`. While SessionData is not declared, `get()`
 * returns `any` (as @fastify/session does) and `set()` takes any
 * {@link SessionValue}; declare SessionData for strict types.
 */
export type SessionValueOf<K extends string> = K extends keyof SessionData
  ? SessionData[K]
  : keyof SessionData extends never ? any : never

/** The attributes of one session, as serializers see them. */
export type Attributes = Record<string, SessionValue>

/** A pluggable serializer of session attributes: `serializer: { name, encode, decode }`. */
export interface Serializer {
  /** 1 to 64 characters from [A-Za-z0-9_.-]; stored in every value. */
  name: string
  encode: (attributes: Attributes) => Uint8Array
  decode: (bytes: Uint8Array) => Attributes
}
