import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { LintCode } from './codes';
import { compileChannel, type ChannelRegistries, type CompileOptions, type CompiledChannel } from './compile';
import type { LintProblem } from './problem';

/** Channel files (`*.yaml`, not `*.test.yaml`) under `dir` and its subfolders, sorted. */
export function channelFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...channelFiles(path));
    else if (/\.ya?ml$/.test(entry) && !/\.test\.ya?ml$/.test(entry)) out.push(path);
  }
  return out;
}

export interface ChannelSet {
  /** Compiled and enabled: what the engine deploys. */
  channels: CompiledChannel[];
  /** Compiled, with `enabled: false`. */
  disabled: CompiledChannel[];
  /** Every finding of every file, and those across files (ids, listen addresses). */
  problems: LintProblem[];
}

function listenKey(config: unknown): string | undefined {
  const listen = (config as { listen?: { host?: string; port?: number } } | undefined)?.listen;
  if (!listen || typeof listen.port !== 'number' || listen.port === 0) return undefined;
  return `${listen.port}`;
}

function listenHost(config: unknown): string {
  return (config as { listen: { host: string } }).listen.host;
}

const ANY_HOST = new Set(['0.0.0.0', '::', '']);

/** The `<environment>:<resource type>` pairs a `fhir` source takes writes for. */
function writeClaims(ch: CompiledChannel): string[] {
  if (ch.source.type !== 'fhir') return [];
  const config = ch.source.config as { resources?: unknown; environment?: unknown };
  const environment = typeof config.environment === 'string' ? config.environment : 'production';
  return Array.isArray(config.resources)
    ? config.resources.filter((t): t is string => typeof t === 'string').map((t) => `${environment}:${t}`)
    : [];
}

/**
 * Compiles a set of channel files together: each file's own findings, then two channels with
 * one id, or two listeners on one address. `displayPath` names files in findings.
 */
export function compileChannelSet(
  paths: readonly string[],
  registries: ChannelRegistries,
  options: CompileOptions,
  displayPath: (path: string) => string = (p) => relative(process.cwd(), p) || p,
): ChannelSet {
  const set: ChannelSet = { channels: [], disabled: [], problems: [] };
  const ids = new Map<string, CompiledChannel>();
  const listeners = new Map<string, CompiledChannel[]>();
  const writers = new Map<string, CompiledChannel>();
  for (const path of paths) {
    const file = displayPath(path);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      set.problems.push({
        file,
        line: 1,
        column: 1,
        severity: 'error',
        code: LintCode.Unreadable,
        path: '',
        message: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      });
      continue;
    }
    const r = compileChannel(text, file, registries, options);
    set.problems.push(...r.problems);
    const ch = r.channel;
    if (!ch) continue;
    const other = ids.get(ch.id);
    if (other) {
      set.problems.push({
        file,
        ...ch.locate(['id']),
        severity: 'error',
        code: LintCode.DuplicateChannel,
        path: 'id',
        message: `channel id ${ch.id} is also used by ${other.file}`,
      });
      continue;
    }
    ids.set(ch.id, ch);
    if (!ch.spec.enabled) {
      set.disabled.push(ch);
      set.problems.push({
        file,
        ...ch.locate(['enabled']),
        severity: 'warning',
        code: LintCode.Disabled,
        path: 'enabled',
        message: `channel ${ch.id} is disabled (enabled: false): checked, not deployed`,
      });
      continue;
    }
    const port = listenKey(ch.source.config);
    if (port) {
      const same = listeners.get(`${ch.source.type}:${port}`) ?? [];
      const clash = same.find((o) => {
        const a = listenHost(o.source.config);
        const b = listenHost(ch.source.config);
        return a === b || ANY_HOST.has(a) || ANY_HOST.has(b);
      });
      if (clash) {
        set.problems.push({
          file,
          ...ch.locate(['source', 'listen']),
          severity: 'error',
          code: LintCode.DuplicateListen,
          path: 'source.listen',
          message: `channel ${clash.id} (${clash.file}) listens on the same address`,
        });
        continue;
      }
      listeners.set(`${ch.source.type}:${port}`, [...same, ch]);
    }
    const claims = writeClaims(ch);
    const taken = claims.find((c) => writers.has(c));
    if (taken !== undefined) {
      const other = writers.get(taken) as CompiledChannel;
      const [environment, type] = taken.split(':') as [string, string];
      set.problems.push({
        file,
        ...ch.locate(['source', 'resources']),
        severity: 'error',
        code: LintCode.DuplicateWriteType,
        path: 'source.resources',
        message: `channel ${other.id} (${other.file}) also takes FHIR writes of ${type} in ${environment}; one channel per type and environment`,
      });
      continue;
    }
    for (const c of claims) writers.set(c, ch);
    set.channels.push(ch);
  }
  return set;
}

/** Compiles every channel file under `dir`; an empty folder is a warning. */
export function compileChannelDir(
  dir: string,
  registries: ChannelRegistries,
  options: CompileOptions,
): ChannelSet {
  const files = channelFiles(dir);
  const set = compileChannelSet(files, registries, options);
  if (files.length === 0)
    set.problems.push({
      file: relative(process.cwd(), dir) || dir,
      line: 1,
      column: 1,
      severity: 'warning',
      code: LintCode.EmptyFolder,
      path: '',
      message: 'no channel files (*.yaml) in this folder',
    });
  return set;
}
