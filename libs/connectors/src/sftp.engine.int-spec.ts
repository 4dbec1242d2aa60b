import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { Engine, createLogger } from '@sinew/engine';
import { parseBatch } from '@sinew/hl7v2';
import { TransformerLibrary } from '@sinew/mapping';
import { MemoryQueueDriver } from '@sinew/queue';
import { openStore, type Store } from '@sinew/store';
import { describeWithPeer } from '@sinew/test-support/peers';
import { waitFor } from '@sinew/test-support/wait';
import { adt } from '../test/support';
import { sshdPeer, startSshd, type TestSshd } from '../test/sshd';

jest.setTimeout(60_000);

const library = TransformerLibrary.load();
const registries = builtInRegistries(library);

/** A batch file of ADT messages with the given control ids and counts. */
function batchFile(ids: string[], bts = ids.length): Buffer {
  return Buffer.concat([
    Buffer.from('FHS|^~\\&|PMS|NORTH|||20250101120000||||F1\rBHS|^~\\&|PMS|NORTH|||20250101120000||||B1\r'),
    ...ids.map((id) => adt(id)),
    Buffer.from(`BTS|${bts}\rFTS|1\r`),
  ]);
}

describeWithPeer(sshdPeer, 'an sftp → sftp channel in the engine (embedded ledger, real sshd)', () => {
  let sshd: TestSshd;
  let data: string;
  let engine: Engine | undefined;
  let store: Store | undefined;

  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.dispose();
  });
  beforeEach(() => {
    data = mkdtempSync(join(tmpdir(), 'sinew-sftp-engine-'));
    mkdirSync(join(sshd.root, 'in'), { recursive: true });
  });
  afterEach(async () => {
    await engine?.stop(2_000);
    engine = undefined;
    rmSync(data, { recursive: true, force: true });
    rmSync(join(sshd.root, 'in'), { recursive: true, force: true });
    rmSync(join(sshd.root, 'out'), { recursive: true, force: true });
  });

  async function start(): Promise<Store> {
    const connection = (indent: string) =>
      Object.entries(sshd.connection())
        .map(([k, v]) => `${indent}${k}: ${JSON.stringify(v)}`)
        .join('\n');
    const channel = compileChannelOrThrow(
      `
id: pms-batch
source:
  type: sftp
${connection('  ')}
  directory: ${join(sshd.root, 'in')}
  poll_interval_ms: 100
  min_age_ms: 0
  batch: true
destinations:
  - name: ehr
    type: sftp
${connection('    ')}
    directory: ${join(sshd.root, 'out')}
    filename: batch-\${message_id}.hl7
    concurrency: 8
    batch: { max_messages: 3, max_wait_ms: 2000 }
    retry: { attempts: 3 }
`,
      'pms-batch.yaml',
      registries,
    );
    store = await openStore({ dataDir: data });
    engine = new Engine({
      channels: [channel],
      store,
      queue: new MemoryQueueDriver(),
      transformers: library,
      logger: createLogger('silent'),
      sweepIntervalMs: 200,
    });
    await engine.start();
    return store;
  }

  /** Puts a file in the polled folder, last modified at `when` (a minute ago by default). */
  function drop(name: string, body: Buffer, when = new Date(Date.now() - 60_000)): void {
    const path = join(sshd.root, 'in', name);
    writeFileSync(path, body);
    utimesSync(path, when, when);
  }
  const outFiles = () =>
    existsSync(join(sshd.root, 'out'))
      ? readdirSync(join(sshd.root, 'out'))
          .filter((f) => !f.startsWith('.'))
          .sort()
      : [];

  it('splits a batch file into messages and delivers them as one batch file with the right counts', async () => {
    const ledger = await start();
    drop('adt-1.hl7', batchFile(['E1', 'E2', 'E3']));
    await waitFor('a batch file written', () => outFiles().length === 1, 15_000);
    const [name] = outFiles();
    const written = readFileSync(join(sshd.root, 'out', name as string));
    expect(parseBatch(written).messages.map((m) => m.controlId)).toEqual(['E1', 'E2', 'E3']);
    expect(
      written
        .toString('latin1')
        .split('\r')
        .filter((s) => /^(BTS|FTS)/.test(s)),
    ).toEqual(['BTS|3', 'FTS|1']);
    await waitFor('3 messages delivered', async () => {
      const rows = await ledger.searchMessages({ channelId: 'pms-batch', status: 'delivered' });
      return rows.length === 3;
    });
    await waitFor('input in done/', () => existsSync(join(sshd.root, 'in', 'done', 'adt-1.hl7')));
  });

  it('a wrong count sends the file to error/ and puts nothing in the ledger', async () => {
    const ledger = await start();
    drop('bad.hl7', batchFile(['W1', 'W2'], 5));
    await waitFor('bad.hl7 in error/', () => existsSync(join(sshd.root, 'in', 'error', 'bad.hl7.error.txt')));
    expect(readFileSync(join(sshd.root, 'in', 'error', 'bad.hl7.error.txt'), 'utf8')).toContain(
      'BTS-1 says 5 messages but the batch holds 2',
    );
    expect(await ledger.searchMessages({ channelId: 'pms-batch' })).toEqual([]);
  });

  it('a file the ledger committed whole is not handed over again (a crash before the marker and the move)', async () => {
    const ledger = await start();
    const when = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    drop('adt-1.hl7', batchFile(['D1', 'D2', 'D3']), when);
    await waitFor('input in done/', () => existsSync(join(sshd.root, 'in', 'done', 'adt-1.hl7')), 15_000);
    // The very same file back in place, as if the process had died right after the commit: the
    // ledger's cursor names it, fully handed over, so it is only moved.
    drop('adt-1.hl7', batchFile(['D1', 'D2', 'D3']), when);
    await waitFor('moved again', () => existsSync(join(sshd.root, 'in', 'done', 'adt-1-2.hl7')), 15_000);
    const rows = await ledger.searchMessages({ channelId: 'pms-batch' });
    expect(rows.map((r) => r.duplicateCount)).toEqual([0, 0, 0]);
    await waitFor('a batch file written', () => outFiles().length === 1, 15_000);
  });

  it('the same messages in another file are answered as duplicates, not processed twice', async () => {
    const ledger = await start();
    drop('adt-1.hl7', batchFile(['D1', 'D2', 'D3']));
    await waitFor('input in done/', () => existsSync(join(sshd.root, 'in', 'done', 'adt-1.hl7')), 15_000);
    drop('adt-1-resent.hl7', batchFile(['D1', 'D2', 'D3']));
    await waitFor(
      'resent in done/',
      () => existsSync(join(sshd.root, 'in', 'done', 'adt-1-resent.hl7')),
      15_000,
    );
    const rows = await ledger.searchMessages({ channelId: 'pms-batch' });
    expect(rows).toHaveLength(3);
    expect(rows.map((r) => r.duplicateCount)).toEqual([1, 1, 1]);
    await waitFor('a batch file written', () => outFiles().length === 1, 15_000);
  });
});
