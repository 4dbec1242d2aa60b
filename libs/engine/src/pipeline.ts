import { buildAck, Hl7Message, type AckCode } from '@sinew/hl7v2';
import { MappingError, type MessageTransformer, type TransformerLibrary } from '@sinew/mapping';
import type { ContentType, MessageIssue, NewDelivery, PipelineResult } from '@sinew/store';
import {
  compileRules,
  validateFhir,
  validateStructure,
  type CompiledRules,
  type ValidationIssue,
} from '@sinew/validation';
import type { Channel, ChannelProblem, DestinationSpec } from './channel';
import { compileCondition, readKey, type ConditionInput } from './condition';

type Policy = 'reject' | 'dead_letter' | 'continue';

type CompiledStep =
  | { kind: 'filter'; holds: (input: ConditionInput) => boolean }
  | { kind: 'validate'; rules: CompiledRules; structure: boolean; policy: Policy }
  | { kind: 'map'; transformer: MessageTransformer; validateOutput: boolean; policy: Policy };

interface CompiledDestination {
  spec: DestinationSpec;
  filter?: (input: ConditionInput) => boolean;
  transformer?: MessageTransformer;
  /** undefined: no ordering; '': channel-wide FIFO; otherwise the key expression. */
  orderKey?: string;
}

interface Output {
  contentType: ContentType;
  body: Buffer;
}

function encode(value: unknown, kind: string): Output {
  if (value instanceof Hl7Message) return { contentType: 'hl7v2', body: value.toBuffer() };
  return { contentType: kind === 'fhir' ? 'fhir' : 'json', body: Buffer.from(JSON.stringify(value), 'utf8') };
}

function toIssue(i: ValidationIssue, step: string): MessageIssue {
  return { severity: i.severity, code: i.code, location: i.location, message: i.message, step };
}

/** HL7 table 0357: 207 application internal error; 101 required field missing; 102 data type error. */
function errCondition(issue: MessageIssue): string {
  if (issue.code.includes('required')) return '101';
  if (issue.code.includes('datetime') || issue.code.includes('pattern') || issue.code.includes('type'))
    return '102';
  if (issue.code.includes('table') || issue.code.includes('code')) return '103';
  return '207';
}

/**
 * A channel's pipeline, compiled once: filter, validate and map steps, then one payload per
 * destination. `run` never throws for bad data: it returns the outcome the ledger records.
 */
export class ChannelPipeline {
  private readonly steps: CompiledStep[] = [];
  private readonly destinations: CompiledDestination[] = [];

  constructor(
    readonly channel: Channel,
    library: TransformerLibrary,
  ) {
    const problems: ChannelProblem[] = [];
    const at = (path: Array<string | number>, message: string) =>
      problems.push({ file: channel.file, ...channel.locate(path), path: path.join('.'), message });
    const transformer = (name: string, path: Array<string | number>): MessageTransformer | undefined => {
      const t = library.transformers.get(name);
      if (!t) at(path, `no transformer named ${name}`);
      return t;
    };
    channel.spec.pipeline.forEach((step, i) => {
      try {
        if ('filter' in step) this.steps.push({ kind: 'filter', holds: compileCondition(step.filter) });
        else if ('validate' in step) {
          this.steps.push({
            kind: 'validate',
            rules: compileRules(step.validate.rules),
            structure: step.validate.structure,
            policy: step.validate.policy,
          });
        } else {
          const t = transformer(step.map.transformer, ['pipeline', i, 'map', 'transformer']);
          if (t)
            this.steps.push({
              kind: 'map',
              transformer: t,
              validateOutput: step.map.validate_output,
              policy: step.map.policy,
            });
        }
      } catch (err) {
        at(['pipeline', i], (err as Error).message);
      }
    });
    channel.destinations.forEach((d, i) => {
      const c: CompiledDestination = { spec: d };
      try {
        if (d.filter) c.filter = compileCondition(d.filter);
      } catch (err) {
        at(['destinations', i, 'filter'], (err as Error).message);
      }
      if (d.transformer) {
        const t = transformer(d.transformer, ['destinations', i, 'transformer']);
        if (t) c.transformer = t;
      }
      if (d.ordering === 'channel') c.orderKey = '';
      else if (d.ordering !== 'none') c.orderKey = d.ordering;
      this.destinations.push(c);
    });
    if (problems.length) throw Object.assign(new Error('channel pipeline'), { problems });
  }

  /** Whether any destination delivers in order (then the pipeline runs strictly in order). */
  get ordered(): boolean {
    return this.destinations.some((d) => d.orderKey !== undefined);
  }

  /**
   * Runs the pipeline on one message. `parsed` is the message as the ingest parsed it, when
   * it ran in this process (steps only read it).
   */
  run(raw: Buffer, contentType: ContentType, parsed?: Hl7Message): PipelineResult {
    const ackMode = this.channel.spec.ack;
    const issues: MessageIssue[] = [];
    let input: ConditionInput;
    try {
      input =
        contentType === 'hl7v2'
          ? { kind: 'hl7v2', message: parsed ?? Hl7Message.parse(raw) }
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
    const ack = (code: 'positive' | 'error' | 'reject', issue?: MessageIssue): PipelineResult['ack'] => {
      if (ackMode.when !== 'processed' || input.kind !== 'hl7v2') return undefined;
      const enhanced = ackMode.mode === 'enhanced';
      const ackCode: AckCode =
        code === 'positive'
          ? enhanced
            ? 'CA'
            : 'AA'
          : code === 'error'
            ? enhanced
              ? 'CE'
              : 'AE'
            : enhanced
              ? 'CR'
              : 'AR';
      const msg = buildAck(input.message, {
        code: ackCode,
        ...(issue
          ? {
              text: issue.message,
              error: {
                code: errCondition(issue),
                severity: 'E',
                ...(issue.location && /^[A-Z][A-Z0-9]{2}/.test(issue.location)
                  ? { location: issue.location.split(' ')[0] as string }
                  : {}),
                text: `${issue.code}: ${issue.message}`,
              },
            }
          : {}),
      });
      return { code: ackCode, bytes: msg.toBuffer() };
    };
    const stop = (policy: Policy, step: string): PipelineResult | undefined => {
      const first = issues.find((i) => i.severity === 'error' && i.step === step);
      if (!first || policy === 'continue') return undefined;
      const status = policy === 'reject' ? 'rejected' : 'errored';
      const result: PipelineResult = { status, issues, deliveries: [] };
      const a = ack(policy === 'reject' ? 'reject' : 'error', first);
      if (a) result.ack = a;
      return result;
    };

    let output: Output | undefined;
    for (const step of this.steps) {
      if (step.kind === 'filter') {
        if (!step.holds(input)) {
          const result: PipelineResult = { status: 'filtered', issues, deliveries: [] };
          const a = ack('positive');
          if (a) result.ack = a;
          return result;
        }
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
        try {
          const value = step.transformer.run(input.kind === 'hl7v2' ? input.message : input.value);
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
        const stopped = stop(step.policy, 'map');
        if (stopped) return stopped;
      }
    }

    const deliveries: NewDelivery[] = [];
    for (const d of this.destinations) {
      if (d.filter && !d.filter(input)) continue;
      let payload: Output;
      if (d.transformer) {
        try {
          payload = encode(
            d.transformer.run(input.kind === 'hl7v2' ? input.message : input.value),
            d.transformer.spec.output,
          );
        } catch (err) {
          issues.push({ ...mappingIssue(err), step: `destination ${d.spec.name}` });
          const result: PipelineResult = { status: 'errored', issues, deliveries: [] };
          const a = ack('error', issues[issues.length - 1]);
          if (a) result.ack = a;
          return result;
        }
      } else payload = output ?? { contentType, body: raw };
      const delivery: NewDelivery = {
        destination: d.spec.name,
        payload: payload.body,
        payloadType: payload.contentType,
      };
      if (d.orderKey !== undefined) delivery.orderKey = d.orderKey === '' ? '' : readKey(d.orderKey, input);
      deliveries.push(delivery);
    }
    const result: PipelineResult = { status: 'processed', issues, deliveries };
    if (output) result.transformed = output;
    const a = ack('positive');
    if (a) result.ack = a;
    return result;
  }
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
