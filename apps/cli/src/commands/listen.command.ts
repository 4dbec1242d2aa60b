import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_MAX_MESSAGE_BYTES } from '@sinew/mllp';
import { Listener, ListenStartError, type ListenOptions } from '../listen/listener';

const EXAMPLES = `
Examples:
  $ sinew listen --port 2575
  $ sinew listen --port 2575 --out received/
  $ sinew listen --host 0.0.0.0 --port 6661 --tls --cert server.crt --key server.key --ca clients-ca.crt

Every message is answered: AA once it is parsed (and, with --out, written to disk), AE with an
ERR segment when it cannot be parsed or lacks MSH-9 or MSH-10, AR when it cannot be stored or
is larger than --max-message-bytes. On start it prints "listening on HOST:PORT"; then one
tab-separated line per message: time (UTC), peer address:port, message type, MSH-10, ACK code.
No other message content is printed. With --out, each accepted message is written, exactly as
received, to DIR/<time>_<MSH-10>.hl7 before it is acknowledged.

SIGINT or SIGTERM stops it: no new connection or message is taken, the messages in flight are
stored and acknowledged, then it exits 0. Exit status 1 when the port cannot be bound, 2 for a
usage error (including an unreadable TLS file or an unwritable --out folder).
Reference: docs/mllp.md`;

function wholeNumber(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/** Runs until SIGINT/SIGTERM; resolves with the exit status. */
async function runListen(options: ListenOptions): Promise<number> {
  const io = {
    stdout: (text: string) => process.stdout.write(text),
    stderr: (text: string) => process.stderr.write(text),
  };
  let listener: Listener;
  try {
    listener = await Listener.start(options, io);
  } catch (err) {
    if (!(err instanceof ListenStartError)) throw err;
    io.stderr(`sinew listen: ${err.message}\n`);
    return err.usage ? 2 : 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) {
        // A second signal: the user does not want to wait for the messages in flight.
        process.exit(130);
      }
      stopping = true;
      io.stderr('sinew listen: stopping\n');
      void listener.stop().then(() => resolve(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      // Nobody reads the lines any more (`| head`): stop as on a signal.
      if (e.code === 'EPIPE') stop();
      else throw e;
    });
  });
}

export function registerListen(program: Command): void {
  program
    .command('listen')
    .description('receive HL7 v2 messages over MLLP, acknowledge each, optionally store them')
    .addOption(
      new Option('--port <port>', 'port to listen on (0 picks a free one)')
        .argParser(wholeNumber(0, 65_535))
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--host <host>', 'address to listen on (0.0.0.0 or :: for every interface)').default(
        '127.0.0.1',
      ),
    )
    .addOption(new Option('--tls', 'serve TLS (needs --cert and --key)'))
    .addOption(
      new Option('--ca <file>', 'PEM file of the CA that signs client certificates: require one').implies({
        tls: true,
      }),
    )
    .addOption(new Option('--cert <file>', 'PEM server certificate').implies({ tls: true }))
    .addOption(new Option('--key <file>', 'PEM private key of --cert').implies({ tls: true }))
    .addOption(new Option('--out <dir>', 'write each accepted message to a file in this folder'))
    .addOption(
      new Option('--max-message-bytes <n>', 'largest message accepted; a larger one gets AR')
        .argParser(wholeNumber(1, 1_073_741_824))
        .default(DEFAULT_MAX_MESSAGE_BYTES),
    )
    .addHelpText('after', EXAMPLES)
    .exitOverride((e) => {
      process.exit(e.exitCode === 0 ? 0 : 2);
    })
    .action(async (options: ListenOptions) => {
      process.exitCode = await runListen(options);
    });
}
