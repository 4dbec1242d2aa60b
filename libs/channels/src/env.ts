import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * Where `${VAR}` references take their values: the process environment over the selected
 * environment's values file (`environments/<SINEW_ENV>.yaml`, `NAME: value` lines), so the same
 * channel files promote unchanged from test to production.
 */
export interface ChannelEnvironment {
  /** The selected environment's name (`SINEW_ENV`), when one is. */
  name?: string;
  values: Readonly<Record<string, string | undefined>>;
  /** Unset references are errors (deploy, `lint --env`); otherwise warnings. */
  strict: boolean;
  /** Folder that relative `${file:PATH}` references start from (default: the working folder). */
  baseDir?: string;
}

export class EnvironmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvironmentError';
  }
}

/** Variable names whose values are masked wherever the configuration is shown. */
const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL)/i;

/**
 * The environment a process runs in: `SINEW_ENV` (or `name`) selects
 * `<SINEW_ENV_DIR or ./environments>/<name>.yaml`, whose values the process environment
 * overrides. Throws EnvironmentError when the selected file cannot be read.
 */
export function loadEnvironment(
  processEnv: NodeJS.ProcessEnv = process.env,
  options: { name?: string; dir?: string; strict?: boolean } = {},
): ChannelEnvironment {
  const name = options.name ?? processEnv.SINEW_ENV;
  if (!name) return { values: processEnv, strict: options.strict ?? true };
  if (!/^[A-Za-z0-9_-]+$/.test(name))
    throw new EnvironmentError(`environment name ${JSON.stringify(name)}: letters, digits, _ and - only`);
  const dir = resolve(options.dir ?? processEnv.SINEW_ENV_DIR ?? 'environments');
  const file = join(dir, `${name}.yaml`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new EnvironmentError(
      `environment ${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new EnvironmentError(
      `environment ${name}: ${file} is not YAML: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  const values: Record<string, string | undefined> = {};
  if (data !== null && data !== undefined) {
    if (typeof data !== 'object' || Array.isArray(data))
      throw new EnvironmentError(`environment ${name}: ${file} must map NAME: value`);
    for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(k))
        throw new EnvironmentError(
          `environment ${name}: ${file}: ${k} is not a variable name (capitals, digits, _)`,
        );
      if (v !== null && typeof v === 'object')
        throw new EnvironmentError(`environment ${name}: ${file}: ${k} must be a text, number or boolean`);
      values[k] = v === null || v === undefined ? undefined : String(v as string | number | boolean);
    }
  }
  for (const [k, v] of Object.entries(processEnv)) if (v !== undefined) values[k] = v;
  return { name, values, strict: options.strict ?? true };
}

/** A `${…}` reference: `${NAME}`, `${NAME:-default}` or `${file:PATH}`. NAME is in capitals. */
const REF = /\$\{(?:file:([^}]+)|([A-Z_][A-Z0-9_]*)(?::-([^}]*))?)\}/g;
const WHOLE = /^\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}$/;

export interface EnvFinding {
  path: Array<string | number>;
  kind: 'unset' | 'file';
  message: string;
}

export interface ResolvedDocument {
  data: unknown;
  findings: EnvFinding[];
  /** Values that came from secrets (`${file:…}`, or variables named like secrets): masked on display. */
  secrets: Set<string>;
  /** Paths of values that held a reference (`sinew config show` marks them). */
  referenced: Array<Array<string | number>>;
}

/**
 * Replaces every reference in every string of the document. A value that is one whole
 * `${NAME}` takes the variable's type (`port: ${PORT}` is a number). Connector templates such
 * as `${messageId}` (not capitals) are left as they are.
 */
export function resolveReferences(value: unknown, env: ChannelEnvironment): ResolvedDocument {
  const out: ResolvedDocument = { data: undefined, findings: [], secrets: new Set(), referenced: [] };
  const base = env.baseDir ?? process.cwd();
  const walk = (v: unknown, path: Array<string | number>): unknown => {
    if (typeof v === 'string') {
      if (!v.includes('${')) return v;
      let touched = false;
      const whole = WHOLE.exec(v);
      if (whole) {
        const name = whole[1] as string;
        const got = env.values[name] ?? whole[2];
        if (got !== undefined) {
          out.referenced.push(path);
          if (SECRET_NAME.test(name) && got !== '') out.secrets.add(got);
          if (/^-?\d+(\.\d+)?$/.test(got)) return Number(got);
          if (got === 'true' || got === 'false') return got === 'true';
        }
      }
      const text = v.replace(
        REF,
        (_m, filePath: string | undefined, name: string | undefined, fallback: string | undefined) => {
          touched = true;
          if (filePath !== undefined) {
            const full = isAbsolute(filePath) ? filePath : join(base, filePath);
            try {
              const secret = readFileSync(full, 'utf8').replace(/\r?\n$/, '');
              if (secret !== '') out.secrets.add(secret);
              return secret;
            } catch (err) {
              out.findings.push({
                path,
                kind: 'file',
                message: `secret file ${filePath} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
              });
              return '';
            }
          }
          const varName = name as string;
          const got = env.values[varName];
          if (got !== undefined) {
            if (SECRET_NAME.test(varName) && got !== '') out.secrets.add(got);
            return got;
          }
          if (fallback !== undefined) return fallback;
          out.findings.push({
            path,
            kind: 'unset',
            message: `environment variable ${varName} has no value${env.name ? ` in environment ${env.name}` : ''} (write \${${varName}:-default} for a default)`,
          });
          return '';
        },
      );
      if (touched) out.referenced.push(path);
      return text;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = walk(x, [...path, k]);
      return o;
    }
    return v;
  };
  out.data = walk(value, []);
  return out;
}

/** Secrets shorter than this are masked only where they stand alone, not inside a word. */
const SHORT_SECRET = 6;

/**
 * Replaces every secret value inside a text with `******`. A short secret (`x`, `pass`) is
 * replaced only where no letter or digit touches it, so that `max_file_bytes` stays readable
 * when a password is `x`; a longer one wherever it occurs.
 */
export function maskSecrets(text: string, secrets: ReadonlySet<string>): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s.length >= SHORT_SECRET) out = out.split(s).join('******');
    else {
      const literal = s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      out = out.replace(new RegExp(`(?<![A-Za-z0-9])${literal}(?![A-Za-z0-9])`, 'g'), '******');
    }
  }
  return out;
}
