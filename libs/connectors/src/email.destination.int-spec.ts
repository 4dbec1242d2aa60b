import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeWithPeer, runs, type Peer } from '@sinew/test-support/peers';
import { createTestPki, type TestPki } from '@sinew/test-support/tls';
import type { DeliveryRequest } from './connector';
import {
  EmailDestination,
  emailDestinationConfig,
  sendEmail,
  type EmailDestinationInput,
} from './email.destination';

const PYTHON = '/usr/bin/python3';
const SERVER = join(__dirname, 'email.smtp-server.py');

const aiosmtpdPeer: Peer = {
  name: "aiosmtpd (Debian's python3-aiosmtpd)",
  get available() {
    return runs(PYTHON, ['-c', 'import aiosmtpd.controller']) && runs('openssl', ['version']);
  },
  install: 'apt-get install python3-aiosmtpd openssl',
};

interface SmtpServer {
  port: number;
  dir: string;
  /** The messages received, as the server read them after DATA (with the envelope first). */
  received(): string[];
  stop(): Promise<void>;
}

/** Starts the throwaway aiosmtpd server on a free loopback port. */
async function startSmtp(
  mode: 'accept' | '550' | '451',
  tls: 'none' | 'starttls' | 'tls',
  pki: TestPki,
  auth?: { user: string; password: string },
): Promise<SmtpServer> {
  const dir = mkdtempSync(join(tmpdir(), 'sinew-smtp-'));
  const args = [SERVER, dir, mode, tls];
  if (tls !== 'none') args.push(pki.server.certPath, pki.server.keyPath);
  if (auth) args.push(auth.user, auth.password);
  const child: ChildProcess = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let errors = '';
  child.stderr?.on('data', (c: Buffer) => (errors += c.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`the SMTP server exited (${code}): ${errors}`)));
  });
  return {
    port,
    dir,
    received: () =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.eml'))
        .sort()
        .map((f) => readFileSync(join(dir, f), 'utf8')),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const HL7 =
  'MSH|^~\\&|LAB|GOODHEALTH|EHR|CLINIC|20260316101500||ORU^R01|CTRL-42|P|2.5.1\r' +
  'PID|1||MRN-7^^^GOODHEALTH^MR||TESTPATIENT^ALICE\r';

function request(body = HL7, contentType: DeliveryRequest['contentType'] = 'hl7v2'): DeliveryRequest {
  return {
    messageId: '0190f1a2-0000-7000-8000-000000000001',
    deliveryId: '0190f1a2-0000-7000-8000-000000000001.mail',
    attempt: 1,
    body: Buffer.from(body, 'latin1'),
    contentType,
    channelId: 'lab',
    destination: 'mail',
  };
}

function destination(
  input: Partial<EmailDestinationInput> & { port: number },
  pki: TestPki,
): EmailDestination {
  const config = emailDestinationConfig.parse({
    host: '127.0.0.1',
    from: 'sinew@clinic.example',
    to: ['desk@clinic.example'],
    tls_options: { ca: pki.caPath, server_name: 'localhost' },
    timeout_ms: 5_000,
    ...input,
  });
  const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
  return new EmailDestination(config, { channelId: 'lab', destination: 'mail', logger });
}

/** The body of the MIME part whose headers match `header`, decoded from base64. */
function attachmentOf(raw: string): { headers: string; content: Buffer } {
  const parts = raw.split(/\r?\n--/);
  const part = parts.find((p) => /Content-Disposition: attachment/i.test(p));
  if (!part) throw new Error('no attachment part');
  const [headers, body] = part.split(/\r?\n\r?\n/, 2) as [string, string];
  return { headers, content: Buffer.from(body.replace(/\s+/g, ''), 'base64') };
}

describeWithPeer(aiosmtpdPeer, 'email destination against aiosmtpd on loopback', () => {
  let pki: TestPki;
  const servers: SmtpServer[] = [];
  const start = async (...args: Parameters<typeof startSmtp>) => {
    const s = await startSmtp(...args);
    servers.push(s);
    return s;
  };

  beforeAll(() => {
    pki = createTestPki();
  });
  afterAll(() => pki.remove());
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  it('sends over STARTTLS with a password: headers, body and the payload attached as the server received them', async () => {
    const server = await start('accept', 'starttls', pki, { user: 'sinew', password: 's3cret' });
    const secretDir = mkdtempSync(join(tmpdir(), 'sinew-smtp-pw-'));
    writeFileSync(join(secretDir, 'pw'), 's3cret\n');
    try {
      const dest = destination(
        {
          port: server.port,
          tls: 'starttls',
          auth: { user: 'sinew', password_file: join(secretDir, 'pw') },
          cc: ['audit@clinic.example'],
          subject: 'Result ${MSH-10} (${MSH-9}) on ${channel_id}',
          body: 'Message ${message_id} for ${PID-3.1}.',
          attachment: { filename: 'result-${MSH-10}.${ext}' },
        },
        pki,
      );
      const outcome = await dest.send(request());
      expect(outcome).toMatchObject({ status: 'sent', code: '250' });
      const [raw] = server.received();
      expect(raw).toBeDefined();
      const text = raw as string;
      expect(text).toContain('X-Envelope-From: sinew@clinic.example');
      expect(text).toContain('X-Envelope-To: desk@clinic.example,audit@clinic.example');
      expect(text).toMatch(/^From: sinew@clinic\.example$/m);
      expect(text).toMatch(/^To: desk@clinic\.example$/m);
      expect(text).toMatch(/^Cc: audit@clinic\.example$/m);
      // MSH-9 is read decoded: ORU^R01, its component separator kept as text.
      expect(text).toMatch(/^Subject: Result CTRL-42 \(ORU\^R01\) on lab$/m);
      expect(text).toContain('Message 0190f1a2-0000-7000-8000-000000000001 for MRN-7.');
      const attachment = attachmentOf(text);
      expect(attachment.headers).toMatch(/Content-Type: application\/hl7-v2; name=result-CTRL-42\.hl7/);
      expect(attachment.headers).toMatch(/filename=result-CTRL-42\.hl7/);
      expect(attachment.content.toString('latin1')).toBe(HL7);
    } finally {
      rmSync(secretDir, { recursive: true, force: true });
    }
  });

  it('sends over implicit TLS (tls: tls) with sendEmail, the function alerts call', async () => {
    const server = await start('accept', 'tls', pki);
    const config = emailDestinationConfig.parse({
      host: '127.0.0.1',
      port: server.port,
      tls: 'tls',
      tls_options: { ca: pki.caPath, server_name: 'localhost' },
      from: 'alerts@clinic.example',
      to: ['oncall@clinic.example'],
      timeout_ms: 5_000,
    });
    const outcome = await sendEmail(config, {
      subject: 'Channel lab is down',
      text: 'Deliveries are retried.',
    });
    expect(outcome).toMatchObject({ status: 'sent', code: '250' });
    const [raw] = server.received();
    expect(raw).toMatch(/^Subject: Channel lab is down$/m);
    expect(raw).toContain('Deliveries are retried.');
    expect(raw).not.toMatch(/Content-Disposition: attachment/);
  });

  it('refuses to send in clear when STARTTLS is required and the server does not offer it', async () => {
    const server = await start('accept', 'none', pki);
    const outcome = await destination({ port: server.port, tls: 'starttls' }, pki).send(request());
    // The server answers STARTTLS with 454 (TLS not available): the connection ends there.
    expect(outcome).toMatchObject({ status: 'retry', code: '454' });
    expect(server.received()).toEqual([]);
  });

  it('dead-letters on a 5xx reply and retries on a 4xx, with the SMTP code as the outcome code', async () => {
    const refusing = await start('550', 'starttls', pki);
    const refused = await destination({ port: refusing.port }, pki).send(request());
    expect(refused).toMatchObject({ status: 'failed', code: '550' });
    expect(refused.status === 'failed' && refused.response?.toString()).toContain('refused by policy');
    const busy = await start('451', 'starttls', pki);
    expect(await destination({ port: busy.port }, pki).send(request())).toMatchObject({
      status: 'retry',
      code: '451',
    });
  });

  it('dead-letters when the server refuses the credentials (535)', async () => {
    const server = await start('accept', 'starttls', pki, { user: 'sinew', password: 's3cret' });
    const outcome = await destination(
      { port: server.port, auth: { user: 'sinew', password: 'wrong' } },
      pki,
    ).send(request());
    expect(outcome).toMatchObject({ status: 'failed', code: '535' });
    expect(server.received()).toEqual([]);
  });

  it('retries when nothing listens (connection refused)', async () => {
    const server = await start('accept', 'none', pki);
    const port = server.port;
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
    const outcome = await destination({ port, tls: 'none', tls_options: undefined }, pki).send(request());
    expect(outcome).toMatchObject({ status: 'retry', code: 'ECONNREFUSED' });
  });

  it('refuses a template that reads an HL7 path of a JSON payload, naming the variable', async () => {
    const server = await start('accept', 'starttls', pki);
    const outcome = await destination({ port: server.port, subject: 'About ${PID-3.1}' }, pki).send(
      request('{"a":1}', 'json'),
    );
    expect(outcome).toMatchObject({ status: 'failed', code: 'TEMPLATE' });
    expect(outcome.status === 'failed' && outcome.error).toContain('${PID-3.1}');
    expect(server.received()).toEqual([]);
  });
});

describe('email destination settings', () => {
  it('names unknown template variables and bad addresses', () => {
    const r = emailDestinationConfig.safeParse({
      host: 'smtp.example',
      from: 'not-an-address',
      to: ['x@example.org'],
      subject: 'Hello ${patient_name}',
    });
    expect(r.success).toBe(false);
    const messages = r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^from: expected an email address/),
        expect.stringMatching(/^subject: unknown variable \$\{patient_name\}/),
      ]),
    );
  });
});
