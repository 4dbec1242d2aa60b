import { AccessService, AuditLog, type Scope } from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { openStore, type NewMessage, type Store } from '@sinew/store';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { freePort } from '../../../../test/support/engine-process';
import { waitFor } from '../../../../test/support/wait';
import { loadConfig } from '../config';
import { startEngine, type RunningEngine } from '../run';

// 20,000 messages written and exported: about 45 s on a busy 2-core machine, several minutes
// when every suite runs in one process (CI), after the open-API suites.
jest.setTimeout(900_000);

// A full collection before each memory sample, so RSS shows what is held rather than garbage
// the collector has not reached yet.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const COUNT = 20_000;
const BASE_TIME = Date.parse('2026-11-01T00:00:00.000Z');
/** About 2 KB of HL7 per message: the export with content is some 50 MB of NDJSON. */
const FILLER = 'OBX|1|TX|NOTE^Note||' + 'x'.repeat(1900) + '|||||F';

function raw(i: number): string {
  return [
    `MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20261101000000||ORU^R01|EXP-${i}|P|2.5.1`,
    `PID|1||MRN-${i % 100}^^^NORTH^MR||DOE^JANE`,
    FILLER,
    '',
  ].join('\r');
}

interface Line {
  id: string;
  seq: number;
  channel: string;
  received_at: string;
  control_id?: string;
  status: string;
  keys?: Record<string, string>;
  content?: { raw?: { encoding: string; data: string }; ack?: { data: string } };
}

/** Reads an NDJSON body line by line, keeping nothing but what `onLine` keeps. */
async function readLines(res: Response, onLine: (line: Line) => void): Promise<number> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let rest = '';
  let lines = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += decoder.decode(value, { stream: true });
    let at: number;
    while ((at = rest.indexOf('\n')) >= 0) {
      onLine(JSON.parse(rest.slice(0, at)) as Line);
      rest = rest.slice(at + 1);
      lines++;
    }
  }
  expect(rest).toBe('');
  return lines;
}

/** Splits RFC 4180 CSV text into rows of fields. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += ch;
  }
  return rows;
}

describe('exports: messages (NDJSON) and the audit log (NDJSON, CSV), streamed', () => {
  let dir: string;
  let running: RunningEngine;
  let store: Store;
  let access: AccessService;
  const ids = new Map<string, number>();

  const base = () => `http://127.0.0.1:${running.httpPort}`;
  const keyOf = async (scopes: Scope[]) => (await access.createKey({ name: 'export', scopes })).secret;
  const get = async (path: string, key: string): Promise<Response> => {
    const send = () => fetch(`${base()}${path}`, { headers: { authorization: `Bearer ${key}` } });
    try {
      return await send();
    } catch (err) {
      // A kept-alive connection the server closed as it was reused (after a long, busy test):
      // the request never reached the engine, so sending it again is safe.
      if ((err as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw err;
      return send();
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-export-'));
    mkdirSync(join(dir, 'channels'));
    writeFileSync(
      join(dir, 'channels', 'lab.yaml'),
      `id: lab
source: { type: mllp, listen: ${await freePort()} }
keys: { mrn: PID-3.1 }
destinations:
  - name: archive
    type: file
    directory: ${join(dir, 'out')}
`,
    );
    running = await startEngine(
      loadConfig({
        SINEW_CHANNELS_DIR: join(dir, 'channels'),
        SINEW_DATA_DIR: join(dir, 'data'),
        SINEW_HTTP_PORT: '0',
        SINEW_PIPELINE_THREADS: '0',
        SINEW_API_RATE_LIMIT: '100000',
      }),
      createLogger('warn', { write: () => undefined }),
    );
    store = await openStore({ dataDir: join(dir, 'data') });
    access = new AccessService(store);
    // The ledger of a channel no longer deployed (the engine leaves its messages alone).
    for (let from = 0; from < COUNT; from += 1000) {
      const batch: NewMessage[] = [];
      for (let i = from; i < from + 1000; i++) {
        const id = `0193a000-0000-7000-8000-${String(i).padStart(12, '0')}`;
        ids.set(id, i);
        batch.push({
          id,
          channelId: 'bulk',
          receivedAt: new Date(BASE_TIME + i * 1000),
          source: 'mllp',
          sender: 'LAB|NORTH',
          messageType: 'ORU^R01',
          controlId: `EXP-${i}`,
          contentType: 'hl7v2',
          raw: Buffer.from(raw(i)),
          keys: { mrn: `MRN-${i % 100}` },
          ack: {
            code: 'AA',
            bytes: Buffer.from(`MSH|^~\\&|EHR|CLINIC|LAB|NORTH|||ACK|A${i}|P|2.5.1\rMSA|AA|EXP-${i}\r`),
          },
        });
      }
      await store.insertMessages(batch);
    }
  });

  afterAll(async () => {
    await running?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('streams 20,000 messages with content as NDJSON, newest first, with bounded memory; every line matches the ledger', async () => {
    const key = await keyOf(['messages:read', 'phi:read']);
    gc();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      gc();
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 500);
    const res = await get('/api/v1/messages/export?channel=bulk&content=true&limit=1000000', key);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    const seen = new Set<string>();
    let previous = Number.POSITIVE_INFINITY;
    let checked = 0;
    const lines = await readLines(res, (line) => {
      const i = ids.get(line.id);
      expect(i).toBeDefined();
      expect(seen.has(line.id)).toBe(false);
      seen.add(line.id);
      const at = Date.parse(line.received_at);
      expect(at).toBe(BASE_TIME + i! * 1000);
      expect(at).toBeLessThan(previous);
      previous = at;
      expect(line.channel).toBe('bulk');
      expect(line.control_id).toBe(`EXP-${i}`);
      expect(line.status).toBe('received');
      expect(line.keys).toEqual({ mrn: `MRN-${i! % 100}` });
      expect(line.content?.raw).toEqual({ encoding: 'utf8', data: raw(i!), bytes: raw(i!).length });
      expect(line.content?.ack?.data).toContain(`MSA|AA|EXP-${i}`);
      checked++;
    });
    clearInterval(sampler);
    expect(lines).toBe(COUNT);
    expect(checked).toBe(COUNT);
    const growthMb = (peak - before) / 2 ** 20;
    // Some 50 MB went over the wire; a flat stream holds a page (500 messages) at a time.
    expect(growthMb).toBeLessThan(40);
    process.stdout.write(`message export: ${COUNT} lines, RSS growth ${growthMb.toFixed(1)} MB\n`);

    // The ledger's own answer for the same filter, compared by id and order.
    const newest = await store.searchMessages({ channelId: 'bulk', limit: 3 });
    expect(newest.map((m) => m.id)).toEqual([...seen].slice(0, 3));
  });

  it('bounds an export (10,000 by default), filters as the search does, and leaves content and keys to phi:read', async () => {
    const reader = await keyOf(['messages:read']);
    let n = 0;
    const res = await get('/api/v1/messages/export?channel=bulk', reader);
    expect(res.status).toBe(200);
    expect(
      await readLines(res, (line) => {
        expect(line.keys).toBeUndefined();
        expect(line.content).toBeUndefined();
        n++;
      }),
    ).toBe(10_000);
    expect(n).toBe(10_000);

    const byKey = await get(
      '/api/v1/messages/export?channel=bulk&key=mrn:MRN-7&limit=50',
      await keyOf(['messages:read', 'phi:read']),
    );
    const found: string[] = [];
    await readLines(byKey, (line) => found.push(line.control_id!));
    expect(found.length).toBe(50);
    expect(found.every((c) => Number(c.slice(4)) % 100 === 7)).toBe(true);

    const refused = await get('/api/v1/messages/export?channel=bulk&content=true', reader);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { required_scope: string }).required_scope).toBe('phi:read');
    expect((await get('/api/v1/messages/export?limit=1000001', reader)).status).toBe(400);
    expect((await get('/api/v1/messages/export?cursor=abc', reader)).status).toBe(400);

    // The audit row names the filters (not the MRN) and records the content read.
    const audit = new AuditLog(store);
    const rows = await waitFor('the export audited', async () => {
      const page = await audit.search({ action: 'GET /api/v1/messages/export', limit: 100 });
      return page.items.length >= 5 ? page.items : undefined;
    });
    const withKey = rows.find((r) => r.filter?.key !== undefined);
    expect(withKey?.filter).toEqual({ channel: 'bulk', key: 'mrn' });
    expect(withKey?.contentRead).toBe(true);
    const withContent = rows.find((r) => r.filter?.content !== undefined && r.outcome === '200');
    expect(Object.keys(withContent?.filter ?? {}).sort()).toEqual(['channel', 'content']);
    expect(withContent?.contentRead).toBe(true);
    const metadataOnly = rows.find((r) => r.filter?.content === undefined && r.filter?.key === undefined);
    expect(metadataOnly?.contentRead).toBe(false);
    expect(JSON.stringify(rows)).not.toContain('MRN-7');
  });

  it('exports the audit log as NDJSON and as CSV with a header row and RFC 4180 quoting', async () => {
    const auditor = await keyOf(['audit:read']);
    const audit = new AuditLog(store);
    const all = (await audit.search({ limit: 1000 })).items;

    const nd = await get('/api/v1/audit/export', auditor);
    expect(nd.status).toBe(200);
    const events: Array<{ seq: number; hash: string }> = [];
    await readLines(nd, (line) => events.push(line as unknown as { seq: number; hash: string }));
    // Every event up to the export, newest first (the export's own event follows it).
    const upTo = async (seq: number) =>
      (await audit.search({ limit: 1000 })).items.filter((r) => r.seq <= seq);
    const listed = await upTo(events[0]!.seq);
    expect(events[0]!.seq).toBeGreaterThanOrEqual(all[0]!.seq);
    expect(events.map((e) => e.seq)).toEqual(listed.map((r) => r.seq));
    expect(events.map((e) => e.hash)).toEqual(listed.map((r) => r.hash));

    const csv = await get('/api/v1/audit/export?format=csv', auditor);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const text = await csv.text();
    const rows = parseCsv(text);
    expect(rows[0]).toEqual([
      'seq',
      'at',
      'actor',
      'actor_kind',
      'via',
      'action',
      'object_ids',
      'filter',
      'from',
      'outcome',
      'content_read',
      'hash',
      'prev_hash',
    ]);
    const csvSeqs = rows.slice(1).map((r) => Number(r[0]));
    expect(csvSeqs).toEqual((await upTo(csvSeqs[0]!)).map((r) => r.seq));
    expect(rows.slice(1).every((r) => r.length === 13)).toBe(true);
    // A filter's JSON holds quotes and commas: quoted, its quotes doubled.
    const quoted = rows.find((r) => r[7]?.includes('mrn'));
    expect(JSON.parse(quoted![7]!)).toEqual({ channel: 'bulk', key: 'mrn' });
    expect(text).toContain('"{""channel"":""bulk"",""key"":""mrn""}"');

    const since = all[5]!.at;
    const until = new Date(all[0]!.at.getTime() + 1);
    const windowed = await get(
      `/api/v1/audit/export?since=${encodeURIComponent(since.toISOString())}&until=${encodeURIComponent(until.toISOString())}`,
      auditor,
    );
    let n = 0;
    await readLines(windowed, () => n++);
    expect(n).toBe(all.filter((r) => r.at >= since && r.at < until).length);
    expect(n).toBeGreaterThanOrEqual(6);
    expect((await get('/api/v1/audit/export?format=xml', auditor)).status).toBe(400);
    expect((await get('/api/v1/audit/export', await keyOf(['messages:read']))).status).toBe(403);
  });
});
