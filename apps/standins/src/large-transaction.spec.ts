import { FhirRouter } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, OperationOutcome } from '@medplum/fhirtypes';
import { EhrRepository } from './ehr-repository';
import { prepareLargeTransaction, ROUTER_CONDITIONAL_TRANSACTION_LIMIT } from './large-transaction';

const orgUrn = 'urn:uuid:6c1f4f5e-7a0b-4a43-9f61-0d7e2f1c9a01';

function organization(): BundleEntry {
  return {
    fullUrl: orgUrn,
    resource: {
      resourceType: 'Organization',
      identifier: [{ system: 'urn:lab', value: 'LAB-1' }],
      name: 'Lab',
    },
    request: { method: 'POST', url: 'Organization', ifNoneExist: 'identifier=urn:lab|LAB-1' },
  };
}

function devices(n: number): BundleEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    resource: { resourceType: 'Device', owner: { reference: orgUrn }, serialNumber: `SN-${i}` },
    request: { method: 'POST', url: 'Device' },
  }));
}

function transaction(entry: BundleEntry[]): Bundle {
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

async function post(
  router: FhirRouter,
  repo: EhrRepository,
  body: Bundle,
): Promise<[OperationOutcome, Bundle?]> {
  const [outcome, resource] = await router.handleRequest(
    { method: 'POST', url: '', pathname: '', params: {}, query: {}, body, config: { transactions: true } },
    repo,
  );
  return [outcome, resource as Bundle | undefined];
}

describe('large transactions with conditional entries', () => {
  it('are refused by @medplum/fhir-router itself past its limit (why the stand-in prepares them)', async () => {
    const repo = new EhrRepository();
    const [outcome] = await post(
      new FhirRouter(),
      repo,
      transaction([organization(), ...devices(ROUTER_CONDITIONAL_TRANSACTION_LIMIT)]),
    );
    expect(outcome.issue?.[0]?.details?.text).toBe(
      'Transaction requires strict isolation but has too many entries',
    );
    expect(repo.count('Device')).toBe(0);
  });

  it('are left alone when the router accepts them as they are', async () => {
    const repo = new EhrRepository();
    const small = transaction([organization(), ...devices(ROUTER_CONDITIONAL_TRANSACTION_LIMIT - 1)]);
    expect(await prepareLargeTransaction(small, repo)).toBeUndefined();
    expect(await prepareLargeTransaction({ ...small, type: 'batch' }, repo)).toBeUndefined();
  });

  it('resolve a matched ifNoneExist here: the entry answers 200 in place and references point at the match', async () => {
    const repo = new EhrRepository();
    const router = new FhirRouter();
    const bundle = transaction([...devices(1), organization(), ...devices(9)]);

    const first = await prepareLargeTransaction(bundle, repo);
    expect(first?.bundle.entry?.[1]?.request?.ifNoneExist).toBeUndefined();
    const [, created] = await post(router, repo, first!.bundle);
    expect(first!.complete(created!).entry?.map((e) => e.response?.status)).toEqual(Array(11).fill('201'));
    const [org] = repo.all('Organization');

    const second = await prepareLargeTransaction(bundle, repo);
    expect(second?.bundle.entry).toHaveLength(10);
    expect(bundle.entry?.[0]?.resource).toMatchObject({ owner: { reference: orgUrn } });
    const [, answered] = await post(router, repo, second!.bundle);
    const entries = second!.complete(answered!).entry ?? [];
    expect(entries.map((e) => e.response?.status)).toEqual(['201', '200', ...Array(9).fill('201')]);
    expect(entries[1]?.response?.location).toBe(`Organization/${org?.id}`);
    expect(repo.count('Organization')).toBe(1);
    expect(
      new Set(repo.all('Device').map((d) => (d as { owner?: { reference?: string } }).owner?.reference)),
    ).toEqual(new Set([`Organization/${org?.id}`]));
  });
});
