import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@sinew/engine';
import { MemoryQueueDriver } from '@sinew/queue';
import { openStore, type TypeOrmStore } from '@sinew/store';
import { waitFor } from '@sinew/test-support/wait';
import { ALERT_CHANNEL, AlertSender, verifyWebhook, type AlertWebhook } from './alerts';
import type { RunRecord } from './types';

const secret = 'whsec_' + Buffer.from('a secret of the clinic, 32 bytes').toString('base64');
const logger = createLogger('silent');

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver answering each request with the next status of `statuses` (then 200). */
async function receiver(statuses: number[]): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.statusCode = statuses.shift() ?? 200;
      res.end(res.statusCode === 200 ? '{"ok":true}' : 'busy');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/sinew`, received, server };
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function finishedRun(reconciliation: string, alerts: string[]): RunRecord {
  return {
    id: `run-${reconciliation}-${alerts.length}`,
    reconciliation,
    status: alerts.length ? 'discrepancies' : 'clean',
    trigger: 'schedule',
    periodLabel: 'yesterday',
    startedAt: new Date('2026-12-07T07:30:00.000Z'),
    finishedAt: new Date('2026-12-07T07:31:00.000Z'),
    summary: {
      entities: [
        {
          name: 'results',
          counts: { source: { '': 4 }, target: { '': 3 } },
          matched: 3,
          byKind: { missing_in_target: 1 },
          byClass: { delivered_not_applied: 1 },
        },
      ],
      discrepancies: 1,
      alerts,
    },
  };
}

describe('alert webhooks delivered through the ledger', () => {
  let dir: string;
  let store: TypeOrmStore;
  const servers: Server[] = [];
  const senders: AlertSender[] = [];
  const queues: MemoryQueueDriver[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-alerts-'));
    store = await openStore({ dataDir: dir });
  });
  afterAll(async () => {
    for (const s of senders) await s.stop();
    for (const q of queues) await q.close();
    for (const s of servers) await new Promise((resolve) => s.close(resolve));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function sender(webhooks: Record<string, AlertWebhook>, send = true): AlertSender {
    const queue = new MemoryQueueDriver();
    queues.push(queue);
    const s = new AlertSender({
      store,
      queue,
      logger,
      webhooks,
      retry: { attempts: 3, initial_delay_ms: 50, max_delay_ms: 200, jitter: 0 },
      send,
      sweepIntervalMs: 100,
    });
    senders.push(s);
    return s;
  }

  it('sends a signed alert, retries a 500, and records it in the ledger as delivered', async () => {
    const peer = await receiver([500]);
    servers.push(peer.server);
    const s = sender({ demo: { url: peer.url, secret } });
    await s.start();
    const run = finishedRun('demo', ['results.delivered_not_applied >= 1']);
    const sent = await s.send(run);
    expect(sent).toBeDefined();
    const messageId = sent!.messageId;

    const delivery = await waitFor('the alert delivered', async () => {
      const [d] = await store.getDeliveries(messageId);
      return d?.status === 'sent' && d;
    });
    expect(delivery).toMatchObject({ channelId: ALERT_CHANNEL, destination: 'demo', attempts: 2 });
    expect((await store.getAttempts(delivery.id)).map((a) => [a.outcome, a.code])).toEqual([
      ['retry', 'HTTP 500'],
      ['sent', 'HTTP 200'],
    ]);
    expect(await store.getMessage(messageId)).toMatchObject({
      channelId: ALERT_CHANNEL,
      status: 'delivered',
      sender: 'reconcile:demo',
      messageType: 'reconciliation.alert',
      keys: { reconciliation: 'demo', run: run.id },
    });

    expect(peer.received).toHaveLength(2);
    for (const r of peer.received) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['webhook-id']).toBe(messageId);
      expect(verifyWebhook(secret, r.headers, r.body)).toMatchObject({ ok: true, id: messageId });
      expect(verifyWebhook('whsec_' + Buffer.from('wrong').toString('base64'), r.headers, r.body).ok).toBe(
        false,
      );
      expect(JSON.parse(r.body)).toEqual({
        type: 'reconciliation.alert',
        reconciliation: 'demo',
        runId: run.id,
        status: 'discrepancies',
        period: { label: 'yesterday' },
        finishedAt: '2026-12-07T07:31:00.000Z',
        alerts: ['results.delivered_not_applied >= 1'],
        summary: run.summary,
      });
    }
  });

  it('dead-letters an alert whose receiver never answers, after the attempts of its retry policy', async () => {
    const s = sender({ down: { url: `http://127.0.0.1:${await deadPort()}/hook`, secret } });
    await s.start();
    const sent = await s.send(finishedRun('down', ['results.delivered_not_applied >= 1']));
    const delivery = await waitFor(
      'the alert dead-lettered',
      async () => {
        const [d] = await store.getDeliveries(sent!.messageId);
        return d?.status === 'dead_lettered' && d;
      },
      10_000,
    );
    expect(delivery.attempts).toBe(3);
    expect((await store.getAttempts(delivery.id)).map((a) => a.code)).toEqual([
      'ECONNREFUSED',
      'ECONNREFUSED',
      'ECONNREFUSED',
    ]);
    expect((await store.getMessage(sent!.messageId))?.status).toBe('failed');
  });

  it('sends an unsigned alert when the webhook has no secret', async () => {
    const peer = await receiver([]);
    servers.push(peer.server);
    const s = sender({ unsigned: { url: peer.url } });
    await s.start();
    const sent = await s.send(finishedRun('unsigned', ['results.delivered_not_applied >= 1']));
    await waitFor(
      'the alert delivered',
      async () => (await store.getDeliveries(sent!.messageId))[0]?.status === 'sent',
    );
    expect(peer.received[0]?.headers['webhook-id']).toBe(sent!.messageId);
    expect(peer.received[0]?.headers['webhook-timestamp']).toMatch(/^\d+$/);
    expect(peer.received[0]?.headers).not.toHaveProperty('webhook-signature');
  });

  it('records nothing for a run without alerts or without a webhook', async () => {
    const s = sender({ quiet: { url: 'http://127.0.0.1:9/hook', secret } });
    expect(await s.send(finishedRun('quiet', []))).toBeUndefined();
    expect(await s.send(finishedRun('undeclared', ['x >= 1']))).toBeUndefined();
    expect(
      await store.searchMessages({
        channelId: ALERT_CHANNEL,
        key: { name: 'reconciliation', value: 'quiet' },
      }),
    ).toEqual([]);
  });

  it('sends an alert recorded while no process was sending once one starts', async () => {
    const peer = await receiver([]);
    servers.push(peer.server);
    const recorder = sender({ later: { url: peer.url, secret } }, false);
    const sent = await recorder.send(finishedRun('later', ['results.delivered_not_applied >= 1']));
    await new Promise((r) => setTimeout(r, 200));
    expect(peer.received).toHaveLength(0);
    expect((await store.getDeliveries(sent!.messageId))[0]?.status).toBe('pending');

    const worker = sender({ later: { url: peer.url, secret } });
    await worker.start();
    await waitFor(
      'the alert delivered',
      async () => (await store.getDeliveries(sent!.messageId))[0]?.status === 'sent',
    );
    expect(peer.received).toHaveLength(1);
    expect(verifyWebhook(secret, peer.received[0]!.headers, peer.received[0]!.body).ok).toBe(true);
  });
});
