import {
  mkdtempSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
  existsSync,
  readFileSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import { sleep, waitFor } from '@sinew/test-support/wait';
import { ackFor, adt, D, recordingIngest, recordingLogger } from '../test/support';
import type { IngestReply, IngestRequest, Source } from './connector';
import { fileSource, fileSourceConfig } from './file.source';
import { globToRegExp } from './file-naming';

jest.setTimeout(15_000);

let dir: string;
const sources: Source[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sinew-file-source-'));
});
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop(2_000)));
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a file whose modification time is `ageMs` in the past. */
function put(name: string, body: Buffer | string, ageMs = 5_000): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  const when = new Date(Date.now() - ageMs);
  utimesSync(path, when, when);
  return path;
}

const ls = (sub = '') => readdirSync(join(dir, sub)).sort();
const controlId = (req: IngestRequest) => Hl7Message.parse(req.body).controlId;

async function startSource(
  answer: (request: IngestRequest) => IngestReply | Promise<IngestReply>,
  config: Record<string, unknown> = {},
) {
  const ingest = recordingIngest(answer);
  const logger = recordingLogger();
  const source = fileSource.create(
    fileSourceConfig.parse({ directory: dir, poll_interval_ms: 50, ...config }),
    {
      channelId: 'files-in',
      ingest,
      logger,
    },
  );
  await source.start();
  sources.push(source);
  return { source, ingest, logger };
}

const accept = (req: IngestRequest): IngestReply => ({
  disposition: D.accepted,
  reply: ackFor(req.body, 'AA'),
});

describe('file source', () => {
  it('creates done/ and error/ closed to other users, whatever the umask', async () => {
    const umask = process.umask(0);
    try {
      await startSource(accept);
    } finally {
      process.umask(umask);
    }
    const mode = (p: string) => (statSync(join(dir, p)).mode & 0o777).toString(8);
    expect([mode('done'), mode('error')]).toEqual(['750', '750']);
  });

  it('hands each file to the engine in name order and moves it to done/', async () => {
    put('b.hl7', adt('B'));
    put('a.hl7', adt('A'));
    put('c.hl7', adt('C'));
    const { ingest, source } = await startSource(accept);
    expect(source.describe()).toBe(`file://${dir}/*`);
    await waitFor('3 files in done/', () => ls('done').length === 3);
    expect(ingest.requests.map(controlId)).toEqual(['A', 'B', 'C']);
    expect(ingest.requests[0]).toMatchObject({
      contentType: 'hl7v2',
      source: 'file',
      remoteAddress: join(dir, 'a.hl7'),
    });
    expect(ls()).toEqual(['done', 'error']);
    expect(readFileSync(join(dir, 'done', 'a.hl7'))).toEqual(adt('A'));
  });

  it('moves rejected files to error/, duplicates to done/', async () => {
    put('1.hl7', adt('OK'));
    put('2.hl7', adt('BAD'));
    put('3.hl7', adt('DUP'));
    await startSource((req) => {
      const id = controlId(req);
      return { disposition: id === 'BAD' ? D.rejected : id === 'DUP' ? D.duplicate : D.accepted };
    });
    await waitFor('3 files in done/ or error/', () => ls('done').length + ls('error').length === 3);
    expect(ls('done')).toEqual(['1.hl7', '3.hl7']);
    expect(ls('error')).toEqual(['2.hl7']);
  });

  it('leaves a file in place when the engine is unavailable (or throws) and takes it on a later scan', async () => {
    put('x.hl7', adt('X'));
    let calls = 0;
    const { ingest, logger } = await startSource(() => {
      calls++;
      if (calls === 1) return { disposition: D.unavailable };
      if (calls === 2) throw new Error('store down');
      return { disposition: D.accepted };
    });
    await waitFor('a file in done/', () => ls('done').length === 1);
    expect(ingest.requests).toHaveLength(3);
    expect(ls()).toEqual(['done', 'error']);
    expect(logger.entries.filter((e) => e.level === 'error')).toHaveLength(1);
  });

  it('stops a scan at an unavailable file: later files wait for the next scan', async () => {
    put('1.hl7', adt('ONE'));
    put('2.hl7', adt('TWO'));
    let down = true;
    const { ingest } = await startSource((req) => (down ? { disposition: D.unavailable } : accept(req)), {
      poll_interval_ms: 200,
    });
    await waitFor('one message ingested', () => ingest.requests.length === 1);
    await sleep(100);
    expect(ingest.requests.map(controlId)).toEqual(['ONE']);
    down = false;
    await waitFor('2 files in done/', () => ls('done').length === 2);
    expect(ingest.requests.map(controlId)).toEqual(['ONE', 'ONE', 'TWO']);
  });

  it('only picks up names matching the pattern, never dot files, never files changed within min_age_ms', async () => {
    put('lab.hl7', adt('LAB'));
    put('notes.txt', 'not a message');
    put('.partial.hl7', adt('HIDDEN'));
    put('fresh.hl7', adt('FRESH'), 0);
    const { ingest } = await startSource(accept, { pattern: '*.hl7', min_age_ms: 600 });
    await waitFor('lab.hl7 in done/', () => ls('done').includes('lab.hl7'));
    await sleep(150);
    expect(ingest.requests.map(controlId)).toEqual(['LAB']);
    expect(ls()).toEqual(['.partial.hl7', 'done', 'error', 'fresh.hl7', 'notes.txt']);
    await waitFor('fresh.hl7 in done/', () => ls('done').includes('fresh.hl7'));
    expect(ingest.requests.map(controlId)).toEqual(['LAB', 'FRESH']);
  });

  it('gives a name already in done/ a numbered suffix instead of overwriting', async () => {
    put('same.hl7', adt('FIRST'));
    const { ingest } = await startSource(accept);
    await waitFor('a file in done/', () => ls('done').length === 1);
    put('same.hl7', adt('SECOND'));
    await waitFor('2 files in done/', () => ls('done').length === 2);
    expect(ls('done')).toEqual(['same-2.hl7', 'same.hl7']);
    expect(readFileSync(join(dir, 'done', 'same-2.hl7'))).toEqual(adt('SECOND'));
    expect(ingest.requests).toHaveLength(2);
  });

  it('batch: hands each message of a file over on its own; any rejection sends the file to error/', async () => {
    put('batch-ok.hl7', Buffer.concat([adt('B1'), adt('B2')]));
    put('batch-mixed.hl7', Buffer.concat([adt('M1'), adt('REJECT'), adt('M3')]));
    const { ingest, logger } = await startSource(
      (req) => (controlId(req) === 'REJECT' ? { disposition: D.rejected } : accept(req)),
      { batch: true },
    );
    await waitFor('2 files in done/ or error/', () => ls('done').length + ls('error').length === 3);
    expect(ls('done')).toEqual(['batch-ok.hl7']);
    expect(ls('error')).toEqual(['batch-mixed.hl7', 'batch-mixed.hl7.error.txt']);
    expect(readFileSync(join(dir, 'error', 'batch-mixed.hl7.error.txt'), 'utf8')).toBe(
      'the channel rejected message 2 of 3\n',
    );
    expect(ingest.requests.map(controlId)).toEqual(['M1', 'REJECT', 'M3', 'B1', 'B2']);
    expect(logger.entries).toContainEqual({
      level: 'warn',
      obj: { channelId: 'files-in', file: 'batch-mixed.hl7', messages: 3, rejected: [2] },
      msg: expect.any(String),
    });
  });

  it('batch: a file that is not HL7 v2 goes to error/ without calling the engine', async () => {
    put('junk.hl7', 'hello world');
    const { ingest } = await startSource(accept, { batch: true });
    await waitFor('a file in error/', () => ls('error').length === 2);
    expect(ls('error')).toEqual(['junk.hl7', 'junk.hl7.error.txt']);
    expect(ingest.requests).toHaveLength(0);
  });

  it('batch: a message without MSH-10 sends the whole file to error/ before any message is handed over', async () => {
    const noControlId = adt('X').toString('latin1').replace('|X|P|', '||P|');
    put('gap.hl7', Buffer.concat([adt('G1'), Buffer.from(noControlId, 'latin1')]));
    const { ingest } = await startSource(accept, { batch: true });
    await waitFor('gap.hl7 in error/', () => ls('error').length === 2);
    expect(readFileSync(join(dir, 'error', 'gap.hl7.error.txt'), 'utf8')).toBe(
      'header.required at line 5 (MSH): MSH-10 (message control id) is empty\n',
    );
    expect(ingest.requests).toHaveLength(0);
  });

  it('batch: a wrong BTS-1 or FTS-1 count sends the whole file to error/ with the reason; nothing is ingested', async () => {
    const batchFile = (bts: number, fts: number) =>
      Buffer.concat([
        Buffer.from(
          'FHS|^~\\&|LAB|NORTH|||20250101120000||||F1\rBHS|^~\\&|LAB|NORTH|||20250101120000||||B1\r',
        ),
        adt('C1'),
        adt('C2'),
        Buffer.from(`BTS|${bts}\rFTS|${fts}\r`),
      ]);
    put('a-bts.hl7', batchFile(3, 1));
    put('b-fts.hl7', batchFile(2, 2));
    put('c-good.hl7', batchFile(2, 1));
    const { ingest } = await startSource(accept, { batch: true });
    await waitFor('c-good.hl7 in done/', () => ls('done').includes('c-good.hl7'));
    expect(ls('error')).toEqual(['a-bts.hl7', 'a-bts.hl7.error.txt', 'b-fts.hl7', 'b-fts.hl7.error.txt']);
    expect(readFileSync(join(dir, 'error', 'a-bts.hl7.error.txt'), 'utf8')).toBe(
      'hl7.batch.count at line 11 (BTS): BTS-1 says 3 messages but the batch holds 2\n',
    );
    expect(readFileSync(join(dir, 'error', 'b-fts.hl7.error.txt'), 'utf8')).toBe(
      'hl7.batch.count at line 12 (FTS): FTS-1 says 2 batches but the file holds 1\n',
    );
    expect(ingest.requests.map(controlId)).toEqual(['C1', 'C2']);
  });

  it('moves a file over max_file_bytes to error/ unread', async () => {
    put('huge.hl7', Buffer.alloc(2048, 0x41));
    const { ingest } = await startSource(accept, { max_file_bytes: 1024 });
    await waitFor('a file in error/', () => ls('error').length === 1);
    expect(ingest.requests).toHaveLength(0);
  });

  it('uses the configured done and error folders', async () => {
    put('ok.hl7', adt('OK'));
    await startSource(accept, { done_directory: join(dir, 'archive'), error_directory: 'failed' });
    await waitFor('ok.hl7 in archive/', () => existsSync(join(dir, 'archive', 'ok.hl7')));
    expect(ls()).toEqual(['archive', 'failed']);
  });

  it('stop() waits for the file being handled, and no file is taken after it', async () => {
    put('1.hl7', adt('SLOW'));
    put('2.hl7', adt('NEXT'));
    const { source, ingest } = await startSource(async (req) => {
      await sleep(300);
      return accept(req);
    });
    await waitFor('one message ingested', () => ingest.requests.length === 1);
    await source.stop(5_000);
    expect(ls('done')).toEqual(['1.hl7']);
    await sleep(200);
    expect(ingest.requests).toHaveLength(1);
    expect(ls()).toEqual(['2.hl7', 'done', 'error']);
  });

  it('refuses to start on a missing folder, naming it', async () => {
    const source = fileSource.create(fileSourceConfig.parse({ directory: join(dir, 'nope') }), {
      channelId: 'c',
      ingest: async () => ({ disposition: D.accepted }),
      logger: recordingLogger(),
    });
    await expect(source.start()).rejects.toThrow(
      `file source: cannot read the folder ${join(dir, 'nope')} (ENOENT)`,
    );
  });
});

describe('file source config', () => {
  it('has the documented defaults; batch needs hl7v2', () => {
    expect(fileSourceConfig.parse({ directory: '/in' })).toEqual({
      directory: '/in',
      pattern: '*',
      poll_interval_ms: 1000,
      min_age_ms: 500,
      content_type: 'hl7v2',
      batch: false,
      max_file_bytes: 10 * 1024 * 1024,
    });
    const bad = fileSourceConfig.safeParse({ directory: '/in', content_type: 'json', batch: true });
    expect(bad.error?.issues[0]).toMatchObject({
      path: ['batch'],
      message: 'batch applies to HL7 v2 files only (content_type: hl7v2)',
    });
  });

  it.each([
    ['*', 'anything.hl7', true],
    ['*.hl7', 'lab.hl7', true],
    ['*.hl7', 'lab.hl7.tmp', false],
    ['ORU_????.txt', 'ORU_0001.txt', true],
    ['ORU_????.txt', 'ORU_01.txt', false],
    ['a+b(1).hl7', 'a+b(1).hl7', true],
  ])('pattern %s on %s: %s', (pattern, name, matches) => {
    expect(globToRegExp(pattern).test(name)).toBe(matches);
  });
});
