// The session every benchmark scenario logs in, and the same shape scaled
// for the size sweep.

/** About 1 KB of attributes (806 bytes of JSON), the same in every main scenario. */
export const PAYLOAD = {
  user: { id: 'user-1234', name: 'Ada Lovelace', email: 'ada@example.com', roles: ['reader', 'writer', 'admin'] },
  cart: Array.from({ length: 12 }, (_, i) => ({ sku: `SKU-${1000 + i}`, qty: 1 + (i % 3), price: 9.99 + i })),
  preferences: { theme: 'dark', language: 'en-GB', timezone: 'Europe/London' },
  csrf: 'c'.repeat(43)
}

/** What every read checks: a request that did not find its session fails with 500. */
export const USER_ID = PAYLOAD.user.id

const FILLER_TEXT = 'The quick brown fox jumps over the lazy dog; 0123456789. '

/**
 * The sweep's session: the same `user` object the routes read, and a filler
 * string attribute that brings the attributes' JSON to `bytes`.
 */
export function sweepPayload (bytes: number): Record<string, unknown> {
  const overhead = JSON.stringify({ user: PAYLOAD.user, filler: '' }).length
  const length = Math.max(0, bytes - overhead)
  return { user: PAYLOAD.user, filler: FILLER_TEXT.repeat(Math.ceil(length / FILLER_TEXT.length)).slice(0, length) }
}
