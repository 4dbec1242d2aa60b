/**
 * Starts the FHIR R4 API on a loopback port with the test hub (fhir-hub-double.ts: the real hub
 * on a temporary SQLite ledger) and app registry (app-gate-double.ts), for the API's
 * integration tests. Closing it closes the hub it opened.
 */
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { FhirResource, HubWriteRouter } from '@sinew/hub';
import { ProblemFilter } from '@sinew/engine-app/api/problem';
import { FhirModule, reportUnreadableRequest, type FhirDeps } from '@sinew/engine-app/fhir';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestAppGate, type TestAppGate } from './app-gate-double';
import { makeTestHub, type TestHub } from './fhir-hub-double';

export interface FhirApi {
  app: INestApplication;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** `http://127.0.0.1:PORT/fhir/R4` */
  base: string;
  hub: TestHub;
  gate: TestAppGate;
  dataDir: string;
  errors: unknown[];
  close(): Promise<void>;
}

export async function startFhirApi(
  options: {
    dataDir?: string;
    hub?: TestHub;
    gate?: TestAppGate;
    writes?: HubWriteRouter;
    audit?: FhirDeps['audit'];
  } = {},
): Promise<FhirApi> {
  const hub = options.hub ?? (await makeTestHub());
  const gate = options.gate ?? (await makeTestAppGate());
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'sinew-fhir-'));
  const errors: unknown[] = [];
  const deps: FhirDeps = {
    hub,
    apps: gate,
    dataDir,
    ...(options.writes ? { writes: options.writes } : {}),
    ...(options.audit ? { audit: options.audit } : {}),
    logger: { warn: () => undefined, error: (obj) => errors.push(obj) },
  };
  const app = await NestFactory.create(FhirModule.register(deps), { logger: false, abortOnError: false });
  app.useGlobalFilters(
    new ProblemFilter(app.getHttpAdapter(), (err) => errors.push(err), reportUnreadableRequest(deps)),
  );
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as { port: number }).port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    app,
    origin,
    base: `${origin}/fhir/R4`,
    hub,
    gate,
    dataDir,
    errors,
    close: async () => {
      await app.close();
      if (!options.hub) await hub.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface FhirAnswer<T = FhirResource> {
  status: number;
  headers: Headers;
  body: T;
}

/** One request to the API, its JSON answer parsed (an empty body is `undefined`). */
export async function fhirRequest<T = FhirResource>(
  url: string,
  token: string | undefined,
  init: RequestInit & { headers?: Record<string, string> } = {},
): Promise<FhirAnswer<T>> {
  const res = await fetch(url, {
    ...init,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) },
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
}
