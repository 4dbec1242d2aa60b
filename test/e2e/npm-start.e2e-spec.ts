import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { freePort, ROOT } from '../support/engine-process';
import { waitFor } from '../support/wait';

jest.setTimeout(90_000);

/** The pids whose parent is `pid` and that have not exited (zombies count as exited). */
function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat && stat.ppid === pid && stat.state !== 'Z') children.push(Number(entry));
  }
  return children;
}

function procStat(pid: number): { state: string; ppid: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // pid (comm) state ppid …: the command name may hold spaces and parentheses.
  const [state, ppid] = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: state ?? '', ppid: Number(ppid) };
}

const alive = (pid: number) => {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
};

function listens(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('npm start (scripts/start.mjs)', () => {
  let dir: string;
  let start: ChildProcess | undefined;
  let started: number[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-npm-start-'));
  });
  afterEach(() => {
    for (const pid of [...started, start?.pid ?? 0]) {
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
    started = [];
    start = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `node scripts/start.mjs` with free ports in its environment. */
  async function npmStart() {
    const env = {
      SINEW_HTTP_PORT: await freePort(),
      EHR_PORT: await freePort(),
      PMS_PORT: await freePort(),
      LAB_MLLP_PORT: await freePort(),
      PMS_ADT_MLLP_PORT: await freePort(),
      PMS_SIU_MLLP_PORT: await freePort(),
      PMS_DFT_MLLP_PORT: await freePort(),
      PMS_HL7_PORT: await freePort(),
    };
    const child = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])),
        SINEW_DATA_DIR: join(dir, 'data'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    start = child;
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { env, child, pid: child.pid as number, out, exit };
  }

  /** Waits for the banner of a run of `npmStart`. */
  async function running(run: Awaited<ReturnType<typeof npmStart>>): Promise<void> {
    await waitFor(
      'npm start to say it is running',
      () => {
        if (run.child.exitCode !== null)
          throw new Error(`npm start exited ${run.child.exitCode}\n${run.out.stderr}`);
        return run.out.stdout.includes('Ctrl-C stops it.');
      },
      60_000,
      50,
    );
  }

  it('listens on the ports its environment names and, on SIGTERM, stops every process it started', async () => {
    const run = await npmStart();
    const { env, child, pid, out, exit } = run;
    await running(run);
    expect(out.stdout).toContain('Sinew is running.');
    expect(out.stdout).toContain(`http://127.0.0.1:${env.SINEW_HTTP_PORT}/ready`);
    expect(out.stdout).toContain(`npx sinew send --port ${env.LAB_MLLP_PORT} channels/samples/oru-r01.hl7`);
    expect(out.stdout).toContain(
      `npx sinew send --port ${env.PMS_ADT_MLLP_PORT} channels/samples/adt-a01.hl7`,
    );
    expect(out.stdout).toContain(
      `npx sinew send --port ${env.PMS_SIU_MLLP_PORT} channels/samples/siu-s12.hl7`,
    );
    expect(out.stdout).toContain(
      `npx sinew send --port ${env.PMS_DFT_MLLP_PORT} channels/samples/dft-p03.hl7`,
    );
    expect(out.stdout).toContain(
      `PMS       http://127.0.0.1:${env.PMS_PORT}/api/patients  ·  /api/appointments  ·  /api/charges  ·  /api/outbox  ·  /api/notices`,
    );
    expect((await fetch(`http://127.0.0.1:${env.SINEW_HTTP_PORT}/ready`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${env.EHR_PORT}/fhir/Patient`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${env.PMS_PORT}/api/notices`)).status).toBe(200);
    for (const port of [
      env.LAB_MLLP_PORT,
      env.PMS_ADT_MLLP_PORT,
      env.PMS_SIU_MLLP_PORT,
      env.PMS_DFT_MLLP_PORT,
    ]) {
      expect(await listens(port)).toBe(true);
    }

    // What is entered at the PMS reaches the EHR through the engine's pms-adt, pms-siu and
    // pms-dft channels, and stays in the PMS's database in the data folder.
    const pms = `http://127.0.0.1:${env.PMS_PORT}/api`;
    const write = async (path: string, body: unknown) => {
      const res = await fetch(`${pms}/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(201);
      return (await res.json()) as Record<string, unknown>;
    };
    await write('patients', {
      mrn: 'MRN-E2E',
      family: 'Doe',
      given: 'Jane',
      birth_date: '1990-05-01',
      sex: 'F',
    });
    const appointment = await write('appointments', { mrn: 'MRN-E2E', start: '2026-12-08T09:30:00-05:00' });
    const charge = await write('charges', {
      mrn: 'MRN-E2E',
      code: '99213',
      amount: 125,
      service_date: '2026-12-08',
    });
    const ehr = `http://127.0.0.1:${env.EHR_PORT}/fhir`;
    const found = async (query: string) =>
      (
        (await (await fetch(`${ehr}/${query}`)).json()) as {
          entry?: Array<{ resource: Record<string, unknown> }>;
        }
      ).entry?.[0]?.resource;
    await waitFor(
      'the PMS records in the EHR',
      async () =>
        (await found('Patient?identifier=urn:sinew:id:PMS|MRN-E2E')) !== undefined &&
        (await found(`Appointment?identifier=${String(appointment.appointment_id)}`)) !== undefined &&
        (await found(`ChargeItem?identifier=${String(charge.charge_number)}`)) !== undefined,
      20_000,
      100,
    );
    expect(await found('Patient?identifier=MRN-E2E')).toMatchObject({
      name: [{ family: 'Doe', given: ['Jane'] }],
      birthDate: '1990-05-01',
      gender: 'female',
    });
    expect(await found(`Appointment?identifier=${String(appointment.appointment_id)}`)).toMatchObject({
      status: 'booked',
      start: '2026-12-08T09:30:00-05:00',
    });
    expect(await found(`ChargeItem?identifier=${String(charge.charge_number)}`)).toMatchObject({
      status: 'billable',
      priceOverride: { value: 125, currency: 'USD' },
    });
    const outbox = (await (await fetch(`${pms}/outbox`)).json()) as { items: Array<Record<string, unknown>> };
    expect(outbox.items.map((e) => `${String(e.messageType)} ${String(e.ack)}`)).toEqual([
      'ADT^A04 AA',
      'SIU^S12 AA',
      'DFT^P03 AA',
    ]);
    const db = new Database(join(dir, 'data', 'pms.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT mrn FROM patients').all()).toEqual([{ mrn: 'MRN-E2E' }]);
    } finally {
      db.close();
    }

    // The stand-ins and the engine.
    started = childPids(pid);
    expect(started).toHaveLength(2);

    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(started.filter(alive)).toEqual([]);
    for (const port of Object.values(env)) expect(await listens(port)).toBe(false);
  });

  it('prints the console and, on a ledger without users, a generated admin password that signs in; never again', async () => {
    const first = await npmStart();
    await running(first);
    const consoleUrl = `http://127.0.0.1:${first.env.SINEW_HTTP_PORT}/`;
    expect(first.out.stdout).toContain(`Console   ${consoleUrl}\n`);
    const line =
      /Sign in as admin with password (\S+) \(generated now, shown once; change it: npx sinew users set-password admin --password-stdin --data (\S+)\)/.exec(
        first.out.stdout,
      );
    expect(line).not.toBeNull();
    const password = line![1] as string;
    expect(password.length).toBeGreaterThanOrEqual(20);
    expect(line![2]).toBe(join(dir, 'data'));
    const signIn = (secret: string, base = consoleUrl) =>
      fetch(`${base}api/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: secret }),
      });
    const session = await signIn(password);
    expect(session.status).toBe(201);
    expect(((await session.json()) as { scopes: string[] }).scopes).toContain('admin');
    expect((await signIn('admin')).status).toBe(401);
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);

    // The same data folder: the user is there, so no password is made or shown.
    const second = await npmStart();
    await running(second);
    expect(second.out.stdout).toContain(`Console   http://127.0.0.1:${second.env.SINEW_HTTP_PORT}/\n`);
    expect(second.out.stdout).toContain('sign in with your user');
    expect(second.out.stdout).not.toContain('Sign in as');
    expect(second.out.stdout).not.toContain(password);
    expect((await signIn(password, `http://127.0.0.1:${second.env.SINEW_HTTP_PORT}/`)).status).toBe(201);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
  });

  it('stops what it started when Ctrl-C (SIGINT) comes during start-up', async () => {
    const { env, child, pid, exit } = await npmStart();
    started = await waitFor('the stand-ins started', () => {
      const pids = childPids(pid);
      return pids.length > 0 && pids;
    });
    child.kill('SIGINT');
    expect(await exit).toBe(130);
    expect(started.filter(alive)).toEqual([]);
    for (const port of Object.values(env)) expect(await listens(port)).toBe(false);
  });
});
