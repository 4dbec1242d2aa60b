import { readFileSync } from 'node:fs';
import { startEhr, type EhrStandin } from './ehr';
import { startPms, type JsonObject, type PmsStandin } from './pms';
import type { MllpAddress } from './pms-outbox';

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
 * | `--pms-db` | `PMS_DB_FILE` | none: the PMS's SQLite database in memory |
 * | `--pms-export-dir` | `PMS_EXPORT_DIR` | none: `POST /api/export` answers 409 |
 * | `--pms-adt-mllp` | `PMS_ADT_MLLP` | none: `host:port` the PMS sends ADT to |
 * | `--pms-siu-mllp` | `PMS_SIU_MLLP` | none: `host:port` the PMS sends SIU to |
 * | `--pms-dft-mllp` | `PMS_DFT_MLLP` | none: `host:port` the PMS sends DFT to |
 * | `--pms-patients` | `PMS_PATIENTS_FILE` | none: a JSON array of patients stored at start |
 * | `--pms-hl7-port` | `PMS_HL7_PORT` | none: the port the PMS takes SIU/ADT from Sinew on (MLLP) |
 *
 * Prints one JSON line per listener started (`{"msg":"ehr listening","url":…}`), nothing per
 * request. SIGINT/SIGTERM stop both and exit 0; a bad setting exits 2 with a message.
 */
export interface StandinsConfig {
  host: string;
  ehrPort: number;
  pmsPort: number;
  ehrBasePath: string;
  pmsDbFile: string | undefined;
  pmsExportDir: string | undefined;
  pmsAdtMllp: MllpAddress | undefined;
  pmsSiuMllp: MllpAddress | undefined;
  pmsDftMllp: MllpAddress | undefined;
  pmsPatientsFile: string | undefined;
  pmsHl7Port: number | undefined;
}

type Setting = keyof StandinsConfig;

const FLAGS: Record<string, Setting> = {
  '--host': 'host',
  '--ehr-port': 'ehrPort',
  '--pms-port': 'pmsPort',
  '--ehr-base-path': 'ehrBasePath',
  '--pms-db': 'pmsDbFile',
  '--pms-export-dir': 'pmsExportDir',
  '--pms-adt-mllp': 'pmsAdtMllp',
  '--pms-siu-mllp': 'pmsSiuMllp',
  '--pms-dft-mllp': 'pmsDftMllp',
  '--pms-patients': 'pmsPatientsFile',
  '--pms-hl7-port': 'pmsHl7Port',
};

/** Reads the settings from the command line and environment; throws on a bad one. */
export function readConfig(argv: string[], env: NodeJS.ProcessEnv): StandinsConfig {
  const given: Partial<Record<Setting, string>> = {
    host: env.STANDINS_HOST,
    ehrPort: env.EHR_PORT,
    pmsPort: env.PMS_PORT,
    ehrBasePath: env.EHR_BASE_PATH,
    pmsDbFile: env.PMS_DB_FILE,
    pmsExportDir: env.PMS_EXPORT_DIR,
    pmsAdtMllp: env.PMS_ADT_MLLP,
    pmsSiuMllp: env.PMS_SIU_MLLP,
    pmsDftMllp: env.PMS_DFT_MLLP,
    pmsPatientsFile: env.PMS_PATIENTS_FILE,
    pmsHl7Port: env.PMS_HL7_PORT,
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
    pmsDbFile: given.pmsDbFile || undefined,
    pmsExportDir: given.pmsExportDir || undefined,
    pmsAdtMllp: address('PMS ADT address', given.pmsAdtMllp),
    pmsSiuMllp: address('PMS SIU address', given.pmsSiuMllp),
    pmsDftMllp: address('PMS DFT address', given.pmsDftMllp),
    pmsPatientsFile: given.pmsPatientsFile || undefined,
    pmsHl7Port:
      given.pmsHl7Port === undefined || given.pmsHl7Port === ''
        ? undefined
        : port('PMS HL7 port', given.pmsHl7Port, 0),
  };
}

function port(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535)
    throw new Error(`${name} must be a port number 0-65535, got "${value}"`);
  return n;
}

/** `host:port`, `[v6]:port` or a bare port (on 127.0.0.1). */
function address(name: string, value: string | undefined): MllpAddress | undefined {
  if (value === undefined || value === '') return undefined;
  const m = /^(?:\[([^\]]+)\]:|([^:[\]]+):)?(\d+)$/.exec(value);
  const n = Number(m?.[3]);
  if (!m || n < 1 || n > 65535) throw new Error(`${name} must be host:port, got "${value}"`);
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port: n };
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

const show = (a: MllpAddress | undefined): string | null =>
  a ? `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` : null;

/** Starts both stand-ins; resolves once both listen. */
export async function runStandins(config: StandinsConfig): Promise<{ ehr: EhrStandin; pms: PmsStandin }> {
  const patients = config.pmsPatientsFile ? readPatients(config.pmsPatientsFile) : [];
  const ehr = await startEhr({ host: config.host, port: config.ehrPort, basePath: config.ehrBasePath });
  line({ msg: 'ehr listening', url: ehr.url });
  let pms: PmsStandin;
  try {
    pms = await startPms({
      host: config.host,
      port: config.pmsPort,
      patients,
      ...(config.pmsDbFile ? { dbFile: config.pmsDbFile } : {}),
      ...(config.pmsExportDir ? { exportDir: config.pmsExportDir } : {}),
      ...(config.pmsHl7Port !== undefined ? { inbound: { port: config.pmsHl7Port } } : {}),
      notify: {
        ...(config.pmsAdtMllp ? { adt: config.pmsAdtMllp } : {}),
        ...(config.pmsSiuMllp ? { siu: config.pmsSiuMllp } : {}),
        ...(config.pmsDftMllp ? { dft: config.pmsDftMllp } : {}),
      },
    });
  } catch (err) {
    await ehr.stop();
    throw err;
  }
  line({
    msg: 'pms listening',
    url: pms.url,
    patients: patients.length,
    db: config.pmsDbFile ?? ':memory:',
    notify: { adt: show(config.pmsAdtMllp), siu: show(config.pmsSiuMllp), dft: show(config.pmsDftMllp) },
    hl7: pms.inbound ? pms.inbound.port : null,
  });
  return { ehr, pms };
}
