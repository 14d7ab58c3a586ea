// The benchmark's SVG charts: the main scenarios, and the session size sweep.
import type { Row } from './report.js'
import { SWEEP_IMPLEMENTATIONS, SWEEP_SIZES, sweepKey, type Family } from './scenarios.js'

const WIDTH = 980
const LABEL_WIDTH = 540
const BAR_HEIGHT = 22
const GAP = 6

const FAMILY_COLORS: Record<Family, string> = { bare: '#555555', floor: '#3a6ea5', peer: '#9a9a9a', msm: '#2f7d32' }
const SWEEP_COLORS = ['#2f7d32', '#8bc48a', '#6b6b6b', '#c4c4c4']

function escape (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

const integer = (value: number): string => Math.round(value).toLocaleString('en-US')

/** One horizontal bar with its label on the left and its value on the right. */
function bar (y: number, label: string, value: number, max: number, color: string): string {
  const length = Math.max(2, ((WIDTH - LABEL_WIDTH - 80) * value) / max)
  return `<text x="${LABEL_WIDTH - 8}" y="${y + 16}" text-anchor="end">${escape(label)}</text>` +
    `<rect x="${LABEL_WIDTH}" y="${y}" width="${length.toFixed(1)}" height="${BAR_HEIGHT}" fill="${color}"/>` +
    `<text x="${(LABEL_WIDTH + length + 6).toFixed(1)}" y="${y + 16}">${integer(value)}</text>`
}

function svg (height: number, title: string, body: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="13">
  <rect width="${WIDTH}" height="${height}" fill="#ffffff"/>
  <text x="10" y="20" font-weight="bold">${escape(title)}</text>
  ${body.join('\n  ')}
</svg>
`
}

function legend (y: number, entries: Array<{ label: string, color: string }>): string {
  let x = 10
  return entries.map((entry) => {
    const item = `<rect x="${x}" y="${y}" width="12" height="12" fill="${entry.color}"/><text x="${x + 17}" y="${y + 11}">${escape(entry.label)}</text>`
    x += 30 + entry.label.length * 7
    return item
  }).join('')
}

/** Median req/s of every main scenario, coloured by whose code serves it. */
export function mainChart (rows: Row[], caption: string): string {
  const max = Math.max(...rows.map((row) => row.reqPerSec))
  const top = 56
  const body = [legend(32, [
    { label: 'bare Fastify', color: FAMILY_COLORS.bare },
    { label: 'floor (memcached client alone)', color: FAMILY_COLORS.floor },
    { label: '@fastify/session', color: FAMILY_COLORS.peer },
    { label: 'fastify-msm', color: FAMILY_COLORS.msm }
  ])]
  rows.forEach((row, index) => body.push(bar(top + index * (BAR_HEIGHT + GAP), `(${row.key}) ${row.name}`, row.reqPerSec, max, FAMILY_COLORS[row.family])))
  return svg(top + rows.length * (BAR_HEIGHT + GAP) + 10, `Requests per second, ${caption}`, body)
}

/** Median req/s of the sweep: one group of bars per session size. */
export function sweepChart (rows: Row[], caption: string): string {
  const max = Math.max(...rows.map((row) => row.reqPerSec))
  let y = 56
  const body = [legend(32, SWEEP_IMPLEMENTATIONS.map((implementation, index) => ({ label: implementation.label, color: SWEEP_COLORS[index] as string })))]
  for (const size of SWEEP_SIZES) {
    const group = SWEEP_IMPLEMENTATIONS.map((implementation, index) => ({ implementation, index, row: rows.find((row) => row.key === sweepKey(implementation.base, size.label)) }))
    if (group.every((entry) => entry.row === undefined)) continue
    body.push(`<text x="10" y="${y + 16}" font-weight="bold">${size.label} session</text>`)
    for (const entry of group) {
      if (entry.row === undefined) continue
      body.push(bar(y, entry.implementation.label, entry.row.reqPerSec, max, SWEEP_COLORS[entry.index] as string))
      y += BAR_HEIGHT + GAP
    }
    y += 10
  }
  return svg(y + 4, `Requests per second by session size, ${caption}`, body)
}
