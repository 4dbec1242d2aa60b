import { fhirWriteChannels, type FhirWriteChannels } from '@sinew/connectors';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import type { FhirResource, HubEnvironment, HubReader, HubWriteRouter, HubWriteStatus } from '@sinew/hub';
import type { AttemptRecord, MessageRecord, MessageStatus, Store } from '@sinew/store';

/** The message key naming the app that made a write (set by the `fhir` source). */
export const WRITE_APP_KEY = 'app';

export interface FhirWriteRouterOptions {
  /** The ledger the writes are committed to and their status is read from. */
  store: Store;
  /** The running `fhir` sources (default: this process's registry). */
  channels?: FhirWriteChannels;
  /**
   * How long `submit` waits, after the commit, for the channel's pipeline to take or refuse the
   * write (default 5,000 ms); past it the write is accepted and its status says what follows.
   */
  pipelineWaitMs?: number;
  /** How often the ledger is read while waiting (default 20 ms). */
  pollMs?: number;
  /**
   * The clinic data hub: a `Patient/{id}` an Appointment's participant names is read from it
   * (as the writing app sees it) and sent along as a contained Patient, so the reverse map can
   * write the PID the source system needs. Without it, references are sent as they are.
   */
  hub?: Pick<HubReader, 'read'>;
}

/** A participant's reference to a Patient of the hub. */
const PATIENT_REFERENCE = /^Patient\/([A-Za-z0-9\-.]{1,64})$/;

interface Participant {
  actor?: { reference?: unknown; [key: string]: unknown };
  [key: string]: unknown;
}

/** Pipeline states that refuse a write: nothing is sent to the source system. */
const REFUSED: ReadonlySet<MessageStatus> = new Set(['filtered', 'rejected', 'errored']);

/** How a write is going, from its message's state in the ledger. */
function writeState(status: MessageStatus): HubWriteStatus['state'] {
  if (status === 'delivered') return 'completed';
  if (status === 'received' || status === 'processed') return 'accepted';
  return 'failed';
}

/** Why the pipeline refused a message, from its issues (which never quote content). */
function refusalText(message: MessageRecord): string {
  if (message.status === 'filtered')
    return `channel ${message.channelId} takes no such write: its filters let nothing of it through`;
  const errors = message.issues.filter((i) => i.severity === 'error');
  const reasons = (errors.length > 0 ? errors : message.issues).map(
    (i) => `${i.code}: ${i.message}${i.location ? ` (${i.location})` : ''}`,
  );
  return `channel ${message.channelId} refused the write: ${reasons.join('; ') || message.status}`;
}

/** The peer's answer to a delivery's last attempt: an HL7 ACK's MSA-1 and its text, else the attempt's code and error. */
function peerAnswer(last: AttemptRecord | undefined): { ack?: string; detail?: string } {
  if (!last) return {};
  if (last.response && last.response.subarray(0, 3).toString('latin1') === 'MSH') {
    try {
      const ack = readAck(Hl7Message.parse(last.response));
      const detail = [ack.text, ...ack.errors].filter((t) => t !== '').join('; ');
      return { ack: ack.code, ...(detail ? { detail } : {}) };
    } catch {
      // Not an ACK: the attempt's own code and error describe it.
    }
  }
  return {
    ...(last.code !== undefined ? { ack: last.code } : {}),
    ...(last.error !== undefined ? { detail: last.error } : {}),
  };
}

/**
 * Writes from apps routed back to the source systems through the channels whose source is
 * `type: fhir`. A write is a ledger message of that channel like any other: `submit` resolves
 * once it is committed (and the pipeline has taken or refused it, within `pipelineWaitMs`);
 * `status` reads the message and its deliveries back.
 */
export class FhirWriteRouter implements HubWriteRouter {
  private readonly channels: FhirWriteChannels;

  constructor(private readonly options: FhirWriteRouterOptions) {
    this.channels = options.channels ?? fhirWriteChannels;
  }

  writableTypes(environment: HubEnvironment): string[] {
    return this.channels.types(environment);
  }

  async submit(
    resource: FhirResource,
    how: { environment: HubEnvironment; interaction: 'create' | 'update'; appId: string },
  ): ReturnType<HubWriteRouter['submit']> {
    if (typeof resource !== 'object' || resource === null || Array.isArray(resource))
      return { refused: 'the body must be a FHIR resource (a JSON object)', status: 400 };
    if (typeof resource.resourceType !== 'string' || resource.resourceType === '')
      return { refused: 'the resource has no resourceType', status: 400 };
    const channel = this.channels.find(how.environment, resource.resourceType);
    if (!channel)
      return {
        refused: `no channel takes writes of ${resource.resourceType} in ${how.environment}`,
        status: 404,
      };
    let body: FhirResource;
    if (how.interaction === 'create') {
      // The server assigns identity on a create: an id or meta the client sent is ignored.
      const { id: _id, meta: _meta, ...rest } = resource;
      body = rest as FhirResource;
    } else {
      if (typeof resource.id !== 'string' || resource.id === '')
        return { refused: 'an update must carry the id of its URL in the resource', status: 400 };
      body = resource;
    }
    if (this.options.hub) {
      const resolved = await this.withPatient(body, this.options.hub, how);
      if ('refused' in resolved) return resolved;
      body = resolved.resource;
    }
    const reply = await channel.write({ body: Buffer.from(JSON.stringify(body), 'utf8'), appId: how.appId });
    const d = reply.disposition;
    if (d.kind === 'unavailable') return { refused: d.issue.message, status: 503 };
    if (d.kind === 'rejected')
      return { refused: d.issue.message, status: d.reason === 'invalid' ? 422 : 400 };
    if (d.kind === 'errored') return { refused: d.issue.message, status: 422 };
    if (reply.messageId === undefined) return { refused: 'the write could not be stored', status: 503 };
    const { store } = this.options;
    const settled = await this.settled(reply.messageId);
    if (settled && REFUSED.has(settled.status)) return { refused: refusalText(settled), status: 422 };
    if (settled && settled.status !== 'received' && (await store.getDeliveries(settled.id)).length === 0)
      return {
        refused: `channel ${channel.channelId} takes no such write: none of its destinations takes it`,
        status: 422,
      };
    return { messageId: reply.messageId, channelId: channel.channelId };
  }

  /**
   * The resource with the hub's Patient its participants reference (`Patient/{id}`) contained,
   * the reference pointing at it (`#{id}`); unchanged when it references none or already
   * contains a Patient. A Patient the app cannot see (unknown, deleted, excluded by consent)
   * refuses the write.
   */
  private async withPatient(
    resource: FhirResource,
    hub: Pick<HubReader, 'read'>,
    how: { environment: HubEnvironment; appId: string },
  ): Promise<{ resource: FhirResource } | { refused: string; status: 422 }> {
    const participants = Array.isArray(resource.participant) ? (resource.participant as Participant[]) : [];
    const contained = Array.isArray(resource.contained) ? (resource.contained as FhirResource[]) : [];
    if (contained.some((r) => r?.resourceType === 'Patient')) return { resource };
    const index = participants.findIndex(
      (p) => typeof p?.actor?.reference === 'string' && PATIENT_REFERENCE.test(p.actor.reference),
    );
    if (index < 0) return { resource };
    const participant = participants[index] as Participant;
    const reference = (participant.actor as { reference: string }).reference;
    const id = (PATIENT_REFERENCE.exec(reference) as RegExpExecArray)[1] as string;
    const found = await hub.read({ environment: how.environment, appId: how.appId }, 'Patient', id);
    if (!found || found.deleted)
      return { refused: `participant ${reference} is no Patient this app can see`, status: 422 };
    const { meta: _meta, ...patient } = found.resource;
    const localId = contained.some((r) => r?.id === id) ? `patient-${id}` : id;
    const rewritten = participants.map((p, i) =>
      i === index ? { ...p, actor: { ...p.actor, reference: `#${localId}` } } : p,
    );
    return {
      resource: {
        ...resource,
        contained: [...contained, { ...patient, id: localId }],
        participant: rewritten,
      },
    };
  }

  /** The message once its pipeline has run, or as it is when `pipelineWaitMs` has passed. */
  private async settled(messageId: string): Promise<MessageRecord | undefined> {
    const { store, pipelineWaitMs = 5_000, pollMs = 20 } = this.options;
    const deadline = Date.now() + pipelineWaitMs;
    for (;;) {
      const message = await store.getMessage(messageId);
      if (message && message.status !== 'received') return message;
      if (Date.now() >= deadline) return message;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  async status(messageId: string): Promise<HubWriteStatus | undefined> {
    const { store } = this.options;
    const message = await store.getMessage(messageId);
    if (!message || message.source !== 'fhir') return undefined;
    const deliveries = await store.getDeliveries(messageId);
    const destinations = await Promise.all(
      deliveries.map(async (delivery) => {
        const attempts = await store.getAttempts(delivery.id);
        return { name: delivery.destination, state: delivery.status, ...peerAnswer(attempts.at(-1)) };
      }),
    );
    const appId = message.keys[WRITE_APP_KEY];
    return {
      messageId,
      channelId: message.channelId,
      resourceType: message.messageType ?? '',
      state: writeState(message.status),
      destinations,
      ...(appId !== undefined ? { appId } : {}),
    };
  }
}
