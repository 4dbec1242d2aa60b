export { FhirModule } from './fhir.module';
export { FHIR_BASE, FHIR_DEPS, type FhirDeps } from './deps';
export { FhirError, OperationOutcomeFilter, outcome, outcomeOf, sendFhir, FHIR_JSON } from './outcome';
export { authenticate, requireScope, allows, reportMisuse, callOf, type FhirCall } from './access';
export { capabilityStatement } from './capability';
