import { LintCode } from '../../src/codes';

/**
 * One deliberately broken input per lint code, with the exact lines `sinew lint` prints for it
 * when run in this folder. `broken.spec.ts` checks them; docs/reference/lint-codes.md shows
 * them as the examples of each code.
 */
export interface BrokenCase {
  code: LintCode;
  /** A file, or a folder of files checked together (codes found across files). */
  input: string;
  /** Checked against this environment (strict: unset variables are errors), as `--env test`. */
  env?: 'test';
  lines: string[];
}

export const BROKEN_CASES: BrokenCase[] = [
  {
    code: LintCode.YamlSyntax,
    input: 'yaml-syntax.yaml',
    lines: ['yaml-syntax.yaml:3:9 error yaml.syntax YAML: this flow mapping is not closed: end it with }'],
  },
  {
    code: LintCode.UnknownKey,
    input: 'unknown-key.yaml',
    lines: [
      'unknown-key.yaml:4:1 error schema.unknown_key destination: unknown key destination; did you mean destinations?',
    ],
  },
  {
    code: LintCode.Missing,
    input: 'missing-key.yaml',
    lines: ['missing-key.yaml:5:5 error schema.missing destinations.0.name: name is required (text)'],
  },
  {
    code: LintCode.Type,
    input: 'wrong-type.yaml',
    lines: [
      'wrong-type.yaml:8:18 error schema.type destinations.0.concurrency: expected a number, found text "four"',
    ],
  },
  {
    code: LintCode.Value,
    input: 'bad-enum.yaml',
    lines: [
      'bad-enum.yaml:6:15 error schema.value pipeline.0.validate.policy: rejct is not allowed; choose reject, dead_letter, continue; did you mean reject?',
    ],
  },
  {
    code: LintCode.UnknownStep,
    input: 'unknown-step.yaml',
    lines: [
      'unknown-step.yaml:5:5 error pipeline.unknown_step pipeline.0.validat: unknown step validat; did you mean validate?',
    ],
  },
  {
    code: LintCode.Condition,
    input: 'condition-form.yaml',
    lines: [
      'condition-form.yaml:5:13 error condition.form pipeline.0.filter: path takes exactly one of present, equals, in, matches',
    ],
  },
  {
    code: LintCode.Hl7Path,
    input: 'hl7-path.yaml',
    lines: [
      'hl7-path.yaml:5:21 error expression.hl7_path pipeline.0.filter.path: field index in "PID-0" must be 1 or more',
      'hl7-path.yaml:6:21 error expression.hl7_path pipeline.1.filter.path: "PID-3..1" is not an HL7 path (expected e.g. PID-3, PID-3[2].1, OBX[3]-5, MSH-9.2)',
      'hl7-path.yaml:7:21 error expression.hl7_path pipeline.2.filter.path: segment index in "OBX[0]-5" must be 1 or more',
    ],
  },
  {
    code: LintCode.FhirPath,
    input: 'fhirpath.yaml',
    lines: [
      'fhirpath.yaml:5:25 error expression.fhirpath pipeline.0.filter.fhirpath: FHIRPath "Bundle.entry.where(resource.resourceType = \'Patient\'" does not parse: it ends too early (a closing parenthesis, bracket or an operand is missing)',
    ],
  },
  {
    code: LintCode.Regex,
    input: 'regex.yaml',
    lines: [
      'regex.yaml:5:39 error expression.regex pipeline.0.filter.matches: "R0[1" is not a valid regular expression: Unterminated character class',
    ],
  },
  {
    code: LintCode.Duration,
    input: 'duration.yaml',
    lines: [
      'duration.yaml:5:90 error expression.duration destinations.0.retry.initial_delay_ms: initial_delay_ms takes whole milliseconds: write 5000 for 5s',
    ],
  },
  {
    code: LintCode.Key,
    input: 'business-key.yaml',
    lines: [
      'business-key.yaml:4:14 error expression.key keys.mrn: HL7 v2 messages reach this key, but "PID 3" is not an HL7 path (expected e.g. PID-3, PID-3[2].1, OBX[3]-5, MSH-9.2)',
    ],
  },
  {
    code: LintCode.Key,
    input: 'ordering.yaml',
    lines: [
      'ordering.yaml:8:15 error expression.key destinations.0.ordering: HL7 v2 messages reach this key, but "patient id" is not an HL7 path (expected e.g. PID-3, PID-3[2].1, OBX[3]-5, MSH-9.2)',
    ],
  },
  {
    code: LintCode.Rule,
    input: 'validate-rule.yaml',
    lines: [
      'validate-rule.yaml:7:34 error validate.rule pipeline.0.validate.rules.0.path: "PID3" is not an HL7 path (expected e.g. PID-3, PID-3[2].1, OBX[3]-5, MSH-9.2)',
    ],
  },
  {
    code: LintCode.UnknownTransformer,
    input: 'unknown-transformer.yaml',
    lines: [
      'unknown-transformer.yaml:5:25 error reference.transformer pipeline.0.map.transformer: no transformer named oru-to-fihr; did you mean oru-to-fhir?',
    ],
  },
  {
    code: LintCode.UnknownConnector,
    input: 'unknown-connector.yaml',
    lines: [
      'unknown-connector.yaml:5:24 error reference.connector destinations.0.type: unknown destination type fihr; did you mean fhir? (destinations: mllp, http, fhir, file, database, channel, email, sftp, store)',
    ],
  },
  {
    code: LintCode.TransformerInput,
    input: 'transformer-input.yaml',
    lines: [
      'transformer-input.yaml:5:25 error payload.transformer_input pipeline.0.map.transformer: transformer patient-to-adt reads fhir, but hl7v2 messages reach it',
    ],
  },
  {
    code: LintCode.TransformerParam,
    input: 'transformer-param.yaml',
    lines: [
      'transformer-param.yaml:5:51 error reference.transformer_param pipeline.0.map.params.evnt: no parameter named evnt (the map takes event)',
      'transformer-param.yaml:12:34 error reference.transformer_param destinations.0.transformer_params.event: parameter event is one of A31, A28, not "A01"',
    ],
  },
  {
    code: LintCode.PayloadType,
    input: 'hl7-to-fhir.yaml',
    lines: [
      'hl7-to-fhir.yaml:5:24 error payload.destination destinations.0.type: a fhir destination sends fhir, but hl7v2 reaches it (add a map step or a transformer that produces FHIR)',
    ],
  },
  {
    code: LintCode.DuplicateDestination,
    input: 'duplicate-destination.yaml',
    lines: [
      'duplicate-destination.yaml:6:13 error destination.duplicate_name destinations.1.name: destination archive is named twice (also destinations.0)',
    ],
  },
  {
    code: LintCode.AfterUnknown,
    input: 'after-unknown.yaml',
    lines: [
      'after-unknown.yaml:6:54 error destination.after_unknown destinations.1.after: destination pms waits for ehrr, which is no destination of this channel; did you mean ehr?',
    ],
  },
  {
    code: LintCode.AfterCycle,
    input: 'after-cycle.yaml',
    lines: [
      'after-cycle.yaml:5:53 error destination.after_cycle destinations.0.after: destinations wait for one another in a circle: ehr → pms → ehr',
      'after-cycle.yaml:6:54 error destination.after_cycle destinations.1.after: destinations wait for one another in a circle: pms → ehr → pms',
    ],
  },
  {
    code: LintCode.AfterFiltered,
    input: 'after-filtered.yaml',
    lines: [
      "after-filtered.yaml:6:54 warning destination.after_filtered destinations.1.after: destination ehr has a filter: a message it skips has no delivery there, and pms's delivery of it is dead-lettered",
    ],
  },
  {
    code: LintCode.ImplicitDeadLetter,
    input: 'implicit-dead-letter.yaml',
    lines: [
      'implicit-dead-letter.yaml:5:13 warning destination.implicit_dead_letter destinations.0.name: destination archive leaves retries to the defaults (10 attempts, then dead-lettered): write retry: { attempts: \u2026 } to say what happens when it keeps failing',
    ],
  },
  {
    code: LintCode.ShortTimeout,
    input: 'short-timeout.yaml',
    lines: [
      'short-timeout.yaml:8:17 warning destination.short_timeout destinations.0.timeout_ms: destination pms sends a message again when the answer takes over 5000 ms (timeout_ms), and HTTP POST cannot tell a repeat from a new message: a slower peer receives it twice. Set timeout_ms: 30000 or more, or make sure the receiver drops repeats',
    ],
  },
  {
    code: LintCode.DuplicateChannel,
    input: 'duplicate-id',
    lines: [
      'duplicate-id/b.yaml:2:5 error channel.duplicate_id id: channel id orders is also used by duplicate-id/a.yaml',
    ],
  },
  {
    code: LintCode.DuplicateListen,
    input: 'duplicate-listen',
    lines: [
      'duplicate-listen/b.yaml:3:31 error channel.duplicate_listen source.listen: channel lab (duplicate-listen/a.yaml) listens on the same address',
    ],
  },
  {
    code: LintCode.DuplicateWriteType,
    input: 'duplicate-write-type',
    lines: [
      'duplicate-write-type/b.yaml:2:34 error channel.duplicate_write_type source.resources: channel diary (duplicate-write-type/a.yaml) also takes FHIR writes of Appointment in production; one channel per type and environment',
    ],
  },
  {
    code: LintCode.Disabled,
    input: 'disabled.yaml',
    lines: [
      'disabled.yaml:3:10 warning channel.disabled enabled: channel old-lab is disabled (enabled: false): checked, not deployed',
    ],
  },
  {
    code: LintCode.EnvUnset,
    input: 'env-unset.yaml',
    lines: [
      'env-unset.yaml:5:35 warning env.unset destinations.0.url: environment variable SINEW_BROKEN_EHR_URL has no value (write ${SINEW_BROKEN_EHR_URL:-default} for a default)',
    ],
  },
  {
    code: LintCode.EnvUnset,
    input: 'env-unset.yaml',
    env: 'test',
    lines: [
      'env-unset.yaml:5:35 error env.unset destinations.0.url: environment variable SINEW_BROKEN_EHR_URL has no value in environment test (write ${SINEW_BROKEN_EHR_URL:-default} for a default)',
    ],
  },
  {
    code: LintCode.EnvFile,
    input: 'env-file.yaml',
    lines: [
      'env-file.yaml:3:61 error env.file source.auth_token: secret file secrets/missing-token cannot be read (ENOENT)',
    ],
  },
  {
    code: LintCode.TlsFile,
    input: 'tls-file.yaml',
    lines: [
      'tls-file.yaml:6:15 error tls.file_missing source.tls.key: file certs/missing.key does not exist',
      'tls-file.yaml:6:40 error tls.file_missing source.tls.cert: file certs/missing.crt does not exist',
    ],
  },
  {
    code: LintCode.TransformerInvalid,
    input: 'transformer-invalid.yaml',
    lines: [
      'transformer-invalid.yaml:9:10 error transformer.invalid no map named PID[Patinet] (map.unknown)',
    ],
  },
];
