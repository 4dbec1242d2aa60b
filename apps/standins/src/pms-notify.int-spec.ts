import { buildAck, Hl7Message, type AckCode } from '@sinew/hl7v2';
import { MllpServer } from '@sinew/mllp';
import { freePort } from '@sinew/test-support/engine-process';
import { startPms, type PmsStandin } from './pms';

/** An MLLP listener standing in for Sinew's source: keeps each message, answers `code`. */
class Listener {
  readonly received: string[] = [];
  code: AckCode = 'AA';
  readonly server: MllpServer;
  constructor(port = 0) {
    this.server = new MllpServer({ port }, (bytes) => {
      const text = bytes.toString('utf8');
      this.received.push(text);
      const message = Hl7Message.parse(bytes);
      return this.code === 'AA'
        ? buildAck(message, { code: 'AA' })
        : buildAck(message, {
            code: this.code,
            text: 'The patient has no identifier (PID-3)',
            error: { code: '101', location: 'PID-3' },
          });
    });
  }
  get port(): number {
    return this.server.port;
  }
  /** The received messages' segments, by name: `seg(0, 'PID')[3]` is PID-3 of the first. */
  segment(index: number, name: string): string[] {
    const line = (this.received[index] ?? '').split('\r').find((s) => s.startsWith(`${name}|`));
    if (!line) throw new Error(`message ${index} has no ${name}`);
    return name === 'MSH' ? ['MSH', '|', ...line.split('|').slice(1)] : line.split('|');
  }
}

async function call(pms: PmsStandin, method: string, path: string, body?: unknown) {
  const res = await fetch(`${pms.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const alice = {
  mrn: 'MRN-1001',
  family: 'Test|patient',
  given: 'Alice^Q',
  birth_date: '1980-02-14',
  sex: 'F',
};

describe('PMS stand-in notifications over MLLP', () => {
  let adt: Listener;
  let siu: Listener;
  let dft: Listener;
  let pms: PmsStandin;

  beforeAll(async () => {
    [adt, siu, dft] = [new Listener(), new Listener(), new Listener()];
    await Promise.all([adt.server.start(), siu.server.start(), dft.server.start()]);
    pms = await startPms({
      notify: {
        adt: { host: '127.0.0.1', port: adt.port },
        siu: { host: '127.0.0.1', port: siu.port },
        dft: { host: '127.0.0.1', port: dft.port },
      },
      outbox: { retryDelayMs: 50 },
    });
  });
  afterAll(async () => {
    await pms.stop();
    await Promise.all([adt.server.stop(), siu.server.stop(), dft.server.stop()]);
  });
  beforeEach(() => {
    pms.reset();
    for (const l of [adt, siu, dft]) {
      l.received.length = 0;
      l.code = 'AA';
    }
  });

  it('sends ADT^A04 for a new patient and ADT^A08 for a change, escaped, and records the ACKs', async () => {
    const created = await call(pms, 'POST', '/api/patients', alice);
    expect(created.status).toBe(201);
    await call(pms, 'PUT', `/api/patients/${String(created.json.id)}`, { birth_date: '1980-02-15' });
    await pms.notified();

    expect(adt.received).toHaveLength(2);
    const msh = adt.segment(0, 'MSH');
    expect([msh[3], msh[4], msh[9], msh[12]]).toEqual(['PMS', 'CLINIC', 'ADT^A04^ADT_A01', '2.5.1']);
    expect(adt.segment(1, 'MSH')[9]).toBe('ADT^A08^ADT_A01');
    expect(adt.segment(0, 'MSH')[10]).not.toBe(adt.segment(1, 'MSH')[10]);
    const pid = adt.segment(0, 'PID');
    expect(pid[3]).toBe('MRN-1001^^^PMS^MR');
    expect(pid[5]).toBe('Test\\F\\patient^Alice\\S\\Q');
    expect(pid[7]).toBe('19800214');
    expect(pid[8]).toBe('F');
    expect(adt.segment(1, 'PID')[7]).toBe('19800215');
    expect(Hl7Message.parse(adt.received[0] as string).get('PID-5.1')).toBe('Test|patient');

    expect(pms.outbox).toEqual([
      {
        id: 1,
        kind: 'patient',
        messageType: 'ADT^A04',
        controlId: adt.segment(0, 'MSH')[10],
        recordId: created.json.id,
        sentAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
        ack: 'AA',
        error: null,
        attempts: 1,
      },
      expect.objectContaining({ id: 2, messageType: 'ADT^A08', ack: 'AA', error: null }),
    ]);
    const listed = await fetch(`${pms.url}/api/outbox`);
    expect(((await listed.json()) as { items: unknown[] }).items).toEqual(
      JSON.parse(JSON.stringify(pms.outbox)),
    );
  });

  it('sends SIU^S12, S14 and S15 with SCH, TQ1, AIS, AIL and AIP as the pms-siu channel needs', async () => {
    await call(pms, 'POST', '/api/patients', alice);
    const booked = await call(pms, 'POST', '/api/appointments', {
      appointment_id: 'APT-77',
      mrn: alice.mrn,
      start: '2026-12-08T09:30:00-05:00',
      duration_min: 45,
      practitioner: 'DR-ORTIZ',
      location: 'ROOM 2',
    });
    const id = String(booked.json.id);
    await call(pms, 'PUT', `/api/appointments/${id}`, { start: '2026-12-08T10:00:00-05:00' });
    await call(pms, 'DELETE', `/api/appointments/${id}`);
    await pms.notified();

    expect(siu.received.map((_, i) => siu.segment(i, 'MSH')[9])).toEqual([
      'SIU^S12^SIU_S12',
      'SIU^S14^SIU_S12',
      'SIU^S15^SIU_S12',
    ]);
    const sch = siu.segment(0, 'SCH');
    expect([sch[1], sch[2], sch[9], sch[10], sch[25]]).toEqual([
      'APT-77^PMS',
      'APT-77^PMS',
      '45',
      'min^minutes^ISO',
      'Booked',
    ]);
    expect(siu.segment(0, 'TQ1').slice(7, 9)).toEqual(['20261208093000-0500', '20261208101500-0500']);
    expect(siu.segment(1, 'TQ1')[7]).toBe('20261208100000-0500');
    expect(siu.segment(2, 'SCH')[25]).toBe('Cancelled');
    expect(siu.segment(0, 'PID')[3]).toBe('MRN-1001^^^PMS^MR');
    expect(siu.segment(0, 'AIP')[3]).toBe('DR-ORTIZ');
    expect(siu.segment(0, 'AIL')[3]).toBe('ROOM 2^^^CLINIC');
    expect(siu.segment(0, 'AIS')[4]).toBe('20261208093000-0500');
    expect(pms.outbox.map((e) => `${e.kind} ${e.messageType} ${e.ack}`)).toEqual([
      'patient ADT^A04 AA',
      'appointment SIU^S12 AA',
      'appointment SIU^S14 AA',
      'appointment SIU^S15 AA',
    ]);
  });

  it('sends DFT^P03 with FT1 for a charge, and its reversal when cancelled', async () => {
    await call(pms, 'POST', '/api/patients', alice);
    const charge = await call(pms, 'POST', '/api/charges', {
      charge_number: 'TX-9001',
      mrn: alice.mrn,
      code: '99213',
      description: 'Office visit, established',
      amount: 125,
      service_date: '2026-12-08',
    });
    await call(pms, 'PUT', `/api/charges/${String(charge.json.id)}`, { status: 'cancelled' });
    await pms.notified();

    expect(dft.received).toHaveLength(2);
    expect(dft.segment(0, 'MSH')[9]).toBe('DFT^P03^DFT_P03');
    const ft1 = dft.segment(0, 'FT1');
    expect([ft1[2], ft1[4], ft1[6], ft1[7], ft1[10], ft1[11]]).toEqual([
      'TX-9001',
      '20261208',
      'CG',
      '99213^Office visit, established^C4',
      '1',
      '125.00&USD',
    ]);
    const reversal = dft.segment(1, 'FT1');
    expect([reversal[2], reversal[6], reversal[11]]).toEqual(['TX-9001', 'CD', '-125.00&USD']);
    expect(dft.segment(0, 'PID')[3]).toBe('MRN-1001^^^PMS^MR');
  });

  it('sends nothing for a write with notify=false', async () => {
    const p = await call(pms, 'POST', '/api/patients?notify=false', alice);
    expect(p.status).toBe(201);
    await call(pms, 'PUT', `/api/patients/${String(p.json.id)}?notify=false`, { given: 'Al' });
    await call(pms, 'POST', '/api/appointments?notify=false', {
      mrn: alice.mrn,
      start: '2026-12-08T09:30:00Z',
    });
    await call(pms, 'POST', '/api/charges?notify=false', { mrn: alice.mrn, code: '99213', amount: 10 });
    await pms.notified();
    // A write that does notify, last: the listeners have seen everything before it by then.
    await call(pms, 'POST', '/api/patients', { ...alice, mrn: 'MRN-2' });
    await pms.notified();
    expect(adt.received.map((m) => Hl7Message.parse(m).get('PID-3.1'))).toEqual(['MRN-2']);
    expect(siu.received).toEqual([]);
    expect(dft.received).toEqual([]);
    expect(pms.outbox).toHaveLength(1);
    expect((await call(pms, 'GET', '/api/patients')).json.total).toBe(2);
  });

  it('records a negative ACK with its text', async () => {
    adt.code = 'AE';
    await call(pms, 'POST', '/api/patients', alice);
    await pms.notified();
    expect(pms.outbox).toEqual([
      expect.objectContaining({
        messageType: 'ADT^A04',
        ack: 'AE',
        error: expect.stringContaining('The patient has no identifier (PID-3)'),
        attempts: 1,
      }),
    ]);
  });

  it('answers at once while the listener is down, retries, and delivers once it is back', async () => {
    const port = await freePort();
    const late = new Listener(port);
    const lonely = await startPms({
      notify: { adt: { host: '127.0.0.1', port } },
      outbox: { attempts: 6, retryDelayMs: 100 },
    });
    try {
      const started = Date.now();
      const res = await call(lonely, 'POST', '/api/patients', alice);
      expect(res.status).toBe(201);
      expect(Date.now() - started).toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 150));
      expect(lonely.outbox[0]).toMatchObject({
        ack: null,
        error: expect.stringContaining('could not connect'),
      });
      await late.server.start();
      await lonely.notified();
      expect(lonely.outbox[0]).toMatchObject({ ack: 'AA', error: null });
      expect(lonely.outbox[0]?.attempts).toBeGreaterThan(1);
      expect(late.received).toHaveLength(1);
    } finally {
      await lonely.stop();
      await late.server.stop();
    }
  });

  it('gives up after its attempts and says why', async () => {
    const port = await freePort();
    const lonely = await startPms({
      notify: { dft: { host: '127.0.0.1', port } },
      outbox: { attempts: 2, retryDelayMs: 20 },
    });
    try {
      await call(lonely, 'POST', '/api/patients?notify=false', alice);
      await call(lonely, 'POST', '/api/charges', { mrn: alice.mrn, code: '99213', amount: 10 });
      await lonely.notified();
      expect(lonely.outbox).toEqual([
        expect.objectContaining({
          kind: 'charge',
          messageType: 'DFT^P03',
          ack: null,
          attempts: 2,
          error: expect.stringContaining('could not connect'),
        }),
      ]);
    } finally {
      await lonely.stop();
    }
  });
});
