import { FST_MSM_RESERVED_NAME } from '../errors.js'
import { kState, type SessionState } from './session-state.js'
import { markDirty, markHandedOut, proxiesOf } from './state-changes.js'

/** Each tracking proxy and the object it watches. */
const targets = new WeakMap<object, object>()

/** The object behind a tracking proxy (a value read from a session and set again). */
export function unwrap<T> (value: T): T {
  return typeof value === 'object' && value !== null ? (targets.get(value) as T | undefined) ?? value : value
}

/**
 * A value read from the session under `key`. Objects and arrays come back as
 * proxies that mark the session changed when anything in them, at any depth,
 * is written or deleted; so a request that only reads encodes nothing, and a
 * mutation in place is still saved. A Date cannot be watched by a proxy (its
 * methods need the real object): its key is compared with the loaded bytes at
 * the end instead.
 */
export function tracked (state: SessionState, key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  return watched(proxiesOf(state), state, key, value)
}

/**
 * `value` watched within `scope`, the session's proxies when it was read.
 * destroy() and reload() start a new scope: the data read before them is no
 * longer the session's, so changing it afterwards changes nothing.
 */
function watched (scope: WeakMap<object, object>, state: SessionState, key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (value instanceof Date) {
    if (state.proxies === scope) markHandedOut(state, key)
    return value
  }
  let proxy = scope.get(value)
  if (proxy === undefined) {
    proxy = new Proxy(value, trackingHandler(scope, state, key))
    scope.set(value, proxy)
    targets.set(proxy, value)
  }
  return proxy
}

function trackingHandler (scope: WeakMap<object, object>, state: SessionState, key: string): ProxyHandler<object> {
  const changed = (): void => {
    if (state.proxies === scope) markDirty(state)
  }
  return {
    get (target, property) {
      const value: unknown = Reflect.get(target, property)
      return typeof property === 'symbol' ? value : watched(scope, state, key, value)
    },
    set (target, property, value) {
      changed()
      return Reflect.set(target, property, unwrap(value))
    },
    deleteProperty (target, property) {
      changed()
      return Reflect.deleteProperty(target, property)
    },
    defineProperty (target, property, descriptor) {
      changed()
      return Reflect.defineProperty(target, property, descriptor)
    }
  }
}

/** The part of Session the property view needs. */
interface AttributeAccess {
  [kState]: SessionState
  get: (key: string) => unknown
  set: (key: string, value: never) => unknown
  delete: (key: string) => unknown
}

/**
 * `request.session` as @fastify/session users write it: attributes as
 * properties (`session.user = x`, `session.user`, `delete session.user`,
 * `'user' in session`, `Object.keys(session)`), with the validation and change
 * detection of get() and set(). Names the session object already has (its
 * API) cannot be assigned: FST_MSM_RESERVED_NAME says to use set().
 */
export function withAttributeProperties<S extends AttributeAccess> (session: S): S {
  return new Proxy(session, SESSION_VIEW) as S
}

/**
 * A name of the API (or of every object: toString, hasOwnProperty…), or
 * `then`, which would make `await request.session` treat the session as a promise.
 */
function reserved (target: AttributeAccess, property: string | symbol): boolean {
  return typeof property === 'symbol' || property in target || property === 'then'
}

function hasSetter (target: object, property: string | symbol): boolean {
  for (let owner = Object.getPrototypeOf(target) as object | null; owner !== null; owner = Object.getPrototypeOf(owner) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(owner, property)
    if (descriptor !== undefined) return descriptor.set !== undefined
  }
  return false
}

const SESSION_VIEW: ProxyHandler<AttributeAccess> = {
  get (target, property, receiver) {
    if (typeof property === 'symbol' || property in target) return Reflect.get(target, property, receiver)
    return target.get(property)
  },
  set (target, property, value) {
    if (reserved(target, property)) {
      // An accessor of the API (session.maxInactiveInterval) is set as such
      if (hasSetter(target, property)) return Reflect.set(target, property, value)
      throw new FST_MSM_RESERVED_NAME(String(property), String(property))
    }
    target.set(property as string, value as never)
    return true
  },
  deleteProperty (target, property) {
    if (reserved(target, property)) throw new FST_MSM_RESERVED_NAME(String(property), String(property))
    target.delete(property as string)
    return true
  },
  has (target, property) {
    return property in target || (typeof property === 'string' && Object.hasOwn(target[kState].attributes, property))
  },
  ownKeys (target) {
    return Object.keys(target[kState].attributes)
  },
  getOwnPropertyDescriptor (target, property) {
    if (typeof property !== 'string' || !Object.hasOwn(target[kState].attributes, property)) return undefined
    return { value: target.get(property), writable: true, enumerable: true, configurable: true }
  }
}
