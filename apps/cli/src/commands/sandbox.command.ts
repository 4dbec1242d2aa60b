import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ChannelError } from '@sinew/channels';
import { MappingError } from '@sinew/mapping';
import {
  formatReport,
  generateClinic,
  simulate,
  type SandboxChannel,
  type SandboxClinic,
  type SimulatorTarget,
} from '@sinew/sandbox';
import { ConfigError, loadConfig } from '@sinew/engine-app/config';

const EXAMPLES = `
Examples:
  $ sinew sandbox                                  # engine + 200 patients, 5 days, 5 messages/s
  $ sinew sandbox --seed 7 --rate 20 --patients 1000 --days 10
  $ sinew sandbox --duration 60 --keep-running     # a minute of traffic, then the API stays up
  $ sinew sandbox --generate-only ./sandbox-messages
  $ sinew sandbox --no-engine --rate 2             # feed the sandbox channels of \`npm start\`

The engine runs the channels in channels/sandbox on its own embedded ledger (--data, default
./sandbox-data; DATABASE_URL and REDIS_URL are ignored), its MLLP listeners on ports 2675 (lab),
2676 (ADT), 2677 (SIU) and 2678 (DFT) (SANDBOX_LAB_MLLP_PORT, SANDBOX_ADT_MLLP_PORT,
SANDBOX_SIU_MLLP_PORT, SANDBOX_DFT_MLLP_PORT) and its HTTP port on 8180 (--http-port). The
same seed and sizes give byte-identical messages. A summary is printed at the end.
Exit status: 0 when every message got AA, 1 otherwise or when start-up fails, 2 for a usage
error. Reference: docs/open-api/sandbox.md`;

/** The sandbox channels' MLLP ports: the variable each channel file reads, and its default. */
export const SANDBOX_PORTS: Record<SandboxChannel, { variable: string; port: number }> = {
  lab: { variable: 'SANDBOX_LAB_MLLP_PORT', port: 2675 },
  adt: { variable: 'SANDBOX_ADT_MLLP_PORT', port: 2676 },
  siu: { variable: 'SANDBOX_SIU_MLLP_PORT', port: 2677 },
  dft: { variable: 'SANDBOX_DFT_MLLP_PORT', port: 2678 },
};
export const SANDBOX_HTTP_PORT = 8180;

interface SandboxOptions {
  seed: number;
  rate: number;
  patients: number;
  days: number;
  duration?: number;
  startDate?: string;
  data: string;
  channels?: string;
  httpPort: number;
  host: string;
  engine: boolean;
  keepRunning?: boolean;
  generateOnly?: string;
}

function wholeNumber(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

function positiveNumber(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0) || n > max) {
      throw new InvalidArgumentError(`expected a number above 0, at most ${max}`);
    }
    return n;
  };
}

function isoDate(value: string): string {
  if (
    !/^\d{4}-\d{2}-\d{2}$/.test(value) ||
    new Date(`${value}T00:00:00Z`).toISOString().slice(0, 10) !== value
  ) {
    throw new InvalidArgumentError('expected a date, YYYY-MM-DD');
  }
  return value;
}

/** The channel folder: ./channels/sandbox where it exists, else the one shipped with Sinew. */
function defaultChannels(): string {
  if (existsSync(join('channels', 'sandbox'))) return join('channels', 'sandbox');
  return resolve(__dirname, '..', 'channels', 'sandbox');
}

/** A port from the environment variable that the channel files read, or its default. */
function portOf(channel: SandboxChannel): number {
  const { variable, port } = SANDBOX_PORTS[channel];
  const text = process.env[variable];
  if (text === undefined || text === '') return port;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65_535) {
    throw new InvalidArgumentError(`${variable} must be a port number from 1 to 65535`);
  }
  return n;
}

/** The clinic for the options; with a duration and no --days, enough days to last it. */
function clinicFor(options: SandboxOptions, daysGiven: boolean): SandboxClinic {
  const base = {
    seed: options.seed,
    patients: options.patients,
    ...(options.startDate ? { startDate: options.startDate } : {}),
  };
  let clinic = generateClinic({ ...base, days: options.days });
  if (daysGiven || options.duration === undefined) return clinic;
  const wanted = options.rate * options.duration;
  while (clinic.messages.length < wanted && clinic.options.days < 366) {
    const perDay = Math.max(1, clinic.messages.length / clinic.options.days);
    const days = Math.min(366, Math.max(clinic.options.days + 1, Math.ceil(wanted / perDay)));
    clinic = generateClinic({ ...base, days });
  }
  return clinic;
}

/** Writes one file per message, numbered in sending order, and an index of them. */
function writeMessages(dir: string, clinic: SandboxClinic): void {
  mkdirSync(dir, { recursive: true });
  const index = ['seq\tfile\tchannel\ttype\tcontrol_id\tpatient\tat'];
  clinic.messages.forEach((m, i) => {
    const seq = String(i + 1).padStart(7, '0');
    const file = `${seq}-${m.channel}-${m.type.replace('^', '_')}.hl7`;
    writeFileSync(join(dir, file), m.text);
    index.push([seq, file, m.channel, m.type, m.controlId, m.patient, m.at].join('\t'));
  });
  writeFileSync(join(dir, 'index.tsv'), `${index.join('\n')}\n`);
}

function counts(clinic: SandboxClinic): string {
  const byType = new Map<string, number>();
  for (const m of clinic.messages) byType.set(m.type, (byType.get(m.type) ?? 0) + 1);
  return [...byType]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([t, n]) => `${t}=${n}`)
    .join(' ');
}

async function runSandbox(options: SandboxOptions, daysGiven: boolean): Promise<number> {
  const out = (text: string) => process.stdout.write(text);
  const err = (text: string) => process.stderr.write(text);
  const clinic = clinicFor(options, daysGiven);
  const { patients, days, startDate } = clinic.options;
  const what =
    `seed ${options.seed}: ${patients} patients, ${clinic.practitioners.length} practitioners, ` +
    `${days} clinic day${days === 1 ? '' : 's'} from ${startDate}, ${clinic.appointments.length} appointments, ` +
    `${clinic.messages.length} messages`;

  if (options.generateOnly !== undefined) {
    writeMessages(options.generateOnly, clinic);
    out(`sinew sandbox: ${what} written to ${options.generateOnly}\n`);
    out(`by type: ${counts(clinic)}\n`);
    return 0;
  }

  const targets = {} as Record<SandboxChannel, SimulatorTarget>;
  for (const channel of Object.keys(SANDBOX_PORTS) as SandboxChannel[]) {
    targets[channel] = { host: options.host, port: portOf(channel) };
  }

  let running: { stop(): Promise<void>; httpPort: number } | undefined;
  if (options.engine) {
    const env: NodeJS.ProcessEnv = { ...process.env };
    // The sandbox keeps to its own embedded ledger and in-process queue.
    delete env.DATABASE_URL;
    delete env.DATABASE_SCHEMA;
    delete env.REDIS_URL;
    env.SINEW_CHANNELS_DIR = options.channels ?? defaultChannels();
    env.SINEW_DATA_DIR = options.data;
    env.SINEW_RECONCILIATIONS_DIR = join(options.data, 'reconciliations');
    env.SINEW_HTTP_PORT = String(options.httpPort);
    env.SINEW_WATCH = 'false';
    env.SINEW_LOG_LEVEL = process.env.SINEW_LOG_LEVEL ?? 'warn';
    try {
      mkdirSync(options.data, { recursive: true });
      const config = loadConfig(env);
      const { startEngine } = await import('@sinew/engine-app/run');
      const { createLogger } = await import('@sinew/engine');
      const pino = (await import('pino')).default;
      // Engine logs go to stderr: stdout is the sandbox's own report.
      running = await startEngine(config, createLogger(config.SINEW_LOG_LEVEL, pino.destination(2)));
    } catch (e) {
      if (e instanceof ChannelError)
        err(`sinew sandbox: the sandbox channels do not compile:\n${e.message}\n`);
      else if (e instanceof ConfigError || e instanceof MappingError) err(`sinew sandbox: ${e.message}\n`);
      else {
        const message = e instanceof Error ? e.message : String(e);
        err(`sinew sandbox: the engine did not start: ${message}\n`);
        if (/EADDRINUSE/.test(message)) {
          err(
            'sinew sandbox: a sandbox port is taken; if `npm start` serves the sandbox channels, ' +
              'feed them with --no-engine\n',
          );
        }
      }
      return 1;
    }
    out(
      `sinew sandbox: engine on http://127.0.0.1:${running.httpPort} with ${env.SINEW_CHANNELS_DIR}, data in ${options.data}\n`,
    );
  }

  const ports = (Object.keys(targets) as SandboxChannel[]).map((c) => `${c} ${targets[c].port}`).join(', ');
  out(`sinew sandbox: ${what}; sending at ${options.rate}/s to ${options.host} (${ports})\n`);
  const controller = new AbortController();
  let signals = 0;
  let stopRequested: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (stopRequested = r));
  const onSignal = () => {
    signals++;
    if (signals > 2) process.exit(130);
    controller.abort();
    stopRequested();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const report = await simulate(clinic.messages, {
      targets,
      rate: options.rate,
      signal: controller.signal,
      ...(options.duration !== undefined ? { durationMs: options.duration * 1000 } : {}),
    });
    out(formatReport(report));
    const allAccepted =
      Object.keys(report.failures).length === 0 &&
      Object.entries(report.acks).every(([code, n]) => n === 0 || code === 'AA' || code === 'CA');
    if (running && options.keepRunning && !controller.signal.aborted) {
      out(
        `sinew sandbox: the engine keeps running on http://127.0.0.1:${running.httpPort}; Ctrl-C stops it\n`,
      );
      await stopped;
    }
    return allAccepted ? 0 : 1;
  } finally {
    if (running) await running.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function registerSandbox(program: Command): void {
  program
    .command('sandbox')
    .description(
      'run a synthetic clinic: generated patients, appointments, results and charges sent through the sandbox channels',
    )
    .addOption(
      new Option('--seed <n>', 'seed of the generated clinic').argParser(wholeNumber(0, 2 ** 31)).default(1),
    )
    .addOption(new Option('--rate <r>', 'messages per second').argParser(positiveNumber(10_000)).default(5))
    .addOption(
      new Option('--patients <p>', 'patients of the clinic')
        .argParser(wholeNumber(1, 1_000_000))
        .default(200),
    )
    .addOption(
      new Option('--days <d>', 'clinic days (weekdays) of traffic').argParser(wholeNumber(1, 366)).default(5),
    )
    .addOption(
      new Option('--duration <s>', 'stop sending after this many seconds').argParser(
        positiveNumber(31_536_000),
      ),
    )
    .addOption(
      new Option('--start-date <date>', 'first day of the clinic, YYYY-MM-DD (default 2026-03-02)').argParser(
        isoDate,
      ),
    )
    .addOption(
      new Option('--data <dir>', "the sandbox engine's embedded ledger folder").default('sandbox-data'),
    )
    .addOption(new Option('--channels <dir>', 'the sandbox channel folder (default channels/sandbox)'))
    .addOption(
      new Option('--http-port <port>', "the sandbox engine's HTTP port (API, /health)")
        .argParser(wholeNumber(0, 65_535))
        .default(SANDBOX_HTTP_PORT),
    )
    .addOption(
      new Option('--host <host>', 'address of the MLLP listeners the traffic goes to').default('127.0.0.1'),
    )
    .addOption(
      new Option('--no-engine', 'send to listeners already running (the sandbox channels of `npm start`)'),
    )
    .addOption(
      new Option('--keep-running', 'after the traffic, keep the engine (and its API) running until Ctrl-C'),
    )
    .addOption(
      new Option('--generate-only <dir>', 'write the messages to files in <dir> instead of sending them'),
    )
    .addHelpText('after', EXAMPLES)
    .exitOverride((e) => {
      process.exit(e.exitCode === 0 ? 0 : 2);
    })
    .action(async (options: SandboxOptions, command: Command) => {
      const daysGiven = command.getOptionValueSource('days') === 'cli';
      let code: number;
      try {
        code = await runSandbox(options, daysGiven);
      } catch (e) {
        process.stderr.write(`sinew sandbox: ${e instanceof Error ? e.message : String(e)}\n`);
        code = e instanceof InvalidArgumentError ? 2 : 1;
      }
      // The engine's timers and sockets are closed by now; exit without waiting on stragglers.
      process.exit(code);
    });
}
