/** One thing a gate rejects: where, which construct (a stable name tests match), and why. */
export interface Violation {
  /** Path as reported (relative to the repository root for sources; the bundle's name for the bundle). */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  construct: string;
  message: string;
}

export function formatViolation(v: Violation): string {
  return `${v.file}:${v.line}:${v.column}: ${v.construct}: ${v.message}`;
}

export function byPosition(a: Violation, b: Violation): number {
  return a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column;
}
