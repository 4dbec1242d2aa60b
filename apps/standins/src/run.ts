import { readFileSync } from 'node:fs';
import { startEhr, type EhrStandin } from './ehr';
import { startPms, type JsonObject, type PmsStandin } from './pms';

/**
 * Settings of the stand-ins process (apps/standins/src/main.ts), which runs the EHR and PMS
 * stand-ins together, for the demo and for trying channels by hand.
 *
 * Settings (a flag wins over its environment variable):
 *
 * | flag | env | default |
 * |---|---|---|
 * | `--host` | `STANDINS_HOST` | `127.0.0.1` |
 * | `--ehr-port` | `EHR_PORT` | `8090` |
 * | `--pms-port` | `PMS_PORT` | `8091` |
 * | `--ehr-base-path` | `EHR_BASE_PATH` | `/fhir` |
 * | `--pms-patients` | `PMS_PATIENTS_FILE` | none: a JSON array of patients for `GET /api/patients` |
 *
 * Prints one JSON line per listener started (`{"msg":"ehr listening","url":…}`), nothing per
 * request. SIGINT/SIGTERM stop both and exit 0; a bad setting exits 2 with a message.
 */
export interface StandinsConfig {
  host: string;
  ehrPort: number;
  pmsPort: number;
  ehrBasePath: string;
  pmsPatientsFile: string | undefined;
}

const FLAGS: Record<string, keyof StandinsConfig> = {
  '--host': 'host',
  '--ehr-port': 'ehrPort',
  '--pms-port': 'pmsPort',
  '--ehr-base-path': 'ehrBasePath',
  '--pms-patients': 'pmsPatientsFile',
};

/** Reads the settings from the command line and environment; throws on a bad one. */
export function readConfig(argv: string[], env: NodeJS.ProcessEnv): StandinsConfig {
  const given: Partial<Record<keyof StandinsConfig, string>> = {
    host: env.STANDINS_HOST,
    ehrPort: env.EHR_PORT,
    pmsPort: env.PMS_PORT,
    ehrBasePath: env.EHR_BASE_PATH,
    pmsPatientsFile: env.PMS_PATIENTS_FILE,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const key = FLAGS[flag];
    if (!key) throw new Error(`unknown option ${flag} (known: ${Object.keys(FLAGS).join(', ')})`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    given[key] = value;
  }
  return {
    host: given.host || '127.0.0.1',
    ehrPort: port('EHR port', given.ehrPort, 8090),
    pmsPort: port('PMS port', given.pmsPort, 8091),
    ehrBasePath: given.ehrBasePath ?? '/fhir',
    pmsPatientsFile: given.pmsPatientsFile || undefined,
  };
}

function port(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535)
    throw new Error(`${name} must be a port number 0-65535, got "${value}"`);
  return n;
}

function readPatients(file: string): JsonObject[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'not valid JSON';
    throw new Error(`cannot read the PMS patients file ${file}: ${reason}`);
  }
  if (
    !Array.isArray(parsed) ||
    !parsed.every((p) => typeof p === 'object' && p !== null && !Array.isArray(p))
  ) {
    throw new Error(`the PMS patients file ${file} must hold a JSON array of objects`);
  }
  return parsed as JsonObject[];
}

/** Writes one JSON line to stdout. */
export function line(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(fields)}\n`);
}

/** Starts both stand-ins; resolves once both listen. */
export async function runStandins(config: StandinsConfig): Promise<{ ehr: EhrStandin; pms: PmsStandin }> {
  const patients = config.pmsPatientsFile ? readPatients(config.pmsPatientsFile) : [];
  const ehr = await startEhr({ host: config.host, port: config.ehrPort, basePath: config.ehrBasePath });
  line({ msg: 'ehr listening', url: ehr.url });
  let pms: PmsStandin;
  try {
    pms = await startPms({ host: config.host, port: config.pmsPort, patients });
  } catch (err) {
    await ehr.stop();
    throw err;
  }
  line({ msg: 'pms listening', url: pms.url, patients: patients.length });
  return { ehr, pms };
}
