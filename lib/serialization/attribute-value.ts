import { FST_MSM_VALUE_UNSUPPORTED } from '../errors.js'

/** Deepest nesting of arrays and objects a session attribute may have. */
export const MAX_DEPTH = 64

export interface StorableOptions {
  /** Whether Date instances are stored faithfully (the generic Avro type) or refused (JSON). */
  dates: boolean
}

/**
 * Checks that `value` survives the generic attribute type unchanged: JSON-like
 * values (and Dates when `dates` is set) only, with no cycles, holes,
 * `undefined`, class instances or lone UTF-16 surrogates. Throws
 * FST_MSM_VALUE_UNSUPPORTED naming the path.
 */
export function assertStorable (key: string, value: unknown, options: StorableOptions): void {
  if (key === '__proto__') throw new FST_MSM_VALUE_UNSUPPORTED(key, 'the key __proto__ is reserved')
  if (!key.isWellFormed()) throw new FST_MSM_VALUE_UNSUPPORTED(key, 'the key holds a lone UTF-16 surrogate, which UTF-8 cannot carry')
  const problem = findProblem(value, key, 0, [], options)
  if (problem !== null) throw new FST_MSM_VALUE_UNSUPPORTED(problem.path, problem.reason)
}

interface Problem { path: string, reason: string }

/**
 * Whether plain objects and arrays in `value` nest deeper than MAX_DEPTH (or
 * loop). Typed schemas need this bound too: stored bytes nested deeper than
 * the load-time bounds check allows (avro-bounds.ts) would be saved, then
 * refused on every read. Buffers, Dates and other instances are leaves.
 */
export function nestsTooDeeply (value: unknown, depth = 0): boolean {
  if (typeof value !== 'object' || value === null) return false
  const items = Array.isArray(value) ? value : isPlainObject(value) ? Object.values(value) : null
  if (items === null) return false
  if (depth >= MAX_DEPTH) return true
  return items.some((item) => nestsTooDeeply(item, depth + 1))
}

function isPlainObject (value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function findProblem (value: unknown, path: string, depth: number, ancestors: object[], options: StorableOptions): Problem | null {
  switch (typeof value) {
    case 'boolean':
    case 'number':
      return null
    case 'string':
      return value.isWellFormed() ? null : { path, reason: 'the string holds a lone UTF-16 surrogate, which UTF-8 cannot carry' }
    case 'object':
      if (value === null) return null
      return findObjectProblem(value, path, depth, ancestors, options)
    default:
      return { path, reason: `${typeof value} is not a JSON-like value` }
  }
}

function findObjectProblem (value: object, path: string, depth: number, ancestors: object[], options: StorableOptions): Problem | null {
  if (value instanceof Date && options.dates) {
    return Number.isNaN(value.getTime()) ? { path, reason: 'an invalid Date has no time to store' } : null
  }
  if (depth >= MAX_DEPTH) return { path, reason: `it is nested deeper than ${MAX_DEPTH} levels` }
  if (ancestors.includes(value)) return { path, reason: 'it contains a reference cycle' }
  ancestors.push(value)
  const problem = Array.isArray(value)
    ? findArrayProblem(value, path, depth, ancestors, options)
    : findPlainObjectProblem(value, path, depth, ancestors, options)
  ancestors.pop()
  return problem
}

function findArrayProblem (value: unknown[], path: string, depth: number, ancestors: object[], options: StorableOptions): Problem | null {
  for (let i = 0; i < value.length; i++) {
    if (!(i in value)) return { path: `${path}[${i}]`, reason: 'the array has a hole (sparse arrays come back with null)' }
    const problem = findProblem(value[i], `${path}[${i}]`, depth + 1, ancestors, options)
    if (problem !== null) return problem
  }
  return null
}

function findPlainObjectProblem (value: object, path: string, depth: number, ancestors: object[], options: StorableOptions): Problem | null {
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) {
    const name = (value.constructor as { name?: string } | undefined)?.name ?? 'class'
    const hint = value instanceof Date ? ' with this serializer (store date.toISOString() or date.getTime())' : ''
    return { path, reason: `a ${name} instance is not a plain object${hint}` }
  }
  if (Object.getOwnPropertySymbols(value).length > 0) return { path, reason: 'symbol keys are not stored' }
  for (const [key, item] of Object.entries(value)) {
    const itemPath = `${path}.${key}`
    if (key === '__proto__') return { path: itemPath, reason: 'the key __proto__ is reserved' }
    if (item === undefined) return { path: itemPath, reason: 'undefined is not stored; delete the key or use null' }
    if (!key.isWellFormed()) return { path: itemPath, reason: 'the key holds a lone UTF-16 surrogate' }
    const problem = findProblem(item, itemPath, depth + 1, ancestors, options)
    if (problem !== null) return problem
  }
  return null
}
