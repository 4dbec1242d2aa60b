export { FhirModule } from './fhir.module';
export { FHIR_BASE, FHIR_DEPS, type FhirDeps } from './deps';
export { FhirError, OperationOutcomeFilter, outcome, outcomeOf, sendFhir, FHIR_JSON } from './outcome';
export {
  authenticate,
  requireScope,
  allows,
  reportMisuse,
  reportUnreadableRequest,
  callOf,
  type FhirCall,
} from './access';
export { isFhirPath, writeFhirError } from './outcome';
export { capabilityStatement } from './capability';
