// Small checks shared by the option parsers. Each throws a coded error that
// names the option, what it must be, and what it was.
import { FST_MSM_OPTION_INVALID, FST_MSM_OPTION_UNKNOWN } from '../errors.js'

export function rejectUnknownKeys (object: Record<string, unknown>, known: readonly string[], path: string): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) throw new FST_MSM_OPTION_UNKNOWN(path + key, known.join(', '))
  }
}

export function positiveInteger (object: Record<string, unknown>, key: string, fallback: number, path = ''): number {
  const value = object[key]
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new FST_MSM_OPTION_INVALID(path + key, 'a positive integer', describe(value))
  }
  return value
}

export function nonNegativeInteger (object: Record<string, unknown>, key: string, fallback: number, path = ''): number {
  const value = object[key]
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new FST_MSM_OPTION_INVALID(path + key, 'a non-negative integer (0 turns it off)', describe(value))
  }
  return value
}

export function matching (object: Record<string, unknown>, key: string, pattern: RegExp, expected: string, fallback: string, path = ''): string {
  const value = object[key]
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new FST_MSM_OPTION_INVALID(path + key, expected, describe(value))
  }
  return value
}

export function boolean (object: Record<string, unknown>, key: string, fallback: boolean, path = ''): boolean {
  const value = object[key]
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw new FST_MSM_OPTION_INVALID(path + key, 'true or false', describe(value))
  return value
}

export function oneOf<T> (object: Record<string, unknown>, key: string, allowed: readonly T[], fallback: T, path = ''): T {
  const value = object[key]
  if (value === undefined) return fallback
  if (!allowed.includes(value as T)) {
    throw new FST_MSM_OPTION_INVALID(path + key, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, describe(value))
  }
  return value as T
}

export function optionalRegExp (object: Record<string, unknown>, key: string): RegExp | null {
  const value = object[key]
  if (value === undefined || value === null) return null
  if (!(value instanceof RegExp)) throw new FST_MSM_OPTION_INVALID(key, 'a RegExp or null', describe(value))
  if (value.global || value.sticky) {
    throw new FST_MSM_OPTION_INVALID(key, 'a RegExp without the g or y flag (they make test() stateful)', String(value))
  }
  return value
}

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

export function describe (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(clip(value))
  if (value === null || value === undefined) return String(value)
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${clip(String(value))}`
}

export function clip (text: string): string {
  return text.length > 60 ? text.slice(0, 57) + '...' : text
}
