import { faker } from '@faker-js/faker';
import { MedplumClient } from '@medplum/core';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import type { FhirResource } from '@sinew/hub';
import { corpusFiles } from '@sinew/test-support';
import { startFhirApi, type FhirApi } from '@sinew/test-support/fhir-api';
import { Client } from 'fhir-kit-client';
import { readFileSync } from 'node:fs';

/** FHIR R4 Bundles another converter produced from the corpus's HL7 v2 samples (MIT, FHIR-Converter). */
function corpusBundles(kinds: string[]): FhirResource[] {
  return kinds.flatMap((kind) =>
    corpusFiles(`fhir-converter-01/expected-fhir-r4/${kind}`, (n) => n.endsWith('.json')).map(
      (f) => JSON.parse(readFileSync(f, 'utf8')) as FhirResource,
    ),
  );
}

/**
 * An Observation told apart by its code and value: an Observation upserted onto one stored
 * from another message keeps the stored id.
 */
function observationKey(o: object): string {
  const r = o as Record<string, unknown>;
  return JSON.stringify([r.code, r.valueQuantity, r.valueString, r.valueCodeableConcept]);
}

function entriesOf(bundle: FhirResource, type: string): FhirResource[] {
  return ((bundle.entry as Array<{ resource: FhirResource }>) ?? [])
    .map((e) => e.resource)
    .filter((r) => r.resourceType === type);
}

describe('FHIR R4 API with FHIR clients no one here wrote, over the corpus', () => {
  let api: FhirApi;
  let token: string;
  let oru: FhirResource;
  const generated: string[] = [];

  beforeAll(async () => {
    api = await startFhirApi();
    const bundles = corpusBundles(['ORU_R01', 'ADT_A01', 'ADT_A04', 'SIU_S12', 'VXU_V04']);
    expect(bundles.length).toBeGreaterThanOrEqual(5);
    oru = bundles[0]!;
    // The corpus's messages reuse business identifiers (an Observation's filler number) across
    // patients, and the hub upserts by identifier: the ORU message is written last so that its
    // Observations are its patient's.
    for (const b of [...bundles.slice(1), oru])
      await api.hub.write(b, { environment: 'production', channelId: 'corpus', messageId: String(b.id) });
    faker.seed(17);
    for (let i = 0; i < 120; i++) {
      const [p] = await api.hub.seed('production', {
        resourceType: 'Patient',
        identifier: [{ system: 'urn:sinew:test-mrn', value: `G${i}` }],
        name: [{ family: `Gen${faker.person.lastName()}`, given: [faker.person.firstName()] }],
        birthDate: faker.date.birthdate().toISOString().slice(0, 10),
        gender: faker.helpers.arrayElement(['male', 'female']),
      });
      generated.push(p!.id!);
    }
    ({ token } = api.gate.issue({ scopes: 'system/*.rs' }));
  });
  afterAll(() => api.close());

  describe('fhir-kit-client', () => {
    let client: Client;
    beforeAll(() => {
      client = new Client({ baseUrl: api.base, bearerToken: token });
    });

    it('reads the CapabilityStatement', async () => {
      const cap = await client.capabilityStatement();
      expect(cap).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1' });
    });

    it('reads the corpus patient and finds its observations and reports by patient', async () => {
      const patient = entriesOf(oru, 'Patient')[0]!;
      const read = await client.read({ resourceType: 'Patient', id: patient.id! });
      expect(read).toMatchObject({ resourceType: 'Patient', id: patient.id, name: patient.name });
      const observations = (await client.search({
        resourceType: 'Observation',
        searchParams: { patient: patient.id!, _include: 'Observation:patient' },
      })) as unknown as Bundle;
      const expected = entriesOf(oru, 'Observation').map(observationKey);
      const got = observations
        .entry!.filter((e) => e.search?.mode === 'match')
        .map((e) => observationKey(e.resource!));
      expect(got.sort()).toEqual(expected.sort());
      expect(
        observations.entry!.filter((e) => e.search?.mode === 'include').map((e) => e.resource!.id),
      ).toEqual([patient.id]);
      const reports = (await client.search({
        resourceType: 'DiagnosticReport',
        searchParams: { subject: `Patient/${patient.id}` },
      })) as unknown as Bundle;
      expect(reports.entry!.map((e) => e.resource!.id).sort()).toEqual(
        entriesOf(oru, 'DiagnosticReport')
          .map((r) => r.id)
          .sort(),
      );
    });

    it('finds a corpus patient by identifier', async () => {
      const patient = entriesOf(oru, 'Patient')[0]! as unknown as Patient;
      const id = patient.identifier!.find((i) => i.system && i.value)!;
      const found = (await client.search({
        resourceType: 'Patient',
        searchParams: { identifier: `${id.system}|${id.value}` },
      })) as unknown as Bundle;
      expect(found.entry!.map((e) => e.resource!.id)).toContain(patient.id);
    });

    it('pages through every patient with nextPage', async () => {
      const ids: string[] = [];
      let bundle = (await client.search({
        resourceType: 'Patient',
        searchParams: { family: 'Gen', _count: 25 },
      })) as unknown as Bundle;
      let pages = 1;
      for (;;) {
        ids.push(...bundle.entry!.map((e) => e.resource!.id!));
        const next = client.nextPage({ bundle: bundle as never });
        if (!next) break;
        bundle = (await next) as unknown as Bundle;
        pages++;
      }
      expect(pages).toBe(5);
      expect(ids.sort()).toEqual([...generated].sort());
    });

    it('a missing resource rejects with the 404', async () => {
      await expect(client.read({ resourceType: 'Patient', id: 'no-such-id' })).rejects.toMatchObject({
        response: { status: 404 },
      });
    });
  });

  describe("@medplum/core's MedplumClient", () => {
    let medplum: MedplumClient;
    beforeAll(() => {
      medplum = new MedplumClient({ baseUrl: `${api.origin}/`, fhirUrlPath: 'fhir/R4', fetch, cacheTime: 0 });
      medplum.setAccessToken(token);
    });

    it('reads metadata, a patient and searches observations', async () => {
      const cap = await medplum.get(medplum.fhirUrl('metadata'));
      expect(cap.resourceType).toBe('CapabilityStatement');
      const patient = entriesOf(oru, 'Patient')[0]!;
      const p = await medplum.readResource('Patient', patient.id!);
      expect(p.id).toBe(patient.id);
      const obs: Observation[] = await medplum.searchResources('Observation', { patient: patient.id! });
      expect(obs.map(observationKey).sort()).toEqual(
        entriesOf(oru, 'Observation').map(observationKey).sort(),
      );
    });

    it('follows next links through every page (searchResourcePages)', async () => {
      const ids: string[] = [];
      let pages = 0;
      for await (const page of medplum.searchResourcePages('Patient', { family: 'Gen', _count: 50 })) {
        ids.push(...page.map((p) => p.id));
        pages++;
      }
      expect(pages).toBe(3);
      expect(ids.sort()).toEqual([...generated].sort());
    });

    it('an unknown search parameter rejects with the OperationOutcome', async () => {
      await expect(medplum.search('Patient', { 'shoe-size': '42' })).rejects.toMatchObject({
        outcome: { resourceType: 'OperationOutcome', issue: [{ expression: ['shoe-size'] }] },
      });
    });
  });
});
