import { renderReport } from './report';
import type { DiscrepancyRecord, RunRecord } from './types';

const run: RunRecord = {
  id: 'run-1',
  reconciliation: 'demo',
  status: 'discrepancies',
  trigger: 'cli',
  periodFrom: new Date('2026-12-06T05:00:00Z'),
  periodTo: new Date('2026-12-07T05:00:00Z'),
  periodLabel: 'yesterday',
  startedAt: new Date('2026-12-07T07:30:00Z'),
  finishedAt: new Date('2026-12-07T07:30:04Z'),
  summary: {
    entities: [
      {
        name: 'patients',
        counts: { source: { '': 120 }, ledger: 118, target: { '': 119 } },
        matched: 116,
        byKind: { missing_in_target: 1, field_mismatch: 1 },
        byClass: { never_received: 1, dead_lettered: 1 },
      },
      {
        name: 'appointments',
        counts: { source: { booked: 10, cancelled: 2 }, target: { booked: 9, cancelled: 2 } },
        matched: 11,
        byKind: {},
        byClass: {},
      },
    ],
    discrepancies: 2,
    alerts: ['patients.never_received >= 1'],
  },
};

const items: DiscrepancyRecord[] = [
  {
    id: 'd2',
    runId: 'run-1',
    entity: 'patients',
    kind: 'field_mismatch',
    key: 'MRN-2',
    class: 'dead_lettered',
    reason: 'the ADT^A08 received 2026-12-06 10:02 UTC was dead-lettered at ehr: last response HTTP 422',
    messageIds: ['msg-9', 'msg-3'],
    source: { key: 'MRN-2', fields: { family: '<script>alert(1)</script>' } },
    target: { key: 'MRN-2', fields: { family: 'O"Brien & Sons' } },
    fields: [
      {
        field: 'family',
        source: '<script>alert(1)</script>',
        target: 'O"Brien & Sons',
        sourceNormalised: '<SCRIPT>ALERT(1)</SCRIPT>',
        targetNormalised: 'O"BRIEN & SONS',
      },
    ],
  },
  {
    id: 'd1',
    runId: 'run-1',
    entity: 'patients',
    kind: 'missing_in_target',
    key: '=MRN-1',
    class: 'never_received',
    reason: 'no message for this mrn reached Sinew in the ledger',
    messageIds: [],
    source: { key: '=MRN-1', fields: { family: 'Smith, Jr', birth_date: '1980-03-04' } },
  },
];

describe('renderReport', () => {
  it('table: totals three ways per entity and status, then discrepancies by class', async () => {
    const text = await renderReport(run, items, 'table');
    expect(text.split('\n')).toEqual([
      'Reconciliation demo · run run-1',
      'Period: yesterday (2026-12-06T05:00:00.000Z to 2026-12-07T05:00:00.000Z)',
      'Status: discrepancies · started 2026-12-07T07:30:00.000Z · finished 2026-12-07T07:30:04.000Z',
      '',
      'Totals',
      '  entity        status     source  ledger  target  matched  discrepancies',
      '  patients                 120     118     119     116      2',
      '  appointments  all        12      —       11      11       0',
      '                booked     10              9',
      '                cancelled  2               2',
      '',
      'Alerts: patients.never_received >= 1',
      '',
      'never_received: Never received by Sinew (1)',
      '  patients =MRN-1: missing in the target — no message for this mrn reached Sinew in the ledger',
      '',
      'dead_lettered: Delivery gave up (dead-lettered) (1)',
      '  patients MRN-2: fields differ — the ADT^A08 received 2026-12-06 10:02 UTC was dead-lettered at ehr: last response HTTP 422',
      '    family: <script>alert(1)</script> ≠ O"Brien & Sons',
      '    messages: msg-9, msg-3',
      '',
    ]);
  });

  it('csv: one row per discrepancy, quoted, formulas neutralised', async () => {
    const text = await renderReport(run, items, 'csv');
    expect(text.split('\r\n')).toEqual([
      'run,reconciliation,entity,class,kind,key,fields,source,target,copies,reason,message_ids',
      'run-1,demo,patients,dead_lettered,field_mismatch,MRN-2,family,family=<script>alert(1)</script>,"family=O""Brien & Sons",,the ADT^A08 received 2026-12-06 10:02 UTC was dead-lettered at ehr: last response HTTP 422,msg-9 msg-3',
      'run-1,demo,patients,never_received,missing_in_target,\'=MRN-1,,"family=Smith, Jr, birth_date=1980-03-04",,,no message for this mrn reached Sinew in the ledger,',
      '',
    ]);
  });

  it('json: the run and its discrepancies in the API’s shapes', async () => {
    const doc = JSON.parse(await renderReport(run, items, 'json')) as {
      run: Record<string, unknown>;
      discrepancies: Array<Record<string, unknown>>;
    };
    expect(doc.run).toMatchObject({
      id: 'run-1',
      period: { from: '2026-12-06T05:00:00.000Z', to: '2026-12-07T05:00:00.000Z', label: 'yesterday' },
      startedAt: '2026-12-07T07:30:00.000Z',
    });
    expect(doc.discrepancies.map((d) => [d.id, d.class, d.key])).toEqual([
      ['d2', 'dead_lettered', 'MRN-2'],
      ['d1', 'never_received', '=MRN-1'],
    ]);
  });

  it('html: one self-contained file, totals first, classes with what to do, values escaped, messages linked', async () => {
    async function* stream() {
      yield* items;
    }
    const html = await renderReport(run, stream(), 'html', {
      consoleUrl: 'https://sinew.clinic.example/console/',
    });
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|src=|@import|url\(/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('O&quot;Brien &amp; Sons');
    expect(html.indexOf('<h2>Totals</h2>')).toBeLessThan(html.indexOf('id="never_received"'));
    expect(html.indexOf('id="never_received"')).toBeLessThan(html.indexOf('id="dead_lettered"'));
    expect(html).toContain(
      '<strong>What to do:</strong> Sinew gave up delivering the message after all its retries',
    );
    expect(html).toContain(
      '<a href="https://sinew.clinic.example/console/messages/msg-9"><code>msg-9</code></a>, <a href="https://sinew.clinic.example/console/messages/msg-3"><code>msg-3</code></a>',
    );
    expect(html).toContain('No message for this record in the ledger.');
    expect(html).toContain('<td>birth_date</td><td>1980-03-04</td>');
    const bare = await renderReport(run, items, 'html');
    expect(bare).toContain('Messages: <code>msg-9</code>, <code>msg-3</code>');
    expect(bare).not.toContain('href="http');
  });

  it('says so when there is nothing to report, and why a failed run failed', async () => {
    const failed: RunRecord = {
      ...run,
      status: 'failed',
      summary: undefined,
      error: 'the EHR did not answer (timeout)',
    };
    const text = await renderReport(failed, [], 'table');
    expect(text).toContain('Error: the EHR did not answer (timeout)');
    expect(text).toContain('No discrepancies.');
    expect(await renderReport(failed, [], 'html')).toContain(
      'The run did not complete: the EHR did not answer (timeout)',
    );
  });
});
