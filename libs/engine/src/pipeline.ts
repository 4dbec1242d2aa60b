import type { CompiledChannel, CompiledDestination, ConditionInput } from '@sinew/channels';
import { hl7AckCode, hl7Reply, type Disposition } from '@sinew/connectors';
import { Hl7Message } from '@sinew/hl7v2';
import { createHash } from 'node:crypto';
import {
  MappingError,
  readCsvPayload,
  readXmlPayload,
  type MappingWarning,
  type MessageTransformer,
  type RunOptions,
} from '@sinew/mapping';
import type { ContentType, MessageIssue, NewDelivery, PipelineResult } from '@sinew/store';
import {
  validateFhir,
  validateStructure,
  type ValidationIssue,
  type ValidationRule,
} from '@sinew/validation';
import { dispositionIssue, issueCondition } from './disposition';
import { afterReason } from './sequence';

interface Output {
  contentType: ContentType;
  body: Buffer;
}

function encode(value: unknown, kind: string): Output {
  if (value instanceof Hl7Message) return { contentType: 'hl7v2', body: value.toBuffer() };
  return { contentType: kind === 'fhir' ? 'fhir' : 'json', body: Buffer.from(JSON.stringify(value), 'utf8') };
}

/** A csv message as its row object, an xml message as its tree (conditions and maps read them as JSON). */
function readDocument(raw: Buffer, contentType: 'csv' | 'xml'): unknown {
  return contentType === 'csv' ? readCsvPayload(raw) : readXmlPayload(raw);
}

function toIssue(i: ValidationIssue, step: string): MessageIssue {
  return { severity: i.severity, code: i.code, location: i.location, message: i.message, step };
}

/**
 * A compiled channel's pipeline: filter, validate and map steps, then one payload per
 * destination. `run` never throws for bad data: it returns the outcome the ledger records,
 * with the ACK for `ack.when: processed` channels built by the HL7 acker.
 */
export class ChannelPipeline {
  /** Every validation rule of the channel, to give ERR-3 the check that failed. */
  private readonly rules: ValidationRule[];

  /**
   * `options.now`: the clock transformers read (MSH-7 of HL7 they build); `sinew test` fixes it
   * so outputs are the same on every run.
   */
  constructor(
    readonly channel: CompiledChannel,
    private readonly options: { now?: () => Date } = {},
  ) {
    this.rules = channel.steps.flatMap((s) => (s.kind === 'validate' ? s.rules.rules : []));
    this.keys = Object.values(channel.spec.keys ?? {});
  }

  /** The channel's key paths: a value read from them that cannot be mapped fails the map step. */
  private readonly keys: readonly string[];

  /** Whether any destination delivers in order (then the pipeline runs strictly in order). */
  get ordered(): boolean {
    return isOrdered(this.channel);
  }

  /**
   * Runs the pipeline on one message. `parsed` is the message as the ingest parsed it, when
   * it ran in this process (steps only read it). `messageId` (the ledger's) gives each HL7
   * message a transformer builds its MSH-10 (see `builtControlId`).
   */
  run(raw: Buffer, contentType: ContentType, parsed?: Hl7Message, messageId?: string): PipelineResult {
    const ackSpec = this.channel.spec.ack;
    const issues: MessageIssue[] = [];
    const clock: RunOptions = this.options.now ? { now: this.options.now() } : {};
    const base: RunOptions = this.keys.length ? { ...clock, keys: this.keys } : clock;
    const runOptions = (t: MessageTransformer): RunOptions =>
      messageId === undefined ? base : { ...base, controlId: builtControlId(messageId, t) };
    let input: ConditionInput;
    try {
      input =
        contentType === 'hl7v2'
          ? { kind: 'hl7v2', message: parsed ?? Hl7Message.parse(raw) }
          : contentType === 'csv' || contentType === 'xml'
            ? { kind: 'json', value: readDocument(raw, contentType) }
            : {
                kind: contentType === 'fhir' ? 'fhir' : 'json',
                value: JSON.parse(raw.toString('utf8')) as unknown,
              };
    } catch (err) {
      return {
        status: 'errored',
        issues: [
          { severity: 'error', code: 'pipeline.unreadable', message: (err as Error).message, step: 'parse' },
        ],
        deliveries: [],
      };
    }
    const ack = (d: Disposition): PipelineResult['ack'] => {
      if (ackSpec.when !== 'processed' || input.kind !== 'hl7v2') return undefined;
      return { code: hl7AckCode(d, ackSpec.mode), bytes: hl7Reply(d, input.message, ackSpec.mode) };
    };
    const refused = (status: 'rejected' | 'errored', issue: MessageIssue): PipelineResult => {
      const di = dispositionIssue(issue, issueCondition(issue, this.rules));
      const result: PipelineResult = { status, issues, deliveries: [] };
      const a = ack(
        status === 'rejected'
          ? { kind: 'rejected', reason: 'invalid', issue: di }
          : { kind: 'errored', issue: di },
      );
      if (a) result.ack = a;
      return result;
    };
    const stop = (policy: string, step: string): PipelineResult | undefined => {
      const first = issues.find((i) => i.severity === 'error' && i.step === step);
      if (!first || policy === 'continue') return undefined;
      return refused(policy === 'reject' ? 'rejected' : 'errored', first);
    };
    const accepted = (status: 'filtered' | 'processed', deliveries: NewDelivery[] = []): PipelineResult => {
      const result: PipelineResult = { status, issues, deliveries };
      const a = ack({ kind: 'accepted' });
      if (a) result.ack = a;
      return result;
    };

    let output: Output | undefined;
    for (const step of this.channel.steps) {
      if (step.kind === 'filter') {
        if (!step.test(input)) return accepted('filtered');
      } else if (step.kind === 'validate') {
        if (input.kind === 'hl7v2') {
          issues.push(...step.rules.validate(input.message).map((i) => toIssue(i, 'validate')));
          if (step.structure)
            issues.push(...validateStructure(input.message).map((i) => toIssue(i, 'validate')));
        } else if (input.kind === 'fhir') {
          issues.push(...validateFhir(input.value).map((i) => toIssue(i, 'validate')));
        }
        const stopped = stop(step.policy, 'validate');
        if (stopped) return stopped;
      } else {
        const warnings: MappingWarning[] = [];
        try {
          const value = step.transformer.run(input.kind === 'hl7v2' ? input.message : input.value, {
            ...runOptions(step.transformer),
            warnings,
            strict: step.strict,
          });
          output = encode(value, step.transformer.spec.output);
          if (step.validateOutput) {
            const found =
              value instanceof Hl7Message
                ? validateStructure(value)
                : step.transformer.spec.output === 'fhir'
                  ? validateFhir(value)
                  : [];
            issues.push(...found.map((i) => ({ ...toIssue(i, 'map'), location: `output ${i.location}` })));
          }
        } catch (err) {
          issues.push(mappingIssue(err));
        }
        issues.push(...warnings.map((w) => warningIssue(w, 'map')));
        const stopped = stop(step.policy, 'map');
        if (stopped) return stopped;
      }
    }

    const deliveries: NewDelivery[] = [];
    for (const d of this.channel.destinations) {
      if (d.filter && !d.filter(input)) continue;
      let payload: Output;
      if (d.transformer) {
        const warnings: MappingWarning[] = [];
        try {
          payload = encode(
            d.transformer.run(input.kind === 'hl7v2' ? input.message : input.value, {
              ...runOptions(d.transformer),
              warnings,
            }),
            d.transformer.spec.output,
          );
          issues.push(...warnings.map((w) => warningIssue(w, `destination ${d.name}`)));
        } catch (err) {
          const issue = { ...mappingIssue(err), step: `destination ${d.name}` };
          issues.push(issue);
          return refused('errored', issue);
        }
      } else if (d.payload === 'raw' || !output) payload = { contentType, body: raw };
      else payload = output;
      const delivery: NewDelivery = {
        destination: d.name,
        payload: payload.body,
        payloadType: payload.contentType,
      };
      const key = orderKey(d, input);
      if (key !== undefined) delivery.orderKey = key;
      // Waits for another destination's delivery (after:): created parked, released once that one is sent.
      if (d.after !== undefined) delivery.parkedReason = afterReason(d.after);
      deliveries.push(delivery);
    }
    const result = accepted('processed', deliveries);
    if (output) result.transformed = output;
    return result;
  }
}

/**
 * MSH-10 of the HL7 message a transformer builds from a received message: 20 characters (the
 * v2.5.1 limit) hashed from the ledger's message id and the transformer's name with its bound
 * parameters (`patient-to-adt?event=A28`), so each built message has its own, and a retry or a
 * shadow run of the same message builds the same one.
 */
export function builtControlId(messageId: string, transformer: MessageTransformer): string {
  return createHash('sha256')
    .update(`${messageId}|${transformer.boundName}`)
    .digest('hex')
    .slice(0, 20)
    .toUpperCase();
}

/** Whether any destination of the channel delivers in order (its pipeline then runs in commit order). */
export function isOrdered(channel: CompiledChannel): boolean {
  return channel.destinations.some((d) => d.ordering.kind !== 'none');
}

/** `''` for channel-wide FIFO, the key's value for keyed ordering, undefined for none. */
function orderKey(d: CompiledDestination, input: ConditionInput): string | undefined {
  if (d.ordering.kind === 'none') return undefined;
  if (d.ordering.kind === 'channel') return '';
  return d.ordering.read(input);
}

/**
 * A mapping warning as the ledger keeps it: severity `warning`, its code (`map.unmapped`,
 * `map.defaulted` …) and location `PID-30 → Patient.deceasedBoolean`.
 */
function warningIssue(w: MappingWarning, step: string): MessageIssue {
  const issue: MessageIssue = { severity: 'warning', code: w.code, message: w.message, step };
  const location = w.source && w.target ? `${w.source} → ${w.target}` : (w.source ?? w.target);
  if (location) issue.location = location;
  return issue;
}

function mappingIssue(err: unknown): MessageIssue {
  if (err instanceof MappingError) {
    return { severity: 'error', code: err.code, location: err.where, message: err.message, step: 'map' };
  }
  return {
    severity: 'error',
    code: 'map.failed',
    message: (err as Error)?.message ?? String(err),
    step: 'map',
  };
}
