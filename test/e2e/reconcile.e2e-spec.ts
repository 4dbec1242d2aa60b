import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessService } from '@sinew/auth';
import { openStore, type Store } from '@sinew/store';
import { startEhr, startPms, type EhrStandin, type PmsStandin } from '../../apps/standins/src';
import {
  freePort,
  mllpExchange,
  ROOT,
  startEngineProcess,
  type EngineProcess,
} from '../support/engine-process';
import { waitFor } from '../support/wait';

jest.setTimeout(90_000);

interface Cli {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node bin/sinew.js …` as a user runs it (asynchronously: the stand-ins live in this process). */
function sinew(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Cli> {
  return new Promise((done) =>
    execFile(
      process.execPath,
      ['bin/sinew.js', ...args],
      { cwd: ROOT, env: { ...process.env, SINEW_TOKEN: '', ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    ),
  );
}

interface EntitySummaryJson {
  name: string;
  counts: { source: Record<string, number>; target: Record<string, number>; ledger?: number };
  matched: number;
  byKind: Record<string, number>;
  byClass: Record<string, number>;
}
interface RunJson {
  id: string;
  status: string;
  error?: string;
  summary?: { entities: EntitySummaryJson[]; discrepancies: number; alerts: string[] };
}
interface DiscrepancyJson {
  id: string;
  entity: string;
  kind: string;
  class: string;
  key: string;
  reason: string;
  messageIds: string[];
  fields?: Array<{ field: string; source?: unknown; target?: unknown }>;
  source?: { key: string; fields: Record<string, unknown> };
  target?: { key: string; fields: Record<string, unknown> };
  copies?: number;
  repairedAt?: string;
}
interface Report {
  run: RunJson;
  discrepancies: DiscrepancyJson[];
}

const PMS_ID = 'urn:sinew:id:PMS';

/**
 * The reconciliation under test: patients from the PMS's database (dates of birth written
 * MM/DD/YYYY by the query, as an export would), appointments from its database counted per
 * status, charges through its REST API; the EHR through FHIR search.
 */
function reconciliationYaml(pms: string, pmsDb: string, ehr: string): string {
  return `id: clinic
description: the stand-in PMS against the stand-in EHR
schedule: { cron: '30 2 * * *' }
timezone: America/New_York
period: all
systems:
  pms: { type: http_json, base_url: ${pms} }
  pms_db: { type: sql, url: 'sqlite:${pmsDb}' }
  ehr: { type: fhir, base_url: ${ehr} }
entities:
  - name: patients
    identity: mrn
    identity_normalise: [trim, upper]
    ledger: { channels: [pms-adt], key: mrn }
    fields:
      family: { normalise: [trim, upper] }
      given: { normalise: [trim, upper] }
      birth_date: { type: date, source_format: MM/DD/YYYY }
      sex: { map: { F: female, M: male, O: other, U: unknown } }
    source:
      system: pms_db
      query: >-
        SELECT mrn AS key, family, given,
          substr(birth_date, 6, 2) || '/' || substr(birth_date, 9, 2) || '/' || substr(birth_date, 1, 4) AS birth_date,
          sex, updated_at FROM patients
        WHERE (:from IS NULL OR updated_at >= :from) AND (:to IS NULL OR updated_at < :to)
    target:
      system: ehr
      resource: Patient
      params: { identifier: '${PMS_ID}|' }
      key: identifier.where(system='${PMS_ID}').value
      fields: { family: name.family, given: name.given, birth_date: birthDate, sex: gender }
  - name: appointments
    identity: appointment_id
    status: true
    ledger: { channels: [pms-siu], key: appointment }
    fields:
      status: {}
      start: { type: datetime, tolerance: 1m }
    source:
      system: pms_db
      query: >-
        SELECT appointment_id AS key, status, start, updated_at FROM appointments
        WHERE (:from IS NULL OR updated_at >= :from) AND (:to IS NULL OR updated_at < :to)
    target:
      system: ehr
      resource: Appointment
      params: { identifier: '${PMS_ID}|' }
      key: identifier.where(system='${PMS_ID}').value
      fields: { status: status, start: start }
      status: status
  - name: charges
    identity: charge_number
    ledger: { channels: [pms-dft], key: charge }
    fields:
      status: { map: { billed: billable, cancelled: aborted } }
      amount: { type: number, tolerance: 0.01 }
    source:
      system: pms
      path: /api/charges?per_page=2&updated_since={from}&updated_before={to}
      items: $.items
      next: $.next
      key: $.charge_number
      fields: { status: $.status, amount: $.amount }
      updated_at: $.updated_at
    target:
      system: ehr
      resource: ChargeItem
      key: identifier.value
      fields: { status: status, amount: priceOverride.value }
`;
}

/** A reconciliation whose second entity's system does not answer: the run fails half-way. */
function halfwayYaml(pms: string, ehr: string, deadPort: number): string {
  return `id: halfway
timezone: America/New_York
period: all
systems:
  pms: { type: http_json, base_url: ${pms} }
  ehr: { type: fhir, base_url: ${ehr} }
  gone: { type: fhir, base_url: 'http://127.0.0.1:${deadPort}/fhir' }
entities:
  - name: charges
    identity: charge_number
    fields: { amount: { type: number, tolerance: 0.01 } }
    source: { system: pms, path: /api/charges, items: $.items, next: $.next, key: $.charge_number, fields: { amount: $.amount } }
    target: { system: ehr, resource: ChargeItem, key: identifier.value, fields: { amount: priceOverride.value } }
  - name: patients
    identity: mrn
    fields: { family: {} }
    source: { system: pms, path: /api/patients, items: $.items, next: $.next, key: $.mrn, fields: { family: $.family } }
    target: { system: gone, resource: Patient, key: identifier.value, fields: { family: name.family } }
`;
}

describe('sinew reconcile: every class of discrepancy planted between the PMS and the EHR', () => {
  let dir: string;
  let dataDir: string;
  let recDir: string;
  let ehr: EhrStandin;
  let pms: PmsStandin;
  let engine: EngineProcess;
  let store: Store;
  let adtPort: number;
  let server: string;
  let report: Report;
  const patientIds: Record<string, number> = {};
  const chargeIds: Record<string, number> = {};

  const reconcile = (args: string[]) => sinew(['reconcile', ...args, '--dir', recDir, '--data', dataDir]);

  async function pmsWrite(
    method: string,
    path: string,
    body: object,
    notify = true,
  ): Promise<{ id: number }> {
    const res = await fetch(`${pms.url}${path}${notify ? '' : '?notify=false'}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect([200, 201]).toContain(res.status);
    return (await res.json()) as { id: number };
  }

  async function patient(
    mrn: string,
    family: string,
    given: string,
    birth: string,
    sex: string,
    notify = true,
  ) {
    const created = await pmsWrite(
      'POST',
      '/api/patients',
      { mrn, family, given, birth_date: birth, sex },
      notify,
    );
    patientIds[mrn] = created.id;
  }

  async function fhir(method: string, path: string, body?: object): Promise<Record<string, unknown>> {
    const res = await fetch(`${ehr.url}/${path}`, {
      method,
      headers: { 'content-type': 'application/fhir+json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    expect(res.status).toBeLessThan(300);
    const text = await res.text();
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  /** The one resource of a type with this identifier (throws when there is not exactly one). */
  async function ehrOne(type: string, identifier: string): Promise<Record<string, unknown> & { id: string }> {
    const bundle = (await fhir('GET', `${type}?identifier=${encodeURIComponent(identifier)}`)) as {
      entry?: Array<{ resource: Record<string, unknown> & { id: string } }>;
    };
    expect(bundle.entry).toHaveLength(1);
    return bundle.entry![0]!.resource;
  }

  /** Every message of the PMS channels has its outcome (delivered, rejected or dead-lettered). */
  async function settled(expected: number): Promise<void> {
    await pms.notified();
    await waitFor(
      `${expected} PMS messages through the engine`,
      async () => {
        let done = 0;
        for (const channelId of ['pms-adt', 'pms-siu', 'pms-dft']) {
          const messages = await store.searchMessages({ channelId, limit: 500 });
          if (messages.some((m) => m.status === 'received' || m.status === 'processed')) return false;
          done += messages.length;
        }
        return done === expected;
      },
      20_000,
      50,
    );
  }

  /** `sinew messages search --channel pms-adt --json`: the ids of each MRN's messages, newest first. */
  async function adtMessageIds(): Promise<Map<string, string[]>> {
    const found = await sinew(['messages', 'search', '--data', dataDir, '--channel', 'pms-adt', '--json']);
    expect(found.code).toBe(0);
    const byMrn = new Map<string, string[]>();
    for (const line of found.stdout.trim().split('\n')) {
      const m = JSON.parse(line) as { id: string; keys: Record<string, string> };
      const mrn = m.keys.mrn!;
      byMrn.set(mrn, [...(byMrn.get(mrn) ?? []), m.id]);
    }
    return byMrn;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-reconcile-e2e-'));
    dataDir = join(dir, 'data');
    recDir = join(dir, 'reconciliations');
    const channelsDir = join(dir, 'channels');
    mkdirSync(recDir);
    mkdirSync(channelsDir);
    // The shipped PMS channels; pms-adt gives up after two attempts so a delivery is dead-lettered in time.
    for (const id of ['pms-adt', 'pms-siu', 'pms-dft']) {
      let text = readFileSync(join(ROOT, 'channels', `${id}.yaml`), 'utf8');
      if (id === 'pms-adt') {
        const quick = text.replace(
          /retry: \{[^}]*\}/,
          'retry: { attempts: 2, initial_delay_ms: 100, max_delay_ms: 200 }',
        );
        expect(quick).not.toBe(text);
        text = quick;
      }
      writeFileSync(join(channelsDir, `${id}.yaml`), text);
    }
    adtPort = await freePort();
    const siuPort = await freePort();
    const dftPort = await freePort();
    ehr = await startEhr({ port: 0 });
    const pmsDb = join(dir, 'pms.db');
    pms = await startPms({
      dbFile: pmsDb,
      notify: {
        adt: { host: '127.0.0.1', port: adtPort },
        siu: { host: '127.0.0.1', port: siuPort },
        dft: { host: '127.0.0.1', port: dftPort },
      },
    });
    writeFileSync(join(recDir, 'clinic.yaml'), reconciliationYaml(pms.url, pmsDb, ehr.url));
    writeFileSync(join(recDir, 'halfway.yaml'), halfwayYaml(pms.url, ehr.url, await freePort()));
    engine = await startEngineProcess({
      channelsDir,
      dataDir,
      env: {
        SINEW_ENV: '',
        EHR_URL: ehr.url,
        PMS_ADT_MLLP_PORT: String(adtPort),
        PMS_SIU_MLLP_PORT: String(siuPort),
        PMS_DFT_MLLP_PORT: String(dftPort),
        SINEW_RECONCILIATIONS_DIR: recDir,
      },
    });
    server = `http://127.0.0.1:${engine.httpPort}`;
    store = await openStore({ dataDir });

    // Delivered and matching (its date of birth, 4 March, is read back as 03/04/1990 from the PMS).
    await patient('P-OK', 'Okafor', 'Ada', '1990-03-04', 'F');
    // Its MRN written in lower case: the comparison upper-cases it, the messages carry it as written.
    await patient('p-del', 'Delaney', 'Dan', '1970-01-02', 'M');
    await patient('P-DOB', 'Dobson', 'Dora', '1985-06-07', 'F');
    await patient('P-CHG', 'Chang', 'Chris', '1960-08-09', 'O');
    await patient('P-DUP', 'Dupont', 'Dana', '2001-10-11', 'F');
    // The sync that never fired.
    await patient('P-NEVER', 'Neville', 'Nia', '1999-12-13', 'F', false);
    // Known to the PMS, but its message is refused by pms-adt's validation (no family name).
    await patient('P-REJ', 'Rejas', 'Rita', '1975-05-05', 'F', false);
    const apt1 = await pmsWrite('POST', '/api/appointments', {
      mrn: 'P-OK',
      start: '2026-12-08T10:00:00-05:00',
    });
    const apt2 = await pmsWrite('POST', '/api/appointments', {
      mrn: 'P-OK',
      start: '2026-12-08T11:00:00-05:00',
    });
    expect(apt1.id).not.toBe(apt2.id);
    chargeIds['CHG-1'] = (
      await pmsWrite('POST', '/api/charges', {
        mrn: 'P-OK',
        code: '99213',
        amount: 100,
        charge_number: 'CHG-1',
      })
    ).id;
    chargeIds['CHG-2'] = (
      await pmsWrite('POST', '/api/charges', {
        mrn: 'P-OK',
        code: '99214',
        amount: 50,
        charge_number: 'CHG-2',
      })
    ).id;
    chargeIds['CHG-3'] = (
      await pmsWrite('POST', '/api/charges', {
        mrn: 'P-OK',
        code: '99215',
        amount: 80,
        charge_number: 'CHG-3',
      })
    ).id;
    // P-DOB is updated once through the PMS (ADT^A08): two messages to link, newest first.
    await pmsWrite('PUT', `/api/patients/${patientIds['P-DOB']}`, { given: 'Dorothy' });
    await settled(5 + 1 + 2 + 3);

    const reply = await mllpExchange(
      adtPort,
      Buffer.from(
        [
          'MSH|^~\\&|PMS|CLINIC|SINEW|CLINIC|20261207100000||ADT^A04^ADT_A01|RTEST-REJ-1|P|2.5.1',
          'EVN|A04|20261207100000',
          'PID|1||P-REJ^^^PMS^MR||^Rita||19750505|F',
          'PV1|1|',
          '',
        ].join('\r'),
      ),
    );
    expect(reply.toString()).toMatch(/MSA\|AE\|RTEST-REJ-1/);

    // A delivery the EHR keeps refusing until pms-adt gives up on it.
    ehr.setFailure(503);
    await patient('P-DEAD', 'Deadman', 'Dee', '1955-02-03', 'M');
    await settled(13);
    ehr.setFailure(undefined);

    // Changes made in the EHR after delivery.
    const deleted = await ehrOne('Patient', `${PMS_ID}|p-del`);
    await fhir('DELETE', `Patient/${deleted.id}`);
    const dob = await ehrOne('Patient', `${PMS_ID}|P-DOB`);
    await fhir('PUT', `Patient/${dob.id}`, { ...dob, birthDate: '1985-07-06' });
    const dup = await ehrOne('Patient', `${PMS_ID}|P-DUP`);
    const { id: _dupId, meta: _dupMeta, ...copy } = dup;
    await fhir('POST', 'Patient', copy);
    await fhir('POST', 'Patient', {
      resourceType: 'Patient',
      identifier: [{ system: PMS_ID, value: 'P-EHR-ONLY' }],
      name: [{ family: 'Only', given: ['Olga'] }],
      birthDate: '1980-01-01',
      gender: 'female',
    });
    const chg2 = await ehrOne('ChargeItem', 'CHG-2');
    await fhir('PUT', `ChargeItem/${chg2.id}`, {
      ...chg2,
      priceOverride: { ...(chg2.priceOverride as object), value: 75 },
    });
    // Changes made in the PMS that never reached Sinew.
    await pmsWrite('PUT', `/api/patients/${patientIds['P-CHG']}`, { given: 'Christopher' }, false);
    await pmsWrite('PUT', `/api/appointments/${apt2.id}`, { status: 'cancelled' }, false);
    await pmsWrite('PUT', `/api/charges/${chargeIds['CHG-1']}`, { amount: 100.01 }, false);
    await pmsWrite('PUT', `/api/charges/${chargeIds['CHG-3']}`, { amount: 80.5 }, false);
  });

  afterAll(async () => {
    await engine?.stop();
    await store?.close();
    await Promise.all([ehr?.stop(), pms?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds each planted discrepancy once, with its class and kind, and exits 1', async () => {
    const run = await reconcile(['run', 'clinic', '--format', 'json']);
    expect(run.stderr).not.toContain('sinew reconcile:');
    expect(run.code).toBe(1);
    report = JSON.parse(run.stdout) as Report;
    expect(report.run.status).toBe('discrepancies');

    const found = report.discrepancies.map((d) => `${d.entity} ${d.key} ${d.kind} ${d.class}`).sort();
    expect(found).toEqual(
      [
        'appointments APT-000002 field_mismatch changed_after_delivery',
        'charges CHG-2 field_mismatch delivered_not_applied',
        'charges CHG-3 field_mismatch changed_after_delivery',
        'patients P-CHG field_mismatch changed_after_delivery',
        'patients P-DEAD missing_in_target dead_lettered',
        'patients P-DEL missing_in_target delivered_not_applied',
        'patients P-DOB field_mismatch delivered_not_applied',
        'patients P-DUP duplicate_in_target duplicate',
        'patients P-EHR-ONLY missing_in_source target_only',
        'patients P-NEVER missing_in_target never_received',
        'patients P-REJ missing_in_target rejected',
      ].sort(),
    );
    const byKey = new Map(report.discrepancies.map((d) => [`${d.entity} ${d.key}`, d]));
    expect(byKey.get('patients P-DOB')!.fields?.map((f) => f.field)).toEqual(['birth_date']);
    expect(byKey.get('patients P-CHG')!.fields?.map((f) => f.field)).toEqual(['given']);
    expect(byKey.get('appointments APT-000002')!.fields?.map((f) => f.field)).toEqual(['status']);
    expect(byKey.get('charges CHG-2')!.fields).toEqual([
      expect.objectContaining({ field: 'amount', source: 50, target: 75 }),
    ]);
    expect(byKey.get('charges CHG-3')!.fields?.map((f) => f.field)).toEqual(['amount']);
    expect(byKey.get('patients P-DUP')!.copies).toBe(2);
    expect(byKey.get('patients P-REJ')!.reason).toMatch(/rejected: adt\.family_name/);
    expect(byKey.get('patients P-DEAD')!.reason).toMatch(/dead-lettered at ehr/);
    // P-OK (its date of birth in another format) and CHG-1 (a cent apart, within tolerance) match.
    expect(byKey.has('patients P-OK')).toBe(false);
    expect(byKey.has('charges CHG-1')).toBe(false);

    // Counted once: the totals per class and per kind are the planted ones, and add up.
    const summary = report.run.summary!;
    const entity = (name: string) => summary.entities.find((e) => e.name === name)!;
    expect(entity('patients').byClass).toEqual({
      never_received: 1,
      rejected: 1,
      dead_lettered: 1,
      delivered_not_applied: 2,
      changed_after_delivery: 1,
      duplicate: 1,
      target_only: 1,
    });
    expect(entity('patients').byKind).toEqual({
      missing_in_target: 4,
      field_mismatch: 2,
      duplicate_in_target: 1,
      missing_in_source: 1,
    });
    expect(entity('appointments').byClass).toEqual({ changed_after_delivery: 1 });
    expect(entity('charges').byClass).toEqual({ delivered_not_applied: 1, changed_after_delivery: 1 });
    expect(summary.discrepancies).toBe(11);
    expect(report.discrepancies).toHaveLength(11);

    // Three ways: the PMS, what Sinew received, what the EHR holds.
    // Patients: 8 in the PMS; 6 MRNs reached Sinew (P-OK P-DEL P-DOB P-CHG P-DUP P-DEAD, and P-REJ
    // refused: 7); the EHR holds P-OK P-DOB P-CHG, P-DUP twice and P-EHR-ONLY.
    expect(entity('patients').counts).toEqual({ source: { '': 8 }, ledger: 7, target: { '': 6 } });
    // P-OK, and P-DUP's first copy (its second is the duplicate).
    expect(entity('patients').matched).toBe(2);
    // Appointments per status: one was cancelled in the PMS without telling anyone.
    expect(entity('appointments').counts).toEqual({
      source: { booked: 1, cancelled: 1 },
      ledger: 2,
      target: { booked: 2 },
    });
    expect(entity('charges').counts).toEqual({ source: { '': 3 }, ledger: 3, target: { '': 3 } });
    expect(entity('charges').matched).toBe(1);
  });

  it('links each discrepancy to the messages the ledger holds for it', async () => {
    const byKey = new Map(report.discrepancies.map((d) => [`${d.entity} ${d.key}`, d]));
    const adt = await adtMessageIds();
    for (const mrn of ['P-REJ', 'P-DEAD', 'p-del', 'P-DOB', 'P-CHG']) {
      const ids = adt.get(mrn);
      expect(ids).toHaveLength(mrn === 'P-DOB' ? 2 : 1);
      expect(byKey.get(`patients ${mrn.toUpperCase()}`)!.messageIds).toEqual(ids);
    }
    const [a08, a04] = await Promise.all(
      byKey.get('patients P-DOB')!.messageIds.map((id) => store.getMessage(id)),
    );
    expect([a08?.messageType, a04?.messageType]).toEqual(['ADT^A08', 'ADT^A04']);
    const rejected = await store.getMessage(byKey.get('patients P-REJ')!.messageIds[0]!);
    expect(rejected).toMatchObject({ status: 'rejected', controlId: 'RTEST-REJ-1' });
    const dead = await store.getDeliveries(byKey.get('patients P-DEAD')!.messageIds[0]!);
    // The EHR refused it for good; the clinic data hub (the channel's `hub` destination) took it.
    expect(dead.map((d) => `${d.destination} ${d.status}`).sort()).toEqual(['ehr dead_lettered', 'hub sent']);
    expect(byKey.get('patients P-NEVER')!.messageIds).toEqual([]);
    expect(byKey.get('patients P-EHR-ONLY')!.messageIds).toEqual([]);
    const charge = await store.searchMessages({
      channelId: 'pms-dft',
      key: { name: 'charge', value: 'CHG-2' },
    });
    expect(byKey.get('charges CHG-2')!.messageIds).toEqual(charge.map((m) => m.id));
  });

  it('exits 0 on a clean period, 2 for an unknown reconciliation or a run that fails half-way', async () => {
    const clean = await reconcile(['run', 'clinic', '--period', '2020-01-01', '--format', 'json']);
    expect(clean.code).toBe(0);
    const cleanReport = JSON.parse(clean.stdout) as Report;
    expect(cleanReport.run.status).toBe('clean');
    expect(cleanReport.discrepancies).toEqual([]);

    const unknown = await reconcile(['run', 'nonesuch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no reconciliation nonesuch (known: clinic, halfway)');

    const halfway = await reconcile(['run', 'halfway', '--format', 'json']);
    expect(halfway.code).toBe(2);
    expect(halfway.stderr).toMatch(/the run failed: .*ECONNREFUSED/);
    const failed = (JSON.parse(halfway.stdout) as Report).run;
    expect(failed.status).toBe('failed');
    const stored = await store.reconcile.getRun(failed.id);
    expect(stored).toMatchObject({ id: failed.id, status: 'failed' });
    expect(stored?.error).toMatch(/system gone: .*ECONNREFUSED/);
    // The entity read before the failure is kept in the stored summary.
    expect(stored?.summary?.entities.map((e) => e.name)).toEqual(['charges']);
  });

  it('writes the HTML report as one file without scripts or outside links', async () => {
    const file = join(dir, 'report.html');
    const shown = await reconcile([
      'show',
      report.run.id,
      '--format',
      'html',
      '--output',
      file,
      '--console-url',
      server,
    ]);
    expect(shown.code).toBe(1);
    const html = readFileSync(file, 'utf8');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link\b|@import|url\(/i);
    const links = [...html.matchAll(/\b(?:href|src)\s*=\s*["']([^"']*)["']/gi)].map((m) => m[1]!);
    for (const link of links.filter((l) => /^\s*(https?:)?\/\//i.test(l)))
      expect(link.startsWith(`${server}/`)).toBe(true);
    const rejectedMessage = report.discrepancies.find((d) => d.key === 'P-REJ')!.messageIds[0]!;
    expect(links.some((l) => l.includes(rejectedMessage))).toBe(true);
    for (const cls of ['never_received', 'rejected', 'dead_lettered', 'delivered_not_applied', 'duplicate'])
      expect(html).toContain(cls);
  });

  it('shows values through the API only to a key with phi:read', async () => {
    const access = new AccessService(store);
    const plain = (await access.createKey({ name: 'ops', scopes: ['reconciliations:read'] })).secret;
    const phi = (await access.createKey({ name: 'ops-phi', scopes: ['reconciliations:read', 'phi:read'] }))
      .secret;
    const get = async (key: string) => {
      const res = await fetch(
        `${server}/api/v1/reconciliations/runs/${report.run.id}/discrepancies?class=delivered_not_applied`,
        { headers: { authorization: `Bearer ${key}` } },
      );
      expect(res.status).toBe(200);
      return ((await res.json()) as { items: DiscrepancyJson[] }).items;
    };
    const masked = await get(plain);
    expect(masked).toHaveLength(3);
    for (const d of masked) {
      expect(d.key).toBe('…');
      expect(d.source).toBeUndefined();
      expect(d.target).toBeUndefined();
      for (const f of d.fields ?? []) expect(Object.keys(f)).toEqual(['field']);
    }
    expect(JSON.stringify(masked)).not.toMatch(/P-DEL|p-del|P-DOB|CHG-2|1985|Dobson/);
    const shown = await get(phi);
    expect(shown.map((d) => d.key).sort()).toEqual(['CHG-2', 'P-DEL', 'P-DOB']);
    const dob = shown.find((d) => d.key === 'P-DOB')!;
    expect(dob.fields).toEqual([
      expect.objectContaining({ field: 'birth_date', source: '06/07/1985', target: '1985-07-06' }),
    ]);
    expect(dob.source?.fields.family).toBe('Dobson');
  });

  it('repairs the dead-lettered and delivered-not-applied ones; the next run shows them resolved', async () => {
    const dry = await reconcile(['repair', report.run.id, '--dry-run']);
    expect(dry.code).toBe(0);
    const planned = dry.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    expect(planned.map((l) => `${l[0]} ${l[1]} ${l[2]}`).sort()).toEqual([
      'would replay charges delivered_not_applied',
      'would replay patients dead_lettered',
      'would replay patients delivered_not_applied',
      'would replay patients delivered_not_applied',
    ]);
    const deadMessage = report.discrepancies.find((d) => d.key === 'P-DEAD')!.messageIds[0]!;
    const deadDelivery = (await store.getDeliveries(deadMessage))[0]!;
    expect(planned.find((l) => l[2] === 'dead_lettered')![3]).toBe(deadDelivery.id);
    // A dry run changes nothing.
    expect(deadDelivery.status).toBe('dead_lettered');
    const repairedKeys = async () =>
      (await store.reconcile.listDiscrepancies(report.run.id, { limit: 100 }))
        .filter((d) => d.repairedAt)
        .map((d) => d.key)
        .sort();
    expect(await repairedKeys()).toEqual([]);

    const repair = await reconcile(['repair', report.run.id]);
    expect(repair.code).toBe(0);
    expect(
      repair.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t')[0]),
    ).toEqual(['replayed', 'replayed', 'replayed', 'replayed']);
    await waitFor(
      'the repaired deliveries sent',
      async () => {
        const d = await store.getDeliveries(deadMessage);
        return d[0]?.status === 'sent';
      },
      20_000,
      100,
    );
    await waitFor(
      'the EHR mended',
      async () => {
        const get = async (q: string) =>
          (
            (await (await fetch(`${ehr.url}/${q}`)).json()) as {
              entry?: Array<{ resource: Record<string, unknown> }>;
            }
          ).entry ?? [];
        const [del, dobs, charge, dead] = await Promise.all([
          get(`Patient?identifier=${PMS_ID}|p-del`),
          get(`Patient?identifier=${PMS_ID}|P-DOB`),
          get('ChargeItem?identifier=CHG-2'),
          get(`Patient?identifier=${PMS_ID}|P-DEAD`),
        ]);
        return (
          del.length === 1 &&
          dead.length === 1 &&
          dobs[0]?.resource.birthDate === '1985-06-07' &&
          (charge[0]?.resource.priceOverride as { value?: number } | undefined)?.value === 50
        );
      },
      20_000,
      100,
    );

    const second = await reconcile(['run', 'clinic', '--format', 'json']);
    expect(second.code).toBe(1);
    const next = JSON.parse(second.stdout) as Report;
    expect(next.discrepancies.map((d) => `${d.entity} ${d.key} ${d.class}`).sort()).toEqual(
      [
        'appointments APT-000002 changed_after_delivery',
        'charges CHG-3 changed_after_delivery',
        'patients P-CHG changed_after_delivery',
        'patients P-DUP duplicate',
        'patients P-EHR-ONLY target_only',
        'patients P-NEVER never_received',
        'patients P-REJ rejected',
      ].sort(),
    );
    expect(await repairedKeys()).toEqual(['CHG-2', 'P-DEAD', 'P-DEL', 'P-DOB']);
  });

  it('writes no record values to the engine’s log', () => {
    const log = engine.stdout + engine.stderr;
    expect(log).toContain('"msg":"sinew started"');
    expect(log).not.toMatch(
      /P-NEVER|P-REJ|P-DOB|p-del|P-EHR-ONLY|CHG-2|Okafor|Dobson|Dorothy|1985-0|06\/07\/1985/,
    );
  });
});
