import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessService } from '@sinew/auth';
import type { Hl7Message } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { openStore } from '@sinew/store';
import type { Browser, Page } from 'playwright-core';
import { startEhr, type EhrStandin } from '../../apps/standins/src';
import {
  adtMessage,
  describeWithBrowser,
  launchBrowser,
  openPage,
  screenshot,
  seriousAxeViolations,
  signIn,
  type ConsoleUser,
} from '../support/console';
import { freePort, startEngineProcess, type EngineProcess } from '../support/engine-process';
import { waitFor } from '../support/wait';

jest.setTimeout(180_000);

/** Waits until `read` gives a value `ok` accepts; on timeout the error says the last value read. */
async function until<T>(
  what: string,
  read: () => T | Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  let last: T | undefined;
  try {
    return await waitFor(
      what,
      async () => {
        last = await read();
        return ok(last) ? { value: last } : undefined;
      },
      timeoutMs,
      50,
    ).then((r) => r.value);
  } catch (err) {
    throw new Error(`${(err as Error).message} (last: ${JSON.stringify(last)})`);
  }
}

/** Whether the page fits a tablet's width (820 px) without scrolling sideways. */
async function fitsTablet(page: Page): Promise<boolean> {
  const before = page.viewportSize() ?? { width: 1280, height: 800 };
  await page.setViewportSize({ width: 820, height: 1180 });
  const fits = await page.evaluate(() => {
    const d = (
      globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }
    ).document.documentElement;
    return d.scrollWidth <= d.clientWidth;
  });
  await page.setViewportSize(before);
  return fits;
}

/** One patient as the PMS's REST API answers it. */
interface PmsPatient {
  mrn: string;
  family: string;
  birth_date: string;
  updated_at: string;
}

/** A PMS's read API in a few lines: `GET /api/patients` answers every patient, as JSON. */
async function startPmsApi(patients: PmsPatient[]): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url ?? '').startsWith('/api/patients')) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ items: patients }));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end('{"error":"not found"}');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

const LONG_AGO = '2020-01-01T00:00:00.000Z';

/**
 * The PMS holds six patients. What happens to each on the way to the EHR plants one class:
 * - MRN-OK: sent, delivered, the same on both sides (matched);
 * - MRN-NEVER: never sent (never_received);
 * - MRN-REJ: sent without a family name, refused by the channel (rejected);
 * - MRN-DEAD: sent while the EHR fails, given up (dead_lettered, repairable);
 * - MRN-GONE: delivered, then deleted in the EHR (delivered_not_applied, critical: a flag);
 * - MRN-DIFF: delivered as ROE, the PMS says ROE-SMITH and has not changed since (delivered_not_applied);
 * and the EHR holds MRN-EHR, which the PMS does not (target_only).
 */
const PATIENTS: PmsPatient[] = [
  { mrn: 'MRN-OK', family: 'DOE', birth_date: '1980-02-02', updated_at: LONG_AGO },
  { mrn: 'MRN-NEVER', family: 'NEVER', birth_date: '1980-02-02', updated_at: LONG_AGO },
  { mrn: 'MRN-REJ', family: 'REJ', birth_date: '1980-02-02', updated_at: LONG_AGO },
  { mrn: 'MRN-DEAD', family: 'DEAD', birth_date: '1980-02-02', updated_at: LONG_AGO },
  { mrn: 'MRN-GONE', family: 'GONE', birth_date: '1980-02-02', updated_at: LONG_AGO },
  { mrn: 'MRN-DIFF', family: 'ROE-SMITH', birth_date: '1980-02-02', updated_at: LONG_AGO },
];

interface Stack {
  base: string;
  dir: string;
  engine: EngineProcess;
  ehr: EhrStandin;
  pms: { url: string; close(): Promise<void> };
  adtPort: number;
  users: Record<'admin' | 'viewer', ConsoleUser>;
}

async function startStack(): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'sinew-console-recon-'));
  const channelsDir = join(dir, 'channels');
  const reconDir = join(dir, 'reconciliations');
  const dataDir = join(dir, 'data');
  mkdirSync(channelsDir);
  mkdirSync(reconDir);
  const [ehr, pms, adtPort] = await Promise.all([startEhr(), startPmsApi(PATIENTS), freePort()]);
  writeFileSync(
    join(channelsDir, 'pms-adt.yaml'),
    `id: pms-adt
description: PMS admissions to the EHR as FHIR
source: { type: mllp, listen: 127.0.0.1:${adtPort} }
ack: { when: processed }
keys: { mrn: PID-3.1 }
pipeline:
  - validate:
      policy: reject
      rules:
        - { code: adt.family_name, path: PID-5.1, required: true, message: The patient has no family name (PID-5) }
  - map: { transformer: adt-to-fhir }
destinations:
  - name: ehr
    type: fhir
    base_url: ${ehr.url}
    mode: transaction
    ordering: PID-3.1
    retry: { attempts: 1 }
`,
  );
  writeFileSync(
    join(reconDir, 'patients.yaml'),
    `id: patients
description: PMS patients against the EHR
period: all
systems:
  pms:
    type: http_json
    base_url: ${pms.url}
  ehr:
    type: fhir
    base_url: ${ehr.url}
entities:
  - name: patients
    identity: mrn
    ledger: { channels: [pms-adt], key: mrn }
    fields:
      family: { normalise: [trim, upper] }
      birth_date: { type: date }
    source:
      system: pms
      path: /api/patients
      items: $.items
      key: $.mrn
      fields: { family: $.family, birth_date: $.birth_date }
      updated_at: $.updated_at
    target:
      system: ehr
      resource: Patient
      key: identifier.value
      fields: { family: name.family, birth_date: birthDate }
      date_param: none
    critical: [delivered_not_applied]
`,
  );
  const users = {
    admin: { username: 'ada', password: 'admin-password-1' },
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
    env: { SINEW_API_RATE_LIMIT: '100000', SINEW_RECONCILIATIONS_DIR: reconDir },
  });
  return { base: `http://127.0.0.1:${engine.httpPort}`, dir, engine, ehr, pms, adtPort, users };
}

async function send(port: number, msg: Hl7Message): Promise<string> {
  const client = new MllpClient({ host: '127.0.0.1', port });
  try {
    return (await client.send(msg)).code;
  } finally {
    await client.close();
  }
}

/** The EHR's Patient ids holding `mrn`. */
async function ehrPatients(ehr: EhrStandin, mrn: string): Promise<string[]> {
  const res = await fetch(`${ehr.url}/Patient?identifier=${encodeURIComponent(mrn)}`);
  const bundle = (await res.json()) as { entry?: Array<{ resource: { id: string } }> };
  return (bundle.entry ?? []).map((e) => e.resource.id);
}

/** The tabs' names, as a person reads them: `Rejected 1`. */
async function tabs(page: Page): Promise<string[]> {
  return (await page.getByRole('tab').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
}

describeWithBrowser(
  'the console: a reconciliation run, its discrepancies by class, repair and the flag',
  () => {
    let stack: Stack;
    let browser: Browser;

    beforeAll(async () => {
      [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
    });
    afterAll(async () => {
      await browser?.close();
      await stack?.engine.stop();
      await stack?.ehr.stop();
      await stack?.pms.close();
      if (stack) rmSync(stack.dir, { recursive: true, force: true });
    });

    it('runs a reconciliation from the console, shows each class with its records and messages, repairs, and acknowledges the flag', async () => {
      const { ehr } = stack;
      // What the PMS sent, and what became of it.
      expect(await send(stack.adtPort, adtMessage('E2E-OK', 'MRN-OK', 'DOE'))).toBe('AA');
      expect(await send(stack.adtPort, adtMessage('E2E-GONE', 'MRN-GONE', 'GONE'))).toBe('AA');
      expect(await send(stack.adtPort, adtMessage('E2E-DIFF', 'MRN-DIFF', 'ROE'))).toBe('AA');
      expect(await send(stack.adtPort, adtMessage('E2E-REJ', 'MRN-REJ', ''))).not.toBe('AA');
      for (const mrn of ['MRN-OK', 'MRN-GONE', 'MRN-DIFF'])
        await until(
          `${mrn} in the EHR`,
          () => ehrPatients(ehr, mrn),
          (ids) => ids.length === 1,
        );
      // The EHR refuses the next one: with one attempt, it is dead-lettered.
      ehr.setFailure(400, { times: 1 });
      expect(await send(stack.adtPort, adtMessage('E2E-DEAD', 'MRN-DEAD', 'DEAD'))).toBe('AA');
      const { page, errors } = await openPage(browser);
      await signIn(page, stack.base, stack.users.admin);
      await until(
        'the dead letter',
        async () => {
          const r = await page.request.get(`${stack.base}/api/v1/dead-letters`);
          return ((await r.json()) as { total: number }).total;
        },
        (n) => n === 1,
      );
      ehr.setFailure(undefined);
      // Deleted in the EHR after it was delivered; and one the EHR holds alone.
      const [gone] = await ehrPatients(ehr, 'MRN-GONE');
      expect((await fetch(`${ehr.url}/Patient/${gone}`, { method: 'DELETE' })).ok).toBe(true);
      const created = await fetch(`${ehr.url}/Patient`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/fhir+json' },
        body: JSON.stringify({
          resourceType: 'Patient',
          identifier: [{ value: 'MRN-EHR' }],
          name: [{ family: 'ALONE' }],
          birthDate: '1990-01-01',
        }),
      });
      expect(created.status).toBe(201);

      // The reconciliation (the scheduler may have caught up its last nightly run at start, before
      // anything was sent), run now from its page and followed until it ends.
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Reconciliation' })
        .click();
      await page.getByRole('heading', { level: 1, name: 'Reconciliation' }).waitFor();
      const card = page.getByTestId('recon-card');
      await card.getByRole('heading', { name: 'patients' }).waitFor();
      expect(await card.getByText('0 2 * * *').count()).toBe(1);
      expect(await seriousAxeViolations(page)).toEqual([]);
      await card.getByRole('button', { name: /Run now/ }).click();
      const follow = page.getByTestId('recon-follow');
      await until(
        'the run to finish',
        () => follow.textContent(),
        (t) => !!t && !t.includes('Running'),
        60_000,
      );
      expect(await follow.textContent()).toContain('Run finished: 6 discrepancies');

      // The run: totals three ways, and the classes found.
      await follow.getByRole('link', { name: 'Open the run' }).click();
      await page.getByRole('heading', { level: 1, name: /Run of patients, all/ }).waitFor();
      const totals = page.getByTestId('recon-entity');
      const cells = (await totals.getByRole('cell').allTextContents()).map((t) =>
        t.replace(/\(differs\)/, '').trim(),
      );
      // Source 6, ledger 5 (every MRN sent), target 3, matched 1, 6 discrepancies.
      expect(cells).toEqual(['6', '5', '3', '1', '6']);
      await page.getByRole('tab').first().waitFor();
      expect(await tabs(page)).toEqual([
        'Never received 1',
        'Rejected 1',
        'Dead-lettered 1',
        'Delivered, not applied 2',
        'Only in the target 1',
      ]);
      // The first class is open: what it means, and the record.
      const panel = page.getByRole('tabpanel');
      await panel.getByText('What it means').waitFor();
      await panel.getByRole('heading', { name: /MRN-NEVER/ }).waitFor();
      await panel.getByText('none in the ledger').waitFor();

      // Rejected: the message behind it, linked to its page.
      await page.getByRole('tab', { name: /Rejected/ }).click();
      const rejected = panel.getByTestId('recon-discrepancy');
      await rejected.getByRole('heading', { name: /MRN-REJ/ }).waitFor();
      const link = rejected.getByRole('link', { name: /Message/ }).first();
      const href = (await link.getAttribute('href')) ?? '';
      expect(href).toMatch(/^\/messages\/[^/]+$/);

      // The keyboard moves between the classes.
      await page.getByRole('tab', { name: /Rejected/ }).focus();
      await page.keyboard.press('ArrowRight');
      await panel.getByRole('heading', { name: /MRN-DEAD/ }).waitFor();
      expect(await page.getByRole('tab', { name: /Dead-lettered/ }).getAttribute('aria-selected')).toBe(
        'true',
      );

      // Delivered, not applied: the differing field side by side, with what was compared.
      await page.getByRole('tab', { name: /Delivered, not applied/ }).click();
      const diff = panel.getByTestId('recon-discrepancy').filter({ hasText: 'MRN-DIFF' });
      await diff.waitFor();
      const row = diff.getByRole('row', { name: /family/ });
      expect((await row.textContent())?.replace(/\s+/g, ' ')).toContain('ROE-SMITHcompared as ROE-SMITH');
      expect(await row.getByRole('cell').nth(1).textContent()).toContain('ROE');
      expect(await panel.getByTestId('recon-discrepancy').count()).toBe(2);
      expect(await seriousAxeViolations(page)).toEqual([]);
      await screenshot(page, 'reconciliation-run', stack.dir);
      expect(await fitsTablet(page)).toBe(true);

      // Repair the dead letter: a dry run first, then the delivery goes again and the EHR has it.
      await page.getByRole('tab', { name: /Dead-lettered/ }).click();
      await page.getByRole('button', { name: /Repair/ }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByText('1 discrepancy will be repaired:').waitFor();
      expect(await dialog.getByTestId('recon-repair-action').count()).toBe(1);
      await dialog.getByRole('button', { name: 'Repair' }).click();
      await page.getByText(/Repair done: 1 discrepancy sent again/).waitFor();
      await until(
        'MRN-DEAD in the EHR',
        () => ehrPatients(ehr, 'MRN-DEAD'),
        (ids) => ids.length === 1,
      );
      await until(
        'the dead-lettered discrepancy shown repaired',
        () => panel.getByTestId('recon-discrepancy').first().textContent(),
        (t) => !!t?.includes('Repaired'),
      );

      // The message link opens the message.
      await page.goto(`${stack.base}${href}`);
      await page.getByRole('heading', { level: 1, name: /Message E2E-REJ/ }).waitFor();

      // The sync-error flag raised by the critical class: on the dashboard first, then acknowledged
      // with a note on the Reconciliation page.
      await page.goto(`${stack.base}/`);
      const banner = page.getByTestId('sync-banner');
      await banner.waitFor();
      expect(await banner.textContent()).toContain('delivered not applied');
      await banner.getByRole('link', { name: 'Review and acknowledge' }).click();
      const flags = page.getByTestId('recon-flag');
      await flags.first().waitFor();
      expect(await flags.count()).toBe(1);
      expect(await flags.first().textContent()).toContain('delivered, not applied');
      await card.getByText('Discrepancies', { exact: true }).first().waitFor();
      expect(await seriousAxeViolations(page)).toEqual([]);
      await screenshot(page, 'reconciliations', stack.dir);
      await flags
        .first()
        .getByRole('button', { name: /Acknowledge/ })
        .click();
      await dialog.getByLabel('Note (optional)').fill('EHR admin restored the record');
      await dialog.getByRole('button', { name: 'Acknowledge' }).click();
      await page.getByText(/flag \(patients, delivered, not applied\) is acknowledged/).waitFor();
      await until(
        'no flag shown',
        () => flags.count(),
        (n) => n === 0,
      );
      await page.goto(`${stack.base}/`);
      await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
      await page.getByText('As of').first().waitFor();
      await until(
        'the dashboard without the banner',
        () => page.getByTestId('sync-banner').count(),
        (n) => n === 0,
      );
      const status = await page.request.get(`${stack.base}/api/v1/sync-status`);
      expect(((await status.json()) as { ok: boolean }).ok).toBe(true);
      expect(errors).toEqual([]);
      await page.context().close();

      // A viewer sees the run and its classes, but no values, no Run now, no repair.
      const viewer = await openPage(browser);
      await signIn(viewer.page, stack.base, stack.users.viewer);
      await viewer.page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Reconciliation' })
        .click();
      const vcard = viewer.page.getByTestId('recon-card');
      await vcard.getByRole('link', { name: /Open the run/ }).click();
      await viewer.page.getByRole('tab', { name: /Delivered, not applied/ }).click();
      const vpanel = viewer.page.getByRole('tabpanel');
      await vpanel.getByText('hidden (needs phi:read)').first().waitFor();
      expect(await vpanel.textContent()).not.toContain('ROE');
      expect(await vpanel.textContent()).not.toContain('MRN-');
      expect(await viewer.page.getByRole('button', { name: /Repair|Run now|Acknowledge/ }).count()).toBe(0);
      expect(await seriousAxeViolations(viewer.page)).toEqual([]);
      expect(viewer.errors).toEqual([]);
      await viewer.page.context().close();
    });
  },
);
