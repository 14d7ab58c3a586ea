// Shared by scripts/mutation-report.mjs and scripts/mutation-recheck.mjs.

/** The source text a mutant replaces (Stryker's report counts lines and columns from 1). */
export function originalOf (source, { start, end }) {
  const lines = source.split('\n')
  if (start.line === end.line) return lines[start.line - 1].slice(start.column - 1, end.column - 1)
  return [
    lines[start.line - 1].slice(start.column - 1),
    ...lines.slice(start.line, end.line - 1),
    lines[end.line - 1].slice(0, end.column - 1)
  ].join('\n')
}
