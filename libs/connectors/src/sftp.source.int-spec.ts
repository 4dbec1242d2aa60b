import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import { describeWithPeer } from '@sinew/test-support/peers';
import { sleep, waitFor } from '@sinew/test-support/wait';
import { adt, D, recordingIngest, recordingLogger } from '../test/support';
import { sshdPeer, startSshd, type TestSshd } from '../test/sshd';
import type { IngestReply, IngestRequest, Source, SourceCursor } from './connector';
import { sftpSource, sftpSourceConfig } from './sftp.source';

jest.setTimeout(30_000);

describeWithPeer(sshdPeer, 'sftp source against OpenSSH sshd', () => {
  let sshd: TestSshd;
  let dir: string;
  let n = 0;
  const sources: Source[] = [];

  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.dispose();
  });
  beforeEach(async () => {
    await sshd.start();
    dir = join(sshd.root, `in-${++n}`);
    mkdirSync(dir);
  });
  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.stop(5_000)));
  });

  /** Writes a file whose modification time is a minute in the past. */
  function put(name: string, body: Buffer | string): string {
    const path = join(dir, name);
    writeFileSync(path, body);
    const when = new Date(Date.now() - 60_000);
    utimesSync(path, when, when);
    return path;
  }
  const ls = (sub = '') => (existsSync(join(dir, sub)) ? readdirSync(join(dir, sub)).sort() : []);
  const batchFile = (ids: string[], bts = ids.length) =>
    Buffer.concat([
      Buffer.from('FHS|^~\\&|PMS|NORTH|||20250101120000||||F1\rBHS|^~\\&|PMS|NORTH|||20250101120000||||B1\r'),
      ...ids.map((id) => adt(id)),
      Buffer.from(`BTS|${bts}\rFTS|1\r`),
    ]);
  /** Waits until no marker is left (each goes right after its file is moved). */
  const markersGone = () =>
    waitFor('markers removed', () => !ls().some((f) => f.endsWith('.sinew-ingested')));
  const controlId = (req: IngestRequest) => Hl7Message.parse(req.body).controlId;
  const accept = (): IngestReply => ({ disposition: D.accepted });

  async function startSource(
    answer: (request: IngestRequest) => IngestReply | Promise<IngestReply>,
    config: Record<string, unknown> = {},
    cursor?: SourceCursor,
  ) {
    const ingest = recordingIngest(answer);
    const logger = recordingLogger();
    const source = sftpSource.create(
      sftpSourceConfig.parse({
        ...sshd.connection(),
        directory: dir,
        poll_interval_ms: 100,
        min_age_ms: 0,
        ...config,
      }),
      { channelId: 'pms-files', ingest, logger, ...(cursor ? { cursor } : {}) },
    );
    await source.start();
    sources.push(source);
    return { source, ingest, logger };
  }

  it('downloads each ready file in name order, hands it to the channel and moves it to done/', async () => {
    put('b.hl7', adt('B'));
    put('a.hl7', adt('A'));
    put('notes.txt', 'not for us');
    put('.hidden.hl7', adt('HIDDEN'));
    const { ingest, source } = await startSource(accept, { pattern: '*.hl7' });
    expect(source.describe()).toBe(`sftp://${sshd.user}@127.0.0.1:${sshd.port}${dir}/*.hl7`);
    await waitFor('2 files in done/', () => ls('done').length === 2);
    expect(ingest.requests.map(controlId)).toEqual(['A', 'B']);
    expect(ingest.requests[0]).toMatchObject({
      contentType: 'hl7v2',
      source: 'sftp',
      remoteAddress: `sftp://${sshd.user}@127.0.0.1:${sshd.port}${dir}/a.hl7`,
    });
    expect(ingest.requests[0]?.body).toEqual(adt('A'));
    expect(readFileSync(join(dir, 'done', 'a.hl7'))).toEqual(adt('A'));
    await markersGone();
    expect(ls()).toEqual(['.hidden.hl7', 'done', 'error', 'notes.txt']);
  });

  it('sends rejected files to error/, and deletes accepted ones with after: delete', async () => {
    put('1.hl7', adt('OK'));
    put('2.hl7', adt('BAD'));
    await startSource((req) => ({ disposition: controlId(req) === 'BAD' ? D.rejected : D.accepted }), {
      after: 'delete',
    });
    await waitFor('2.hl7 in error/', () => ls('error').includes('2.hl7'));
    await waitFor('1.hl7 deleted', () => !ls().includes('1.hl7'));
    await markersGone();
    expect(ls()).toEqual(['error']);
    expect(ls('error')).toEqual(['2.hl7']);
  });

  it('leaves a file that is still being written until it has not changed for min_age_ms', async () => {
    const path = join(dir, 'growing.hl7');
    const whole = adt('GROWING');
    writeFileSync(path, whole.subarray(0, 40));
    const { ingest } = await startSource(accept, { min_age_ms: 1_500 });
    await sleep(700);
    appendFileSync(path, whole.subarray(40, 80));
    await sleep(700);
    appendFileSync(path, whole.subarray(80));
    await sleep(700);
    expect(ingest.requests).toHaveLength(0);
    expect(ls()).toContain('growing.hl7');
    await waitFor('growing.hl7 in done/', () => ls('done').includes('growing.hl7'), 10_000);
    expect(ingest.requests).toHaveLength(1);
    expect(ingest.requests[0]?.body).toEqual(whole);
  });

  it('batch: splits a batch file; a wrong BTS-1/FTS-1 count sends the whole file to error/ with the reason', async () => {
    const batchFile = (bts: number) =>
      Buffer.concat([
        Buffer.from(
          'FHS|^~\\&|PMS|NORTH|||20250101120000||||F1\rBHS|^~\\&|PMS|NORTH|||20250101120000||||B1\r',
        ),
        adt('M1'),
        adt('M2'),
        adt('M3'),
        Buffer.from(`BTS|${bts}\rFTS|1\r`),
      ]);
    put('a-wrong.hl7', batchFile(2));
    put('b-right.hl7', batchFile(3));
    const { ingest, logger } = await startSource(accept, { batch: true });
    await waitFor('b-right.hl7 in done/', () => ls('done').includes('b-right.hl7'));
    expect(ls('error')).toEqual(['a-wrong.hl7', 'a-wrong.hl7.error.txt']);
    expect(readFileSync(join(dir, 'error', 'a-wrong.hl7.error.txt'), 'utf8')).toBe(
      'hl7.batch.count at line 15 (BTS): BTS-1 says 2 messages but the batch holds 3\n',
    );
    expect(ingest.requests.map(controlId)).toEqual(['M1', 'M2', 'M3']);
    expect(logger.entries).toContainEqual({
      level: 'warn',
      obj: { channelId: 'pms-files', file: 'a-wrong.hl7', code: 'hl7.batch.count' },
      msg: 'sftp source: the batch file cannot be read; moved to the error folder',
    });
  });

  it('a failure between the commit and the move neither loses the file nor hands it over again', async () => {
    put('x.hl7', adt('ONCE'));
    // The move fails: done/ is replaced by a plain file while the channel takes the message.
    const first = await startSource(() => {
      rmSync(join(dir, 'done'), { recursive: true });
      writeFileSync(join(dir, 'done'), 'in the way');
      return accept();
    });
    await waitFor('a failed scan reported', () => first.logger.entries.some((e) => e.level === 'warn'));
    await first.source.stop();
    expect(first.ingest.requests).toHaveLength(1);
    expect(ls()).toEqual(['.x.hl7.sinew-ingested', 'done', 'error', 'x.hl7']);
    const marker = JSON.parse(readFileSync(join(dir, '.x.hl7.sinew-ingested'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(marker).toMatchObject({
      size: adt('ONCE').length,
      sha256: createHash('sha256').update(adt('ONCE')).digest('hex'),
      outcome: 'done',
    });
    // Restarted (a new source, as after a crash), with the folder fixed: the move is finished,
    // the channel does not see the file again, the marker goes.
    rmSync(join(dir, 'done'));
    mkdirSync(join(dir, 'done'));
    const second = await startSource(accept);
    await waitFor('x.hl7 in done/', () => ls('done').includes('x.hl7'));
    await markersGone();
    expect(second.ingest.requests).toHaveLength(0);
    expect(ls()).toEqual(['done', 'error']);
  });

  /**
   * A cursor kept as the ledger keeps it: a message's cursor is committed with it when the
   * channel accepts it, and `set()` moves it on its own.
   */
  function ledgerCursor(initial?: string) {
    const cursor = {
      value: initial,
      get: async () => cursor.value,
      set: async (v: string) => void (cursor.value = v),
    };
    const commitWith = (req: IngestRequest, reply: IngestReply): IngestReply => {
      if (reply.disposition.kind === 'accepted' && req.cursor !== undefined) cursor.value = req.cursor;
      return reply;
    };
    return { cursor, commitWith };
  }

  it('a batch file stopped part-way resumes after the last message the ledger committed', async () => {
    put('b.hl7', batchFile(['R1', 'R2', 'R3', 'R4']));
    const { cursor, commitWith } = ledgerCursor();
    let failed = false;
    const { ingest } = await startSource(
      (req) => {
        const id = controlId(req);
        if (id === 'R3' && !failed) {
          failed = true;
          throw new Error('the process died here');
        }
        return commitWith(req, id === 'R2' ? { disposition: D.rejected } : accept());
      },
      { batch: true },
      cursor,
    );
    await waitFor('b.hl7 in error/', () => ls('error').includes('b.hl7.error.txt'));
    expect(ingest.requests.map(controlId)).toEqual(['R1', 'R2', 'R3', 'R3', 'R4']);
    expect(readFileSync(join(dir, 'error', 'b.hl7.error.txt'), 'utf8')).toBe(
      'the channel rejected message 2 of 4\n',
    );
    expect(JSON.parse(cursor.value as string)).toMatchObject({ file: 'b.hl7', done: 4, rejected: [2] });
  });

  it('a file the ledger fully committed before a crash (no marker yet) is moved without being handed over', async () => {
    const body = batchFile(['C1', 'C2']);
    const path = put('c.hl7', body);
    const identity = {
      size: body.length,
      mtime: Math.floor(statSync(path).mtimeMs / 1000) * 1000,
      sha256: createHash('sha256').update(body).digest('hex'),
    };
    const { cursor } = ledgerCursor(JSON.stringify({ file: 'c.hl7', ...identity, done: 2, rejected: [] }));
    const { ingest } = await startSource(accept, { batch: true }, cursor);
    await waitFor('c.hl7 in done/', () => ls('done').includes('c.hl7'));
    expect(ingest.requests).toHaveLength(0);
  });

  it('a marker from another file of the same name does not stop the new file', async () => {
    put('y.hl7', adt('NEW'));
    writeFileSync(
      join(dir, '.y.hl7.sinew-ingested'),
      JSON.stringify({ size: 1, mtime: 0, sha256: 'old', outcome: 'done' }),
    );
    const { ingest } = await startSource(accept);
    await waitFor('y.hl7 in done/', () => ls('done').includes('y.hl7'));
    expect(ingest.requests.map(controlId)).toEqual(['NEW']);
    await markersGone();
  });

  it('leaves the file when the channel cannot store it, and takes it on a later scan', async () => {
    put('z.hl7', adt('LATER'));
    let down = true;
    const { ingest } = await startSource(() => (down ? { disposition: D.unavailable } : accept()));
    await waitFor('a first try', () => ingest.requests.length >= 1);
    expect(ls()).toContain('z.hl7');
    expect(ls()).not.toContain('.z.hl7.sinew-ingested');
    down = false;
    await waitFor('z.hl7 in done/', () => ls('done').includes('z.hl7'));
  });

  it('server down: reports it and goes on polling; takes the file once the server is back', async () => {
    put('late.hl7', adt('LATE'));
    await sshd.stop();
    const { ingest, logger } = await startSource(accept);
    await waitFor('two failed scans', () => logger.entries.filter((e) => e.level === 'warn').length >= 2);
    expect(logger.entries[0]).toEqual({
      level: 'warn',
      obj: {
        channelId: 'pms-files',
        server: `sftp://${sshd.user}@127.0.0.1:${sshd.port}`,
        error: 'ECONNREFUSED',
        reason: expect.stringContaining('ECONNREFUSED'),
      },
      msg: 'sftp source: scanning the remote folder failed; polling goes on',
    });
    expect(ingest.requests).toHaveLength(0);
    await sshd.start();
    await waitFor('late.hl7 in done/', () => ls('done').includes('late.hl7'));
    expect(ingest.requests.map(controlId)).toEqual(['LATE']);
  });

  it('a refused login is reported as an error, and nothing is taken', async () => {
    put('a.hl7', adt('A'));
    const { ingest, logger } = await startSource(accept, { private_key_file: sshd.otherKey });
    await waitFor('two refusals', () => logger.entries.filter((e) => e.level === 'error').length >= 2);
    expect(logger.entries[0]).toMatchObject({
      level: 'error',
      obj: {
        error: 'AUTH_REFUSED',
        reason: `sftp://${sshd.user}@127.0.0.1:${sshd.port} refused the login of ${sshd.user}`,
      },
    });
    expect(ingest.requests).toHaveLength(0);
    expect(ls()).toEqual(['a.hl7']);
  });

  it('a server presenting another host key is refused, with the fingerprint it presented', async () => {
    put('a.hl7', adt('A'));
    const { ingest, logger } = await startSource(accept, { host_key_sha256: sshd.otherFingerprint });
    await waitFor('a refusal', () => logger.entries.some((e) => e.level === 'error'));
    const entry = logger.entries[0] as { obj: { error: string; reason: string } };
    expect(entry.obj.error).toBe('HOST_KEY_MISMATCH');
    expect(entry.obj.reason).toContain(
      `presented the host key ${sshd.fingerprint}, not the pinned ${sshd.otherFingerprint}`,
    );
    expect(ingest.requests).toHaveLength(0);
    expect(ls()).toEqual(['a.hl7']);
  });

  it('logs no message content', async () => {
    put('a.hl7', adt('A'));
    const { logger } = await startSource(() => ({ disposition: D.rejected }), { batch: true });
    await waitFor('a.hl7 in error/', () => ls('error').includes('a.hl7'));
    expect(JSON.stringify(logger.entries)).not.toMatch(/Testpatient|TEST-0001/);
    expect(statSync(join(dir, 'error', 'a.hl7')).size).toBe(adt('A').length);
  });
});
