import { alertPayload, signWebhook, verifyWebhook, webhookHeaders, webhookKey } from './alerts';
import type { RunRecord } from './types';

describe('signed alert webhooks (Standard Webhooks)', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const body = '{"test": 2432232314}';

  it('signs "{id}.{timestamp}.{body}" with HMAC-SHA256 under the base64 key of a whsec_ secret', () => {
    // The convention's published example.
    expect(signWebhook(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, body)).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
    expect(webhookKey(secret)).toEqual(Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64'));
    expect(webhookKey('plain-secret')).toEqual(Buffer.from('plain-secret'));
    expect(() => webhookKey('')).toThrow();
  });

  it('verifies its own headers, within the tolerance only', () => {
    const at = new Date('2026-12-07T07:31:00.000Z');
    const headers = webhookHeaders(secret, 'msg-1', body, at);
    expect(headers['webhook-timestamp']).toBe(String(at.getTime() / 1000));
    expect(verifyWebhook(secret, headers, body, { now: at })).toEqual({
      ok: true,
      id: 'msg-1',
      timestamp: at.getTime() / 1000,
    });
    expect(
      verifyWebhook(secret, headers, Buffer.from(body), { now: new Date(at.getTime() + 299_000) }).ok,
    ).toBe(true);
    expect(verifyWebhook(secret, headers, body, { now: new Date(at.getTime() + 301_000) })).toEqual({
      ok: false,
      reason: 'timestamp',
    });
    expect(verifyWebhook(secret, headers, body, { now: new Date(at.getTime() - 301_000) })).toEqual({
      ok: false,
      reason: 'timestamp',
    });
    expect(
      verifyWebhook(secret, headers, body, {
        now: new Date(at.getTime() + 3_600_000),
        toleranceSeconds: 3_600,
      }).ok,
    ).toBe(true);
  });

  it('refuses a changed body, another secret, another id, missing headers', () => {
    const at = new Date();
    const headers = webhookHeaders(secret, 'msg-1', body, at);
    expect(verifyWebhook(secret, headers, body.replace('2432', '2433'))).toEqual({
      ok: false,
      reason: 'signature',
    });
    expect(verifyWebhook('whsec_' + Buffer.from('other').toString('base64'), headers, body).ok).toBe(false);
    expect(verifyWebhook(secret, { ...headers, 'webhook-id': 'msg-2' }, body).ok).toBe(false);
    expect(verifyWebhook(secret, { 'webhook-id': 'msg-1' }, body)).toEqual({
      ok: false,
      reason: 'missing_headers',
    });
  });

  it('accepts any one of several signatures and header names in any case', () => {
    const at = new Date();
    const headers = webhookHeaders('plain-secret', 'msg-1', body, at);
    const upper = {
      'Webhook-Id': headers['webhook-id'],
      'Webhook-Timestamp': headers['webhook-timestamp'],
      'Webhook-Signature': `v1,AAAA v2,whatever ${headers['webhook-signature']}`,
    };
    expect(verifyWebhook('plain-secret', upper, body).ok).toBe(true);
  });

  it('carries counts and classes, never a record', () => {
    const run: RunRecord = {
      id: 'run-1',
      reconciliation: 'demo',
      status: 'discrepancies',
      trigger: 'schedule',
      periodFrom: new Date('2026-12-06T05:00:00.000Z'),
      periodTo: new Date('2026-12-07T05:00:00.000Z'),
      periodLabel: 'yesterday',
      startedAt: new Date('2026-12-07T07:30:00.000Z'),
      finishedAt: new Date('2026-12-07T07:31:00.000Z'),
      summary: {
        entities: [
          {
            name: 'patients',
            counts: { source: { '': 3 }, target: { '': 2 } },
            matched: 2,
            byKind: { missing_in_target: 1 },
            byClass: { never_received: 1 },
          },
        ],
        discrepancies: 1,
        alerts: ['patients.never_received >= 1'],
      },
    };
    expect(alertPayload(run)).toEqual({
      type: 'reconciliation.alert',
      reconciliation: 'demo',
      runId: 'run-1',
      status: 'discrepancies',
      period: { from: '2026-12-06T05:00:00.000Z', to: '2026-12-07T05:00:00.000Z', label: 'yesterday' },
      finishedAt: '2026-12-07T07:31:00.000Z',
      alerts: ['patients.never_received >= 1'],
      summary: run.summary,
    });
  });
});
