import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingLogger } from '../test/support';
import type { DeliveryRequest } from './connector';
import type { FileDestination } from './file.destination';
import { fileDestination, fileDestinationConfig } from './file.destination';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sinew-file-dest-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function destination(config: Record<string, unknown>) {
  return fileDestination.create(fileDestinationConfig.parse({ directory: dir, ...config }), {
    channelId: 'adt',
    destination: 'archive',
    logger: recordingLogger(),
  }) as FileDestination;
}

function delivery(body: string, extra: Partial<DeliveryRequest> = {}): DeliveryRequest {
  return {
    messageId: 'msg-42',
    deliveryId: 'dlv-7',
    attempt: 1,
    body: Buffer.from(body),
    contentType: 'hl7v2',
    channelId: 'adt',
    destination: 'archive',
    ...extra,
  };
}

/** Every file under `root`, relative, temporary files included. */
function tree(root = dir, prefix = ''): string[] {
  return readdirSync(root, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? tree(join(root, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
    )
    .sort();
}

describe('file destination', () => {
  it('writes ${message_id}.${ext} by default, with mode 0640, leaving no temporary file', async () => {
    const d = destination({});
    expect(d.describe()).toBe(`file://${dir}/\${message_id}.\${ext}`);
    const outcome = await d.send(delivery('MSH|^~\\&|A\r'));
    expect(outcome).toEqual({
      status: 'sent',
      code: 'WRITTEN',
      response: Buffer.from(join(dir, 'msg-42.hl7')),
    });
    expect(tree()).toEqual(['msg-42.hl7']);
    expect(readFileSync(join(dir, 'msg-42.hl7'), 'utf8')).toBe('MSH|^~\\&|A\r');
    expect(statSync(join(dir, 'msg-42.hl7')).mode & 0o777).toBe(0o640);
  });

  it('fills every template variable; sub-folders are created; the extension follows the payload', async () => {
    const d = destination({
      filename: '${date}/${channel_id}-${destination}-${delivery_id}-${attempt}.${ext}',
      mode: '0600',
    });
    const now = new Date();
    const today = now.toISOString().slice(0, 10).replace(/-/g, '');
    await d.send(delivery('{"resourceType":"Patient"}', { contentType: 'fhir', attempt: 3 }));
    await d.send(delivery('plain', { contentType: 'text', deliveryId: 'dlv-8' }));
    expect(tree()).toEqual([`${today}/adt-archive-dlv-7-3.json`, `${today}/adt-archive-dlv-8-1.txt`]);
    expect(statSync(join(dir, today, 'adt-archive-dlv-7-3.json')).mode & 0o777).toBe(0o600);
  });

  it('creates its folders open to no one who may not read the files, whatever the umask', async () => {
    const umask = process.umask(0);
    try {
      await destination({ filename: 'a/${message_id}.${ext}' }).send(delivery('x'));
      await destination({ filename: 'b/${message_id}.${ext}', mode: '0600' }).send(delivery('x'));
      await destination({ filename: 'c/${message_id}.${ext}', mode: '0644' }).send(delivery('x'));
    } finally {
      process.umask(umask);
    }
    const mode = (p: string) => (statSync(join(dir, p)).mode & 0o777).toString(8);
    expect(['a', 'b', 'c'].map(mode)).toEqual(['750', '700', '755']);
    expect(mode('a/msg-42.hl7')).toBe('640');
  });

  it('a repeated delivery replaces the earlier file (idempotent)', async () => {
    const d = destination({});
    await d.send(delivery('first'));
    await d.send(delivery('second', { attempt: 2 }));
    expect(tree()).toEqual(['msg-42.hl7']);
    expect(readFileSync(join(dir, 'msg-42.hl7'), 'utf8')).toBe('second');
  });

  it('a variable value cannot leave the folder: unsafe characters become _', async () => {
    const d = destination({ filename: '${channel_id}/${message_id}.${ext}' });
    await d.send(delivery('x', { channelId: '../../etc', messageId: 'a/b\\c' }));
    expect(tree()).toEqual(['.._.._etc/a_b_c.hl7']);
    expect(d.pathFor(delivery('x', { channelId: '..' }))).toBe(join(dir, '__', 'msg-42.hl7'));
  });

  it('an I/O error is retried with its errno code and leaves no temporary file', async () => {
    writeFileSync(join(dir, 'blocker'), 'a file where a folder should be');
    const d = destination({ filename: 'blocker/${message_id}.${ext}' });
    const outcome = await d.send(delivery('x'));
    expect(outcome).toEqual({
      status: 'retry',
      code: 'EEXIST',
      error: 'cannot write blocker/msg-42.hl7 (EEXIST)',
    });
    const gone = destination({ directory: join(dir, 'blocker', 'deeper') });
    expect(await gone.send(delivery('x'))).toMatchObject({ status: 'retry', code: 'ENOTDIR' });
    expect(tree()).toEqual(['blocker']);
  });

  it('a rename that fails after the temporary file was written removes the temporary file', async () => {
    // A non-empty folder holds the final name, so the rename over it fails.
    mkdirSync(join(dir, 'msg-42.hl7'));
    writeFileSync(join(dir, 'msg-42.hl7', 'inside'), '');
    const outcome = await destination({}).send(delivery('x'));
    expect(outcome.status).toBe('retry');
    expect(outcome.code).toMatch(/^(EISDIR|ENOTEMPTY|EEXIST)$/);
    expect(tree()).toEqual(['msg-42.hl7/inside']);
  });

  it('writes many deliveries at once without mixing their contents', async () => {
    const d = destination({ filename: '${delivery_id}.${ext}' });
    const bodies = Array.from({ length: 20 }, (_, i) => `body-${i}-`.repeat(1000));
    await Promise.all(bodies.map((b, i) => d.send(delivery(b, { deliveryId: `d${i}` }))));
    expect(tree()).toHaveLength(20);
    bodies.forEach((b, i) => expect(readFileSync(join(dir, `d${i}.hl7`), 'utf8')).toBe(b));
  });
});

describe('file destination config', () => {
  it.each([
    ['${patientName}.hl7', 'unknown variable ${patientName}'],
    [
      '${messageId}.hl7',
      'unknown variable ${messageId}; use one of ${message_id}, ${delivery_id}, ${channel_id}',
    ],
    ['../${message_id}.hl7', 'the file name must stay inside the directory'],
    ['/abs/${message_id}', 'the file name must stay inside the directory'],
    ['a//b', 'the file name must stay inside the directory'],
  ])('refuses the template %s', (filename, message) => {
    const result = fileDestinationConfig.safeParse({ directory: '/out', filename });
    expect(result.error?.issues[0]?.message).toContain(message);
  });

  it('refuses a mode that is not octal permissions', () => {
    expect(fileDestinationConfig.safeParse({ directory: '/out', mode: '999' }).success).toBe(false);
    expect(fileDestinationConfig.parse({ directory: '/out' })).toEqual({
      directory: '/out',
      filename: '${message_id}.${ext}',
      mode: '0640',
    });
  });
});

describe('file destination, batch files', () => {
  const msg = (id: string) =>
    `MSH|^~\\&|PMS|NORTH|EHR|CLINIC|20250101120000||ADT^A08^ADT_A01|${id}|P|2.5.1\rPID|1||TEST-0001^^^CLINIC^MR\r`;
  const request = (id: string) => delivery(msg(id), { messageId: id, deliveryId: `d-${id}` });

  it('gathers max_messages messages into one FHS/BHS … BTS/FTS file; each is sent once it is written', async () => {
    const d = destination({
      filename: 'batch-${message_id}.hl7',
      batch: { max_messages: 2, max_wait_ms: 60_000 },
    });
    const outcomes = await Promise.all([d.send(request('A')), d.send(request('B'))]);
    expect(outcomes).toEqual([
      { status: 'sent', code: 'WRITTEN', response: Buffer.from(join(dir, 'batch-A.hl7')) },
      { status: 'sent', code: 'WRITTEN', response: Buffer.from(join(dir, 'batch-A.hl7')) },
    ]);
    const segments = readFileSync(join(dir, 'batch-A.hl7'), 'utf8').split('\r');
    expect(segments.map((s) => s.slice(0, 3))).toEqual([
      'FHS',
      'BHS',
      'MSH',
      'PID',
      'MSH',
      'PID',
      'BTS',
      'FTS',
      '',
    ]);
    expect(segments.slice(6, 8)).toEqual(['BTS|2', 'FTS|1']);
  });

  it('writes what was gathered after max_wait_ms, and on close()', async () => {
    const d = destination({ filename: '${message_id}.hl7', batch: { max_messages: 100, max_wait_ms: 150 } });
    expect(await d.send(request('T'))).toMatchObject({ status: 'sent' });
    expect(tree()).toEqual(['T.hl7']);
    const late = d.send(request('C'));
    await d.close();
    expect(await late).toMatchObject({ status: 'sent' });
    expect(tree()).toEqual(['C.hl7', 'T.hl7']);
  });

  it('a batch file that cannot be written answers retry for every message in it', async () => {
    writeFileSync(join(dir, 'in-the-way'), 'a file where a folder should be');
    const d = destination({
      filename: 'in-the-way/${message_id}.hl7',
      batch: { max_messages: 2, max_wait_ms: 60_000 },
    });
    const outcomes = await Promise.all([d.send(request('A')), d.send(request('B'))]);
    expect(outcomes.map((o) => [o.status, o.code])).toEqual([
      ['retry', 'EEXIST'],
      ['retry', 'EEXIST'],
    ]);
  });

  it('refuses a payload that is not HL7 v2, or not readable as HL7 v2', async () => {
    const d = destination({ batch: { max_messages: 2, max_wait_ms: 50 } });
    expect(await d.send(delivery('{}', { contentType: 'json' }))).toMatchObject({
      status: 'failed',
      code: 'NOT_HL7V2',
    });
    expect(await d.send(delivery('not hl7'))).toMatchObject({ status: 'failed', code: 'INVALID_HL7' });
    expect(tree()).toEqual([]);
  });
});
