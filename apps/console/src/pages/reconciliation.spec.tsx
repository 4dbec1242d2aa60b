import type React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import type { DiscrepancyClass, DiscrepancyJson, FlagJson, ReconciliationJson, RunJson } from '../lib/api';
import { CLASS_INFO, CLASSES, classCounts, durationBetween } from './reconciliation-classes';
import {
  ClassIntro,
  ClassTabs,
  DiscrepancyCard,
  HIDDEN,
  RepairActions,
  replays,
  RunOverview,
} from './reconciliation-run';
import { FlagList, LastRun, openFlags } from './reconciliations';

// react-router ships ES modules only, which this jest setup does not load: links are rendered
// as the plain anchors they become in the browser.
jest.mock('react-router', () => {
  const { createElement } = jest.requireActual<typeof React>('react');
  return {
    Link: ({ to, children }: { to: string; children?: unknown }) =>
      createElement('a', { href: to }, children as never),
  };
});

const html = (node: React.ReactElement) => renderToStaticMarkup(node);
/** The page's text as a person reads it (tags dropped, spaces collapsed). */
const text = (markup: string) =>
  markup
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&gt;/g, '>')
    .replace(/\s+/g, ' ')
    .trim();

const RUN: RunJson = {
  id: 'run-1',
  reconciliation: 'demo',
  status: 'discrepancies',
  trigger: 'api',
  period: { from: '2026-12-06T05:00:00.000Z', to: '2026-12-07T05:00:00.000Z', label: 'yesterday' },
  startedAt: '2026-12-07T09:00:00.000Z',
  finishedAt: '2026-12-07T09:00:02.500Z',
  summary: {
    discrepancies: 12,
    alerts: ['patients.delivered_not_applied >= 1'],
    entities: [
      {
        name: 'patients',
        counts: { source: { '': 10 }, ledger: 9, target: { '': 8 } },
        matched: 6,
        byKind: { missing_in_target: 3, field_mismatch: 1 },
        byClass: { never_received: 1, rejected: 1, dead_lettered: 1, delivered_not_applied: 1 },
      },
      {
        name: 'appointments',
        counts: { source: { booked: 4, cancelled: 1 }, ledger: 5, target: { booked: 3, cancelled: 1 } },
        matched: 3,
        byKind: {},
        byClass: {
          filtered: 1,
          errored: 1,
          pending: 1,
          changed_after_delivery: 1,
          unexplained: 1,
          target_only: 1,
          duplicate: 1,
        },
      },
    ],
  },
};

/** A discrepancy of `cls`, as the API answers a caller holding phi:read. */
function discrepancy(cls: DiscrepancyClass, i: number): DiscrepancyJson {
  const kind =
    cls === 'target_only'
      ? 'missing_in_source'
      : cls === 'duplicate'
        ? 'duplicate_in_source'
        : cls === 'never_received'
          ? 'missing_in_target'
          : 'field_mismatch';
  return {
    id: `d-${i}`,
    runId: 'run-1',
    entity: 'patients',
    kind,
    class: cls,
    key: `MRN-${i}`,
    reason: `reason of ${cls}`,
    messageIds: cls === 'never_received' || cls === 'target_only' ? [] : [`msg-${i}-b`, `msg-${i}-a`],
    ...(kind === 'field_mismatch'
      ? {
          fields: [
            {
              field: 'birth_date',
              source: '03/04/1980',
              target: '1980-04-03',
              sourceNormalised: '1980-03-04',
              targetNormalised: '1980-04-03',
            },
          ],
        }
      : {}),
    ...(kind === 'missing_in_source'
      ? { target: { key: `MRN-${i}`, fields: { family: 'ROE', given: null }, ref: 'Patient/7' } }
      : {}),
    ...(kind === 'missing_in_target'
      ? { source: { key: `MRN-${i}`, fields: { family: 'DOE' }, updatedAt: '2026-12-06T10:00:00.000Z' } }
      : {}),
    ...(kind === 'duplicate_in_source' ? { copies: 2 } : {}),
  };
}

describe('a reconciliation run', () => {
  it('shows the period, trigger, timing and the totals three ways, per status when counted so', () => {
    const out = html(<RunOverview run={RUN} />);
    const t = text(out);
    expect(out).toContain('<span class="badge warn">Discrepancies</span>');
    expect(t).toContain('Run of demo, yesterday');
    expect(t).toContain('from the console or the API');
    expect(t).toContain('took 3 s');
    expect(out).toContain('title="2026-12-06 05:00:00 UTC"');
    expect(t).toContain('patients.delivered_not_applied >= 1');
    // patients: source 10, ledger 9, target 8, matched 6, 4 discrepancies; the differing counts marked.
    expect(
      text(out.match(/<tr data-testid="recon-entity"><th scope="row">patients<\/th>.*?<\/tr>/)?.[0] ?? ''),
    ).toBe('patients 10 (differs) 9 (differs) 8 (differs) 6 4');
    expect(t).toContain('appointments, status booked 4 (differs) — 3 (differs)');
    expect(t).toContain('appointments, status cancelled 1 — 1');
    expect(t).not.toContain('No discrepancies');
  });

  it('groups the discrepancies by class, in the order of the classes, with their counts', () => {
    const counts = classCounts(RUN);
    expect([...counts.keys()]).toEqual(CLASSES);
    const out = html(<ClassTabs counts={counts} selected="rejected" onSelect={() => undefined} />);
    expect(out.match(/role="tab"/g)).toHaveLength(11);
    expect(out).toContain(
      'role="tab" id="recon-tab-rejected" aria-selected="true" aria-controls="recon-class-panel" tabindex="0">Rejected <span class="recon-count">1</span>',
    );
    // Only the selected tab is in the tab order: the arrow keys move between them.
    expect(out.match(/tabindex="0"/g)).toHaveLength(1);
  });

  it.each(CLASSES.map((c, i) => [c, i] as const))(
    'shows a %s discrepancy with its meaning, what to do, its fields and its messages',
    (cls, i) => {
      const intro = text(html(<ClassIntro cls={cls} count={3} />));
      expect(intro).toContain(`What it means ${CLASS_INFO[cls].meaning}`);
      expect(intro).toContain(`What to do ${CLASS_INFO[cls].todo}`);
      const d = discrepancy(cls, i);
      const out = html(<DiscrepancyCard d={d} />);
      const t = text(out);
      expect(t).toContain(`patients MRN-${i}`);
      expect(t).toContain(`reason of ${cls}`);
      if (d.kind === 'field_mismatch') {
        // Side by side, with the values as compared underneath.
        expect(t).toContain('birth_date 03/04/1980 compared as 1980-03-04 1980-04-03 compared as 1980-04-03');
        expect(out).toContain('title="compared as 1980-03-04"');
        expect(out).toContain(`<a href="/messages/msg-${i}-b">`);
        expect(out).toContain(`<a href="/messages/msg-${i}-a">`);
        expect(t).toContain('(newest)');
      } else {
        expect(t).not.toContain('compared as');
      }
      if (cls === 'target_only') {
        expect(t).toContain('missing in the source');
        expect(t).toContain('Target record family ROE given (no value) where Patient/7');
      }
      if (cls === 'duplicate') expect(t).toContain('duplicated in the source 2 copies');
      if (cls === 'never_received') {
        expect(t).toContain('missing in the target');
        expect(t).toContain('Source record family DOE changed at its system');
        expect(t).toContain('Messages none in the ledger');
      }
      const repairable = cls === 'dead_lettered' || cls === 'delivered_not_applied';
      expect(t.includes('not repaired yet')).toBe(repairable);
    },
  );

  it('says a repaired discrepancy was repaired, how and when', () => {
    const d = {
      ...discrepancy('dead_lettered', 1),
      repairedAt: '2026-12-07T10:00:00.000Z',
      repair: { by: 'user:ada', action: 'replayed', detail: 'delivery to ehr queued again' },
    };
    const t = text(html(<DiscrepancyCard d={d} />));
    expect(t).toContain('Repaired');
    expect(t).toContain('replayed by user:ada');
    expect(t).toContain('delivery to ehr queued again');
    expect(t).not.toContain('not repaired yet');
  });

  it('hides the key and every value when the API left them out (no phi:read)', () => {
    const d: DiscrepancyJson = {
      ...discrepancy('delivered_not_applied', 2),
      key: '…',
      fields: [{ field: 'family' }, { field: 'birth_date' }],
    };
    const out = html(<DiscrepancyCard d={d} />);
    const t = text(out);
    expect(t).toContain(`patients ${HIDDEN}`);
    expect(t).toContain(`family ${HIDDEN} ${HIDDEN}`);
    expect(t).toContain(`birth_date ${HIDDEN} ${HIDDEN}`);
    expect(t).not.toContain('compared as');
    expect(t).not.toContain('MRN-2');
    // The messages are still linked: their pages say what the caller may see.
    expect(out).toContain('<a href="/messages/msg-2-b">');
    const target = text(
      html(
        <DiscrepancyCard
          d={{
            ...discrepancy('target_only', 3),
            key: '…',
            target: { fields: { family: undefined as never } },
          }}
        />,
      ),
    );
    expect(target).toContain(`family ${HIDDEN}`);
  });

  it('says an empty run found nothing, with its totals', () => {
    const clean: RunJson = {
      ...RUN,
      status: 'clean',
      summary: {
        discrepancies: 0,
        alerts: [],
        entities: [
          {
            name: 'patients',
            counts: { source: { '': 4 }, target: { '': 4 } },
            matched: 4,
            byKind: {},
            byClass: {},
          },
        ],
      },
    };
    const out = html(<RunOverview run={clean} />);
    const t = text(out);
    expect(out).toContain('<span class="badge ok">Clean</span>');
    expect(t).toContain('No discrepancies: every record was found on both sides with the same values.');
    // No ledger side declared: not counted, and not a difference.
    expect(t).toContain('patients 4 — 4 4 0');
    expect(out).not.toContain('recon-differs');
    expect(classCounts(clean).size).toBe(0);
    expect(t).not.toContain('Alerts raised');
  });

  it('says a failed run failed and why, never that it is clean', () => {
    const failed: RunJson = {
      ...RUN,
      status: 'failed',
      finishedAt: '2026-12-07T09:01:05.000Z',
      summary: undefined,
      error: 'target ehr: HTTP 503 on Patient search',
    };
    const out = html(<RunOverview run={failed} />);
    const t = text(out);
    expect(out).toContain('<span class="badge bad">Failed</span>');
    expect(out).toContain('role="alert"');
    expect(t).toContain('The run failed : target ehr: HTTP 503 on Patient search');
    expect(t).toContain('took 1 min 5 s');
    expect(t).not.toContain('No discrepancies');
    expect(t).not.toContain('Clean');
    expect(out).not.toContain('recon-totals');
  });

  it('follows a running run', () => {
    const running: RunJson = { ...RUN, status: 'running', finishedAt: undefined, summary: undefined };
    const t = text(html(<RunOverview run={running} />));
    expect(t).toContain('Running: reading both sides and the ledger.');
    expect(t).toContain('Finished not yet');
    expect(durationBetween('2026-12-07T09:00:00Z', undefined)).toBeUndefined();
    expect(durationBetween('2026-12-07T09:00:00Z', '2026-12-07T09:00:00.850Z')).toBe('850 ms');
  });

  it('lists what a repair did or would do, with the messages linked', () => {
    const t = html(
      <RepairActions
        actions={[{ discrepancyId: 'd-1', action: 'replayed', messageIds: ['m-9'], detail: 'to ehr' }]}
      />,
    );
    expect(text(t)).toContain('replayed Message m-9 to ehr');
    expect(t).toContain('<a href="/messages/m-9">');
    expect(text(html(<RepairActions actions={[]} />))).toContain('Nothing to repair');
    // A dry run says what would be done; skipped ones are not counted as repairs.
    const plan = [
      { discrepancyId: 'd-1', action: 'replayed', messageIds: ['m-9'], detail: 'to ehr' },
      { discrepancyId: 'd-2', action: 'skipped', messageIds: [], detail: 'no delivery to send' },
    ];
    expect(text(html(<RepairActions actions={plan} planned />))).toContain(
      'Would Messages Detail replay Message m-9 to ehr skip none in the ledger no delivery to send',
    );
    expect(replays(plan)).toBe(1);
  });
});

describe('the reconciliations page', () => {
  const flag = (id: string, ack?: string): FlagJson => ({
    id,
    reconciliation: 'demo',
    entity: 'results',
    class: 'delivered_not_applied',
    count: 2,
    runId: 'run-1',
    raisedAt: `2026-12-07T0${id.length}:00:00.000Z`,
    ...(ack ? { acknowledgedAt: ack, acknowledgedBy: 'user:ada' } : {}),
  });
  const item = (flags: FlagJson[], lastRun?: RunJson): ReconciliationJson => ({
    id: 'demo',
    description: 'PMS vs EHR, nightly',
    schedule: { cron: '30 2 * * *', timezone: 'Europe/London', next: '2026-12-08T02:30:00.000Z' },
    entities: ['patients', 'appointments'],
    flags,
    ...(lastRun ? { lastRun } : {}),
  });

  it('shows the open sync-error flags, each with Acknowledge for those allowed to', () => {
    const flags = openFlags([item([flag('f1'), flag('f2', '2026-12-07T09:30:00.000Z')]), item([flag('f1')])]);
    expect(flags.map((f) => f.id)).toEqual(['f1']);
    const out = html(<FlagList flags={flags} mayAcknowledge />);
    const t = text(out);
    expect(t).toContain('Sync-error flags (1)');
    expect(t).toContain('demo : 2 records of results delivered, not applied');
    expect(out).toContain('<a href="/reconciliations/runs/run-1">See the run');
    expect(t).toContain('Acknowledge the demo flag');
    expect(html(<FlagList flags={flags} mayAcknowledge={false} />)).not.toContain('Acknowledge');
    expect(html(<FlagList flags={[]} mayAcknowledge />)).toBe('');
  });

  it('shows the last run’s status and totals, or that it never ran', () => {
    expect(text(html(<LastRun run={undefined} />))).toBe('never run');
    const out = html(<LastRun run={RUN} />);
    expect(out).toContain('<span class="badge warn">Discrepancies</span>');
    expect(out).toContain('<a href="/reconciliations/runs/run-1">Open the run');
    expect(text(out)).toContain('patients 10 9 8 6 4');
    expect(text(out)).toContain('appointments 5 5 4 3 7');
    const failed = text(
      html(<LastRun run={{ ...RUN, status: 'failed', summary: undefined, error: 'no EHR' }} />),
    );
    expect(failed).toContain('Failed: no EHR');
  });
});
