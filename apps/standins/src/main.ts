import { line, readConfig, runStandins, type StandinsConfig } from './run';
import type { EhrStandin } from './ehr';
import type { PmsStandin } from './pms';

/** The stand-ins process: `node dist/standins.js [--ehr-port N] [--pms-port N] …` (see run.ts). */
async function main(): Promise<void> {
  let config: StandinsConfig;
  try {
    config = readConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`standins: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  let running: { ehr: EhrStandin; pms: PmsStandin };
  try {
    running = await runStandins(config);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    process.stderr.write(`standins: ${code ? `cannot listen (${code})` : (err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const stop = (signal: string): void => {
    Promise.all([running.ehr.stop(), running.pms.stop()]).then(
      () => {
        line({ msg: 'stopped', signal });
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

void main();
