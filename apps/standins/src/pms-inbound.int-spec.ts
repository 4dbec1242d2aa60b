import { MllpClient } from '@sinew/mllp';
import { startPms, type PmsStandin } from './pms';

const ALICE = { mrn: 'MRN-4711', family: 'Testpatient', given: 'Alice', birth_date: '1980-02-14', sex: 'F' };

/** SIU as Sinew's appointment-to-siu maps write them. */
const siu = (event: 'S12' | 'S14' | 'S15', id: string, mrn: string, start = '20260401093000+0200') =>
  [
    `MSH|^~\\&|SINEW||||20261207203848+0000||SIU^${event}^SIU_S12|C-${event}-${id}|P|2.5.1`,
    `SCH|${id}^PMS||||||||20|min|||||||||||||||${event === 'S15' ? 'Cancelled' : 'Booked'}^^HL70278`,
    `TQ1|1|||||20^min|${start}|`,
    `PID|1||${mrn}^^^&2.16.840.1.113883.19.5&ISO||Testpatient^Alice||19800214|F`,
    'RGS|1',
    'AIL|1||^^^^^^^^Room 3',
    'AIP|1||^Dr Who',
  ].join('\r');

const adt = (event: 'A28' | 'A31', mrn: string, family: string) =>
  [
    `MSH|^~\\&|SINEW||||20261207203848+0000||ADT^${event}^ADT_A05|C-${event}-${family}|P|2.5.1`,
    `EVN|${event}`,
    `PID|1||${mrn}||${family}^Bo||19910730|M`,
    'PV1|1|N',
  ].join('\r');

describe('the PMS stand-in takes SIU and ADT from Sinew over MLLP', () => {
  let pms: PmsStandin;
  let client: MllpClient;

  beforeEach(async () => {
    pms = await startPms({ patients: [ALICE], inbound: { port: 0 } });
    client = new MllpClient({ host: '127.0.0.1', port: pms.inbound?.port as number });
  });

  afterEach(async () => {
    await client.close();
    await pms.stop();
  });

  const appointments = async () =>
    ((await (await fetch(`${pms.url}/api/appointments`)).json()) as { items: Array<Record<string, unknown>> })
      .items;

  it('books (S12), changes (S14) and cancels (S15) in its diary, answering AA', async () => {
    const booked = await client.send(siu('S12', 'APT-77', 'MRN-4711'));
    expect([booked.code, booked.text]).toEqual(['AA', 'applied']);
    expect(await appointments()).toMatchObject([
      {
        appointment_id: 'APT-77',
        mrn: 'MRN-4711',
        start: '2026-04-01T09:30:00+02:00',
        duration_min: 20,
        status: 'booked',
        location: 'Room 3',
        practitioner: 'Dr Who',
      },
    ]);
    expect((await client.send(siu('S14', 'APT-77', 'MRN-4711', '20260402100000+0200'))).code).toBe('AA');
    expect(await appointments()).toMatchObject([{ start: '2026-04-02T10:00:00+02:00', status: 'booked' }]);
    expect((await client.send(siu('S15', 'APT-77', 'MRN-4711'))).code).toBe('AA');
    expect(await appointments()).toMatchObject([{ appointment_id: 'APT-77', status: 'cancelled' }]);
    expect(pms.inbound?.received.map((r) => `${r.messageType} ${r.ack}`)).toEqual([
      'SIU^S12 AA',
      'SIU^S14 AA',
      'SIU^S15 AA',
    ]);
  });

  it('answers AE, with the reason, for an unknown patient, a taken id or an unknown appointment', async () => {
    const unknown = await client.send(siu('S12', 'APT-1', 'MRN-0000'));
    expect([unknown.code, unknown.text]).toEqual(['AE', 'the patient (PID-3) is not registered in the PMS']);
    expect((await client.send(siu('S12', 'APT-2', 'MRN-4711'))).code).toBe('AA');
    const taken = await client.send(siu('S12', 'APT-2', 'MRN-4711'));
    expect([taken.code, taken.text]).toEqual(['AE', 'the appointment id (SCH-1) is booked already']);
    const missing = await client.send(siu('S14', 'APT-3', 'MRN-4711'));
    expect([missing.code, missing.text]).toEqual(['AE', 'no appointment with this id (SCH-1) in the PMS']);
    expect((await appointments()).map((a) => a.appointment_id)).toEqual(['APT-2']);
  });

  it('registers a patient (A28) and updates one (A31)', async () => {
    expect((await client.send(adt('A28', 'MRN-9001', 'Newcomer'))).code).toBe('AA');
    expect(pms.database.patientByMrn('MRN-9001')).toMatchObject({
      family: 'Newcomer',
      given: 'Bo',
      birth_date: '1991-07-30',
      sex: 'M',
    });
    expect((await client.send(adt('A31', 'MRN-9001', 'Renamed'))).code).toBe('AA');
    expect(pms.database.patientByMrn('MRN-9001')?.family).toBe('Renamed');
    expect((await client.send(adt('A28', 'MRN-9001', 'Again'))).code).toBe('AE');
  });
});
