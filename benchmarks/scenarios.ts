// The one table of benchmark scenarios, shared by run.ts, servers.ts,
// profile.ts and compare.ts; the size sweep and the goals derive from it.

/** GET /read reads the session, /write changes it, /mix changes it on every 10th request. */
export type Route = '/read' | '/write' | '/mix'

/** Whose code serves the scenario; the charts colour by it. */
export type Family = 'bare' | 'floor' | 'peer' | 'msm'

export type Setup =
  | { kind: 'bare' }
  /** The `memcached` client alone, with fastify-msm's client options: /read is 1 get, /write a get and 2 sets. */
  | { kind: 'floor' }
  | { kind: 'memory-store' }
  | { kind: 'connect-memcached', rolling: boolean }
  | { kind: 'msm', options: Record<string, unknown> }

export interface Scenario {
  key: string
  name: string
  family: Family
  route: Route
  setup: Setup
  /** Size of the session's attributes as JSON; absent: the standard ~1 KB PAYLOAD. */
  sessionBytes?: number
  /** A no-op subscriber on every diagnostics channel (the cost of publishing to a tracer); absent: none. */
  allChannelsSubscribed?: true
}

/** A fixed benchmark key (never use a published key in production): the encrypted twins of d and e. */
const BENCH_ENCRYPTION = { keys: [{ id: 'bench', key: 'YmVuY2htYXJrIGtleSwgbm90IGEgc2VjcmV0IQ0KISE=' }] }

const msm = (options: Record<string, unknown> = {}): Setup => ({ kind: 'msm', options })
const peer = (rolling = true): Setup => ({ kind: 'connect-memcached', rolling })

/** The main table, in the order of the tables and the chart. */
export const SCENARIOS: readonly Scenario[] = [
  { key: 'a', name: 'bare Fastify, no sessions', family: 'bare', route: '/read', setup: { kind: 'bare' } },
  { key: 'floor-read', name: 'floor: memcached client, 1 get', family: 'floor', route: '/read', setup: { kind: 'floor' } },
  { key: 'floor-write', name: 'floor: memcached client, get + 2 sets', family: 'floor', route: '/write', setup: { kind: 'floor' } },
  { key: 'b', name: '@fastify/session + MemoryStore, read-only', family: 'peer', route: '/read', setup: { kind: 'memory-store' } },
  { key: 'c', name: '@fastify/session + connect-memcached, read-only', family: 'peer', route: '/read', setup: peer() },
  { key: 'c-norolling', name: '@fastify/session + connect-memcached, read-only, rolling: false', family: 'peer', route: '/read', setup: peer(false) },
  { key: 'cw', name: '@fastify/session + connect-memcached, modifying', family: 'peer', route: '/write', setup: peer() },
  { key: 'cm', name: '@fastify/session + connect-memcached, 90/10 read/modify', family: 'peer', route: '/mix', setup: peer() },
  { key: 'd', name: 'fastify-msm non-sticky, read-only', family: 'msm', route: '/read', setup: msm() },
  { key: 'e', name: 'fastify-msm non-sticky, modifying', family: 'msm', route: '/write', setup: msm() },
  { key: 'm', name: 'fastify-msm non-sticky, 90/10 read/modify', family: 'msm', route: '/mix', setup: msm() },
  { key: 'f', name: "fastify-msm lockingMode 'all', modifying", family: 'msm', route: '/write', setup: msm({ lockingMode: 'all', lockTimeout: 10_000 }) },
  { key: 'g', name: 'fastify-msm sticky, read-only', family: 'msm', route: '/read', setup: msm({ sticky: true }) },
  { key: 'h', name: 'fastify-msm non-sticky, read-only, stats: false', family: 'msm', route: '/read', setup: msm({ stats: false }) },
  { key: 'd-enc', name: 'fastify-msm non-sticky, read-only, encryption', family: 'msm', route: '/read', setup: msm({ encryption: BENCH_ENCRYPTION }) },
  { key: 'e-enc', name: 'fastify-msm non-sticky, modifying, encryption', family: 'msm', route: '/write', setup: msm({ encryption: BENCH_ENCRYPTION }) },
  { key: 'd-traced', name: 'fastify-msm non-sticky, read-only, every channel subscribed', family: 'msm', route: '/read', setup: msm(), allChannelsSubscribed: true },
  { key: 'e-traced', name: 'fastify-msm non-sticky, modifying, every channel subscribed', family: 'msm', route: '/write', setup: msm(), allChannelsSubscribed: true }
]

/** Session sizes of the sweep (JSON of the attributes), with their labels. */
export const SWEEP_SIZES: ReadonlyArray<{ label: string, bytes: number }> = [
  { label: '200B', bytes: 200 },
  { label: '1KB', bytes: 1024 },
  { label: '10KB', bytes: 10 * 1024 },
  { label: '100KB', bytes: 100 * 1024 }
]

/** The sweep's implementations: main scenarios run again at every size. */
export const SWEEP_IMPLEMENTATIONS: ReadonlyArray<{ base: string, label: string }> = [
  { base: 'd', label: 'fastify-msm read' },
  { base: 'e', label: 'fastify-msm write' },
  { base: 'c', label: 'connect-memcached read' },
  { base: 'cw', label: 'connect-memcached write' }
]

/** A sweep scenario's key: `<main key>@<size label>`, for example `e@10KB`. */
export function sweepKey (base: string, sizeLabel: string): string {
  return `${base}@${sizeLabel}`
}

/** Every sweep scenario, size by size. */
export function sweepScenarios (): Scenario[] {
  return SWEEP_SIZES.flatMap((size) => SWEEP_IMPLEMENTATIONS.map((implementation) => scenarioByKey(sweepKey(implementation.base, size.label))))
}

/** A main scenario by key, or a sweep scenario (`d@100KB`); throws on an unknown key. */
export function scenarioByKey (key: string): Scenario {
  const [baseKey, sizeLabel] = key.split('@') as [string, string | undefined]
  const base = SCENARIOS.find((scenario) => scenario.key === baseKey)
  if (base === undefined) throw new Error(`unknown scenario ${key}; known: ${SCENARIOS.map((scenario) => scenario.key).join(', ')}, or <key>@<size> with size ${SWEEP_SIZES.map((size) => size.label).join(', ')}`)
  if (sizeLabel === undefined) return base
  const size = SWEEP_SIZES.find((candidate) => candidate.label === sizeLabel)
  if (size === undefined) throw new Error(`unknown session size in ${key}; known: ${SWEEP_SIZES.map((candidate) => candidate.label).join(', ')}`)
  return { ...base, key, name: `${base.name}, ${size.label} session`, sessionBytes: size.bytes }
}

export interface Ratio {
  /** Scenario keys: numerator / denominator, of the median req/s. */
  of: string
  to: string
  /** The goal (ratio ≥ goal); absent: printed for information. */
  goal?: number
  note: string
}

/** Issue 17's goals, ratios of medians measured in the same run, and two ratios printed beside them. */
export const RATIOS: readonly Ratio[] = [
  { of: 'd', to: 'floor-read', goal: 0.9, note: 'read-only against the bare client doing its one get' },
  { of: 'e', to: 'floor-write', goal: 0.85, note: 'modifying against the bare client doing a get and 2 sets' },
  { of: 'd', to: 'c', goal: 2.2, note: 'object-attribute read, signed cookies on both sides' },
  { of: 'e', to: 'cw', goal: 1.2, note: 'modifying on both sides' },
  { of: 'm', to: 'cm', goal: 2.0, note: '90/10 read/modify mix on both sides' },
  { of: 'g', to: 'a', goal: 0.7, note: 'sticky read against bare Fastify' },
  { of: 'f', to: 'e', goal: 0.7, note: "the cost of lockingMode 'all'" },
  { of: 'h', to: 'd', note: 'stats: false against stats on (the cost of stats)' },
  { of: 'd-enc', to: 'd', goal: 0.9, note: 'read-only with encryption against without (issue 29)' },
  { of: 'e-enc', to: 'e', goal: 0.9, note: 'modifying with encryption against without (issue 29)' },
  { of: 'd', to: 'c-norolling', note: 'read-only against the peer without rolling' },
  { of: 'd-traced', to: 'd', goal: 0.95, note: 'read-only with a no-op subscriber on every diagnostics channel against none (issue 32)' },
  { of: 'e-traced', to: 'e', goal: 0.95, note: 'modifying with a no-op subscriber on every diagnostics channel against none (issue 32)' }
]
