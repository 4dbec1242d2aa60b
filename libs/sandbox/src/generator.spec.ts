import { createHash } from 'node:crypto';
import { Hl7Message } from '@sinew/hl7v2';
import { LAB_PANELS, SANDBOX_AUTHORITY, generateClinic, type SandboxMessage } from '@sinew/sandbox';

function digest(messages: SandboxMessage[]): string {
  const h = createHash('sha256');
  for (const m of messages) h.update(m.text).update('\n');
  return h.digest('hex');
}

/** One segment's fields: `get(n)`, `get(n, component)`, `get(n, component, subcomponent)`. */
interface Fields {
  get(field: number, component?: number, sub?: number): string;
}

function segments(m: SandboxMessage, id: string): Fields[] {
  return Hl7Message.parse(m.text)
    .segmentsNamed(id)
    .map((seg) => ({
      get: (field: number, component = 1, sub = 1) =>
        (seg.field(field).split('~')[0] ?? '').split('^')[component - 1]?.split('&')[sub - 1] ?? '',
    }));
}

describe('the sandbox generator', () => {
  const clinic = generateClinic({ seed: 42, patients: 300, days: 10 });
  const parsed = clinic.messages.map((m) => ({ m, msg: Hl7Message.parse(m.text) }));

  it('gives byte-identical messages for the same seed, and other messages for another seed', () => {
    const again = generateClinic({ seed: 42, patients: 300, days: 10 });
    expect(again.messages.map((m) => m.text)).toEqual(clinic.messages.map((m) => m.text));
    expect(digest(again.messages)).toBe(digest(clinic.messages));
    const other = generateClinic({ seed: 43, patients: 300, days: 10 });
    expect(digest(other.messages)).not.toBe(digest(clinic.messages));
    expect(
      other.patients[0]?.family === clinic.patients[0]?.family &&
        other.patients[0]?.given === clinic.patients[0]?.given,
    ).toBe(false);
  });

  it('does not depend on the wall clock or on other users of faker', async () => {
    const { faker } = await import('@faker-js/faker');
    faker.seed(999);
    faker.person.firstName();
    expect(digest(generateClinic({ seed: 42, patients: 300, days: 10 }).messages)).toBe(
      digest(clinic.messages),
    );
  });

  it('sends every kind of message the clinic makes', () => {
    const types = new Set(clinic.messages.map((m) => m.type));
    expect([...types].sort()).toEqual(
      ['ADT^A04', 'ADT^A08', 'DFT^P03', 'ORU^R01', 'SIU^S12', 'SIU^S14', 'SIU^S15', 'SIU^S26'].sort(),
    );
    for (const { m, msg } of parsed) {
      expect(`${msg.get('MSH-9.1')}^${msg.get('MSH-9.2')}`).toBe(m.type);
      expect(msg.get('MSH-12')).toBe('2.5.1');
      expect(msg.get('MSH-10')).toBe(m.controlId);
      expect(msg.get('MSH-11')).toBe('T');
      expect(msg.get('PID-3.1')).toBe(m.patient);
      expect(m.text.endsWith('\r')).toBe(true);
      expect(m.text).not.toContain('\n');
    }
    expect(new Set(clinic.messages.map((m) => m.controlId)).size).toBe(clinic.messages.length);
  });

  it('registers every patient once (A04), before any other message about them', () => {
    const first = new Map<string, string>();
    const a04 = new Map<string, number>();
    for (const m of clinic.messages) {
      if (!first.has(m.patient)) first.set(m.patient, m.type);
      if (m.type === 'ADT^A04') a04.set(m.patient, (a04.get(m.patient) ?? 0) + 1);
    }
    expect(first.size).toBe(300);
    expect([...first.values()].every((t) => t === 'ADT^A04')).toBe(true);
    expect([...a04.values()].every((n) => n === 1)).toBe(true);
    const times = clinic.messages.map((m) => Date.parse(m.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('marks every patient identifier with the sandbox authority and uses fictional phone numbers', () => {
    for (const { msg } of parsed) {
      expect(msg.get('PID-3.4')).toBe(SANDBOX_AUTHORITY);
      expect(msg.get('PID-3.5')).toBe('MR');
    }
    for (const { m, msg } of parsed.filter((p) => p.m.type.startsWith('ADT'))) {
      expect(msg.get('PID-13.7')).toMatch(/^55501\d\d$/);
      expect(msg.get('PID-5.1')).toMatch(/^[A-Z][A-Z' -]+$/);
      expect(msg.get('PID-11.5')).toMatch(/^\d{5}$/);
      expect(msg.get('PID-18.4')).toBe(SANDBOX_AUTHORITY);
      expect(m.patient).toMatch(/^SBX\d{6}$/);
    }
  });

  it("sends a changed address or phone number (A08) in the patient's later messages", () => {
    const current = new Map<string, string>();
    let checked = 0;
    for (const { m, msg } of parsed) {
      if (m.type !== 'ADT^A04' && m.type !== 'ADT^A08' && m.type !== 'DFT^P03') continue;
      const contact = `${msg.get('PID-11.1')}|${msg.get('PID-13.7')}`;
      if (m.type === 'DFT^P03' && current.has(m.patient)) {
        expect(contact).toBe(current.get(m.patient));
        checked++;
      } else current.set(m.patient, contact);
    }
    expect(checked).toBeGreaterThan(50);
    const updated = parsed.filter((p) => p.m.type === 'ADT^A08');
    expect(updated.length).toBeGreaterThan(5);
    for (const { m, msg } of updated) {
      const before = parsed.find((p) => p.m.type === 'ADT^A04' && p.m.patient === m.patient)!.msg;
      expect(`${msg.get('PID-11.1')}|${msg.get('PID-13.7')}`).not.toBe(
        `${before.get('PID-11.1')}|${before.get('PID-13.7')}`,
      );
      const now = clinic.patients.find((p) => p.mrn === m.patient)!;
      expect(msg.get('PID-13.7')).toBe(now.phone);
    }
  });

  it('gives a realistic mix of ages and sexes', () => {
    const start = Date.parse('2026-03-02');
    const ages = clinic.patients.map((p) => {
      const birth = Date.parse(
        `${p.birthDate.slice(0, 4)}-${p.birthDate.slice(4, 6)}-${p.birthDate.slice(6)}`,
      );
      return (start - birth) / (365.25 * 86_400_000);
    });
    expect(Math.min(...ages)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...ages)).toBeLessThan(97);
    const children = ages.filter((a) => a < 18).length / ages.length;
    const seniors = ages.filter((a) => a >= 65).length / ages.length;
    expect(children).toBeGreaterThan(0.08);
    expect(children).toBeLessThan(0.3);
    expect(seniors).toBeGreaterThan(0.1);
    expect(seniors).toBeLessThan(0.32);
    const women = clinic.patients.filter((p) => p.sex === 'F').length / clinic.patients.length;
    expect(women).toBeGreaterThan(0.4);
    expect(women).toBeLessThan(0.65);
    expect(clinic.patients.every((p) => p.sex === 'F' || p.sex === 'M')).toBe(true);
    expect(new Set(clinic.patients.map((p) => `${p.family} ${p.given}`)).size).toBeGreaterThan(280);
  });

  it('books appointments in opening hours, with cancellations, no-shows and changes in realistic shares', () => {
    const n = clinic.appointments.length;
    expect(n).toBeGreaterThan(100);
    const share = (o: string) => clinic.appointments.filter((a) => a.outcome === o).length / n;
    expect(share('cancelled')).toBeGreaterThan(0.02);
    expect(share('cancelled')).toBeLessThan(0.16);
    expect(share('noshow')).toBeGreaterThan(0.01);
    expect(share('noshow')).toBeLessThan(0.14);
    expect(share('attended')).toBeGreaterThan(0.7);
    for (const { msg } of parsed.filter((p) => p.m.type.startsWith('SIU'))) {
      const start = msg.get('TQ1-7');
      expect(start).toMatch(/^\d{14}-0500$/);
      const hour = Number(start.slice(8, 10));
      expect(hour).toBeGreaterThanOrEqual(8);
      expect(hour).toBeLessThan(17);
      expect(msg.get('SCH-2.2')).toBe(SANDBOX_AUTHORITY);
      expect(msg.get('AIP-3.9')).toBe(SANDBOX_AUTHORITY);
    }
    // No practitioner's appointments overlap, and none runs into lunch or past closing.
    const byPractitioner = new Map<string, typeof clinic.appointments>();
    for (const a of clinic.appointments) {
      byPractitioner.set(a.practitioner, [...(byPractitioner.get(a.practitioner) ?? []), a]);
      const from = a.start % 1440;
      const to = from + a.minutes;
      expect(from).toBeGreaterThanOrEqual(8 * 60);
      expect(to).toBeLessThanOrEqual(17 * 60);
      expect(from >= 13 * 60 || to <= 12 * 60).toBe(true);
    }
    for (const list of byPractitioner.values()) {
      list.sort((x, y) => x.start - y.start);
      for (let i = 1; i < list.length; i++) {
        expect(list[i]!.start).toBeGreaterThanOrEqual(list[i - 1]!.start + list[i - 1]!.minutes);
      }
    }
    expect(new Set(clinic.appointments.map((a) => a.minutes)).size).toBeGreaterThan(2);
    const s15 = parsed.filter((p) => p.m.type === 'SIU^S15');
    expect(s15.every((p) => p.msg.get('SCH-25') === 'Cancelled')).toBe(true);
  });

  it('reports lab panels with LOINC codes, UCUM units, reference ranges and flags that agree with the values', () => {
    const oru = parsed.filter((p) => p.m.type === 'ORU^R01');
    expect(oru.length).toBeGreaterThan(40);
    const panelCodes = new Set(oru.map((p) => p.msg.get('OBR-4.1')));
    expect([...panelCodes].sort()).toEqual(LAB_PANELS.map((p) => p.loinc).sort());
    let flagged = 0;
    let total = 0;
    for (const { m } of oru) {
      for (const obx of segments(m, 'OBX')) {
        total++;
        expect(obx.get(3, 3)).toBe('LN');
        expect(obx.get(3, 1)).toMatch(/^\d{1,5}-\d$/);
        expect(obx.get(6, 3)).toBe('UCUM');
        expect(['10*3/uL', '10*6/uL', 'g/dL', '%', 'fL', 'mg/dL', 'mmol/L']).toContain(obx.get(6, 1));
        const value = Number(obx.get(5));
        expect(Number.isFinite(value)).toBe(true);
        expect(value).toBeGreaterThan(0);
        const range = obx.get(7);
        const flag = obx.get(8);
        let expected = 'N';
        const two = /^([\d.]+)-([\d.]+)$/.exec(range);
        if (two) expected = value < Number(two[1]) ? 'L' : value > Number(two[2]) ? 'H' : 'N';
        else if (range.startsWith('<')) expected = value > Number(range.slice(1)) ? 'H' : 'N';
        else if (range.startsWith('>')) expected = value < Number(range.slice(1)) ? 'L' : 'N';
        else throw new Error(`unexpected range ${range}`);
        expect(flag).toBe(expected);
        if (flag !== 'N') flagged++;
      }
    }
    // Drawn around normal: most results are in range, some are not.
    expect(flagged / total).toBeGreaterThan(0.03);
    expect(flagged / total).toBeLessThan(0.35);
  });

  it('corrects some results later (status C) for the same order', () => {
    const oru = parsed.filter((p) => p.m.type === 'ORU^R01');
    const corrected = oru.filter((p) => p.msg.get('OBR-25') === 'C');
    expect(corrected.length).toBeGreaterThan(0);
    for (const c of corrected) {
      const original = oru.find(
        (p) => p.msg.get('OBR-3.1') === c.msg.get('OBR-3.1') && p.msg.get('OBR-25') === 'F',
      );
      expect(original).toBeDefined();
      expect(clinic.messages.indexOf(original!.m)).toBeLessThan(clinic.messages.indexOf(c.m));
      expect(segments(c.m, 'OBX').filter((o) => o.get(11) === 'C')).toHaveLength(1);
    }
  });

  it('charges attended visits with CPT codes, amounts and the visit', () => {
    const dft = parsed.filter((p) => p.m.type === 'DFT^P03');
    expect(dft.length).toBe(
      clinic.appointments.filter((a) => a.outcome === 'attended' || a.outcome === 'modified').length,
    );
    for (const { m } of dft) {
      for (const ft1 of segments(m, 'FT1')) {
        expect(ft1.get(7, 1)).toMatch(/^\d{5}$/);
        expect(ft1.get(7, 3)).toBe('C4');
        expect(ft1.get(11, 1, 1)).toMatch(/^\d+\.\d\d$/);
        expect(ft1.get(6)).toBe('CG');
      }
    }
  });

  it('refuses options it cannot honour', () => {
    expect(() => generateClinic({ seed: -1 })).toThrow('seed');
    expect(() => generateClinic({ seed: 1, patients: 0 })).toThrow('patients');
    expect(() => generateClinic({ seed: 1, days: 0 })).toThrow('days');
    expect(() => generateClinic({ seed: 1, startDate: '2026-13-45' })).toThrow('start date');
  });
});
