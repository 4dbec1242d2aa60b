import { parseSmartScope, type SmartScope } from '@sinew/auth';
import { openStore, type TypeOrmStore } from '@sinew/store';
import { createHubChangesDouble, type HubChangesDouble } from '@sinew/test-support/hub-changes-double';
import { withTestSchema, type TestSchema } from '@sinew/test-support/postgres';
import { sleep, waitFor } from '@sinew/test-support/wait';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { WebhookDispatcher, type WebhookDispatcherOptions } from './dispatcher';
import { SubscriptionService } from './fhir-subscriptions';
import { WebhookService, type WebhookApp } from './service';

jest.setTimeout(60_000);

/** One request the receiver got. */
interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body as `standardwebhooks` verified it, or its error. */
  verified?: unknown;
  error?: string;
}

/**
 * A real HTTP receiver on loopback: answers each request with the next status of its path's
 * script (then 200), and verifies Standard Webhooks signatures with the `standardwebhooks`
 * package when it knows the path's secret.
 */
class Receiver {
  readonly received: Received[] = [];
  readonly secrets = new Map<string, string>();
  readonly scripts = new Map<string, number[]>();
  /** Decides the status of a request before the scripts do (undefined: leave it to them). */
  decide: ((r: Received) => number | undefined) | undefined;
  private server!: Server;
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const path = req.url ?? '/';
        const r: Received = { method: req.method ?? '', path, headers: req.headers, body };
        const secret = this.secrets.get(path.split('/').slice(0, 2).join('/'));
        if (secret) {
          try {
            r.verified = new Webhook(secret).verify(body, req.headers as Record<string, string>);
          } catch (err) {
            r.error = err instanceof Error ? err.message : String(err);
          }
        }
        this.received.push(r);
        const status = this.decide?.(r) ?? this.scripts.get(path)?.shift() ?? 200;
        res.statusCode = status;
        // A receiver too slow to answer in time.
        const delay = path.startsWith('/slow') ? 1_000 : 0;
        setTimeout(() => res.end(status < 300 ? 'ok' : 'no'), delay);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path.startsWith(path));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const scopes = (...text: string[]): SmartScope[] => text.map((t) => parseSmartScope(t) as SmartScope);
const reader: WebhookApp = {
  appId: 'app-reader',
  environment: 'production',
  scopes: scopes('system/Patient.rs', 'system/Appointment.rs', 'system/Observation.rs'),
};
const scheduler: WebhookApp = {
  appId: 'app-scheduler',
  environment: 'production',
  scopes: scopes('system/Appointment.c'),
};

const backends: Array<
  [string, () => Promise<{ open: () => Promise<TypeOrmStore>; drop: () => Promise<void> }>]
> = [
  [
    'SQLite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sinew-webhooks-'));
      return {
        open: () => openStore({ dataDir: dir }),
        drop: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const s: TestSchema = await withTestSchema();
      return { open: () => openStore({ databaseUrl: s.url, schema: s.schema }), drop: () => s.drop() };
    },
  ],
];

describe.each(backends)(
  'webhooks on %s: a real receiver verifying signatures with standardwebhooks',
  (_, backend) => {
    let db: { open: () => Promise<TypeOrmStore>; drop: () => Promise<void> };
    let store: TypeOrmStore;
    let hub: HubChangesDouble;
    let receiver: Receiver;
    let service: WebhookService;
    let dispatcher: WebhookDispatcher;

    const dispatcherOptions = (): WebhookDispatcherOptions => ({
      store: store.webhooks,
      hub,
      retry: { attempts: 3, initialDelayMs: 100, multiplier: 2, maxDelayMs: 1_000, jitter: 0 },
      timeoutMs: 2_000,
      pollMs: 50,
    });

    beforeEach(async () => {
      db = await backend();
      store = await db.open();
      hub = createHubChangesDouble();
      receiver = new Receiver();
      await receiver.start();
      dispatcher = new WebhookDispatcher(dispatcherOptions());
      service = new WebhookService({ store: store.webhooks, wake: () => dispatcher.wake() });
      dispatcher.start();
    });

    afterEach(async () => {
      await dispatcher.stop();
      await receiver.stop();
      await store.close();
      await db.drop();
    });

    const subscribe = async (
      app: WebhookApp,
      path: string,
      events: string[],
      payload?: 'resource' | 'reference',
    ) => {
      const { subscription, secret } = await service.create(app, {
        url: receiver.url(path),
        events,
        ...(payload ? { payload } : {}),
      });
      receiver.secrets.set(path, secret);
      return { subscription, secret };
    };
    const patient = (id: string, family = 'Testperson') => ({
      resourceType: 'Patient',
      id,
      name: [{ family }],
    });
    const appointment = (id: string, status: string) => ({ resourceType: 'Appointment', id, status });

    it('signs each event the Standard Webhooks way; the payload is the resource, or only a reference without the read scope', async () => {
      const full = await subscribe(reader, '/reader', ['patient.created', 'appointment.booked']);
      expect(full.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(full.subscription.effectivePayload).toEqual({
        'patient.created': 'resource',
        'appointment.booked': 'resource',
      });
      const refOnly = await subscribe(scheduler, '/scheduler', ['appointment.booked'], 'resource');
      expect(refOnly.subscription.effectivePayload).toEqual({ 'appointment.booked': 'reference' });

      hub.commit(
        { action: 'created', resource: patient('p1') },
        { action: 'created', resource: appointment('a1', 'booked'), patientId: 'p1' },
        { action: 'updated', resource: patient('p1', 'Renamed') },
      );
      await waitFor('three deliveries', () => receiver.received.length === 3 && receiver.received);
      await sleep(200);
      expect(receiver.received).toHaveLength(3);
      for (const r of receiver.received) {
        expect(r.error).toBeUndefined();
        expect(r.headers['content-type']).toBe('application/json');
        expect(r.headers['webhook-id']).toMatch(/^evt_/);
      }
      const [p, a] = receiver.at('/reader').map((r) => r.verified as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any -- the body as parsed JSON
      expect(p).toMatchObject({
        type: 'patient.created',
        version: '1',
        data: {
          reference: 'Patient/p1',
          payload: 'resource',
          environment: 'production',
          resource: { resourceType: 'Patient', id: 'p1', name: [{ family: 'Testperson' }] },
        },
      });
      expect(typeof p?.timestamp).toBe('string');
      expect(a).toMatchObject({
        type: 'appointment.booked',
        data: { reference: 'Appointment/a1', patient: 'Patient/p1' },
      });
      const s = receiver.at('/scheduler')[0]?.verified as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the body as parsed JSON
      expect(s).toMatchObject({
        type: 'appointment.booked',
        data: { reference: 'Appointment/a1', payload: 'reference' },
      });
      expect(s.data).not.toHaveProperty('resource');

      // A tampered body or another secret fails verification with standardwebhooks.
      const first = receiver.received[0] as Received;
      expect(() =>
        new Webhook(full.secret).verify(first.body + ' ', first.headers as Record<string, string>),
      ).toThrow();
      expect(() =>
        new Webhook(refOnly.secret).verify(first.body, first.headers as Record<string, string>),
      ).toThrow();

      // The log: delivered, one attempt, its status code and latency.
      const log = await service.deliveries({ appId: reader.appId, limit: 10 });
      expect(log.map((d) => [d.eventType, d.status, d.attempts, d.responseCode])).toEqual([
        ['appointment.booked', 'delivered', 1, 200],
        ['patient.created', 'delivered', 1, 200],
      ]);
      expect(log[0]?.latencyMs).toEqual(expect.any(Number));
    });

    it('retries a 503 and a 429 with backoff, then succeeds; the attempts are in the log', async () => {
      await subscribe(reader, '/retry', ['patient.created']);
      receiver.scripts.set('/retry', [503, 429]);
      hub.commit({ action: 'created', resource: patient('p1') });
      await waitFor('delivered after two retries', () => receiver.at('/retry').length === 3, 10_000);
      const [d] = await service.deliveries({ appId: reader.appId, limit: 10 });
      await waitFor(
        'log updated',
        async () => (await service.deliveries({ appId: reader.appId, limit: 1 }))[0]?.status === 'delivered',
      );
      const detail = await service.delivery(reader.appId, d!.id);
      expect(detail.attempts.map((a) => [a.number, a.outcome, a.responseCode])).toEqual([
        [1, 'retry', 503],
        [2, 'retry', 429],
        [3, 'delivered', 200],
      ]);
      const times = receiver.at('/retry').map((r) => Number(r.headers['webhook-timestamp']));
      expect(new Set(receiver.at('/retry').map((r) => r.headers['webhook-id'])).size).toBe(1);
      expect(times.every((t) => Number.isInteger(t))).toBe(true);
      const gaps = detail.attempts
        .slice(1)
        .map((a, i) => a.at.getTime() - (detail.attempts[i] as { at: Date }).at.getTime());
      expect(gaps[0]).toBeGreaterThanOrEqual(90);
      expect(gaps[1]).toBeGreaterThanOrEqual(190);
    });

    it('retries a refused connection and a receiver that does not answer in time, then dead-letters them', async () => {
      await dispatcher.stop();
      dispatcher = new WebhookDispatcher({ ...dispatcherOptions(), timeoutMs: 300 });
      dispatcher.start();
      const closed = new Receiver();
      await closed.start();
      const closedUrl = closed.url('/gone');
      await closed.stop();
      const gone = await service.create(reader, { url: closedUrl, events: ['patient.created'] });
      const slow = await subscribe(scheduler, '/slow', ['appointment.booked']);
      hub.commit(
        { action: 'created', resource: patient('p1') },
        { action: 'created', resource: appointment('a1', 'booked'), patientId: 'p1' },
      );
      const dead = await waitFor(
        'both dead',
        async () => {
          const d = await service.deliveries({ status: 'dead', limit: 10 });
          return d.length === 2 && d;
        },
        15_000,
      );
      for (const [sub, error] of [
        [gone.subscription.id, /ECONNREFUSED/],
        [slow.subscription.id, /no answer within 300 ms/],
      ] as const) {
        const d = dead.find((x) => x.subscriptionId === sub);
        const attempts = (await service.delivery(undefined, d!.id)).attempts;
        expect(attempts.map((a) => [a.outcome, a.responseCode])).toEqual([
          ['retry', null],
          ['retry', null],
          ['dead', null],
        ]);
        expect(attempts[0]?.error).toMatch(error);
        expect(d?.lastError).toMatch(/gave up after 3 attempts/);
      }
      expect(receiver.at('/slow')).toHaveLength(3);
    });

    it('dead-letters after N attempts and at once on a 400; an admin or the app replays it, with the same webhook-id', async () => {
      const { subscription } = await subscribe(reader, '/dead', ['patient.created', 'patient.updated']);
      receiver.scripts.set('/dead', [500, 500, 500, 400]);
      hub.commit({ action: 'created', resource: patient('p1') });
      await waitFor('three attempts', () => receiver.at('/dead').length === 3, 10_000);
      const dead = await waitFor('dead letter', async () => {
        const [d] = await service.deliveries({ appId: reader.appId, status: 'dead', limit: 10 });
        return d;
      });
      expect(dead).toMatchObject({ attempts: 3, responseCode: 500, eventType: 'patient.created' });
      expect(dead.lastError).toContain('gave up after 3 attempts');
      hub.commit({ action: 'updated', resource: patient('p1', 'Other') });
      await waitFor('the 400', () => receiver.at('/dead').length === 4, 10_000);
      await waitFor(
        'two dead letters',
        async () => (await service.deliveries({ status: 'dead', limit: 10 })).length === 2,
      );
      const notRetried = (
        await service.deliveries({ subscriptionId: subscription.id, status: 'dead', limit: 10 })
      )[0];
      expect(notRetried).toMatchObject({ attempts: 1, responseCode: 400, eventType: 'patient.updated' });
      expect(notRetried?.lastError).toContain('not retried');

      // Another app cannot replay it; its own app (or an admin: no app id) can.
      await expect(service.replay(scheduler.appId, dead.id)).rejects.toMatchObject({ status: 404 });
      const replay = await service.replay(reader.appId, dead.id);
      expect(replay).toMatchObject({ replayOf: dead.id, status: 'pending', eventId: dead.eventId });
      await waitFor('the replay delivered', () => receiver.at('/dead').length === 5, 10_000);
      const last = receiver.at('/dead')[4] as Received;
      expect(last.headers['webhook-id']).toBe(dead.eventId);
      expect(last.error).toBeUndefined();
      expect((last.verified as { type: string }).type).toBe('patient.created');
      await waitFor(
        'replay logged',
        async () => (await service.store.getDelivery(replay.id))?.status === 'delivered',
      );
    });

    it('keeps order per patient: a later event waits for the earlier one the receiver refused, other patients go on', async () => {
      await subscribe(reader, '/order', ['patient.created', 'patient.updated']);
      let refusals = 0;
      receiver.decide = (r) =>
        (r.verified as { data?: { id?: string } } | undefined)?.data?.id === 'pA' && refusals++ < 2
          ? 503
          : undefined;
      hub.commit(
        { action: 'created', resource: patient('pA') },
        { action: 'updated', resource: patient('pA', 'Second') },
        { action: 'updated', resource: patient('pA', 'Third') },
      );
      await waitFor('the first refusal', () => receiver.at('/order').length === 1);
      hub.commit({ action: 'created', resource: patient('pB') });
      await waitFor('all delivered', () => receiver.at('/order').length === 6, 10_000);
      await sleep(200);
      const seen = receiver.at('/order').map((r) => {
        const v = r.verified as {
          type: string;
          data: { id: string; resource: { name: Array<{ family: string }> } };
        };
        return `${v.data.id}:${v.type}:${v.data.resource.name[0]?.family}`;
      });
      // pA's first event was refused twice (503); pA's later events waited for it, pB did not.
      expect(seen.filter((x) => x.startsWith('pA'))).toEqual([
        'pA:patient.created:Testperson',
        'pA:patient.created:Testperson',
        'pA:patient.created:Testperson',
        'pA:patient.updated:Second',
        'pA:patient.updated:Third',
      ]);
      expect(seen.indexOf('pB:patient.created:Testperson')).toBeLessThan(3);
    });

    it('waits for the next attempt quietly while a later event is held behind a refused one', async () => {
      await dispatcher.stop();
      let claims = 0;
      const counted = Object.create(store.webhooks) as typeof store.webhooks;
      counted.claimDue = (...args) => {
        claims += 1;
        return store.webhooks.claimDue(...args);
      };
      dispatcher = new WebhookDispatcher({
        ...dispatcherOptions(),
        store: counted,
        retry: { attempts: 3, initialDelayMs: 1_500, jitter: 0 },
        pollMs: 1_000,
      });
      dispatcher.start();
      await subscribe(reader, '/quiet', ['patient.created', 'patient.updated']);
      receiver.scripts.set('/quiet', [503]);
      hub.commit(
        { action: 'created', resource: patient('pQ') },
        { action: 'updated', resource: patient('pQ', 'Later') },
      );
      await waitFor('the refusal', () => receiver.at('/quiet').length === 1);
      claims = 0;
      await sleep(1_000);
      // The held event is due but blocked: the dispatcher does not spin on it (one look per second at most).
      expect(claims).toBeLessThanOrEqual(3);
      await waitFor('both delivered after the retry', () => receiver.at('/quiet').length === 3, 10_000);
    });

    it('shares the work between two dispatchers (two engine processes): each event once, in order per patient', async () => {
      const second = await db.open();
      const other = new WebhookDispatcher({ ...dispatcherOptions(), store: second.webhooks });
      other.start();
      try {
        await subscribe(reader, '/shared', ['patient.created', 'patient.updated']);
        const patients = ['s1', 's2', 's3', 's4', 's5'];
        for (let round = 0; round < 4; round++)
          hub.commit(
            ...patients.map((id) => ({
              action: round === 0 ? ('created' as const) : ('updated' as const),
              resource: patient(id, `V${round}`),
            })),
          );
        await waitFor('twenty deliveries', () => receiver.at('/shared').length >= 20, 15_000);
        await sleep(500);
        const got = receiver.at('/shared').map((r) => {
          const v = r.verified as { data: { id: string; resource: { name: Array<{ family: string }> } } };
          return {
            webhookId: r.headers['webhook-id'],
            id: v.data.id,
            family: v.data.resource.name[0]?.family,
          };
        });
        expect(got).toHaveLength(20);
        expect(new Set(got.map((g) => g.webhookId)).size).toBe(20);
        for (const id of patients)
          expect(got.filter((g) => g.id === id).map((g) => g.family)).toEqual(['V0', 'V1', 'V2', 'V3']);
      } finally {
        await other.stop();
        await second.close();
      }
    });

    it('does not deliver events about a patient the app may not see (consent), nor events of another environment', async () => {
      await subscribe(reader, '/consent-reader', ['patient.updated']);
      const other: WebhookApp = { ...reader, appId: 'app-other' };
      await subscribe(other, '/consent-other', ['patient.updated']);
      hub.setExcluded('production', 'pX', reader.appId, true);
      hub.setExcluded('production', 'pAll', undefined, true);
      hub.commit(
        { action: 'updated', resource: patient('pX') },
        { action: 'updated', resource: patient('pAll') },
        { action: 'updated', resource: patient('pS'), environment: 'sandbox' },
      );
      await waitFor('the other app hears of pX', () => receiver.at('/consent-other').length === 1);
      await sleep(500);
      expect(receiver.at('/consent-reader')).toEqual([]);
      expect(
        receiver.at('/consent-other').map((r) => (r.verified as { data: { id: string } }).data.id),
      ).toEqual(['pX']);
      expect(await service.deliveries({ appId: reader.appId, limit: 10 })).toEqual([]);

      // An exclusion made after the event was recorded still stops it before sending: the hub
      // answers "visible" to the fan-out and "excluded" by the time of sending.
      await dispatcher.stop();
      hub.setExcluded('production', 'pLate', reader.appId, true);
      let asked = 0;
      dispatcher = new WebhookDispatcher({
        ...dispatcherOptions(),
        hub: {
          changesSince: hub.changesSince,
          onChange: hub.onChange,
          isVisible: async (viewer, patientId) =>
            patientId === 'pLate' && viewer.appId === reader.appId && asked++ === 0
              ? true
              : hub.isVisible(viewer, patientId),
        },
      });
      dispatcher.start();
      hub.commit({ action: 'updated', resource: patient('pLate') });
      await waitFor('the other app hears of pLate', () => receiver.at('/consent-other').length === 2);
      await waitFor(
        'withheld',
        async () =>
          (await service.deliveries({ appId: reader.appId, status: 'withheld', limit: 5 })).length === 1,
      );
      expect(receiver.at('/consent-reader')).toEqual([]);
      expect(await service.deliveries({ appId: reader.appId, hideWithheld: true, limit: 10 })).toEqual([]);
    });

    it('resumes after a restart from the stored cursor and pending deliveries, losing nothing', async () => {
      await subscribe(reader, '/restart', ['patient.created', 'patient.updated']);
      receiver.scripts.set('/restart', [503]);
      hub.commit({ action: 'created', resource: patient('p1') });
      await waitFor('the first attempt', () => receiver.at('/restart').length === 1);
      await dispatcher.stop();
      await store.close();
      // Changes committed while no dispatcher runs.
      hub.commit(
        { action: 'updated', resource: patient('p1', 'B') },
        { action: 'created', resource: patient('p2') },
      );
      store = await db.open();
      service = new WebhookService({ store: store.webhooks });
      dispatcher = new WebhookDispatcher(dispatcherOptions());
      dispatcher.start();
      await waitFor('everything delivered', () => receiver.at('/restart').length === 4, 10_000);
      await sleep(300);
      const got = receiver
        .at('/restart')
        .map(
          (r) =>
            `${(r.verified as { data: { id: string } }).data.id}:${(r.verified as { type: string }).type}`,
        );
      // p1's update waited for p1's creation (refused once before the restart); p2 did not wait.
      expect(got.filter((g) => g.startsWith('p1'))).toEqual([
        'p1:patient.created',
        'p1:patient.created',
        'p1:patient.updated',
      ]);
      expect(got.filter((g) => g.startsWith('p2'))).toEqual(['p2:patient.created']);
      expect(await store.webhooks.readCursor('hub')).toBe(3);
      // A cursor another process moved is not moved again, and nothing is recorded.
      expect(await store.webhooks.advance('hub', 2, 9, [])).toBe(false);
      expect(await store.webhooks.advance('fresh', 5, 9, [])).toBe(false);
      expect(await store.webhooks.readCursor('hub')).toBe(3);
      const log = await service.deliveries({ appId: reader.appId, limit: 10 });
      expect(log.map((d) => d.status)).toEqual(['delivered', 'delivered', 'delivered']);
    });

    it('signs with the old secret too during the rotation grace, then with the new one only', async () => {
      const { subscription, secret: first } = await subscribe(reader, '/rotate', ['patient.updated']);
      const second = await service.rotateSecret(reader.appId, subscription.id);
      hub.commit({ action: 'updated', resource: patient('p1') });
      await waitFor('signed twice', () => receiver.at('/rotate').length === 1);
      const r1 = receiver.at('/rotate')[0] as Received;
      for (const s of [first, second.secret])
        expect(() => new Webhook(s).verify(r1.body, r1.headers as Record<string, string>)).not.toThrow();
      // Without a grace period the old secret stops at once.
      const strict = new WebhookService({ store: store.webhooks, rotationGraceMs: 0 });
      const third = await strict.rotateSecret(reader.appId, subscription.id);
      hub.commit({ action: 'updated', resource: patient('p1', 'Again') });
      await waitFor('signed once', () => receiver.at('/rotate').length === 2);
      const r2 = receiver.at('/rotate')[1] as Received;
      expect(new Webhook(third.secret).verify(r2.body, r2.headers as Record<string, string>)).toMatchObject({
        type: 'patient.updated',
      });
      for (const s of [first, second.secret])
        expect(() => new Webhook(s).verify(r2.body, r2.headers as Record<string, string>)).toThrow();
      await expect(service.rotateSecret(scheduler.appId, subscription.id)).rejects.toMatchObject({
        status: 404,
      });
    });

    it('prunes finished deliveries and their attempts, never pending ones', async () => {
      await subscribe(reader, '/prune', ['patient.created']);
      receiver.scripts.set('/prune', [200, 503, 503]);
      hub.commit(
        { action: 'created', resource: patient('p1') },
        { action: 'created', resource: patient('p2') },
      );
      await waitFor('one delivered, one retrying', async () => {
        const d = await service.deliveries({ appId: reader.appId, limit: 10 });
        return (
          d.some((x) => x.status === 'delivered') && d.some((x) => x.status === 'pending' && x.attempts >= 1)
        );
      });
      await dispatcher.stop();
      const [pending] = await service.deliveries({ appId: reader.appId, status: 'pending', limit: 1 });
      const [delivered] = await service.deliveries({ appId: reader.appId, status: 'delivered', limit: 1 });
      expect(await store.webhooks.attempts(delivered!.id)).toHaveLength(1);
      expect(await store.webhooks.pruneDeliveries(new Date(Date.now() - 60_000))).toBe(0);
      expect(await store.webhooks.pruneDeliveries(new Date(Date.now() + 60_000))).toBe(1);
      const left = await service.deliveries({ appId: reader.appId, limit: 10 });
      expect(left.map((d) => d.id)).toEqual([pending!.id]);
      expect(await store.webhooks.attempts(delivered!.id)).toEqual([]);
      expect((await service.delivery(reader.appId, pending!.id)).attempts.length).toBeGreaterThanOrEqual(1);
    });

    it('delivers reconciliation discrepancies raised by a run, and FHIR rest-hook notifications', async () => {
      await subscribe(scheduler, '/recon', ['reconciliation.discrepancy']);
      const n = await service.raise({
        type: 'reconciliation.discrepancy',
        environment: 'production',
        at: new Date().toISOString(),
        patientId: null,
        data: {
          reconciliation: 'pms-vs-ehr',
          runId: 'r1',
          discrepancies: 2,
          byClass: { missing_in_target: 2 },
        },
      });
      expect(n).toBe(1);
      await waitFor('the discrepancy event', () => receiver.at('/recon').length === 1);
      expect(receiver.at('/recon')[0]?.verified).toMatchObject({
        type: 'reconciliation.discrepancy',
        data: { reconciliation: 'pms-vs-ehr', discrepancies: 2 },
      });

      const fhir = new SubscriptionService({ store: store.webhooks });
      const withPayload = await fhir.create(reader, {
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'glucose results',
        criteria: 'Observation?code=http://loinc.org|2345-7',
        channel: {
          type: 'rest-hook',
          endpoint: receiver.url('/fhir'),
          payload: 'application/fhir+json',
          header: ['Authorization: Bearer app-token'],
        },
      });
      expect(withPayload).toMatchObject({
        resourceType: 'Subscription',
        status: 'active',
        id: expect.stringMatching(/^sub-/),
      });
      await fhir.create(reader, {
        resourceType: 'Subscription',
        reason: 'booked appointments',
        criteria: 'Appointment?status=booked',
        channel: { type: 'rest-hook', endpoint: receiver.url('/notify') },
      });
      await expect(
        fhir.create(scheduler, {
          resourceType: 'Subscription',
          reason: 'x',
          criteria: 'Observation',
          channel: { type: 'rest-hook', endpoint: receiver.url('/x'), payload: 'application/fhir+json' },
        }),
      ).rejects.toMatchObject({ status: 403 });
      hub.commit(
        {
          action: 'created',
          resource: {
            resourceType: 'Observation',
            id: 'o1',
            status: 'final',
            code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] },
          },
          patientId: 'p1',
        },
        {
          action: 'created',
          resource: {
            resourceType: 'Observation',
            id: 'o2',
            status: 'final',
            code: { coding: [{ code: 'other' }] },
          },
          patientId: 'p1',
        },
        { action: 'created', resource: appointment('a1', 'proposed'), patientId: 'p1' },
        { action: 'updated', resource: appointment('a1', 'booked'), patientId: 'p1' },
      );
      await waitFor(
        'both notifications',
        () => receiver.at('/fhir').length === 1 && receiver.at('/notify').length === 1,
      );
      await sleep(300);
      const put = receiver.at('/fhir')[0] as Received;
      expect([put.method, put.path, put.headers['content-type'], put.headers.authorization]).toEqual([
        'PUT',
        '/fhir/Observation/o1',
        'application/fhir+json',
        'Bearer app-token',
      ]);
      expect(JSON.parse(put.body)).toMatchObject({ resourceType: 'Observation', id: 'o1' });
      expect(put.headers['webhook-id']).toMatch(/^evt_/);
      expect(put.headers).not.toHaveProperty('webhook-signature');
      const empty = receiver.at('/notify')[0] as Received;
      expect([empty.method, empty.path, empty.body]).toEqual(['POST', '/notify', '']);
      expect(receiver.at('/notify')).toHaveLength(1);
    });
  },
);
