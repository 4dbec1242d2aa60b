import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runs, type Peer } from './peers';

/** A key and the certificate that goes with it (PEM). */
export interface KeyPair {
  key: Buffer;
  cert: Buffer;
  keyPath: string;
  certPath: string;
}

/**
 * Certificates made for one test run: a CA, a server certificate for 127.0.0.1/localhost and a
 * client certificate signed by it, and a client certificate from another CA (which a server
 * trusting only `ca` refuses).
 */
export interface TestPki {
  dir: string;
  ca: Buffer;
  caPath: string;
  server: KeyPair;
  client: KeyPair;
  strangerClient: KeyPair;
  /** Deletes the temporary folder. */
  remove(): void;
}

let openssl: boolean | undefined;
/**
 * The `openssl` command, which makes the certificates of the TLS tests ({@link createTestPki}).
 * A TLS test runs through `describeWithPeer` / `itWithPeer`, so a missing `openssl` fails it
 * under CI and skips it elsewhere. Looked for once, on first use.
 */
export const opensslPeer: Peer = {
  name: 'openssl',
  get available() {
    openssl ??= runs('openssl', ['version']);
    return openssl;
  },
  install: 'apt-get install openssl',
};

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Makes a fresh PKI in a temporary folder with the `openssl` command (EC P-256, valid 2 days). */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'sinew-tls-'));
  const p = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

  const makeCa = (name: string) =>
    openssl(
      'req',
      '-x509',
      ...EC,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.crt`),
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
  const issue = (name: string, ca: string, cn: string, extensions: string): KeyPair => {
    writeFileSync(p(`${name}.ext`), extensions);
    openssl('req', ...EC, '-subj', `/CN=${cn}`, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`));
    openssl(
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p(`${ca}.crt`),
      '-CAkey',
      p(`${ca}.key`),
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      p(`${name}.crt`),
      '-extfile',
      p(`${name}.ext`),
    );
    return {
      key: readFileSync(p(`${name}.key`)),
      cert: readFileSync(p(`${name}.crt`)),
      keyPath: p(`${name}.key`),
      certPath: p(`${name}.crt`),
    };
  };

  makeCa('sinew-test-ca');
  makeCa('stranger-ca');
  const server = issue(
    'server',
    'sinew-test-ca',
    'localhost',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  const client = issue('client', 'sinew-test-ca', 'sinew-test-client', 'extendedKeyUsage=clientAuth\n');
  const strangerClient = issue('stranger', 'stranger-ca', 'stranger-client', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: readFileSync(p('sinew-test-ca.crt')),
    caPath: p('sinew-test-ca.crt'),
    server,
    client,
    strangerClient,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
