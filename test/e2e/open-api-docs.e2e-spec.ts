import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { freePort, ROOT } from '../support/engine-process';
import { waitFor } from '../support/wait';

jest.setTimeout(240_000);

const DOC = join(ROOT, 'docs', 'open-api', 'getting-started.md');

/** The blocks of the doc marked `<!-- run: NAME -->`, in order. */
function runnableBlocks(): Array<{ name: string; lang: string; code: string }> {
  const text = readFileSync(DOC, 'utf8');
  const re = /<!-- run: ([\w-]+) -->\n\n```(\w+)\n([\s\S]*?)```/g;
  return [...text.matchAll(re)].map((m) => ({ name: m[1]!, lang: m[2]!, code: m[3]! }));
}

/** A ```ts block compiled to CommonJS and loaded as a module. */
function load<T>(code: string): T {
  const js = ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, strict: true },
  }).outputText;
  const exports = {} as T;
  // The block is the doc's own code, run as a module would be.
  new Function('require', 'exports', js)(require, exports);
  return exports;
}

interface SinewEvent {
  type: string;
  data: { reference: string; resource?: { identifier?: Array<{ value?: string }> } };
}

describe('docs/open-api/getting-started.md, run against `npm start` with SANDBOX_RATE', () => {
  let dir: string;
  let work: string;
  let stack: ChildProcess;
  let stdout = '';
  let receiver: Server | undefined;
  const ports: Record<string, number> = {};
  const vars = { SINEW: '', DATA: '', HOOK_URL: '', SANDBOX_ADT_PORT: '' };
  const state = () => join(dir, 'state.sh');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-open-api-docs-'));
    work = join(dir, 'work');
    // A reader's working folder: `npx sinew` finds the checkout's command, the sample is there.
    mkdirSync(join(work, 'node_modules', '.bin'), { recursive: true });
    symlinkSync(join(ROOT, 'bin', 'sinew.js'), join(work, 'node_modules', '.bin', 'sinew'));
    symlinkSync(join(ROOT, 'channels'), join(work, 'channels'));
    for (const name of [
      'SINEW_HTTP_PORT',
      'EHR_PORT',
      'PMS_PORT',
      'LAB_MLLP_PORT',
      'PMS_ADT_MLLP_PORT',
      'PMS_SIU_MLLP_PORT',
      'PMS_DFT_MLLP_PORT',
      'PMS_HL7_PORT',
      'SANDBOX_LAB_MLLP_PORT',
      'SANDBOX_ADT_MLLP_PORT',
      'SANDBOX_SIU_MLLP_PORT',
      'SANDBOX_DFT_MLLP_PORT',
      'HOOK',
    ]) {
      ports[name] = await freePort();
    }
    const { HOOK: _hook, ...stackPorts } = ports;
    stack = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...Object.fromEntries(Object.entries(stackPorts).map(([k, v]) => [k, String(v)])),
        SINEW_DATA_DIR: join(dir, 'data'),
        SANDBOX_RATE: '20',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    stack.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    stack.stderr!.on('data', () => undefined);
    await waitFor(
      'npm start to be running',
      () => {
        if (stack.exitCode !== null) throw new Error(`npm start exited ${stack.exitCode}`);
        return stdout.includes('Ctrl-C stops it.');
      },
      90_000,
      100,
    );
    vars.SINEW = `http://127.0.0.1:${ports.SINEW_HTTP_PORT}`;
    vars.DATA = join(dir, 'data');
    vars.HOOK_URL = `http://127.0.0.1:${ports.HOOK}/hooks`;
    vars.SANDBOX_ADT_PORT = String(ports.SANDBOX_ADT_MLLP_PORT);
  });

  afterAll(async () => {
    receiver?.close();
    if (stack && stack.exitCode === null) {
      const exit = new Promise((resolve) => stack.once('exit', resolve));
      stack.kill('SIGTERM');
      await exit;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Runs a ```sh block in bash in the working folder, with the variables of the blocks before
   * it, and keeps the variables it defines for the blocks after it.
   */
  function sh(code: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const script = [
      'set -eo pipefail',
      '__base=$(compgen -v | sort)',
      `if [ -f ${JSON.stringify(state())} ]; then . ${JSON.stringify(state())}; fi`,
      code,
      '__new=$(comm -13 <(printf "%s\\n" "$__base") <(compgen -v | sort) | grep -v "^__\\|^_$\\|^BASH\\|^PIPESTATUS$\\|^FUNCNAME$" || true)',
      `if [ -n "$__new" ]; then declare -p $__new > ${JSON.stringify(state())}; fi`,
    ].join('\n');
    // Asynchronous: the webhook receiver runs in this process and must answer meanwhile.
    const child = spawn('bash', ['-c', script], { cwd: work, env: { ...process.env, ...vars } });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    return new Promise((resolve) =>
      child.once('close', (status) => {
        clearTimeout(timer);
        resolve({ status, ...out });
      }),
    );
  }

  /** A variable the blocks run so far have defined. */
  function shellVar(name: string): string {
    const r = spawnSync('bash', ['-c', `. ${JSON.stringify(state())}; printf '%s' "$${name}"`], {
      encoding: 'utf8',
    });
    return r.stdout;
  }

  it('has the runnable blocks the walk-through needs, in order', () => {
    expect(runnableBlocks().map((b) => `${b.name}:${b.lang}`)).toEqual([
      'variables:sh',
      'register:sh',
      'token:sh',
      'search:sh',
      'read:sh',
      'export:sh',
      'receiver:ts',
      'subscribe:sh',
      'deliver:sh',
      'flow:ts',
      'fhir-kit:ts',
      'errors:sh',
      'metadata:sh',
    ]);
  });

  it('its TypeScript examples compile under strict type checking', () => {
    const folder = join(dir, 'ts-examples');
    mkdirSync(folder);
    symlinkSync(join(ROOT, 'node_modules'), join(folder, 'node_modules'));
    const files = runnableBlocks()
      .filter((b) => b.lang === 'ts')
      .map((b) => {
        const file = join(folder, `${b.name}.ts`);
        writeFileSync(file, b.code);
        return file;
      });
    expect(files).toHaveLength(3);
    const program = ts.createProgram(files, {
      strict: true,
      noEmit: true,
      module: ts.ModuleKind.CommonJS,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: ['node'],
      typeRoots: [join(ROOT, 'node_modules', '@types')],
      esModuleInterop: true,
      skipLibCheck: true,
    });
    const problems = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(problems).toEqual([]);
  });

  it('runs every example, in order, and each shows what the doc says', async () => {
    const events: SinewEvent[] = [];
    let flowResult: unknown;
    let fhirKitIds: string[] = [];
    for (const block of runnableBlocks()) {
      if (block.lang === 'ts') {
        if (block.name === 'receiver') {
          // Started once the subscription has given its secret (the next block).
          continue;
        }
        if (block.name === 'fhir-kit') {
          const { femalePatients } = load<{
            femalePatients: (sinew: string, token: string, count: number) => Promise<string[]>;
          }>(block.code);
          fhirKitIds = await femalePatients(vars.SINEW, shellVar('TOKEN'), 3);
          continue;
        }
        const { sinewFlow } = load<{
          sinewFlow: (sinew: string, id: string, secret: string) => Promise<unknown>;
        }>(block.code);
        flowResult = await sinewFlow(vars.SINEW, shellVar('CLIENT_ID'), shellVar('CLIENT_SECRET'));
        continue;
      }
      if (block.name === 'deliver') {
        const receiverBlock = runnableBlocks().find((b) => b.name === 'receiver')!;
        const { startReceiver } = load<{
          startReceiver: (port: number, secret: string, onEvent: (e: SinewEvent) => void) => Server;
        }>(receiverBlock.code);
        receiver = startReceiver(ports.HOOK!, shellVar('WEBHOOK_SECRET'), (e) => events.push(e));
        await new Promise((resolve) => receiver!.once('listening', resolve));
      }
      const r = await sh(block.code);
      expect([block.name, r.status, r.stderr]).toEqual([block.name, 0, expect.any(String)]);
      const out = r.stdout;
      switch (block.name) {
        case 'variables':
          expect(out).toContain('ready');
          break;
        case 'register':
          expect(out.trim()).toMatch(/^sna_[0-9a-f]+$/);
          expect(shellVar('CLIENT_SECRET').length).toBeGreaterThan(20);
          break;
        case 'token':
          expect(JSON.parse(out.trim())).toMatchObject({
            token_type: 'Bearer',
            expires_in: 300,
            scope: 'system/Patient.rs system/Observation.rs system/Appointment.rs',
          });
          expect(shellVar('TOKEN')).toMatch(/^eyJ/);
          break;
        case 'search': {
          const [count, observations] = out.trim().split('\n');
          expect(JSON.parse(count!)).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
          expect((JSON.parse(count!) as { total: number }).total).toBeGreaterThan(0);
          expect(JSON.parse(observations!)).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
          expect(shellVar('PATIENT_ID')).not.toBe('');
          break;
        }
        case 'read':
          expect(JSON.parse(out)).toMatchObject({
            resourceType: 'Patient',
            id: shellVar('PATIENT_ID'),
            gender: 'female',
          });
          break;
        case 'export': {
          expect(out).toMatch(new RegExp(`^${vars.SINEW}/fhir/R4/bulk-status/\\S+\n`));
          expect(out).toMatch(/^Patient [1-9]\d* http\S+\/Patient\.ndjson$/m);
          // Each file of the manifest (Observation once the lab has sent results) is downloaded
          // whole: its lines are the count the manifest gives.
          const files = [...out.matchAll(/^(Patient|Observation) (\d+) http\S+\/\1\.ndjson$/gm)];
          expect(files.length).toBeGreaterThanOrEqual(1);
          for (const [, type, count] of files) {
            const lines = readFileSync(join(work, `${type}.ndjson`), 'utf8')
              .trim()
              .split('\n');
            expect([type, lines.length]).toEqual([type, Number(count)]);
            expect(out).toContain(`${type}.ndjson: ${count} lines`);
            expect(JSON.parse(lines[0]!)).toMatchObject({ resourceType: type });
          }
          const patients = readFileSync(join(work, 'Patient.ndjson'), 'utf8').trim().split('\n');
          expect(JSON.parse(patients[0]!)).toMatchObject({ resourceType: 'Patient' });
          expect(out.trim().split('\n').at(-1)).toBe('202');
          break;
        }
        case 'subscribe':
          expect(JSON.parse(out)).toMatchObject({
            kind: 'webhook',
            environment: 'sandbox',
            url: vars.HOOK_URL,
            events: ['patient.created', 'patient.updated'],
            status: 'active',
          });
          expect(shellVar('WEBHOOK_SECRET')).toMatch(/^whsec_/);
          break;
        case 'deliver': {
          expect(out).toMatch(/^channels\/samples\/adt-a01\.hl7\t1\t\S+\tAA/);
          expect(r.stderr).toContain('1 accepted, 0 not accepted');
          // The sample admission reaches the receiver, verified with the secret.
          const sample = await waitFor('the sample patient at the receiver', () =>
            events.find((e) => e.data.resource?.identifier?.some((i) => i.value === 'MRN-000123')),
          );
          expect(sample.type).toMatch(/^patient\.(created|updated)$/);
          expect(out).toContain('"items":[');
          // The app's delivery log says so too: its event was delivered, the receiver's 204 kept.
          const deliveries = async () =>
            (
              (await (
                await fetch(`${vars.SINEW}/api/v1/app/webhook-deliveries?status=delivered&limit=500`, {
                  headers: { authorization: `Bearer ${shellVar('TOKEN')}` },
                })
              ).json()) as { items: Array<{ eventType: string; responseCode: number | null }> }
            ).items;
          const delivered = await waitFor('a delivered entry in the delivery log', async () => {
            const items = await deliveries();
            return items.some((d) => d.eventType === sample.type) && items;
          });
          expect(delivered.every((d) => d.responseCode === 204)).toBe(true);
          break;
        }
        case 'errors': {
          const [missing, unknown] = out
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as unknown);
          expect(missing).toEqual({
            resourceType: 'OperationOutcome',
            issue: [
              {
                severity: 'error',
                code: 'login',
                diagnostics: 'an access token is required (Authorization: Bearer)',
              },
            ],
          });
          expect(unknown).toEqual({
            resourceType: 'OperationOutcome',
            issue: [
              {
                severity: 'error',
                code: 'invalid',
                diagnostics: 'Patient has no search parameter colour',
                expression: ['colour'],
              },
            ],
          });
          break;
        }
        case 'metadata':
          expect(out).toMatch(/^4\.0\.1 \S*Observation\S*,Patient,/);
          expect(out.trim().split('\n').at(-1)).toBe('3.1.0');
          break;
        default:
          throw new Error(`no expectation for the block ${block.name}`);
      }
    }
    expect(flowResult).toMatchObject({
      patients: expect.any(Number),
      first: { resourceType: 'Patient', id: expect.any(String) },
      exported: { Patient: expect.any(Number) },
    });
    expect(fhirKitIds).toHaveLength(3);
    expect(new Set(fhirKitIds).size).toBe(3);
    const flow = flowResult as { patients: number; exported: { Patient: number } };
    expect(flow.patients).toBeGreaterThan(0);
    expect(flow.exported.Patient).toBeGreaterThan(0);
  });

  it('the receiver refuses a delivery whose signature does not verify', async () => {
    expect(receiver).toBeDefined();
    const res = await fetch(`http://127.0.0.1:${ports.HOOK}/hooks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'evt_forged',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      },
      body: '{"type":"patient.created"}',
    });
    expect(res.status).toBe(400);
  });
});
