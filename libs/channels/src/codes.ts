/**
 * The codes of the findings `sinew lint` reports and the engine refuses a channel for. Stable:
 * tools and people search for them. One JSDoc line each says what the finding means.
 */
export const LintCode = {
  /** The file is not readable YAML. */
  YamlSyntax: 'yaml.syntax',
  /** The file could not be read (missing, a folder, permissions). */
  Unreadable: 'file.unreadable',
  /** A key the schema does not know (a typo, or a setting of another connector). */
  UnknownKey: 'schema.unknown_key',
  /** A required key is missing. */
  Missing: 'schema.missing',
  /** A value of the wrong type (a list where a mapping is expected, text where a number is). */
  Type: 'schema.type',
  /** A value outside the allowed set or range. */
  Value: 'schema.value',
  /** A pipeline step that is not `filter`, `validate` or `map`, or a step with two kinds. */
  UnknownStep: 'pipeline.unknown_step',
  /** A condition that is none of the condition forms. */
  Condition: 'condition.form',
  /** A text that is not an HL7 path (`PID-0`, `PID-3..1`, `OBX[0]-5`). */
  Hl7Path: 'expression.hl7_path',
  /** A FHIRPath expression that does not parse. */
  FhirPath: 'expression.fhirpath',
  /** A regular expression that does not compile. */
  Regex: 'expression.regex',
  /** A duration written with a unit (`5s`) in a key that takes whole milliseconds (`_ms`). */
  Duration: 'expression.duration',
  /** An ordering or business-key expression that cannot read the messages the source delivers. */
  Key: 'expression.key',
  /** A validation rule that does not compile (bad path, regex, table). */
  Rule: 'validate.rule',
  /** A transformer that no transformer folder defines. */
  UnknownTransformer: 'reference.transformer',
  /** A source or destination type that no connector declares. */
  UnknownConnector: 'reference.connector',
  /** A transformer fed a payload of another kind than it reads. */
  TransformerInput: 'payload.transformer_input',
  /** Transformer parameters it does not take, with a value it refuses, or missing (no default). */
  TransformerParam: 'reference.transformer_param',
  /** A destination sent a payload type it cannot deliver (HL7 v2 to a FHIR server). */
  PayloadType: 'payload.destination',
  /** Two destinations of one channel with the same name. */
  DuplicateDestination: 'destination.duplicate_name',
  /** A destination that leaves its retry and dead-letter behaviour to the defaults. */
  ImplicitDeadLetter: 'destination.implicit_dead_letter',
  /** A destination waiting under 30 s for an answer, with requests that are not idempotent. */
  ShortTimeout: 'destination.short_timeout',
  /** A destination's `after` names no destination of the channel, or itself. */
  AfterUnknown: 'destination.after_unknown',
  /** Destinations whose `after` settings wait for one another in a circle. */
  AfterCycle: 'destination.after_cycle',
  /** A destination waits for one whose filter may skip the message: then it is dead-lettered. */
  AfterFiltered: 'destination.after_filtered',
  /** Two channels with the same id. */
  DuplicateChannel: 'channel.duplicate_id',
  /** Two channels listening on the same address. */
  DuplicateListen: 'channel.duplicate_listen',
  /** Two channels with a `fhir` source take writes of one resource type in one environment. */
  DuplicateWriteType: 'channel.duplicate_write_type',
  /** A channel with `enabled: false` (not deployed). */
  Disabled: 'channel.disabled',
  /** A folder without channel or transformer files. */
  EmptyFolder: 'channel.empty_folder',
  /** `${VAR}` with no value in the selected environment. */
  EnvUnset: 'env.unset',
  /** `${file:PATH}` naming a file that cannot be read. */
  EnvFile: 'env.file',
  /** A TLS certificate, key or CA file that does not exist. */
  TlsFile: 'tls.file_missing',
  /** A transformer file that does not load (its schema, a map, vocabulary or function it names). */
  TransformerInvalid: 'transformer.invalid',
  /** A reconciliation side naming a system that `systems` does not declare. */
  UnknownSystem: 'reconcile.unknown_system',
  /** A reconciliation system whose `type` no adapter reads. */
  SystemType: 'reconcile.system_type',
  /** A compared field (or, with `status: true`, the status) that a side does not say where to read. */
  UnreadField: 'reconcile.unread_field',
  /** A reconciliation schedule whose cron expression is not 5 fields or does not parse. */
  Cron: 'reconcile.cron',
  /** A time zone that is not an IANA name (`Europe/London`, `America/New_York`, `UTC`). */
  TimeZone: 'reconcile.timezone',
  /** A reconciliation period that is none of the period forms (`yesterday`, `2026-12-01..2026-12-07` …). */
  Period: 'reconcile.period',
  /** A tolerance on a field whose type takes none, or of the wrong kind for its type. */
  Tolerance: 'reconcile.tolerance',
  /** `alerts` or `critical` naming a discrepancy class that does not exist. */
  UnknownClass: 'reconcile.unknown_class',
  /** Two entities of one reconciliation with the same name, or two reconciliation files with the same id. */
  DuplicateReconcile: 'reconcile.duplicate',
} as const;
export type LintCode = (typeof LintCode)[keyof typeof LintCode];
