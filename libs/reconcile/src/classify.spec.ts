import { classify } from './classify';
import type { Difference, EvidenceMessage, LedgerEvidence } from './types';

const missing: Difference = {
  kind: 'missing_in_target',
  key: 'MRN-4411',
  source: {
    key: 'MRN-4411',
    fields: { family: 'Okafor', birth_date: '1980-03-04' },
    updatedAt: '2026-12-06T09:00:00Z',
  },
};
const mismatch: Difference = {
  kind: 'field_mismatch',
  key: 'MRN-4411',
  source: { key: 'MRN-4411', fields: { family: 'Okafor' }, updatedAt: '2026-12-06T09:00:00Z' },
  target: { key: 'MRN-4411', fields: { family: 'Okafor-Bell' } },
  fields: [
    {
      field: 'family',
      source: 'Okafor',
      target: 'Okafor-Bell',
      sourceNormalised: 'OKAFOR',
      targetNormalised: 'OKAFOR-BELL',
    },
  ],
};

const message = (over: Partial<EvidenceMessage> = {}): EvidenceMessage => ({
  id: 'm2',
  channelId: 'pms-adt',
  receivedAt: new Date('2026-12-06T10:02:00Z'),
  messageType: 'ADT^A04',
  status: 'delivered',
  deliveries: [{ id: 'd1', destination: 'ehr', status: 'sent', updatedAt: new Date('2026-12-06T10:02:01Z') }],
  ...over,
});
const evidence = (...messages: EvidenceMessage[]): LedgerEvidence => ({ key: 'MRN-4411', messages });
const older = message({ id: 'm1', receivedAt: new Date('2026-12-05T08:00:00Z') });
const opts = { identity: 'mrn' };

/** No reason may carry the record's values: its key, names, dates of birth. */
function expectNoPhi(reason: string) {
  for (const v of ['MRN-4411', 'Okafor', '1980']) expect(reason).not.toContain(v);
}

describe('classify', () => {
  it('target_only: in the target, not in the source', () => {
    const d = classify(
      { kind: 'missing_in_source', key: 'MRN-4411', target: mismatch.target },
      evidence(),
      opts,
    );
    expect([d.class, d.reason, d.messageIds]).toEqual([
      'target_only',
      'the target holds this mrn; the source does not',
      [],
    ]);
  });

  it('duplicate: the same key twice on one side', () => {
    const d = classify({ kind: 'duplicate_in_target', key: 'MRN-4411', copies: 3 }, undefined, opts);
    expect([d.class, d.reason]).toEqual(['duplicate', 'the target holds 3 records with this mrn']);
    expect(classify({ kind: 'duplicate_in_source', key: 'x', copies: 2 }, undefined, opts).reason).toBe(
      'the source holds 2 records with this mrn',
    );
  });

  it('never_received: the ledger was asked and holds no message', () => {
    const d = classify(missing, evidence(), opts);
    expect([d.class, d.reason, d.messageIds]).toEqual([
      'never_received',
      'no message for this mrn reached Sinew in the ledger',
      [],
    ]);
  });

  it('unexplained: no ledger side to ask, so nothing is claimed about the messages', () => {
    const gone = classify(missing, undefined, opts);
    expect([gone.class, gone.reason, gone.messageIds]).toEqual([
      'unexplained',
      'the target does not hold the record; the entity has no ledger side, so Sinew cannot tell why',
      [],
    ]);
    const differs = classify(mismatch, undefined, opts);
    expect([differs.class, differs.reason]).toEqual([
      'unexplained',
      'the target holds other values (family); the entity has no ledger side, so Sinew cannot tell why',
    ]);
    expectNoPhi(differs.reason);
    // Differences the sides alone explain keep their classes.
    expect(classify({ kind: 'missing_in_source', key: 'MRN-4411' }, undefined, opts).class).toBe(
      'target_only',
    );
  });

  it.each([
    ['filtered', 'the ADT^A04 received 2026-12-06 10:02 UTC was filtered out: filter: MSH-9.2 equals A08'],
    ['rejected', 'the ADT^A04 received 2026-12-06 10:02 UTC was rejected: adt.mrn: PID-3 is required'],
    [
      'errored',
      'the ADT^A04 received 2026-12-06 10:02 UTC failed in the pipeline: map.error: no PID segment',
    ],
  ] as const)('%s: the newest message ended so, with its issue', (status, reason) => {
    const issue = {
      filtered: 'filter: MSH-9.2 equals A08',
      rejected: 'adt.mrn: PID-3 is required',
      errored: 'map.error: no PID segment',
    }[status];
    const d = classify(missing, evidence(message({ status, reason: issue, deliveries: [] }), older), opts);
    expect([d.class, d.reason, d.messageIds]).toEqual([status, reason, ['m2', 'm1']]);
    expectNoPhi(d.reason);
  });

  it('pending: received, not yet through the pipeline; or a delivery queued, retrying or parked', () => {
    expect(classify(missing, evidence(message({ status: 'received', deliveries: [] })), opts).reason).toBe(
      'the ADT^A04 received 2026-12-06 10:02 UTC has not been processed yet',
    );
    const retrying = message({
      status: 'processed',
      deliveries: [
        { id: 'd1', destination: 'ehr', status: 'retrying', lastResponse: 'HTTP 503', updatedAt: new Date() },
      ],
    });
    const d = classify(mismatch, evidence(retrying), opts);
    expect([d.class, d.reason]).toEqual([
      'pending',
      'the ADT^A04 received 2026-12-06 10:02 UTC is being retried for ehr: last response HTTP 503',
    ]);
    const parked = message({
      deliveries: [{ id: 'd1', destination: 'ehr', status: 'parked', updatedAt: new Date() }],
    });
    expect(classify(missing, evidence(parked), opts).reason).toBe(
      'the ADT^A04 received 2026-12-06 10:02 UTC is parked for ehr',
    );
  });

  it('dead_lettered: a delivery gave up, with the destination and its last response', () => {
    const m = message({
      status: 'failed',
      deliveries: [
        { id: 'd1', destination: 'archive', status: 'sent', updatedAt: new Date() },
        {
          id: 'd2',
          destination: 'ehr',
          status: 'dead_lettered',
          lastResponse: 'HTTP 422 OperationOutcome',
          updatedAt: new Date(),
        },
      ],
    });
    const d = classify(missing, evidence(m, older), opts);
    expect([d.class, d.reason, d.messageIds]).toEqual([
      'dead_lettered',
      'the ADT^A04 received 2026-12-06 10:02 UTC was dead-lettered at ehr: last response HTTP 422 OperationOutcome',
      ['m2', 'm1'],
    ]);
  });

  it('changed_after_delivery: the source changed after the newest message', () => {
    const later = { ...mismatch, source: { ...mismatch.source!, updatedAt: '2026-12-06T11:00:00Z' } };
    const d = classify(later, evidence(message()), opts);
    expect([d.class, d.reason]).toEqual([
      'changed_after_delivery',
      'the source record changed after the ADT^A04 received 2026-12-06 10:02 UTC (no later message reached Sinew); the target holds other values (family)',
    ]);
    expectNoPhi(d.reason);
  });

  it('delivered_not_applied: every delivery sent and no later change at the source', () => {
    const d = classify(missing, evidence(message(), older), {
      identity: 'mrn',
      timezone: 'America/New_York',
    });
    expect([d.class, d.reason, d.messageIds]).toEqual([
      'delivered_not_applied',
      'the ADT^A04 received 2026-12-06 05:02 America/New_York was delivered to ehr, yet the target does not hold the record',
      ['m2', 'm1'],
    ]);
    const noUpdate = { ...mismatch, source: { ...mismatch.source!, updatedAt: null } };
    expect(classify(noUpdate, evidence(message()), opts).class).toBe('delivered_not_applied');
    expect(classify(missing, evidence(message({ deliveries: [] })), opts).reason).toBe(
      'the ADT^A04 received 2026-12-06 10:02 UTC was processed but no destination delivered it; the target does not hold the record',
    );
  });

  it('keeps the difference as it was', () => {
    const d = classify(mismatch, evidence(message()), opts);
    expect(d).toMatchObject(mismatch);
  });
});
