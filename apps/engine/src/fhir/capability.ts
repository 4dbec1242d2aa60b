import type { HubEnvironment, HubSearchParamInfo } from '@sinew/hub';
import { HUB_ENVIRONMENTS } from '@sinew/hub';
import type { FhirDeps } from './deps';
import { includableParams } from './search';

/** Software version stated in the CapabilityStatement. */
const SOFTWARE_VERSION = '1';

/** Parameters every resource has, whose definitions are FHIR's own `Resource-*` ones. */
const RESOURCE_PARAMS = new Set(['_id', '_lastUpdated']);

/** Result parameters every search type takes, as the CapabilityStatement documents them. */
export const RESULT_PARAM_DOCS: Array<{ name: string; documentation: string }> = [
  { name: '_count', documentation: 'Page size, 1 to 1000 (default 50); 0 answers only the total.' },
  { name: '_sort', documentation: 'Comma-separated search parameters, `-` for descending.' },
  {
    name: '_include',
    documentation: 'The subject or patient Patient of each match, as `search.mode: include`.',
  },
  { name: '_elements', documentation: 'Only these top-level elements (and id, meta); tagged SUBSETTED.' },
  { name: '_summary', documentation: '`count`: only the total; `false`: the whole resources.' },
  { name: '_total', documentation: '`none`, `estimate` or `accurate`.' },
];

/** The types some channel takes writes for, in any environment. */
export function writableTypes(deps: FhirDeps): Set<string> {
  const out = new Set<string>();
  if (!deps.writes) return out;
  for (const env of HUB_ENVIRONMENTS as readonly HubEnvironment[])
    for (const t of deps.writes.writableTypes(env)) out.add(t);
  return out;
}

/** The CapabilityStatement of what this API actually serves, generated from the hub. */
export function capabilityStatement(
  deps: FhirDeps,
  fhirBase: string,
  tokenUrl: string,
): Record<string, unknown> {
  const params = deps.hub.searchParams();
  const writable = writableTypes(deps);
  const types = [...new Set([...Object.keys(params), ...writable])].sort();
  const resource = types.map((type) => {
    const served = params[type] !== undefined;
    const list: readonly HubSearchParamInfo[] = params[type] ?? [];
    // FHIR JSON has no empty arrays: a type without includes lists none.
    const includes = includableParams(list).map((p) => `${type}:${p}`);
    const interaction: Array<{ code: string; documentation?: string }> = served
      ? [{ code: 'read' }, { code: 'vread' }, { code: 'history-instance' }, { code: 'search-type' }]
      : [];
    if (writable.has(type)) {
      interaction.push(
        { code: 'create', documentation: 'Routed to the source system; answered 202 with a status link.' },
        { code: 'update', documentation: 'Routed to the source system; answered 202 with a status link.' },
      );
    }
    const operation: Array<{ name: string; definition: string }> = [];
    if (type === 'Patient' && served) {
      operation.push(
        { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
        { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export' },
      );
    }
    if (type === 'Group' && served) {
      operation.push({
        name: 'export',
        definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export',
      });
    }
    return {
      type,
      interaction,
      versioning: 'versioned',
      readHistory: true,
      updateCreate: false,
      conditionalCreate: false,
      conditionalUpdate: false,
      conditionalDelete: 'not-supported',
      ...(includes.length ? { searchInclude: includes } : {}),
      ...(list.length
        ? {
            searchParam: list.map((p) => ({
              name: p.name,
              ...(RESOURCE_PARAMS.has(p.name)
                ? { definition: `http://hl7.org/fhir/SearchParameter/Resource-${p.name.slice(1)}` }
                : {}),
              type: p.type,
              documentation: p.documentation,
            })),
          }
        : {}),
      ...(operation.length ? { operation } : {}),
    };
  });
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    publisher: 'Sinew',
    kind: 'instance',
    software: { name: 'Sinew', version: SOFTWARE_VERSION },
    implementation: { description: 'The clinic data hub of Sinew', url: fhirBase },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    instantiates: ['http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data'],
    rest: [
      {
        mode: 'server',
        documentation: `Result parameters for every search: ${RESULT_PARAM_DOCS.map((p) => p.name).join(', ')}.`,
        security: {
          cors: false,
          service: [
            {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
                  code: 'SMART-on-FHIR',
                },
              ],
              text: 'SMART Backend Services: OAuth2 client credentials (client secret or private_key_jwt) with system/ scopes',
            },
          ],
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [{ url: 'token', valueUri: tokenUrl }],
            },
          ],
        },
        resource,
        operation: [
          { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' },
        ],
      },
    ],
  };
}
