import { Controller, Get, Header, Inject, Req } from '@nestjs/common';
import { APP_TOKEN_TTL_S } from '@sinew/auth';
import type { Request } from 'express';
import { API_DEPS, type ApiDeps } from '../api/deps';
import { TOKEN_PATH } from '../api/problem';

/** The scopes an app may ask for, as the SMART configuration lists them (any resource type also works). */
const SCOPES_SUPPORTED = [
  'system/*.rs',
  'system/*.cruds',
  'system/Patient.rs',
  'system/Patient.cruds',
  'system/Appointment.rs',
  'system/Appointment.cruds',
  'system/Encounter.rs',
  'system/Observation.rs',
  'system/DiagnosticReport.rs',
  'system/Immunization.rs',
  'system/Practitioner.rs',
  'system/Location.rs',
  'system/Coverage.rs',
  'system/DocumentReference.rs',
  'system/ChargeItem.rs',
  'system/Invoice.rs',
  'system/Account.rs',
];

/** Algorithms a client assertion (`private_key_jwt`) may be signed with. */
const ASSERTION_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
];

/**
 * `GET /fhir/R4/.well-known/smart-configuration`: how an app gets a token (SMART App Launch
 * 2.x, Backend Services): the token endpoint, the client authentication methods, the
 * algorithms of client assertions and the scopes. Public, as SMART asks.
 */
@Controller()
export class SmartConfigurationController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  @Get('fhir/R4/.well-known/smart-configuration')
  @Header('Cache-Control', 'public, max-age=3600')
  configuration(@Req() req: Request): Record<string, unknown> {
    const configured = this.deps.oauthIssuer?.replace(/\/+$/, '');
    const base = configured ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`;
    return {
      issuer: configured ?? base,
      token_endpoint: `${base}${TOKEN_PATH}`,
      token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'client_secret_post'],
      token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
      grant_types_supported: ['client_credentials'],
      scopes_supported: SCOPES_SUPPORTED,
      capabilities: [
        'client-confidential-asymmetric',
        'client-confidential-symmetric',
        'permission-v1',
        'permission-v2',
      ],
      token_lifetime_seconds: APP_TOKEN_TTL_S,
    };
  }
}
