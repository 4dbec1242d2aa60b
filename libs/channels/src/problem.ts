import type { LintCode } from './codes';

export type Severity = 'error' | 'warning';

/** One finding about a channel file, at the exact YAML node at fault. */
export interface LintProblem {
  file: string;
  /** 1-based line and column of the node (the key for an unknown key, else the value). */
  line: number;
  column: number;
  severity: Severity;
  code: LintCode;
  /** The path inside the document (`destinations.0.url`), empty for the whole file. */
  path: string;
  message: string;
}

/** `file:line:col severity code message`: the line `sinew lint` and the engine print. */
export function formatProblem(p: LintProblem): string {
  return `${p.file}:${p.line}:${p.column} ${p.severity} ${p.code} ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

export function hasErrors(problems: readonly LintProblem[]): boolean {
  return problems.some((p) => p.severity === 'error');
}

/** Orders findings by file, line and column (the order an editor lists them). */
export function sortProblems(problems: LintProblem[]): LintProblem[] {
  return problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
}

/** Channels that cannot be deployed: every error (and warning) with its place. */
export class ChannelError extends Error {
  constructor(readonly problems: LintProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ChannelError';
  }
}
