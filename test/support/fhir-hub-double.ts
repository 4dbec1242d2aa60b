/**
 * The clinic data hub for the FHIR API's tests: the real hub (`openHub`) on a SQLite ledger in
 * a temporary directory, with helpers to seed data, delete a resource and count exports.
 * `makeTestHub()` is the one place the tests get their hub from.
 */
import {
  openHub,
  type FhirResource,
  type HubEnvironment,
  type HubChange,
  type HubExportRequest,
  type HubSearchPage,
  type HubSearchParamInfo,
  type HubSearchRequest,
  type HubStore,
  type HubVersion,
  type HubViewer,
  type HubWriteOrigin,
} from '@sinew/hub';
import { openStore } from '@sinew/store';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestHub extends HubStore {
  /** Stores resources directly (a test's data), returning them with their ids. */
  seed(environment: HubEnvironment, ...resources: FhirResource[]): Promise<FhirResource[]>;
  /** Deletes the current version (a new version marked deleted). */
  remove(environment: HubEnvironment, resourceType: string, id: string): Promise<void>;
  /** How many resources `exportResources` yielded (to check exports do the work). */
  exported: number;
}

/** The real hub with the test helpers; every `HubStore` call goes to the hub. */
class RealTestHub implements TestHub {
  exported = 0;

  constructor(
    private readonly hub: HubStore,
    private readonly store: { close(): Promise<void> },
    private readonly dir: string,
  ) {}

  async seed(environment: HubEnvironment, ...resources: FhirResource[]): Promise<FhirResource[]> {
    const changes = await this.hub.write(
      resources.length === 1
        ? resources[0]!
        : { resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) },
      { environment, channelId: 'test', messageId: randomUUID() },
    );
    return changes.map((c) => c.resource);
  }

  async remove(environment: HubEnvironment, resourceType: string, id: string): Promise<void> {
    const changes = await this.hub.write(
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ request: { method: 'DELETE', url: `${resourceType}/${id}` } }],
      },
      { environment, channelId: 'test', messageId: randomUUID() },
    );
    if (!changes.some((c) => c.action === 'deleted')) throw new Error(`no ${resourceType}/${id} to delete`);
  }

  async *exportResources(viewer: HubViewer, request: HubExportRequest): AsyncIterable<FhirResource> {
    for await (const r of this.hub.exportResources(viewer, request)) {
      this.exported++;
      yield r;
    }
  }

  write(input: FhirResource, origin: HubWriteOrigin): Promise<HubChange[]> {
    return this.hub.write(input, origin);
  }
  read(viewer: HubViewer, resourceType: string, id: string): Promise<HubVersion | undefined> {
    return this.hub.read(viewer, resourceType, id);
  }
  vread(
    viewer: HubViewer,
    resourceType: string,
    id: string,
    versionId: number,
  ): Promise<HubVersion | undefined> {
    return this.hub.vread(viewer, resourceType, id, versionId);
  }
  history(
    viewer: HubViewer,
    resourceType: string,
    id: string,
    page: { count: number; cursor?: string },
  ): Promise<{ versions: HubVersion[]; next?: string; total: number }> {
    return this.hub.history(viewer, resourceType, id, page);
  }
  search(viewer: HubViewer, request: HubSearchRequest): Promise<HubSearchPage> {
    return this.hub.search(viewer, request);
  }
  searchParams(): Readonly<Record<string, readonly HubSearchParamInfo[]>> {
    return this.hub.searchParams();
  }
  everything(viewer: HubViewer, patientId: string): Promise<FhirResource[] | undefined> {
    return this.hub.everything(viewer, patientId);
  }
  changesSince(afterSeq: number, limit: number): Promise<HubChange[]> {
    return this.hub.changesSince(afterSeq, limit);
  }
  onChange(listener: (changes: readonly HubChange[]) => void): () => void {
    return this.hub.onChange(listener);
  }
  setExcluded(
    environment: HubEnvironment,
    patientId: string,
    appId: string | undefined,
    excluded: boolean,
  ): Promise<void> {
    return this.hub.setExcluded(environment, patientId, appId, excluded);
  }
  isVisible(viewer: HubViewer, patientId: string): Promise<boolean> {
    return this.hub.isVisible(viewer, patientId);
  }
  exclusions(environment: HubEnvironment): Promise<Array<{ patientId: string; appId?: string; at: string }>> {
    return this.hub.exclusions(environment);
  }

  /** Closes the hub and its ledger and deletes the ledger's directory. */
  async close(): Promise<void> {
    await this.hub.close();
    await this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The hub the FHIR API's tests run against: the real hub on a SQLite ledger in a temporary directory. */
export async function makeTestHub(): Promise<TestHub> {
  const dir = mkdtempSync(join(tmpdir(), 'sinew-fhir-hub-'));
  const store = await openStore({ dataDir: dir });
  return new RealTestHub(openHub(store), store, dir);
}
