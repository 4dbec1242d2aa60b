/**
 * The clinic data hub: the current version and the history of the FHIR resources that
 * channels produce, kept in Sinew's own database and read by the FHIR R4 API, the bulk
 * export and the webhooks. These are the types every part of the hub agrees on.
 */

/** A FHIR resource as JSON: `resourceType` and, once stored, `id` and `meta`. */
export interface FhirResource {
  resourceType: string;
  id?: string;
  meta?: { versionId?: string; lastUpdated?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/**
 * Which data a caller sees. Channels store into one of them (`store` destination's
 * `environment`, default `production`); an app reads only its own environment's data, so a
 * sandbox token never reads production data.
 */
export type HubEnvironment = 'production' | 'sandbox';
export const HUB_ENVIRONMENTS: readonly HubEnvironment[] = ['production', 'sandbox'];

/** Where a write came from: the ledger message and channel whose destination stored it. */
export interface HubWriteOrigin {
  environment: HubEnvironment;
  channelId: string;
  messageId: string;
  /** The destination's name in the channel. */
  destination?: string;
}

/** What one stored write did to one resource. */
export type HubChangeAction = 'created' | 'updated' | 'merged' | 'deleted';

/**
 * One change to the hub, in commit order (`seq` grows). Webhooks and FHIR Subscriptions read
 * these (`changesSince`) and decide which events they are.
 */
export interface HubChange {
  seq: number;
  environment: HubEnvironment;
  action: HubChangeAction;
  resourceType: string;
  id: string;
  /** The version this change made (1 for a create). */
  versionId: number;
  /** The Patient the resource belongs to (a Patient: itself); null when it has none. */
  patientId: string | null;
  /** ISO 8601 instant of the commit. */
  at: string;
  /** The resource as stored by this change; for `deleted`, the last version before it. */
  resource: FhirResource;
  /** The version before this change (for `updated`, `merged` and `deleted`). */
  previous?: FhirResource;
  /** `merged`: the Patient id the merged patient's records now belong to. */
  mergedInto?: string;
  channelId: string;
  messageId: string;
}

/** One version of a resource, as read, vread and history answer. */
export interface HubVersion {
  resourceType: string;
  id: string;
  versionId: number;
  /** ISO 8601 instant. */
  lastUpdated: string;
  /** A deleted (or merged-away) resource's last version has `deleted: true` and no resource body to serve. */
  deleted: boolean;
  resource: FhirResource;
  patientId: string | null;
}

/** Whose view a read is made for: an app sees neither excluded patients nor their resources. */
export interface HubViewer {
  environment: HubEnvironment;
  /** The app reading; undefined: an administrator or the engine itself (no consent filter beyond "all apps"). */
  appId?: string;
}

/** A search as the FHIR API hands it over, its values still as they came in the query string. */
export interface HubSearchRequest {
  resourceType: string;
  /**
   * Search parameters in order (`[['identifier', 'urn:oid:1.2|123'], ['birthdate', 'ge1980']]`),
   * modifiers kept in the name (`name:exact`). Result parameters (`_count`, `_sort`, `_include`,
   * `_elements`, `_summary`) are not here.
   */
  params: ReadonlyArray<readonly [name: string, value: string]>;
  /** `_sort`, in order; `-` prefix already turned into `descending`. */
  sort?: ReadonlyArray<{ param: string; descending: boolean }>;
  /** Page size (`_count`), 1…1000. */
  count: number;
  /** The opaque cursor of the page before, from `HubSearchPage.next`. */
  cursor?: string;
  /** `_summary=count`: only the total. */
  totalOnly?: boolean;
}

export interface HubSearchPage {
  resources: FhirResource[];
  /** Cursor of the next page; absent on the last page. */
  next?: string;
  /** The number of matches (always set when `totalOnly`; otherwise when cheap to know). */
  total?: number;
}

/** A search parameter the hub supports for a resource type, for the CapabilityStatement and the docs. */
export interface HubSearchParamInfo {
  name: string;
  type: 'token' | 'string' | 'date' | 'reference' | 'number' | 'quantity' | 'uri';
  documentation: string;
}

/** A search the hub cannot run: an unknown parameter, a malformed value, an unsupported modifier. */
export class HubSearchError extends Error {
  constructor(
    message: string,
    /** The parameter at fault, for the OperationOutcome's expression. */
    readonly param?: string,
  ) {
    super(message);
    this.name = 'HubSearchError';
  }
}

/** Options of a bulk read (the `$export` operation). */
export interface HubExportRequest {
  /** Resource types to export; empty: every type the hub holds. */
  types: readonly string[];
  /** Only resources last updated at or after this instant (`_since`). */
  since?: Date;
  /** Only these patients' resources (Patient- and Group-level export). */
  patientIds?: readonly string[];
}

/** Writes into the hub (the `store` destination). */
export interface HubWriter {
  /**
   * Stores a resource or every entry of a Bundle (transaction, batch, collection, message),
   * upserting each by business identifier (an existing resource of the same type with a
   * matching `identifier` system|value is updated, keeping its id), rewriting references
   * between the Bundle's entries to the stored ids, and applying merges (a Patient with a
   * `replaced-by` link) and cancellations. Commits all of it at once; returns the changes.
   */
  write(input: FhirResource, origin: HubWriteOrigin): Promise<HubChange[]>;
}

/** Reads of the hub (the FHIR API, `$export`, webhooks). */
export interface HubReader {
  /** The current version; `deleted: true` when the resource was deleted or merged away; undefined when never stored or not visible to the viewer. */
  read(viewer: HubViewer, resourceType: string, id: string): Promise<HubVersion | undefined>;
  vread(
    viewer: HubViewer,
    resourceType: string,
    id: string,
    versionId: number,
  ): Promise<HubVersion | undefined>;
  /** Versions newest first, `count` at a time from `cursor`. */
  history(
    viewer: HubViewer,
    resourceType: string,
    id: string,
    page: { count: number; cursor?: string },
  ): Promise<{ versions: HubVersion[]; next?: string; total: number }>;
  search(viewer: HubViewer, request: HubSearchRequest): Promise<HubSearchPage>;
  /** The search parameters supported per resource type. */
  searchParams(): Readonly<Record<string, readonly HubSearchParamInfo[]>>;
  /** A Patient and every current resource that belongs to it (`Patient/$everything`). */
  everything(viewer: HubViewer, patientId: string): Promise<FhirResource[] | undefined>;
  /** Current resources for a bulk export, streamed in pages, type by type. */
  exportResources(viewer: HubViewer, request: HubExportRequest): AsyncIterable<FhirResource>;
  /** Changes after `afterSeq`, oldest first, at most `limit`. */
  changesSince(afterSeq: number, limit: number): Promise<HubChange[]>;
  /** Calls `listener` after each commit of changes in this process; returns the unsubscribe function. */
  onChange(listener: (changes: readonly HubChange[]) => void): () => void;
}

/** Patients withheld from apps (consent). */
export interface HubConsent {
  /** Excludes a patient from one app (`appId`) or from all apps (`appId` undefined), or lifts that exclusion. */
  setExcluded(
    environment: HubEnvironment,
    patientId: string,
    appId: string | undefined,
    excluded: boolean,
  ): Promise<void>;
  /** Whether the viewer may see the patient's data. */
  isVisible(viewer: HubViewer, patientId: string): Promise<boolean>;
  /** The exclusions in an environment, for the API and the console. */
  exclusions(environment: HubEnvironment): Promise<Array<{ patientId: string; appId?: string; at: string }>>;
}

export interface HubStore extends HubWriter, HubReader, HubConsent {
  close(): Promise<void>;
}

/** How a write through the FHIR API is going: it is a message in the ledger like any other. */
export interface HubWriteStatus {
  messageId: string;
  channelId: string;
  resourceType: string;
  /** `accepted`: committed, delivery pending; `completed`: every destination delivered; `failed`: refused or dead-lettered. */
  state: 'accepted' | 'completed' | 'failed';
  /** Per destination: its state and the peer's answer (an HL7 ACK's MSA-1 and text, an HTTP status). */
  destinations: Array<{ name: string; state: string; ack?: string; detail?: string }>;
  /** The app that made the write. */
  appId?: string;
}

/**
 * Writes from apps routed back to the source systems through channels: a channel whose
 * source is `type: fhir` takes the resource types it lists; its pipeline (a reverse map)
 * turns the resource into what the PMS reads (SIU, ADT) and its destinations send it.
 */
export interface HubWriteRouter {
  /** Resource types some running channel takes writes for, in this environment. */
  writableTypes(environment: HubEnvironment): string[];
  /**
   * Commits the resource to the ledger as a message of the channel that takes its type and
   * resolves once committed; `refused` when no channel takes it or its pipeline refused it,
   * with status 503 when the ledger could not store it (the app sends it again later).
   */
  submit(
    resource: FhirResource,
    how: { environment: HubEnvironment; interaction: 'create' | 'update'; appId: string },
  ): Promise<{ messageId: string; channelId: string } | { refused: string; status: 400 | 404 | 422 | 503 }>;
  /** Undefined when there is no such write. */
  status(messageId: string): Promise<HubWriteStatus | undefined>;
}
