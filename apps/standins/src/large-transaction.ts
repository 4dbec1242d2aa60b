import {
  allOk,
  badRequest,
  getReferenceString,
  OperationOutcomeError,
  parseSearchRequest,
  multipleMatches,
  type WithId,
} from '@medplum/core';
import type { FhirRepository } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';

/**
 * @medplum/fhir-router refuses a transaction of more than 8 entries when one of them is
 * conditional (a conditional update, create or delete): it wants a serializable database
 * transaction for those and caps their size. Other FHIR servers accept such transactions,
 * and an ORU^R01 with a conditional Patient and a dozen Observations is an ordinary one.
 */
export const ROUTER_CONDITIONAL_TRANSACTION_LIMIT = 8;

/** A transaction prepared for the router, and how to complete the router's response. */
export interface PreparedTransaction {
  bundle: Bundle;
  /** Puts the answers of entries resolved here back at their places in the response. */
  complete(response: Bundle): Bundle;
}

/**
 * Resolves the conditional entries of a large transaction Bundle before the router sees it, so
 * the router processes plain ones (the stand-in runs one request at a time, so resolving them
 * first is as isolated as the router's serializable transaction):
 * - `PUT Type?search`: one match → `PUT Type/id`; none → `POST Type` (create); several → 400,
 *   as the router answers it in a smaller transaction;
 * - `POST Type` with `ifNoneExist`: none → a plain create; one match → the entry is answered
 *   here (200, the existing resource) and references to its fullUrl point at the match;
 *   several → 412, as the router answers it.
 *
 * Returns undefined for anything else (batches, transactions the router accepts as they are).
 * Conditional deletes are left to the router.
 */
export async function prepareLargeTransaction(
  body: unknown,
  repo: FhirRepository,
): Promise<PreparedTransaction | undefined> {
  if (!isTransaction(body)) return undefined;
  const entries = body.entry ?? [];
  if (entries.length <= ROUTER_CONDITIONAL_TRANSACTION_LIMIT) return undefined;

  const bundle = structuredClone(body);
  const kept: BundleEntry[] = [];
  const answered = new Map<number, BundleEntry>();
  const replacements = new Map<string, string>();

  for (const [index, entry] of (bundle.entry ?? []).entries()) {
    const request = entry.request;
    const where = `Bundle.entry[${index}].request.url`;
    if (request?.method === 'PUT' && request.url?.includes('?')) {
      const type = request.url.slice(0, request.url.indexOf('?'));
      const match = await uniqueMatch(repo, request.url, () =>
        badRequest('Conditional PUT matched multiple resources', where),
      );
      if (match) {
        if (entry.resource?.id && entry.resource.id !== match.id) {
          throw new OperationOutcomeError(badRequest('Resource ID did not match resolved ID', where));
        }
        request.url = `${type}/${match.id}`;
        if (entry.resource) entry.resource.id = match.id;
      } else {
        if (entry.resource?.id) {
          throw new OperationOutcomeError(badRequest('Cannot provide ID for create by update', where));
        }
        request.method = 'POST';
        request.url = type;
      }
    } else if (request?.method === 'POST' && request.ifNoneExist && request.url) {
      const match = await uniqueMatch(repo, `${request.url}?${request.ifNoneExist}`, () => multipleMatches);
      if (match) {
        const reference = getReferenceString(match);
        if (entry.fullUrl) replacements.set(entry.fullUrl, reference);
        answered.set(index, {
          response: { status: '200', location: reference, outcome: allOk },
          resource: match,
        });
        continue;
      }
      delete request.ifNoneExist;
    }
    kept.push(entry);
  }

  bundle.entry = replacements.size ? (replaceReferences(kept, replacements) as BundleEntry[]) : kept;
  return {
    bundle,
    complete(response) {
      const out = [...(response.entry ?? [])];
      for (const [index, entry] of [...answered.entries()].sort((a, b) => a[0] - b[0])) {
        out.splice(index, 0, entry);
      }
      return { ...response, entry: out };
    },
  };
}

/** A transaction Bundle whose entries were all answered in {@link prepareLargeTransaction}. */
export function emptyTransactionResponse(): Bundle {
  return { resourceType: 'Bundle', type: 'transaction-response', entry: [] };
}

function isTransaction(body: unknown): body is Bundle {
  return (
    typeof body === 'object' &&
    body !== null &&
    (body as { resourceType?: unknown }).resourceType === 'Bundle' &&
    (body as { type?: unknown }).type === 'transaction' &&
    (Array.isArray((body as { entry?: unknown }).entry) || (body as { entry?: unknown }).entry === undefined)
  );
}

/** The one resource a conditional URL matches, or undefined; several matches throw `multiple`. */
async function uniqueMatch(
  repo: FhirRepository,
  url: string,
  multiple: () => OperationOutcome,
): Promise<WithId<Resource> | undefined> {
  const search = parseSearchRequest(url);
  search.count = 2;
  search.offset = 0;
  search.sortRules = undefined;
  const found = await repo.searchResources(search);
  if (found.length > 1) throw new OperationOutcomeError(multiple());
  return found[0];
}

function replaceReferences(value: unknown, replacements: Map<string, string>): unknown {
  if (typeof value === 'string') {
    let out = value;
    for (const [from, to] of replacements) if (out.includes(from)) out = out.replaceAll(from, to);
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => replaceReferences(v, replacements));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceReferences(v, replacements)]));
  }
  return value;
}
