/**
 * The console's browser tests: an engine started as a user starts it (`sinew start`, embedded
 * ledger) with two MLLP channels delivering to a local HTTP peer whose answer the test sets,
 * users of each role created in the ledger, and Debian's Chromium driven by playwright-core.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessService } from '@sinew/auth';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { openStore } from '@sinew/store';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort, ROOT, startEngineProcess, type EngineProcess } from './engine-process';

/** Debian's Chromium (`.ci/run` installs it; never a browser download). */
export const CHROMIUM = process.env.SINEW_CHROMIUM ?? '/usr/bin/chromium';

/** `describe`, or a skip with the reason when Chromium is missing outside CI (in CI it fails). */
export function describeWithBrowser(title: string, body: () => void): void {
  if (existsSync(CHROMIUM) || process.env.CI === 'true') {
    describe(title, body);
    return;
  }
  describe.skip(`${title} (no Chromium at ${CHROMIUM}: apt-get install chromium)`, body);
}

/** An HTTP peer standing in for the EHR and the PMS: answers `status`, keeps what it got. */
export interface HttpPeer {
  url: string;
  /** The status every request is answered with from now on (200 at first). */
  status: number;
  received: Array<{ path: string; body: string }>;
  close(): Promise<void>;
}

export async function startHttpPeer(): Promise<HttpPeer> {
  const peer = { status: 200, received: [] as Array<{ path: string; body: string }> };
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = peer.status;
      if (status < 300) peer.received.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString() });
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(status < 300 ? '{"ok":true}' : '{"error":"refused by the test peer"}');
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return Object.assign(peer, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  });
}

export interface ConsoleUser {
  username: string;
  password: string;
}

export interface ConsoleStack {
  /** The engine's URL: the console at /, the API at /api/v1. */
  base: string;
  engine: EngineProcess;
  dir: string;
  dataDir: string;
  peer: HttpPeer;
  /** MLLP ports of the channels `lab-results` (ORU → FHIR → peer /fhir) and `pms-adt` (ADT → peer /adt). */
  ports: { lab: number; adt: number };
  users: { admin: ConsoleUser; engineer: ConsoleUser; operator: ConsoleUser; viewer: ConsoleUser };
  /** Sends an ORU^R01 for `mrn` to the lab channel; resolves with the ACK code. */
  sendLab(controlId: string, mrn: string, family?: string): Promise<string>;
  /** Sends an ADT^A01 for `mrn` to the ADT channel; resolves with the ACK code. */
  sendAdt(controlId: string, mrn: string, family?: string): Promise<string>;
  stop(): Promise<void>;
}

export function oruMessage(controlId: string, mrn: string, family = 'DOE'): Hl7Message {
  return Hl7Message.parse(
    [
      `MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20261201100000||ORU^R01|${controlId}|P|2.5.1`,
      `PID|1||${mrn}^^^NORTH^MR||${family}^JANE^Q||19700101|F|||1 MAIN ST^^SPRINGFIELD^IL^62701`,
      'OBR|1|PLC-1|ORD-1^LAB|GLU^Glucose^LN|||20261201093000' + '|'.repeat(18) + 'F',
      'OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L^mmol/L|3.9-6.1|N|||F|||20261201093000',
      'NTE|1||Fasting sample \\T\\ repeat in 3 months',
      '',
    ].join('\r'),
  );
}

export function adtMessage(controlId: string, mrn: string, family = 'DOE'): Hl7Message {
  return Hl7Message.parse(
    [
      `MSH|^~\\&|PMS|CLINIC|EHR|CLINIC|20261201100000||ADT^A01|${controlId}|P|2.5.1`,
      'EVN|A01|20261201100000',
      `PID|1||${mrn}^^^CLINIC^MR||${family}^JOHN||19800202|M`,
      `PV1|1|O|CLINIC^1^1||||1234^SMITH^ANNA|||||||||||V-${controlId}`,
      '',
    ].join('\r'),
  );
}

/** Starts the peer and the engine, with one user of each role (passwords generated). */
export async function startConsoleStack(env: NodeJS.ProcessEnv = {}): Promise<ConsoleStack> {
  const dir = mkdtempSync(join(tmpdir(), 'sinew-console-'));
  const channelsDir = join(dir, 'channels');
  const dataDir = join(dir, 'data');
  mkdirSync(channelsDir);
  const peer = await startHttpPeer();
  const ports = { lab: await freePort(), adt: await freePort() };
  writeFileSync(
    join(channelsDir, 'lab-results.yaml'),
    `id: lab-results
description: Lab results to the EHR as FHIR
source: { type: mllp, listen: 127.0.0.1:${ports.lab} }
ack: { when: received }
keys: { mrn: PID-3.1, order: OBR-3.1 }
pipeline:
  - filter: { path: MSH-9.1, equals: ORU }
  - validate:
      policy: reject
      rules:
        - { code: lab.mrn, path: PID-3.1, required: true, message: The patient has no identifier (PID-3) }
  - map: { transformer: oru-to-fhir }
destinations:
  - name: ehr
    type: http
    url: ${peer.url}/fhir
    ordering: PID-3.1
    retry: { attempts: 1 }
`,
  );
  writeFileSync(
    join(channelsDir, 'pms-adt.yaml'),
    `id: pms-adt
description: Admissions from the PMS to the EHR as FHIR
source: { type: mllp, listen: 127.0.0.1:${ports.adt} }
ack: { when: processed }
keys: { mrn: PID-3.1, visit: PV1-19.1 }
pipeline:
  - map: { transformer: adt-to-fhir }
destinations:
  - name: ehr
    type: http
    url: ${peer.url}/adt
    retry: { attempts: 1 }
`,
  );
  // Users first (the engine creates the ledger if it is not there; so does this).
  const users = {
    admin: { username: 'ada', password: 'admin-password-1' },
    engineer: { username: 'erin', password: 'engineer-password-1' },
    operator: { username: 'otto', password: 'operator-password-1' },
    viewer: { username: 'vera', password: 'viewer-password-1' },
  };
  const store = await openStore({ dataDir });
  try {
    const access = new AccessService(store);
    for (const [role, u] of Object.entries(users))
      await access.createUser({ username: u.username, password: u.password, role: role as 'admin' });
  } finally {
    await store.close();
  }
  const engine = await startEngineProcess({
    channelsDir,
    dataDir,
    env: { SINEW_API_RATE_LIMIT: '100000', ...env },
  });
  const send = async (port: number, msg: Hl7Message): Promise<string> => {
    const client = new MllpClient({ host: '127.0.0.1', port });
    try {
      return (await client.send(msg)).code;
    } finally {
      await client.close();
    }
  };
  return {
    base: `http://127.0.0.1:${engine.httpPort}`,
    engine,
    dir,
    dataDir,
    peer,
    ports,
    users,
    sendLab: (c, m, f) => send(ports.lab, oruMessage(c, m, f)),
    sendAdt: (c, m, f) => send(ports.adt, adtMessage(c, m, f)),
    async stop() {
      await engine.stop();
      await peer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium, headless, with no network of its own. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** A new page at 1280×800 (or `viewport`), with browser errors collected in `errors`. */
export async function openPage(
  browser: Browser,
  viewport = { width: 1280, height: 800 },
): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport, timezoneId: 'America/Chicago' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // A 401 before sign-in is expected; a CSP violation or a script error is not.
    if (m.type() === 'error' && !/401 \(Unauthorized\)/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return { page, errors };
}

/** Signs in through the form, and waits for the dashboard (or `expectPath`). */
export async function signIn(page: Page, base: string, user: ConsoleUser, expectPath = '/'): Promise<void> {
  await page.goto(`${base}/sign-in`);
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname === expectPath);
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/** axe-core run in the page: violations of impact serious or critical. */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const axe = require('axe-core') as { source: string };
  // Evaluated through the DevTools protocol: an inline <script> would be (rightly) refused by the CSP.
  await page.evaluate(axe.source);
  // Runs in the page (no DOM types in the tests' compilation: the page's globals are declared here).
  const result = await page.evaluate(async () => {
    const w = globalThis as unknown as {
      document: unknown;
      axe: {
        run(
          ctx: unknown,
          opts: object,
        ): Promise<{
          violations: Array<{
            id: string;
            impact: string | null;
            help: string;
            nodes: Array<{ target: string[] }>;
          }>;
        }>;
      };
    };
    const r = await w.axe.run(w.document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ')),
    }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/**
 * A screenshot of the page: into docs/console/NAME.png when SINEW_CONSOLE_SCREENSHOTS is set
 * (how the documentation's pictures are made), else into the test's own folder.
 */
export async function screenshot(page: Page, name: string, dir: string): Promise<string> {
  const out = process.env.SINEW_CONSOLE_SCREENSHOTS ? join(ROOT, 'docs', 'console') : dir;
  mkdirSync(out, { recursive: true });
  const file = join(out, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}
