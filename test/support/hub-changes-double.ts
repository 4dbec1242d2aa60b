import type { FhirResource, HubChange, HubChangeAction, HubEnvironment, HubViewer } from '@sinew/hub';
import type { WebhookHub } from '@sinew/webhooks';

/**
 * A stand-in for the clinic data hub's change feed and consent, for the webhooks' tests: an
 * in-memory, ordered list of `HubChange`s (`seq` from 1, `changesSince` oldest first,
 * `onChange` after each commit) and the exclusions `isVisible` answers from (one app, or all
 * apps). Only what the webhooks read is implemented.
 */
export interface HubChangesDouble extends WebhookHub {
  /** Commits changes (seq, at, versionId, previous filled in) and tells the listeners. */
  commit(...changes: ChangeInput[]): HubChange[];
  setExcluded(
    environment: HubEnvironment,
    patientId: string,
    appId: string | undefined,
    excluded: boolean,
  ): void;
  readonly changes: readonly HubChange[];
}

export interface ChangeInput {
  action: HubChangeAction;
  resource: FhirResource & { id: string };
  environment?: HubEnvironment;
  patientId?: string | null;
  mergedInto?: string;
}

export function createHubChangesDouble(): HubChangesDouble {
  const changes: HubChange[] = [];
  const current = new Map<string, { version: number; resource: FhirResource }>();
  const listeners = new Set<(c: readonly HubChange[]) => void>();
  const excluded = new Set<string>();
  const key = (env: HubEnvironment, patientId: string, appId: string | undefined) =>
    `${env}\u0000${patientId}\u0000${appId ?? '*'}`;
  return {
    get changes() {
      return changes;
    },
    async changesSince(afterSeq: number, limit: number): Promise<HubChange[]> {
      return changes.filter((c) => c.seq > afterSeq).slice(0, limit);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async isVisible(viewer: HubViewer, patientId: string): Promise<boolean> {
      if (excluded.has(key(viewer.environment, patientId, undefined))) return viewer.appId === undefined;
      return viewer.appId === undefined || !excluded.has(key(viewer.environment, patientId, viewer.appId));
    },
    setExcluded(environment, patientId, appId, on) {
      if (on) excluded.add(key(environment, patientId, appId));
      else excluded.delete(key(environment, patientId, appId));
    },
    commit(...inputs: ChangeInput[]): HubChange[] {
      const committed: HubChange[] = [];
      for (const input of inputs) {
        const environment = input.environment ?? 'production';
        const type = input.resource.resourceType;
        const k = `${environment}/${type}/${input.resource.id}`;
        const before = current.get(k);
        const versionId = (before?.version ?? 0) + 1;
        const at = new Date().toISOString();
        const resource: FhirResource = {
          ...input.resource,
          meta: { versionId: String(versionId), lastUpdated: at },
        };
        current.set(k, { version: versionId, resource });
        const patientId =
          input.patientId !== undefined ? input.patientId : type === 'Patient' ? input.resource.id : null;
        const change: HubChange = {
          seq: changes.length + 1,
          environment,
          action: input.action,
          resourceType: type,
          id: input.resource.id,
          versionId,
          patientId,
          at,
          resource,
          ...(before ? { previous: before.resource } : {}),
          ...(input.mergedInto ? { mergedInto: input.mergedInto } : {}),
          channelId: 'double',
          messageId: `m${changes.length + 1}`,
        };
        changes.push(change);
        committed.push(change);
      }
      for (const l of listeners) l(committed);
      return committed;
    },
  };
}
