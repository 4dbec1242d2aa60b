import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { builtInRegistries, compileChannelOrThrow, type CompiledChannel } from '@sinew/channels';
import { Hl7Message } from '@sinew/hl7v2';
import { openStore, type Store } from '@sinew/store';
import { ChannelPipeline } from './pipeline';
import { shadowRun, storedMessages, type MessageDiff } from './shadow';

const ROOT = resolve(__dirname, '../../..');
const SAMPLE = readFileSync(join(ROOT, 'channels/samples/oru-r01.hl7'), 'latin1');
const BASELINE = readFileSync(join(ROOT, 'channels/lab-results.yaml'), 'utf8');
const ENV = { values: {}, strict: true };

function variant(controlId: string, edit: (m: Hl7Message) => void = () => undefined): Buffer {
  const m = Hl7Message.parse(SAMPLE.replace('DEMO-ORU-0001', controlId));
  edit(m);
  return m.toBuffer();
}

let dir: string;
let store: Store;
let baseline: CompiledChannel;
const ids: Record<string, string> = {};

async function ingest(
  channel: CompiledChannel,
  name: string,
  raw: Buffer,
  receivedAt: Date,
  messageType = 'ORU^R01',
): Promise<void> {
  const id = `0000-${name}-${receivedAt.getTime()}`;
  ids[name] = id;
  await store.insertMessages([
    {
      id,
      channelId: 'lab-results',
      receivedAt,
      source: 'mllp',
      sender: 'SINEWLAB|GOODHEALTH LAB',
      messageType,
      controlId: name,
      contentType: 'hl7v2',
      raw,
      keys: {},
    },
  ]);
  await store.completePipeline(id, new ChannelPipeline(channel).run(raw, 'hl7v2'));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sinew-shadow-'));
  store = await openStore({ dataDir: join(dir, 'data') });
  const transformers = join(dir, 'transformers');
  mkdirSync(transformers);
  // The candidate's notice: another event name, and the patient's family name added.
  writeFileSync(
    join(transformers, 'notice-v2.yaml'),
    readFileSync(join(ROOT, 'transformers/json/oru-to-pms-results-ready.yaml'), 'utf8')
      .replace('transformer: oru-to-pms-results-ready', 'transformer: oru-to-pms-results-ready-v2')
      .replace('{ const: results-ready, to: event }', '{ const: results-available, to: event }')
      .replace(
        '{ from: PID-3.1, to: patient.mrn, required: true }',
        '{ from: PID-3.1, to: patient.mrn, required: true }\n      - { from: PID-5.1, to: patient.family }',
      ),
  );
  baseline = compileChannelOrThrow(BASELINE, 'lab-results.yaml', builtInRegistries(), ENV);
  const t0 = Date.UTC(2026, 11, 6, 12, 0, 0);
  // Oldest first; two share one millisecond (paging must keep both).
  await ingest(baseline, 'plain', variant('A-1'), new Date(t0));
  await ingest(
    baseline,
    'smith',
    variant('A-2', (m) => m.set('PID-5.1', 'SMITH').set('PID-3.1', 'MRN-000777')),
    new Date(t0 + 1000),
  );
  await ingest(
    baseline,
    'adt',
    variant('A-3', (m) => m.set('MSH-9.1', 'ADT').set('MSH-9.2', 'A01')),
    new Date(t0 + 2000),
    'ADT^A01',
  );
  await ingest(
    baseline,
    'noname',
    variant('A-4', (m) => m.set('PID-5', '')),
    new Date(t0 + 3000),
  );
  await ingest(baseline, 'same-ms', variant('A-5'), new Date(t0 + 3000));
}, 30_000);

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('shadow runs', () => {
  it('pages newest first, keeping messages of the same millisecond', async () => {
    const seen: string[] = [];
    for await (const m of storedMessages(store, { channelId: 'lab-results', pageSize: 1 }))
      seen.push(m.controlId ?? '');
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    expect(seen.slice(2)).toEqual(['adt', 'smith', 'plain']);
    const limited: string[] = [];
    for await (const m of storedMessages(store, { channelId: 'lab-results', pageSize: 2, limit: 3 }))
      limited.push(m.id);
    expect(limited).toHaveLength(3);
  });

  it('finds nothing to report when the candidate is the running channel', async () => {
    const diffs: MessageDiff[] = [];
    const totals = await shadowRun({
      store,
      channelId: 'lab-results',
      candidate: baseline,
      onDiff: (d) => diffs.push(d),
    });
    expect(diffs).toEqual([]);
    expect(totals).toMatchObject({ messages: 5, unchanged: 5, changed: 0, skipped: 0 });
  });

  it('reports a changed transformer by JSON pointer, a filter and a rule by outcome', async () => {
    const candidateText = BASELINE.replace(
      '  - filter: { path: MSH-9.1, equals: ORU }',
      '  - filter: { path: MSH-9.1, equals: ORU }\n  - filter: { not: { path: PID-3.1, equals: MRN-000777 } }',
    )
      .replace(
        '        - { code: lab.observed,',
        '        - { code: lab.name, path: PID-5.1, required: true, message: The patient has no name }\n        - { code: lab.observed,',
      )
      .replace('transformer: oru-to-pms-results-ready', 'transformer: oru-to-pms-results-ready-v2');
    const candidate = compileChannelOrThrow(
      candidateText,
      'candidate.yaml',
      builtInRegistries([join(dir, 'transformers')]),
      ENV,
    );
    const written = await store.searchMessages({ channelId: 'lab-results', limit: 100 });
    const deliveries = await Promise.all(written.map((m) => store.getDeliveries(m.id)));

    const diffs = new Map<string, MessageDiff>();
    const totals = await shadowRun({
      store,
      channelId: 'lab-results',
      candidate,
      pageSize: 2,
      onDiff: (d) => diffs.set(d.id, d),
    });
    expect(totals).toEqual({
      messages: 5,
      unchanged: 1,
      changed: 2,
      filtered: 1,
      rejected: 1,
      errored: 0,
      skipped: 0,
      destinationsAdded: 0,
      destinationsRemoved: 0,
    });

    const plain = diffs.get(ids.plain as string);
    expect(plain).toMatchObject({ outcome: 'changed', messageType: 'ORU^R01', stored: 'processed' });
    expect(plain?.destinations).toEqual([
      {
        destination: 'pms-notice',
        change: 'changed',
        fields: [
          { path: '/event', before: '"results-ready"', after: '"results-available"' },
          { path: '/patient/family', after: '"TESTPATIENT"' },
        ],
      },
    ]);
    expect(diffs.get(ids.smith as string)).toMatchObject({
      outcome: 'filtered',
      candidate: 'filtered',
      destinations: [],
    });
    expect(diffs.get(ids.noname as string)).toMatchObject({
      outcome: 'rejected',
      issue: { code: 'lab.name', step: 'validate' },
    });
    expect(diffs.has(ids.adt as string)).toBe(false);

    // Nothing was written: the same messages, statuses and deliveries.
    const after = await store.searchMessages({ channelId: 'lab-results', limit: 100 });
    expect(after.map((m) => [m.id, m.status, m.updatedAt.getTime()])).toEqual(
      written.map((m) => [m.id, m.status, m.updatedAt.getTime()]),
    );
    expect(await Promise.all(after.map((m) => store.getDeliveries(m.id)))).toEqual(deliveries);
  });

  it('reports destinations added and removed', async () => {
    const candidateText = BASELINE.replace(
      / {2}- name: pms-notice[\s\S]*?(?= {2}- name: hub\n)/,
      `  - name: archive
    type: file
    directory: ${JSON.stringify(join(dir, 'archive'))}
    payload: raw
    retry: { attempts: 1 }
`,
    );
    const candidate = compileChannelOrThrow(candidateText, 'candidate.yaml', builtInRegistries(), ENV);
    const diffs: MessageDiff[] = [];
    const totals = await shadowRun({
      store,
      channelId: 'lab-results',
      candidate,
      onDiff: (d) => diffs.push(d),
    });
    expect(totals).toMatchObject({ messages: 5, changed: 4, destinationsAdded: 4, destinationsRemoved: 4 });
    expect(diffs[0]?.destinations).toEqual([
      { destination: 'archive', change: 'added', fields: [] },
      { destination: 'pms-notice', change: 'removed', fields: [] },
    ]);
  });

  it('keeps the order of the reports when pipelines run elsewhere, several at once', async () => {
    const candidate = compileChannelOrThrow(
      BASELINE.replace('transformer: oru-to-pms-results-ready', 'transformer: oru-to-fhir'),
      'candidate.yaml',
      builtInRegistries(),
      ENV,
    );
    const inline = new ChannelPipeline(candidate);
    let pending = 0;
    let remote = 0;
    const threads = {
      size: 2,
      get pending() {
        return pending;
      },
      // Answers out of order: a later message may come back first.
      run: async (channelId: string, raw: Buffer, contentType: 'hl7v2') => {
        expect(channelId).toBe('lab-results');
        pending++;
        remote++;
        await new Promise((r) => setTimeout(r, 20 - remote * 3));
        pending--;
        return inline.run(raw, contentType);
      },
    };
    const here: MessageDiff[] = [];
    const there: MessageDiff[] = [];
    const a = await shadowRun({ store, channelId: 'lab-results', candidate, onDiff: (d) => here.push(d) });
    const b = await shadowRun({
      store,
      channelId: 'lab-results',
      candidate,
      threads,
      pageSize: 2,
      onDiff: (d) => there.push(d),
    });
    expect(remote).toBeGreaterThan(0);
    expect(b).toEqual(a);
    expect(there).toEqual(here);
    expect(there.map((d) => d.destinations[0]?.fields[0]?.path)).toEqual([
      '(payload type)',
      '(payload type)',
      '(payload type)',
      '(payload type)',
    ]);
  });

  it('reads no further than the window and the limit', async () => {
    const t0 = Date.UTC(2026, 11, 6, 12, 0, 0);
    const totals = await shadowRun({
      store,
      channelId: 'lab-results',
      candidate: baseline,
      since: new Date(t0 + 1000),
      until: new Date(t0 + 3000),
    });
    expect(totals.messages).toBe(2);
    expect(
      (await shadowRun({ store, channelId: 'lab-results', candidate: baseline, limit: 4 })).messages,
    ).toBe(4);
  });
});
