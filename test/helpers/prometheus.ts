/** One metric family parsed from the Prometheus text format: samples keyed by name and sorted labels. */
export interface ParsedFamily {
  type: string
  help: string
  samples: Map<string, number>
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy

/**
 * Parses the text exposition format (0.0.4) into families. Samples are keyed
 * `name{a="1",b="2"}` with the labels sorted by name, so that two expositions
 * that order labels differently compare equal. Throws on a malformed line, a
 * sample before its family's TYPE line, or a repeated family or sample.
 */
export function parseExposition (text: string): Map<string, ParsedFamily> {
  const families = new Map<string, ParsedFamily>()
  let current: { name: string, family: ParsedFamily } | undefined
  for (const line of text.split('\n')) {
    if (line === '') continue
    const help = /^# HELP (\S+) (.*)$/.exec(line)
    if (help !== null) {
      const [, name, text] = help as unknown as [string, string, string]
      if (families.has(name)) throw new Error(`family ${name} appears twice`)
      current = { name, family: { type: '', help: text, samples: new Map() } }
      families.set(name, current.family)
      continue
    }
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (type !== null) {
      if (current === undefined || current.name !== type[1]) throw new Error(`TYPE without HELP: ${line}`)
      current.family.type = type[2] as string
      continue
    }
    const sample = SAMPLE.exec(line)
    if (sample === null || current === undefined || current.family.type === '') throw new Error(`unexpected line: ${line}`)
    const [, name, labelText = '', value] = sample as unknown as [string, string, string | undefined, string]
    const family = current.name
    const suffixes = current.family.type === 'histogram' ? ['_bucket', '_sum', '_count'] : ['']
    if (!suffixes.some((suffix) => name === family + suffix)) throw new Error(`sample ${name} outside its family ${current.name}`)
    const labels: Array<[string, string]> = []
    LABEL.lastIndex = 0
    while (LABEL.lastIndex < labelText.length) {
      const match = LABEL.exec(labelText)
      if (match === null) throw new Error(`bad labels: ${line}`)
      labels.push([match[1] as string, match[2] as string])
    }
    labels.sort(([a], [b]) => a < b ? -1 : 1)
    const key = `${name}{${labels.map(([label, text]) => `${label}="${text}"`).join(',')}}`
    if (current.family.samples.has(key)) throw new Error(`sample ${key} appears twice`)
    current.family.samples.set(key, Number(value))
  }
  return families
}

/** Plain objects, for assert.deepEqual and readable diffs. */
export function plainFamilies (families: Map<string, ParsedFamily>): Record<string, { type: string, help: string, samples: Record<string, number> }> {
  return Object.fromEntries([...families].map(([name, family]) => [name, { type: family.type, help: family.help, samples: Object.fromEntries(family.samples) }]))
}
