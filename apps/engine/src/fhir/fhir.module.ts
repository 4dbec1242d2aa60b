import {
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
  type Provider,
  type Type,
} from '@nestjs/common';
import { errorName } from './access';
import { FHIR_DEPS, type FhirDeps } from './deps';
import { ExportJobs } from './export-jobs';
import { EXPORT_JOBS, FhirController, FhirFallbackController } from './fhir.controller';
import { OperationOutcomeFilter } from './outcome';

/** Stops running bulk exports when the application shuts down. */
@Injectable()
class ExportJobsShutdown implements OnApplicationShutdown {
  constructor(@Inject(EXPORT_JOBS) private readonly jobs: ExportJobs) {}
  onApplicationShutdown(): void {
    this.jobs.close();
  }
}

/**
 * The FHIR R4 API at `/fhir/R4`. `controllers` are other FHIR controllers (writes,
 * subscriptions) registered before the fallback that answers 404/405, with the `providers`
 * they need.
 */
@Module({})
export class FhirModule {
  static register(
    deps: FhirDeps,
    controllers: Array<Type<unknown>> = [],
    providers: Provider[] = [],
  ): DynamicModule {
    const jobs = new ExportJobs(deps.hub, deps.dataDir, (jobId, err) =>
      deps.logger?.error({ jobId, err: errorName(err) }, 'a bulk export failed'),
    );
    return {
      module: FhirModule,
      controllers: [...controllers, FhirController, FhirFallbackController],
      providers: [
        { provide: FHIR_DEPS, useValue: deps },
        { provide: EXPORT_JOBS, useValue: jobs },
        OperationOutcomeFilter,
        ExportJobsShutdown,
        ...providers,
      ],
    };
  }
}
