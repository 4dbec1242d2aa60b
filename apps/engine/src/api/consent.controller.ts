import { Controller, Inject, UseGuards } from '@nestjs/common';
import { HUB_ENVIRONMENTS, type HubEnvironment, type HubStore } from '@sinew/hub';
import { z } from 'zod';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiGuard } from './guard';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import { idParam } from './schemas';

const TAG = 'Consent';

const environmentParam = z
  .enum(HUB_ENVIRONMENTS as unknown as [HubEnvironment, ...HubEnvironment[]])
  .describe('`production` or `sandbox`');
const listParams = z.object({ environment: environmentParam });
const patientParams = z.object({
  environment: environmentParam,
  patientId: idParam.describe('The Patient resource id in the hub'),
});
const appField = idParam.optional().describe('The app the patient is withheld from; absent: every app');
const excludeBody = z.object({ app: appField }).strict();
const liftQuery = z.object({ app: appField });

const exclusionJson = z.object({
  environment: environmentParam,
  patientId: z.string(),
  app: z.string().optional().describe('Absent: excluded from every app'),
  at: z.string().optional().describe('When the exclusion was set'),
});

/**
 * Consent in the clinic data hub: patients withheld from one app or from every app. An
 * excluded patient and their resources never appear in that app's reads, searches, exports or
 * webhooks (docs/hub.md).
 */
@Controller()
@UseGuards(ApiGuard)
export class ConsentController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  private get hub(): HubStore {
    const hub = this.deps.hub;
    if (!hub)
      throw new ApiProblem({
        status: 404,
        code: 'hub.none',
        detail: 'this process runs without the clinic data hub',
      });
    return hub;
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/consent/{environment}/patients',
    operationId: 'listConsentExclusions',
    summary: 'The patients withheld from apps in an environment',
    tag: TAG,
    scope: 'admin',
    params: listParams,
    response: z.object({ items: z.array(exclusionJson) }),
    errors: [404],
  })
  async list(
    @Input('params') p: z.output<typeof listParams>,
  ): Promise<{ items: Array<z.output<typeof exclusionJson>> }> {
    const rows = await this.hub.exclusions(p.environment);
    return {
      items: rows.map((r) => ({
        environment: p.environment,
        patientId: r.patientId,
        ...(r.appId !== undefined ? { app: r.appId } : {}),
        at: r.at,
      })),
    };
  }

  @ApiRoute({
    method: 'PUT',
    path: '/api/v1/consent/{environment}/patients/{patientId}',
    operationId: 'excludePatient',
    summary: 'Withhold a patient from one app (`app`) or from every app',
    description:
      'Effective on the next request: the patient and every resource that belongs to them disappear from ' +
      'the app\u2019s reads, searches, `$everything`, exports and webhooks. Setting it again changes nothing.',
    tag: TAG,
    scope: 'admin',
    params: patientParams,
    body: excludeBody,
    response: exclusionJson,
    errors: [404],
  })
  async exclude(
    @Input('params') p: z.output<typeof patientParams>,
    @Input('body') b: z.output<typeof excludeBody>,
    @Ctx() c: ApiContext,
  ): Promise<z.output<typeof exclusionJson>> {
    await this.hub.setExcluded(p.environment, p.patientId, b.app, true);
    c.objectIds.push(p.patientId);
    return { environment: p.environment, patientId: p.patientId, ...(b.app ? { app: b.app } : {}) };
  }

  @ApiRoute({
    method: 'DELETE',
    path: '/api/v1/consent/{environment}/patients/{patientId}',
    operationId: 'liftPatientExclusion',
    summary: 'Lift the exclusion of a patient from one app (`app`) or from every app',
    tag: TAG,
    scope: 'admin',
    params: patientParams,
    query: liftQuery,
    response: z.object({ lifted: z.boolean() }),
    errors: [404],
  })
  async lift(
    @Input('params') p: z.output<typeof patientParams>,
    @Input('query') q: z.output<typeof liftQuery>,
    @Ctx() c: ApiContext,
  ): Promise<{ lifted: boolean }> {
    await this.hub.setExcluded(p.environment, p.patientId, q.app, false);
    c.objectIds.push(p.patientId);
    return { lifted: true };
  }
}
