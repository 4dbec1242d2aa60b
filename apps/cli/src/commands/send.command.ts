import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { Presets, SingleBar } from 'cli-progress';
import { Hl7ParseError, splitMessages, type Hl7Message } from '@sinew/hl7v2';
import { MllpClient, MllpErrorCode, readTlsFiles, type MllpError, type MllpSendResult } from '@sinew/mllp';

const EXAMPLES = `
Examples:
  $ sinew send --port 2575 channels/samples/adt-a01.hl7
  $ sinew send --host lab.example --port 2575 --tls --ca ca.pem results/*.hl7
  $ sinew send --host ehr.example --port 6661 --ca ca.pem --cert me.pem --key me.key batch.hl7

Each file may hold one message, several, or an FHS/BHS batch. Messages are sent one at a time
on one connection, each after the previous one's ACK, with segments ending in CR.
Output: one tab-separated line per message: file, index in the file, MSH-10, then the ACK
code (AA, AE, AR, CA, CE, CR), "timeout", "error" or "not-sent", then the ACK's text.

Exit status: 0 when every message got AA or CA, 1 otherwise (a negative ACK, a timeout, a
connection failure, a file that cannot be read), 2 for a usage error.
Reference: docs/mllp.md`;

/** Above this many messages a progress bar is drawn on stderr (when it is a terminal). */
const PROGRESS_THRESHOLD = 20;

interface SendOptions {
  host: string;
  port: number;
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  timeoutMs: number;
  connectTimeoutMs: number;
}

interface Outgoing {
  file: string;
  index: number;
  message: Hl7Message;
}

function positiveInt(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
      throw new InvalidArgumentError(`expected a whole number from 1 to ${max}`);
    }
    return n;
  };
}

/** Every message of every file, segments ending in CR; unreadable files are reported and counted. */
function readMessages(
  files: string[],
  stderr: (t: string) => void,
): { messages: Outgoing[]; failedFiles: number } {
  const messages: Outgoing[] = [];
  let failedFiles = 0;
  for (const file of files) {
    try {
      const found = splitMessages(readFileSync(file === '-' ? 0 : file));
      found.forEach((message, i) => {
        for (const segment of message.segments) if (segment.terminator !== '\r') segment.terminator = '\r';
        messages.push({ file, index: i + 1, message });
      });
    } catch (err) {
      failedFiles++;
      const why =
        err instanceof Hl7ParseError
          ? err.toString()
          : `cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
      stderr(`sinew send: ${file}: ${why}\n`);
    }
  }
  return { messages, failedFiles };
}

/** The result column and the detail column of one output line. */
function describe(result: MllpSendResult): [string, string] {
  if (result.code !== '')
    return [result.code, [result.text, ...result.errors.filter((e) => e !== result.text)].join('; ')];
  if (result.status === 'timeout') return ['timeout', String(result.error ?? '')];
  return ['error', String(result.error ?? result.status)];
}

/** Failures after which the messages left are not sent: there is no connection to send them on. */
const CANNOT_CONNECT = new Set<string>([
  MllpErrorCode.ConnectFailed,
  MllpErrorCode.ConnectTimeout,
  MllpErrorCode.TlsHandshake,
]);

async function runSend(files: string[], options: SendOptions): Promise<number> {
  const out = (text: string) => process.stdout.write(text);
  const err = (text: string) => process.stderr.write(text);
  let tls: ReturnType<typeof readTlsFiles> | undefined;
  try {
    tls = options.tls ? readTlsFiles(options) : undefined;
  } catch (e) {
    err(`sinew send: cannot read a TLS file (${(e as NodeJS.ErrnoException).code ?? String(e)})\n`);
    return 2;
  }
  const { messages, failedFiles } = readMessages(files, err);
  const client = new MllpClient({
    host: options.host,
    port: options.port,
    tls,
    ackTimeoutMs: options.timeoutMs,
    connectTimeoutMs: options.connectTimeoutMs,
  });

  const showBar = messages.length > PROGRESS_THRESHOLD && process.stderr.isTTY === true;
  const bar = showBar
    ? new SingleBar(
        { stream: process.stderr, format: 'sending [{bar}] {value}/{total}', hideCursor: true },
        Presets.shades_classic,
      )
    : undefined;
  // With the bar on the same terminal, lines would tear it: they are printed once it is done.
  const deferred: string[] = [];
  const print = (line: string) => (bar && process.stdout.isTTY ? deferred.push(line) : out(line));
  bar?.start(messages.length, 0);

  const counts = { accepted: 0, other: 0 };
  let unreachable: MllpError | undefined;
  for (const { file, index, message } of messages) {
    let columns: [string, string];
    if (unreachable) {
      columns = ['not-sent', String(unreachable)];
    } else {
      const result = await client.send(message);
      columns = describe(result);
      if (result.status === 'accepted') counts.accepted++;
      if (result.status === 'connection_failed' && result.error && CANNOT_CONNECT.has(result.error.code)) {
        unreachable = result.error;
      }
    }
    if (columns[0] !== 'AA' && columns[0] !== 'CA') counts.other++;
    print(`${[file, index, message.controlId, ...columns].join('\t')}\n`);
    bar?.increment();
  }
  bar?.stop();
  for (const line of deferred) out(line);
  await client.close();

  err(
    `sinew send: ${messages.length} message(s) to ${options.host}:${options.port}: ` +
      `${counts.accepted} accepted, ${counts.other} not accepted` +
      (failedFiles > 0 ? `, ${failedFiles} file(s) unreadable` : '') +
      '\n',
  );
  return counts.other > 0 || failedFiles > 0 ? 1 : 0;
}

export function registerSend(program: Command): void {
  program
    .command('send')
    .description('send HL7 v2 messages over MLLP and print the acknowledgement of each')
    .argument('<files...>', 'files of one message, several messages or a batch (- reads standard input)')
    .addOption(new Option('--host <host>', 'receiver host name or address').default('127.0.0.1'))
    .addOption(
      new Option('--port <port>', 'receiver port').argParser(positiveInt(65_535)).makeOptionMandatory(),
    )
    .addOption(new Option('--tls', 'connect with TLS'))
    .addOption(
      new Option('--ca <file>', "PEM file of the CA that signed the receiver's certificate").implies({
        tls: true,
      }),
    )
    .addOption(new Option('--cert <file>', 'PEM client certificate, for mutual TLS').implies({ tls: true }))
    .addOption(new Option('--key <file>', 'PEM private key of --cert').implies({ tls: true }))
    .addOption(
      new Option('--timeout-ms <ms>', 'longest wait for each ACK')
        .argParser(positiveInt(86_400_000))
        .default(30_000),
    )
    .addOption(
      new Option('--connect-timeout-ms <ms>', 'longest wait for the connection')
        .argParser(positiveInt(86_400_000))
        .default(10_000),
    )
    .addHelpText('after', EXAMPLES)
    .exitOverride((e) => {
      process.exit(e.exitCode === 0 ? 0 : 2);
    })
    .action(async (files: string[], options: SendOptions, command: Command) => {
      if (Boolean(options.cert) !== Boolean(options.key)) command.error('--cert and --key go together');
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
        throw e;
      });
      process.exitCode = await runSend(files, options);
    });
}
