export {
  importMirth,
  slug,
  type ChannelOutput,
  type ImportResult,
  type MirthFile,
  type TransformerOutput,
} from './convert';
export { configValue, envName, jdbcUrl } from './connectors';
export { convertFilter, ruleCondition, type Condition } from './filter';
export { mirthHl7Path, stringLiteral } from './hl7-path';
export { isDefaultScript, translateScript, type Idiom } from './javascript';
export {
  Notes,
  renderReport,
  reportCounts,
  type ChannelReport,
  type ImportReport,
  type Outcome,
  type ReportItem,
} from './report';
export { convertSteps } from './steps';
export { ExistingFileError, importMirthFiles, type WriteOptions, type WrittenImport } from './write';
export { MirthImportError, parseXml } from './xml';
