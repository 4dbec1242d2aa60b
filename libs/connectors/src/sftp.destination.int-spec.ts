import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBatch } from '@sinew/hl7v2';
import { describeWithPeer } from '@sinew/test-support/peers';
import { adt, recordingLogger } from '../test/support';
import { sshdPeer, startSshd, type TestSshd } from '../test/sshd';
import type { DeliveryRequest, Destination } from './connector';
import { sftpDestination, sftpDestinationConfig } from './sftp.destination';

jest.setTimeout(30_000);

function request(messageId: string, body: Buffer, extra: Partial<DeliveryRequest> = {}): DeliveryRequest {
  return {
    messageId,
    deliveryId: `${messageId}-d`,
    attempt: 1,
    body,
    contentType: 'hl7v2',
    channelId: 'to-ehr',
    destination: 'ehr-sftp',
    ...extra,
  };
}

describeWithPeer(sshdPeer, 'sftp destination against OpenSSH sshd', () => {
  let sshd: TestSshd;
  let dir: string;
  let n = 0;
  const destinations: Destination[] = [];

  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.dispose();
  });
  beforeEach(async () => {
    await sshd.start();
    dir = join(sshd.root, `out-${++n}`);
  });
  afterEach(async () => {
    await Promise.all(destinations.splice(0).map((d) => d.close()));
  });

  function create(config: Record<string, unknown> = {}, server = sshd) {
    const destination = sftpDestination.create(
      sftpDestinationConfig.parse({ ...server.connection(), directory: dir, ...config }),
      { channelId: 'to-ehr', destination: 'ehr-sftp', logger: recordingLogger() },
    );
    destinations.push(destination);
    return destination;
  }
  /** Every file under `dir`, as relative paths, hidden ones included. */
  function tree(sub = ''): string[] {
    const here = join(dir, sub);
    if (!existsSync(here)) return [];
    return readdirSync(here, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? tree(join(sub, e.name)) : [join(sub, e.name)]))
      .sort();
  }

  it('uploads each message under its template name, creating folders, with no temporary file left', async () => {
    const destination = create({ filename: '${channel_id}/${message_id}.${ext}' });
    expect(destination.describe()).toBe(
      `sftp://${sshd.user}@127.0.0.1:${sshd.port}${dir}/\${channel_id}/\${message_id}.\${ext}`,
    );
    const outcome = await destination.send(request('m1', adt('ONE')));
    expect(outcome).toEqual({
      status: 'sent',
      code: 'UPLOADED',
      response: Buffer.from(join(dir, 'to-ehr', 'm1.hl7')),
    });
    expect(
      await destination.send(request('m2', Buffer.from('{"a":1}'), { contentType: 'json' })),
    ).toMatchObject({
      status: 'sent',
    });
    expect(tree()).toEqual(['to-ehr/m1.hl7', 'to-ehr/m2.json']);
    expect(readFileSync(join(dir, 'to-ehr', 'm1.hl7'))).toEqual(adt('ONE'));
  });

  it('concurrent deliveries into a new folder all arrive', async () => {
    const destination = create({ filename: 'new/${message_id}.hl7' });
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    const outcomes = await Promise.all(ids.map((id) => destination.send(request(id, adt(id)))));
    expect(outcomes.map((o) => o.status)).toEqual(ids.map(() => 'sent'));
    expect(tree()).toEqual(ids.map((id) => `new/${id}.hl7`));
  });

  it('a repeated delivery replaces the file it wrote before', async () => {
    const destination = create();
    await destination.send(request('m1', adt('FIRST')));
    expect(await destination.send(request('m1', adt('AGAIN'), { attempt: 2 }))).toMatchObject({
      status: 'sent',
    });
    expect(tree()).toEqual(['m1.hl7']);
    expect(readFileSync(join(dir, 'm1.hl7'))).toEqual(adt('AGAIN'));
  });

  it('batch: gathers messages into one FHS/BHS … BTS/FTS file with the right counts', async () => {
    const destination = create({
      filename: 'batch-${message_id}.hl7',
      batch: { max_messages: 3, max_wait_ms: 60_000 },
    });
    const outcomes = await Promise.all(['A', 'B', 'C'].map((id) => destination.send(request(id, adt(id)))));
    expect(outcomes.map((o) => o.status)).toEqual(['sent', 'sent', 'sent']);
    expect(tree()).toEqual(['batch-A.hl7']);
    const text = readFileSync(join(dir, 'batch-A.hl7'), 'latin1');
    expect(text).toMatch(/^FHS\|\^~\\&\|/);
    expect(
      text
        .split('\r')
        .filter((s) => /^(BHS|BTS|FTS)/.test(s))
        .map((s) => s.slice(0, 5)),
    ).toEqual(['BHS|^', 'BTS|3', 'FTS|1']);
    const file = parseBatch(readFileSync(join(dir, 'batch-A.hl7')));
    expect(file.messages.map((m) => m.controlId)).toEqual(['A', 'B', 'C']);
  });

  it('batch: a lone message is written once max_wait_ms has passed, and not marked sent before', async () => {
    const destination = create({
      filename: 'b-${message_id}.hl7',
      batch: { max_messages: 10, max_wait_ms: 400 },
    });
    let settled = false;
    const pending = destination.send(request('L', adt('LONE'))).then((o) => {
      settled = true;
      return o;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(settled).toBe(false);
    expect(tree()).toEqual([]);
    expect(await pending).toMatchObject({ status: 'sent' });
    expect(parseBatch(readFileSync(join(dir, 'b-L.hl7'))).messages.map((m) => m.controlId)).toEqual(['LONE']);
  });

  it('batch: a payload that is not HL7 v2 fails at once', async () => {
    const destination = create({ batch: { max_messages: 2, max_wait_ms: 100 } });
    expect(await destination.send(request('j', Buffer.from('{}'), { contentType: 'json' }))).toEqual({
      status: 'failed',
      code: 'NOT_HL7V2',
      error: 'batch files hold HL7 v2 messages; this payload is json',
    });
  });

  it('server down: the delivery is retried, and goes through once the server is back', async () => {
    const destination = create();
    expect(await destination.send(request('m1', adt('ONE')))).toMatchObject({ status: 'sent' });
    await sshd.stop();
    const down = await destination.send(request('m2', adt('TWO')));
    // The open connection is found dropped (or already known to be); then nobody answers at all.
    expect(down).toMatchObject({ status: 'retry', error: expect.stringMatching(/^cannot (upload|connect)/) });
    expect(await destination.send(request('m2', adt('TWO'), { attempt: 2 }))).toEqual({
      status: 'retry',
      code: 'ECONNREFUSED',
      error: `cannot connect to sftp://${sshd.user}@127.0.0.1:${sshd.port}: getConnection: connect ECONNREFUSED 127.0.0.1:${sshd.port}`,
    });
    await sshd.start();
    const again = await destination.send(request('m2', adt('TWO'), { attempt: 3 }));
    expect(again).toMatchObject({ status: 'sent' });
    expect(tree()).toEqual(['m1.hl7', 'm2.hl7']);
  });

  it('a refused login fails the delivery (no retry), saying why', async () => {
    const destination = create({ private_key_file: sshd.otherKey });
    expect(await destination.send(request('m1', adt('ONE')))).toEqual({
      status: 'failed',
      code: 'AUTH_REFUSED',
      error: `sftp://${sshd.user}@127.0.0.1:${sshd.port} refused the login of ${sshd.user}`,
    });
    expect(tree()).toEqual([]);
  });

  it('a server presenting another host key fails the delivery, naming the fingerprint it presented', async () => {
    const destination = create({ host_key_sha256: sshd.otherFingerprint });
    const outcome = await destination.send(request('m1', adt('ONE')));
    expect(outcome).toMatchObject({ status: 'failed', code: 'HOST_KEY_MISMATCH' });
    expect(outcome.status === 'failed' && outcome.error).toContain(
      `presented the host key ${sshd.fingerprint}, not the pinned ${sshd.otherFingerprint}`,
    );
    expect(tree()).toEqual([]);
  });

  // Password login needs a user with a password; the tests make a throwaway one, which only root can.
  const asRoot = process.getuid?.() === 0 && existsSync('/usr/sbin/useradd');
  (asRoot ? describe : describe.skip)('password login (a throwaway user; needs root)', () => {
    const user = `sinewsftp${randomBytes(3).toString('hex')}`;
    const password = randomBytes(12).toString('base64url');
    let withPassword: TestSshd;

    beforeAll(async () => {
      const add = spawnSync('/usr/sbin/useradd', ['-M', '-d', '/nonexistent', '-s', '/bin/sh', user]);
      if (add.status !== 0) throw new Error(`useradd failed: ${add.stderr.toString()}`);
      const set = spawnSync('/usr/sbin/chpasswd', [], { input: `${user}:${password}\n` });
      if (set.status !== 0) throw new Error(`chpasswd failed: ${set.stderr.toString()}`);
      withPassword = await startSshd({ passwordUser: user });
    });
    afterAll(async () => {
      await withPassword?.dispose();
      spawnSync('/usr/sbin/userdel', [user]);
    });

    it('uploads with a password; a wrong password is refused', async () => {
      const id = spawnSync('id', ['-u', user]).stdout.toString().trim();
      mkdirSync(dir, { recursive: true });
      chownSync(dir, Number(id), 0);
      const connection = { username: user, password, private_key_file: undefined };
      const good = create(connection, withPassword);
      expect(await good.send(request('p1', adt('PW')))).toMatchObject({ status: 'sent' });
      expect(readFileSync(join(dir, 'p1.hl7'))).toEqual(adt('PW'));
      const bad = create({ ...connection, password: 'wrong' }, withPassword);
      expect(await bad.send(request('p2', adt('PW')))).toMatchObject({
        status: 'failed',
        code: 'AUTH_REFUSED',
      });
    });
  });
});
