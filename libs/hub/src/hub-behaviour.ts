import type { TypeOrmStore } from '@sinew/store';
import { openHub } from './open-hub';
import {
  HubSearchError,
  type FhirResource,
  type HubStore,
  type HubViewer,
  type HubWriteOrigin,
} from './types';

/** The hub's behaviour, run against SQLite and PostgreSQL (hub-store.int-spec.ts). */
export function describeHubBehaviour(openLedger: () => Promise<TypeOrmStore>): void {
  let ledger: TypeOrmStore;
  let hub: HubStore;
  let n = 0;
  const origin = (): HubWriteOrigin => ({
    environment: 'production',
    channelId: 'pms-adt',
    messageId: `m-${++n}`,
  });
  const admin: HubViewer = { environment: 'production' };

  beforeEach(async () => {
    ledger = await openLedger();
    hub = openHub(ledger);
  });
  afterEach(async () => {
    await hub.close();
    await ledger.close();
  });

  const patient = (
    mrn: string,
    family: string,
    given: string,
    birthDate: string,
    extra: object = {},
  ): FhirResource => ({
    resourceType: 'Patient',
    identifier: [{ system: 'urn:mrn', value: mrn }],
    name: [{ family, given: [given] }],
    birthDate,
    gender: 'female',
    ...extra,
  });

  const ids = (resources: ReadonlyArray<{ id?: string; resourceType?: string }>) =>
    resources.map((r) => r.id).sort();
  const search = async (resourceType: string, params: Array<[string, string]>, viewer: HubViewer = admin) =>
    (await hub.search(viewer, { resourceType, params, count: 100 })).resources;

  it('upserts by business identifier: the same identifier updates the same resource with a new version', async () => {
    const [created] = await hub.write(patient('100', 'Smith', 'Ann', '1980-02-03'), origin());
    expect(created).toMatchObject({
      action: 'created',
      resourceType: 'Patient',
      versionId: 1,
      seq: expect.any(Number),
    });
    const id = created!.id;
    expect(created!.patientId).toBe(id);
    const [updated] = await hub.write(patient('100', 'Smith', 'Anne', '1980-02-03'), origin());
    expect(updated).toMatchObject({ action: 'updated', id, versionId: 2 });
    expect(updated!.previous).toMatchObject({ name: [{ given: ['Ann'] }] });
    const current = await hub.read(admin, 'Patient', id);
    expect(current).toMatchObject({ versionId: 2, deleted: false });
    expect(current!.resource.meta).toMatchObject({ versionId: '2', lastUpdated: expect.any(String) });
    expect(current!.resource.name).toEqual([{ family: 'Smith', given: ['Anne'] }]);
    const v1 = await hub.vread(admin, 'Patient', id, 1);
    expect(v1!.resource.name).toEqual([{ family: 'Smith', given: ['Ann'] }]);
    const history = await hub.history(admin, 'Patient', id, { count: 1 });
    expect(history.total).toBe(2);
    expect(history.versions.map((v) => v.versionId)).toEqual([2]);
    const older = await hub.history(admin, 'Patient', id, { count: 1, cursor: history.next! });
    expect(older.versions.map((v) => v.versionId)).toEqual([1]);
    expect(older.next).toBeUndefined();
  });

  it('a replayed write makes no new version and no change', async () => {
    const bundle = labBundle('200', 'glu-1', '2024-05-01T10:00:00Z');
    const first = await hub.write(bundle, origin());
    expect(first.map((c) => c.action)).toEqual(['created', 'created']);
    const again = await hub.write(labBundle('200', 'glu-1', '2024-05-01T10:00:00Z'), origin());
    expect(again).toEqual([]);
    const changes = await hub.changesSince(0, 100);
    expect(changes).toHaveLength(2);
    const obs = await search('Observation', [['patient', first[0]!.id]]);
    expect(obs).toHaveLength(1);
    expect(obs[0]!.meta!.versionId).toBe('1');
  });

  it('rewrites urn:uuid references between Bundle entries to the stored ids', async () => {
    const changes = await hub.write(labBundle('300', 'obs-300', '2024-05-01T10:00:00Z'), origin());
    const patientId = changes.find((c) => c.resourceType === 'Patient')!.id;
    const obs = changes.find((c) => c.resourceType === 'Observation')!;
    expect(obs.id).toBe('obs-300');
    expect(obs.resource.subject).toEqual({ reference: `Patient/${patientId}` });
    expect(obs.patientId).toBe(patientId);
  });

  it('applies a merge (the A40 map: the survivor replaces the merged patient): the merged patient is gone and its records move', async () => {
    const old = await hub.write(labBundle('OLD-1', 'obs-old', '2024-01-01T08:00:00Z'), origin());
    const oldId = old.find((c) => c.resourceType === 'Patient')!.id;
    const [survivor] = await hub.write(patient('NEW-1', 'Jones', 'Kim', '1975-06-07'), origin());
    const merge: FhirResource = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:aaaa',
          request: { method: 'PUT', url: 'Patient?identifier=urn%3Amrn|NEW-1' },
          resource: patient('NEW-1', 'Jones', 'Kim', '1975-06-07', {
            link: [{ type: 'replaces', other: { identifier: { system: 'urn:mrn', value: 'OLD-1' } } }],
          }),
        },
      ],
    };
    const changes = await hub.write(merge, origin());
    const merged = changes.find((c) => c.action === 'merged');
    expect(merged).toMatchObject({ resourceType: 'Patient', id: oldId, mergedInto: survivor!.id });
    const gone = await hub.read(admin, 'Patient', oldId);
    expect(gone!.deleted).toBe(true);
    expect(gone!.resource.link).toEqual([
      { other: { reference: `Patient/${survivor!.id}` }, type: 'replaced-by' },
    ]);
    const moved = await hub.read(admin, 'Observation', 'obs-old');
    expect(moved!.resource.subject).toEqual({ reference: `Patient/${survivor!.id}` });
    expect(moved!.patientId).toBe(survivor!.id);
    expect(moved!.versionId).toBe(2);
    expect(ids(await search('Patient', [['identifier', 'urn:mrn|OLD-1']]))).toEqual([]);
    expect(ids((await hub.everything(admin, survivor!.id))!)).toEqual(
      ids([
        { resourceType: 'Patient', id: survivor!.id },
        { resourceType: 'Observation', id: 'obs-old' },
      ]),
    );
    expect(await hub.everything(admin, oldId)).toBeUndefined();
  });

  it('applies a cancel to the stored Encounter and Appointment (an update with the new status)', async () => {
    const [p] = await hub.write(patient('400', 'Brown', 'Lee', '1990-01-01'), origin());
    const encounter = (status: string, extra: object = {}): FhirResource => ({
      resourceType: 'Encounter',
      identifier: [{ system: 'urn:visit', value: 'V1' }],
      status,
      class: { code: 'AMB' },
      subject: { reference: `Patient/${p!.id}` },
      ...extra,
    });
    const [admit] = await hub.write(
      encounter('in-progress', { period: { start: '2024-03-01T09:00:00Z' } }),
      origin(),
    );
    const [cancel] = await hub.write(encounter('cancelled'), origin());
    expect(cancel).toMatchObject({ action: 'updated', id: admit!.id, versionId: 2 });
    expect(cancel!.resource).toMatchObject({
      status: 'cancelled',
      period: { start: '2024-03-01T09:00:00Z' },
    });
    const appointment = (status: string): FhirResource => ({
      resourceType: 'Appointment',
      identifier: [{ system: 'urn:appt', value: 'A1' }],
      status,
      start: '2024-04-01T09:00:00Z',
      participant: [{ actor: { reference: `Patient/${p!.id}` }, status: 'accepted' }],
    });
    const [booked] = await hub.write(appointment('booked'), origin());
    expect(booked!.patientId).toBe(p!.id);
    const [cancelled] = await hub.write(appointment('cancelled'), origin());
    expect(cancelled).toMatchObject({ action: 'updated', id: booked!.id, versionId: 2 });
    expect(await search('Appointment', [['status', 'cancelled']])).toHaveLength(1);
    expect(await search('Appointment', [])).toHaveLength(1);
  });

  it('searches every parameter kind', async () => {
    const [a] = await hub.write(patient('P1', 'Müller', 'Zoë', '1980-02-03'), origin());
    const [b] = await hub.write(patient('P2', 'Mullins', 'Bob', '1980-11-30', { gender: 'male' }), origin());
    const [c] = await hub.write(
      patient('P3', 'Adams', 'Eve', '1999-07-04', { identifier: [{ system: 'urn:other', value: 'P1' }] }),
      origin(),
    );
    // token
    expect(ids(await search('Patient', [['identifier', 'urn:mrn|P1']]))).toEqual([a!.id]);
    expect(ids(await search('Patient', [['identifier', 'P1']]))).toEqual(ids([a!, c!]));
    expect(ids(await search('Patient', [['identifier', 'urn:mrn|']]))).toEqual(ids([a!, b!]));
    expect(ids(await search('Patient', [['gender', 'male']]))).toEqual([b!.id]);
    expect(ids(await search('Patient', [['_id', `${a!.id},${c!.id}`]]))).toEqual(ids([a!, c!]));
    // string: starts with, case and accents ignored; exact; contains
    expect(ids(await search('Patient', [['name', 'mul']]))).toEqual(ids([a!, b!]));
    expect(ids(await search('Patient', [['name', 'MUELLER']]))).toEqual([]);
    expect(ids(await search('Patient', [['family', 'muller']]))).toEqual([a!.id]);
    expect(ids(await search('Patient', [['given', 'zoe']]))).toEqual([a!.id]);
    expect(ids(await search('Patient', [['name:exact', 'Müller']]))).toEqual([a!.id]);
    expect(ids(await search('Patient', [['name:exact', 'muller']]))).toEqual([]);
    expect(ids(await search('Patient', [['name:contains', 'lli']]))).toEqual([b!.id]);
    // date: precision ranges and prefixes
    expect(ids(await search('Patient', [['birthdate', '1980']]))).toEqual(ids([a!, b!]));
    expect(ids(await search('Patient', [['birthdate', '1980-02']]))).toEqual([a!.id]);
    expect(ids(await search('Patient', [['birthdate', 'ge1980-03-01']]))).toEqual(ids([b!, c!]));
    expect(ids(await search('Patient', [['birthdate', 'lt1980-03-01']]))).toEqual([a!.id]);
    expect(ids(await search('Patient', [['birthdate', 'ne1980-02-03']]))).toEqual(ids([b!, c!]));
    expect(ids(await search('Patient', [['birthdate', 'sa1980-12-31']]))).toEqual([c!.id]);
    expect(ids(await search('Patient', [['birthdate', 'eb1980-02-04']]))).toEqual([a!.id]);
    expect(
      ids(
        await search('Patient', [
          ['name', 'mul'],
          ['birthdate', '1980-11-30'],
        ]),
      ),
    ).toEqual([b!.id]);
    // _lastUpdated
    expect(ids(await search('Patient', [['_lastUpdated', 'gt2000-01-01']]))).toHaveLength(3);
    expect(ids(await search('Patient', [['_lastUpdated', 'lt2000-01-01']]))).toEqual([]);
    // sort
    const sorted = await hub.search(admin, {
      resourceType: 'Patient',
      params: [],
      sort: [{ param: 'birthdate', descending: true }],
      count: 10,
    });
    expect(sorted.resources.map((r) => r.id)).toEqual([c!.id, b!.id, a!.id]);
    const byName = await hub.search(admin, {
      resourceType: 'Patient',
      params: [],
      sort: [{ param: 'name', descending: false }],
      count: 10,
    });
    expect(byName.resources.map((r) => r.id)).toEqual([c!.id, a!.id, b!.id]);
    // references, code, category, date on Observation
    await hub.write(labBundle('P1', 'o1', '2024-05-01T10:00:00Z', '2345-7'), origin());
    await hub.write(labBundle('P1', 'o2', '2024-06-01T10:00:00Z', '2160-0'), origin());
    await hub.write(labBundle('P2', 'o3', '2024-05-01T10:00:00Z', '2345-7'), origin());
    expect(ids(await search('Observation', [['patient', a!.id]]))).toEqual(['o1', 'o2']);
    expect(ids(await search('Observation', [['subject', `Patient/${a!.id}`]]))).toEqual(['o1', 'o2']);
    expect(
      ids(
        await search('Observation', [
          ['patient', `Patient/${a!.id}`],
          ['code', 'http://loinc.org|2345-7'],
          ['date', 'ge2024-05-01'],
        ]),
      ),
    ).toEqual(['o1']);
    expect(ids(await search('Observation', [['code', '2345-7']]))).toEqual(['o1', 'o3']);
    expect(
      ids(
        await search('Observation', [
          ['category', 'laboratory'],
          ['date', '2024-06'],
        ]),
      ),
    ).toEqual(['o2']);
    expect(
      ids(
        await search('Observation', [
          ['status', 'final'],
          ['date', 'le2024-05-01'],
        ]),
      ),
    ).toEqual(['o1', 'o3']);
    // count only
    expect(
      await hub.search(admin, {
        resourceType: 'Observation',
        params: [['code', '2345-7']],
        count: 10,
        totalOnly: true,
      }),
    ).toEqual({ resources: [], total: 2 });
  });

  it('refuses unknown parameters and bad values with a HubSearchError naming the parameter', async () => {
    const bad = async (
      params: Array<[string, string]>,
      sort?: Array<{ param: string; descending: boolean }>,
    ) => {
      const request = sort
        ? { resourceType: 'Patient', params, count: 10, sort }
        : { resourceType: 'Patient', params, count: 10 };
      const error = await hub.search(admin, request).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(HubSearchError);
      return (error as HubSearchError).param;
    };
    expect(await bad([['colour', 'red']])).toBe('colour');
    expect(await bad([['birthdate', 'yesterday']])).toBe('birthdate');
    expect(await bad([['birthdate', '1980-13-01']])).toBe('birthdate');
    expect(await bad([['name:fuzzy', 'x']])).toBe('name:fuzzy');
    expect(await bad([['gender', '']])).toBe('gender');
    expect(await bad([], [{ param: 'gender', descending: false }])).toBe('_sort');
    const cursorError = await hub
      .search(admin, { resourceType: 'Patient', params: [], count: 10, cursor: 'nonsense' })
      .catch((e: unknown) => e);
    expect(cursorError).toBeInstanceOf(HubSearchError);
  });

  it('pages with a cursor that survives concurrent inserts', async () => {
    for (let i = 0; i < 7; i++)
      await hub.write(patient(`S${i}`, 'Page', `P${i}`, `1970-01-0${i + 1}`), origin());
    const first = await hub.search(admin, {
      resourceType: 'Patient',
      params: [['family', 'page']],
      count: 3,
    });
    expect(first.resources).toHaveLength(3);
    // A resource inserted between pages comes once, on a later page.
    await hub.write(patient('S-new', 'Page', 'Late', '1970-01-09'), origin());
    const seen = [...first.resources.map((r) => r.id)];
    let next = first.next;
    while (next) {
      const page = await hub.search(admin, {
        resourceType: 'Patient',
        params: [['family', 'page']],
        count: 3,
        cursor: next,
      });
      seen.push(...page.resources.map((r) => r.id));
      next = page.next;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toHaveLength(8);
    // Sorted by birthdate descending, across pages.
    const sorted: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await hub.search(admin, {
        resourceType: 'Patient',
        params: [['family', 'page']],
        sort: [{ param: 'birthdate', descending: true }],
        count: 3,
        ...(cursor ? { cursor } : {}),
      });
      sorted.push(...page.resources.map((r) => r.birthDate as string));
      cursor = page.next;
    } while (cursor);
    expect(sorted).toEqual([...sorted].sort().reverse());
    expect(sorted).toHaveLength(8);
    // Sorted by id, then by when last updated (newest first), across pages.
    for (const sort of [
      [{ param: '_id', descending: false }],
      [{ param: '_lastUpdated', descending: true }],
    ]) {
      const got: string[] = [];
      let at: string | undefined;
      do {
        const page = await hub.search(admin, {
          resourceType: 'Patient',
          params: [['family', 'page']],
          sort,
          count: 3,
          ...(at ? { cursor: at } : {}),
        });
        got.push(
          ...page.resources.map((r) => (sort[0]!.param === '_id' ? (r.id as string) : r.meta!.lastUpdated!)),
        );
        at = page.next;
      } while (at);
      expect(got).toHaveLength(8);
      expect(got).toEqual(sort[0]!.descending ? [...got].sort().reverse() : [...got].sort());
    }
  });

  it('hides excluded patients and their resources from the app they are excluded from', async () => {
    const hidden = await hub.write(labBundle('C1', 'c-obs-1', '2024-05-01T10:00:00Z'), origin());
    const shown = await hub.write(labBundle('C2', 'c-obs-2', '2024-05-01T10:00:00Z'), origin());
    const hiddenId = hidden.find((c) => c.resourceType === 'Patient')!.id;
    const shownId = shown.find((c) => c.resourceType === 'Patient')!.id;
    await hub.setExcluded('production', hiddenId, 'app-a', true);
    const appA: HubViewer = { environment: 'production', appId: 'app-a' };
    const appB: HubViewer = { environment: 'production', appId: 'app-b' };
    expect(await hub.read(appA, 'Patient', hiddenId)).toBeUndefined();
    expect(await hub.read(appA, 'Observation', 'c-obs-1')).toBeUndefined();
    expect(await hub.vread(appA, 'Patient', hiddenId, 1)).toBeUndefined();
    expect((await hub.history(appA, 'Patient', hiddenId, { count: 10 })).versions).toEqual([]);
    expect(ids(await search('Patient', [], appA))).toEqual([shownId]);
    expect(ids(await search('Observation', [], appA))).toEqual(['c-obs-2']);
    expect(await hub.everything(appA, hiddenId)).toBeUndefined();
    const exported: string[] = [];
    for await (const r of hub.exportResources(appA, { types: [] }))
      exported.push(`${r.resourceType}/${r.id}`);
    expect(exported.sort()).toEqual(['Observation/c-obs-2', `Patient/${shownId}`].sort());
    expect(await hub.read(appB, 'Patient', hiddenId)).toBeDefined();
    expect(ids(await search('Observation', [], appB))).toEqual(['c-obs-1', 'c-obs-2']);
    expect(await hub.isVisible(appA, hiddenId)).toBe(false);
    expect(await hub.isVisible(appB, hiddenId)).toBe(true);
    // From all apps, then lifted.
    await hub.setExcluded('production', shownId, undefined, true);
    expect(ids(await search('Patient', [], appB))).toEqual([hiddenId]);
    expect(await hub.exclusions('production')).toEqual(
      [
        { patientId: hiddenId, appId: 'app-a', at: expect.any(String) },
        { patientId: shownId, at: expect.any(String) },
      ].sort((x, y) => x.patientId.localeCompare(y.patientId)),
    );
    await hub.setExcluded('production', shownId, undefined, false);
    await hub.setExcluded('production', hiddenId, 'app-a', false);
    expect(ids(await search('Patient', [], appA))).toEqual(
      ids([
        { resourceType: 'Patient', id: hiddenId },
        { resourceType: 'Patient', id: shownId },
      ]),
    );
  });

  it('keeps environments apart and exports by type, since and patient', async () => {
    await hub.write(patient('E1', 'Env', 'Prod', '1980-01-01'), origin());
    await hub.write(patient('E1', 'Env', 'Sand', '1980-01-01'), {
      environment: 'sandbox',
      channelId: 'sb',
      messageId: 'x',
    });
    expect(await search('Patient', [], admin)).toHaveLength(1);
    const sandbox = await search('Patient', [], { environment: 'sandbox' });
    expect(sandbox.map((p) => (p.name as Array<{ given: string[] }>)[0]!.given[0])).toEqual(['Sand']);
    const lab = await hub.write(labBundle('E2', 'e-obs', '2024-05-01T10:00:00Z'), origin());
    const labPatient = lab.find((c) => c.resourceType === 'Patient')!.id;
    const collect = async (request: Parameters<HubStore['exportResources']>[1]) => {
      const out: string[] = [];
      for await (const r of hub.exportResources(admin, request)) out.push(`${r.resourceType}/${r.id}`);
      return out;
    };
    expect(await collect({ types: ['Observation'] })).toEqual(['Observation/e-obs']);
    expect((await collect({ types: [], patientIds: [labPatient] })).sort()).toEqual(
      ['Observation/e-obs', `Patient/${labPatient}`].sort(),
    );
    expect(await collect({ types: [], since: new Date(Date.now() + 60_000) })).toEqual([]);
    expect(hub.searchParams().Observation!.map((p) => p.name)).toEqual(
      expect.arrayContaining(['patient', 'code', 'date', 'status', 'category']),
    );
  });

  it('announces committed changes to listeners and in changesSince', async () => {
    const seen: string[] = [];
    const stop = hub.onChange((changes) => seen.push(...changes.map((c) => `${c.action} ${c.resourceType}`)));
    await hub.write(patient('L1', 'Listen', 'Er', '1980-01-01'), {
      environment: 'production',
      channelId: 'c1',
      messageId: 'm1',
    });
    stop();
    await hub.write(patient('L2', 'Listen', 'Er', '1980-01-01'), origin());
    expect(seen).toEqual(['created Patient']);
    const changes = await hub.changesSince(0, 10);
    expect(changes.map((c) => c.seq)).toEqual([...changes.map((c) => c.seq)].sort((x, y) => x - y));
    expect(changes[0]).toMatchObject({ channelId: 'c1', messageId: 'm1', action: 'created' });
    expect(await hub.changesSince(changes[0]!.seq, 10)).toHaveLength(1);
  });

  it('refuses a body that is not FHIR', async () => {
    await expect(hub.write({ hello: 'world' } as unknown as FhirResource, origin())).rejects.toThrow(
      /not a FHIR resource/,
    );
    await expect(
      hub.write({ resourceType: 'Bundle', entry: [{ resource: { nope: 1 } }] } as FhirResource, origin()),
    ).rejects.toThrow(/entry\[0\]/);
  });
}

/** A lab result as the oru-to-fhir map writes it: a Patient by identifier and an Observation by id. */
export function labBundle(
  mrn: string,
  observationId: string,
  effective: string,
  code = '2345-7',
): FhirResource {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: `urn:uuid:p-${mrn}`,
        request: { method: 'PUT', url: `Patient?identifier=urn%3Amrn|${mrn}` },
        resource: {
          resourceType: 'Patient',
          identifier: [{ system: 'urn:mrn', value: mrn }],
          name: [{ family: `Family${mrn}`, given: ['Given'] }],
        },
      },
      {
        fullUrl: `urn:uuid:${observationId}`,
        request: { method: 'PUT', url: `Observation/${observationId}` },
        resource: {
          resourceType: 'Observation',
          id: observationId,
          status: 'final',
          category: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' },
              ],
            },
          ],
          code: { coding: [{ system: 'http://loinc.org', code }] },
          subject: { reference: `urn:uuid:p-${mrn}` },
          effectiveDateTime: effective,
          valueQuantity: { value: 5.4, unit: 'mmol/L' },
        },
      },
    ],
  };
}
