/**
 * A throwaway OpenSSH server for the `sftp` tests: Debian's `sshd` on a free loopback port,
 * with host and user keys made by `ssh-keygen` in a temporary folder and its sftp subsystem
 * (`internal-sftp`). Remote paths are this machine's paths: `TestSshd.root` is a fresh folder.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Peer } from '@sinew/test-support/peers';
import { waitFor } from '@sinew/test-support/wait';

export const SSHD = '/usr/sbin/sshd';
const PRIVSEP = '/run/sshd';

/** Debian's openssh-server. */
export const sshdPeer: Peer = {
  name: 'OpenSSH sshd (openssh-server)',
  get available() {
    return existsSync(SSHD) && existsSync('/usr/bin/ssh-keygen');
  },
  install: 'apt-get install openssh-server',
};

function keygen(path: string): string {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'sinew-test', '-f', path]);
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr.toString()}`);
  return path;
}

/** The OpenSSH fingerprint of a public key file, as `ssh-keygen -lf` prints it. */
export function fingerprintOf(publicKeyFile: string): string {
  const r = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyFile]);
  const match = /SHA256:[A-Za-z0-9+/]+/.exec(r.stdout.toString());
  if (!match) throw new Error(`no fingerprint for ${publicKeyFile}`);
  return match[0];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Process ids whose parent is `pid` (the sessions an sshd listener forked). */
function childrenOf(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)]);
  return r.stdout
    .toString()
    .split(/\s+/)
    .filter((t) => /^\d+$/.test(t))
    .map(Number);
}

export interface TestSshd {
  port: number;
  user: string;
  /** Fingerprint of the server's host key. */
  fingerprint: string;
  /** Private key file the user logs in with. */
  userKey: string;
  /** Another key pair the server does not accept, and its fingerprint (a host key that changed). */
  otherKey: string;
  otherFingerprint: string;
  /** A fresh folder for the test's remote files (same path on the server and here). */
  root: string;
  /** Connection settings for an `sftp` connector config. */
  connection(extra?: Record<string, unknown>): Record<string, unknown>;
  /** Stops the listener and drops the open sessions (a server going down). */
  stop(): Promise<void>;
  /** Starts it again on the same port (after `stop`). */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  dispose(): Promise<void>;
  /** What sshd wrote to stderr (for a failing test). */
  log(): string;
}

/** Starts sshd on a free loopback port; `passwordUser` also lets that user log in with a password. */
export async function startSshd(options: { passwordUser?: string } = {}): Promise<TestSshd> {
  // sshd insists on its privilege separation folder, which Debian's service unit creates at boot.
  if (!existsSync(PRIVSEP) && process.getuid?.() === 0) mkdirSync(PRIVSEP, { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), 'sinew-sshd-'));
  const root = join(dir, 'root');
  mkdirSync(root, { mode: 0o755 });
  chmodSync(dir, 0o755);
  const hostKey = keygen(join(dir, 'host_key'));
  const userKey = keygen(join(dir, 'user_key'));
  const otherKey = keygen(join(dir, 'other_key'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${userKey}.pub`), { mode: 0o600 });
  const user = userInfo().username;
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  const allowed = [user, options.passwordUser].filter(Boolean).join(' ');
  writeFileSync(
    config,
    [
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      'PidFile none',
      'UsePAM no',
      'StrictModes no',
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      `PasswordAuthentication ${options.passwordUser ? 'yes' : 'no'}`,
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${allowed}`,
      'Subsystem sftp internal-sftp',
      'ForceCommand internal-sftp',
      'AllowTcpForwarding no',
      'X11Forwarding no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  let stderr = '';
  const start = async () => {
    if (child && child.exitCode === null) return;
    const proc = spawn(SSHD, ['-D', '-e', '-f', config, '-p', String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = proc;
    proc.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await waitFor(`sshd listening on ${port}`, async () => {
      if (proc.exitCode !== null) throw new Error(`sshd exited (${proc.exitCode}): ${stderr}`);
      return accepts(port);
    });
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    // The listener's children serve the open sessions: a server going down drops them too.
    for (const pid of childrenOf(proc.pid)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // That session ended on its own meanwhile.
      }
    }
    proc.kill('SIGTERM');
    const kill = setTimeout(() => proc.kill('SIGKILL'), 2_000);
    await exited;
    clearTimeout(kill);
    await waitFor(`sshd on ${port} gone`, async () => !(await accepts(port)));
  };
  await start();
  return {
    port,
    user,
    fingerprint: fingerprintOf(`${hostKey}.pub`),
    userKey,
    otherKey,
    otherFingerprint: fingerprintOf(`${otherKey}.pub`),
    root,
    connection: (extra = {}) => ({
      host: '127.0.0.1',
      port,
      username: user,
      private_key_file: userKey,
      host_key_sha256: fingerprintOf(`${hostKey}.pub`),
      connect_timeout_ms: 5_000,
      ...extra,
    }),
    stop,
    start,
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => stderr,
  };
}
