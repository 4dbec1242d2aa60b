import { createHash, randomUUID } from 'node:crypto';
import type { NewDeployment, NewMessage, PipelineResult, Store } from './store';

/**
 * The behaviour every `Store` backend must show, as jest tests. A backend's integration
 * spec calls it with a factory that opens a fresh, empty store on a real database; the
 * suite closes every store it opens (the spec removes the files or schemas afterwards).
 */
export function describeStoreBehaviour(openEmptyStore: () => Promise<Store>): void {
  let store: Store;
  const opened: Store[] = [];
  const fresh = async () => {
    const s = await openEmptyStore();
    opened.push(s);
    return s;
  };

  beforeAll(async () => {
    store = await fresh();
  });

  afterAll(async () => {
    for (const s of opened) await s.close();
  });

  /** A channel id of its own per test, so tests on the shared store do not see each other. */
  const channel = () => `ch-${randomUUID().slice(0, 8)}`;

  function message(channelId: string, overrides: Partial<NewMessage> = {}): NewMessage {
    const controlId = `CTL${randomUUID().slice(0, 8)}`;
    return {
      id: randomUUID(),
      channelId,
      receivedAt: new Date('2025-03-01T10:00:00.123Z'),
      source: 'mllp',
      sender: 'LAB|NORTH',
      messageType: 'ORU^R01',
      controlId,
      contentType: 'hl7v2',
      raw: Buffer.from(`MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20250301100000||ORU^R01|${controlId}|P|2.5.1\r`),
      keys: {},
      ...overrides,
    };
  }

  async function insertOne(s: Store, m: NewMessage) {
    const [inserted] = await s.insertMessages([m]);
    if (!inserted) throw new Error('insertMessages returned nothing');
    return inserted;
  }

  function processed(destinations: Array<{ name: string; orderKey?: string }>): PipelineResult {
    return {
      status: 'processed',
      issues: [],
      deliveries: destinations.map((d) => ({
        destination: d.name,
        payload: Buffer.from(`payload for ${d.name}`),
        payloadType: 'hl7v2',
        ...(d.orderKey === undefined ? {} : { orderKey: d.orderKey }),
      })),
    };
  }

  const t = (iso: string) => new Date(iso);
  const attempt = (number: number, outcome: 'sent' | 'retry' | 'failed', extra: object = {}) => ({
    number,
    startedAt: t('2025-03-01T10:00:01.000Z'),
    finishedAt: t('2025-03-01T10:00:01.250Z'),
    outcome,
    ...extra,
  });

  describe('insertMessages and reading back', () => {
    it('stores every field, the business keys and the raw bytes, and hands out increasing seqs', async () => {
      const ch = channel();
      const a = message(ch, {
        remoteAddress: '10.1.2.3:40001',
        keys: { mrn: 'MRN-1001', visit: 'V-77' },
        ack: { code: 'AA', bytes: Buffer.from('MSH|^~\\&|EHR|CLINIC|LAB|NORTH|||ACK|1|P|2.5.1\rMSA|AA|1\r') },
      });
      const b = message(ch, { messageType: undefined, controlId: undefined, contentType: 'fhir' });
      const inserted = await store.insertMessages([a, b]);
      expect(inserted.map((i) => i.id)).toEqual([a.id, b.id]);
      expect(inserted[1]!.seq).toBeGreaterThan(inserted[0]!.seq);

      const got = await store.getMessage(a.id);
      expect(got).toEqual({
        id: a.id,
        seq: inserted[0]!.seq,
        channelId: ch,
        receivedAt: a.receivedAt,
        source: 'mllp',
        sender: 'LAB|NORTH',
        remoteAddress: '10.1.2.3:40001',
        messageType: 'ORU^R01',
        controlId: a.controlId,
        contentType: 'hl7v2',
        status: 'received',
        ackCode: 'AA',
        duplicateCount: 0,
        issues: [],
        keys: { mrn: 'MRN-1001', visit: 'V-77' },
        updatedAt: expect.any(Date),
      });
      expect(got!.receivedAt.toISOString()).toBe('2025-03-01T10:00:00.123Z');
      expect(await store.getContent(a.id, 'raw')).toEqual(a.raw);
      expect(await store.getContent(a.id, 'ack')).toEqual(a.ack!.bytes);

      const gotB = await store.getMessage(b.id);
      expect(gotB).not.toHaveProperty('messageType');
      expect(gotB).not.toHaveProperty('controlId');
      expect(gotB).not.toHaveProperty('remoteAddress');
      expect(gotB).not.toHaveProperty('ackCode');
      expect(gotB!.contentType).toBe('fhir');
      expect(gotB!.keys).toEqual({});
      expect(await store.getContent(b.id, 'ack')).toBeUndefined();
    });

    it('returns an empty list for an empty batch', async () => {
      await expect(store.insertMessages([])).resolves.toEqual([]);
    });

    it('returns undefined for a message or content that does not exist', async () => {
      await expect(store.getMessage(randomUUID())).resolves.toBeUndefined();
      await expect(store.getContent(randomUUID(), 'raw')).resolves.toBeUndefined();
      const m = message(channel());
      await insertOne(store, m);
      await expect(store.getContent(m.id, 'transformed')).resolves.toBeUndefined();
    });

    it('keeps Unicode text and arbitrary binary bodies byte-exact', async () => {
      const ch = channel();
      const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const unicode = Buffer.from('MSH|^~\\&|Ünïcødé|Zürich\rPID|||Ωμέγα^😀^山田\r\u0000\u00ff', 'utf8');
      const latin1 = Buffer.from('PID|||M\xfcller\r', 'latin1');
      const ms = [
        message(ch, { raw: everyByte }),
        message(ch, { raw: unicode, sender: 'Ärzte|Zürich', keys: { name: '山田 太郎 😀' } }),
        message(ch, { raw: latin1 }),
        message(ch, { raw: Buffer.alloc(0) }),
      ];
      await store.insertMessages(ms);
      for (const m of ms) expect((await store.getContent(m.id, 'raw'))!.equals(m.raw)).toBe(true);
      const unicodeMessage = await store.getMessage(ms[1]!.id);
      expect(unicodeMessage!.sender).toBe('Ärzte|Zürich');
      expect(unicodeMessage!.keys).toEqual({ name: '山田 太郎 😀' });
      const found = await store.searchMessages({ key: { name: 'name', value: '山田 太郎 😀' } });
      expect(found.map((f) => f.id)).toEqual([ms[1]!.id]);
    });

    it('rejects a whole batch when one message cannot be stored, keeping nothing of it', async () => {
      const ch = channel();
      const existing = message(ch);
      await insertOne(store, existing);
      const fresh1 = message(ch);
      await expect(store.insertMessages([fresh1, { ...message(ch), id: existing.id }])).rejects.toThrow();
      await expect(store.getMessage(fresh1.id)).resolves.toBeUndefined();
      await expect(store.getContent(fresh1.id, 'raw')).resolves.toBeUndefined();
    });

    it('refuses invalid input with a clear error', async () => {
      const ch = channel();
      const m = message(ch);
      await expect(store.insertMessages([m, m])).rejects.toMatchObject({
        code: 'store.invalid',
        message: expect.stringContaining('twice'),
      });
      await expect(
        store.insertMessages([message(ch, { receivedAt: new Date('not a date') })]),
      ).rejects.toMatchObject({ code: 'store.invalid', message: expect.stringContaining('receivedAt') });
      await expect(
        store.insertMessages([message(ch, { contentType: 'dicom' as never })]),
      ).rejects.toMatchObject({ code: 'store.invalid' });
      await expect(
        store.insertMessages([message(ch, { raw: 'text' as unknown as Buffer })]),
      ).rejects.toMatchObject({ code: 'store.invalid', message: expect.stringContaining('Buffer') });
    });

    it('stores concurrent batches completely, each with its own seqs in batch order', async () => {
      const ch = channel();
      const batches = Array.from({ length: 20 }, () => Array.from({ length: 10 }, () => message(ch)));
      const results = await Promise.all(batches.map((b) => store.insertMessages(b)));
      const seqs = results.flat().map((r) => r.seq);
      expect(new Set(seqs).size).toBe(200);
      for (const [i, result] of results.entries()) {
        expect(result.map((r) => r.id)).toEqual(batches[i]!.map((m) => m.id));
        for (let j = 1; j < result.length; j++) expect(result[j]!.seq).toBeGreaterThan(result[j - 1]!.seq);
      }
      const stored = await store.searchMessages({ channelId: ch, limit: 500 });
      expect(stored).toHaveLength(200);
    });
  });

  describe('duplicates', () => {
    it('finds the earliest message of the sender and control id within the window, with its ACK', async () => {
      const ch = channel();
      const ackBytes = Buffer.from('MSH|^~\\&|EHR|CLINIC|LAB|NORTH|||ACK|9|P|2.5.1\rMSA|AA|DUP-1\r');
      const first = message(ch, {
        controlId: 'DUP-1',
        receivedAt: t('2025-03-01T10:00:00.000Z'),
        ack: { code: 'AA', bytes: ackBytes },
      });
      const second = message(ch, { controlId: 'DUP-1', receivedAt: t('2025-03-01T10:05:00.000Z') });
      await store.insertMessages([first, second]);

      await expect(
        store.findDuplicate(ch, 'LAB|NORTH', 'DUP-1', t('2025-03-01T09:00:00.000Z')),
      ).resolves.toEqual({
        id: first.id,
        status: 'received',
        ackCode: 'AA',
        ack: ackBytes,
      });
      // The window starts after the first: the second is the earliest inside it.
      await expect(
        store.findDuplicate(ch, 'LAB|NORTH', 'DUP-1', t('2025-03-01T10:00:00.001Z')),
      ).resolves.toEqual({ id: second.id, status: 'received' });
      await expect(
        store.findDuplicate(ch, 'LAB|NORTH', 'DUP-1', t('2025-03-01T10:05:00.001Z')),
      ).resolves.toBeUndefined();
      await expect(
        store.findDuplicate(ch, 'LAB|SOUTH', 'DUP-1', t('2025-03-01T09:00:00.000Z')),
      ).resolves.toBeUndefined();
      await expect(
        store.findDuplicate(channel(), 'LAB|NORTH', 'DUP-1', t('2025-03-01T09:00:00.000Z')),
      ).resolves.toBeUndefined();
      await expect(
        store.findDuplicate(ch, 'LAB|NORTH', 'DUP-2', t('2025-03-01T09:00:00.000Z')),
      ).resolves.toBeUndefined();
    });

    it('counts duplicates on the original message', async () => {
      const m = message(channel());
      await insertOne(store, m);
      await store.countDuplicate(m.id);
      await store.countDuplicate(m.id);
      expect((await store.getMessage(m.id))!.duplicateCount).toBe(2);
      await expect(store.countDuplicate(randomUUID())).rejects.toMatchObject({ code: 'store.not_found' });
    });
  });

  describe('searchMessages', () => {
    it('finds by business key, channel, status, type and time, newest first, with a limit', async () => {
      const ch = channel();
      const other = channel();
      const mrn = `MRN-${randomUUID().slice(0, 6)}`;
      const m1 = message(ch, { keys: { mrn }, receivedAt: t('2025-03-01T08:00:00Z') });
      const m2 = message(ch, {
        keys: { mrn, visit: 'V1' },
        receivedAt: t('2025-03-01T09:00:00Z'),
        messageType: 'ADT^A01',
      });
      const m3 = message(other, { keys: { mrn }, receivedAt: t('2025-03-01T10:00:00Z') });
      const m4 = message(ch, { keys: { mrn: 'someone-else' }, receivedAt: t('2025-03-01T11:00:00Z') });
      await store.insertMessages([m1, m2, m3, m4]);
      await store.completePipeline(m1.id, { status: 'filtered', issues: [], deliveries: [] });

      const ids = async (s: Parameters<Store['searchMessages']>[0]) =>
        (await store.searchMessages(s)).map((m) => m.id);
      expect(await ids({ key: { name: 'mrn', value: mrn } })).toEqual([m3.id, m2.id, m1.id]);
      expect(await ids({ key: { name: 'mrn', value: mrn }, channelId: ch })).toEqual([m2.id, m1.id]);
      expect(await ids({ key: { name: 'visit', value: mrn } })).toEqual([]);
      expect(await ids({ channelId: ch })).toEqual([m4.id, m2.id, m1.id]);
      expect(await ids({ channelId: ch, status: 'filtered' })).toEqual([m1.id]);
      expect(await ids({ channelId: ch, messageType: 'ADT^A01' })).toEqual([m2.id]);
      expect(
        await ids({ channelId: ch, since: t('2025-03-01T09:00:00Z'), until: t('2025-03-01T11:00:00Z') }),
      ).toEqual([m2.id]);
      expect(await ids({ channelId: ch, limit: 2 })).toEqual([m4.id, m2.id]);

      const [withKeys] = await store.searchMessages({ key: { name: 'visit', value: 'V1' }, channelId: ch });
      expect(withKeys!.keys).toEqual({ mrn, visit: 'V1' });
      await expect(store.searchMessages({ limit: 0 })).rejects.toMatchObject({ code: 'store.invalid' });
    });

    it('selects by several statuses within a channel and a time range (since inclusive, until exclusive)', async () => {
      const ch = channel();
      const at = ['08:00', '09:00', '10:00', '11:00', '12:00'].map((h) => t(`2025-04-01T${h}:00Z`));
      const ms = at.map((receivedAt) => message(ch, { receivedAt }));
      await store.insertMessages([...ms, message(channel(), { receivedAt: at[1] })]);
      const outcomes = ['errored', 'rejected', 'filtered', 'errored'] as const;
      for (const [i, status] of outcomes.entries()) {
        await store.completePipeline(ms[i]!.id, { status, issues: [], deliveries: [] });
      }
      await store.completePipeline(ms[4]!.id, processed([]));
      const ids = async (s: Parameters<Store['searchMessages']>[0]) =>
        (await store.searchMessages(s)).map((m) => m.id);
      const problems = { channelId: ch, statuses: ['errored', 'rejected'] as const };
      expect(await ids({ ...problems, statuses: [...problems.statuses] })).toEqual([
        ms[3]!.id,
        ms[1]!.id,
        ms[0]!.id,
      ]);
      expect(
        await ids({
          channelId: ch,
          statuses: ['errored', 'rejected', 'filtered'],
          since: at[1],
          until: at[3],
        }),
      ).toEqual([ms[2]!.id, ms[1]!.id]);
      expect(await ids({ channelId: ch, statuses: ['filtered', 'delivered'] })).toEqual([
        ms[4]!.id,
        ms[2]!.id,
      ]);
      expect(await ids({ channelId: ch, status: 'errored', statuses: ['errored', 'rejected'] })).toEqual([
        ms[3]!.id,
        ms[0]!.id,
      ]);
      expect(await ids({ channelId: ch, status: 'filtered', statuses: ['errored'] })).toEqual([]);
      await expect(store.searchMessages({ statuses: [] })).rejects.toMatchObject({ code: 'store.invalid' });
      await expect(store.searchMessages({ statuses: ['lost' as never] })).rejects.toMatchObject({
        code: 'store.invalid',
      });
    });
  });

  describe('searchMessages by control id and sender, page by page', () => {
    it('pages through a search with a keyset cursor, including messages received at the same instant', async () => {
      const ch = channel();
      const same = t('2025-05-01T10:00:00Z');
      const ms = [
        message(ch, { receivedAt: t('2025-05-01T09:00:00Z') }),
        message(ch, { receivedAt: same }),
        message(ch, { receivedAt: same }),
        message(ch, { receivedAt: same, sender: 'PMS|MAIN' }),
        message(ch, { receivedAt: t('2025-05-01T11:00:00Z') }),
      ];
      await store.insertMessages(ms);
      const all = await store.searchMessages({ channelId: ch });
      expect(all.map((m) => m.id)).toEqual([ms[4]!.id, ms[3]!.id, ms[2]!.id, ms[1]!.id, ms[0]!.id]);
      const pages: string[][] = [];
      let after: { receivedAt: Date; seq: number } | undefined;
      for (;;) {
        const page = await store.searchMessages({ channelId: ch, limit: 2, ...(after ? { after } : {}) });
        if (page.length === 0) break;
        pages.push(page.map((m) => m.id));
        const last = page[page.length - 1]!;
        after = { receivedAt: last.receivedAt, seq: last.seq };
      }
      expect(pages).toEqual([[ms[4]!.id, ms[3]!.id], [ms[2]!.id, ms[1]!.id], [ms[0]!.id]]);
      expect((await store.searchMessages({ controlId: ms[2]!.controlId! })).map((m) => m.id)).toEqual([
        ms[2]!.id,
      ]);
      expect((await store.searchMessages({ channelId: ch, sender: 'PMS|MAIN' })).map((m) => m.id)).toEqual([
        ms[3]!.id,
      ]);
      await expect(store.searchMessages({ after: { receivedAt: same, seq: 1.5 } })).rejects.toMatchObject({
        code: 'store.invalid',
      });
    });
  });

  describe('channelCounts', () => {
    it("counts a channel's messages since a time by status, and its unfinished deliveries", async () => {
      const ch = channel();
      const ms = [
        message(ch, { receivedAt: t('2025-06-01T08:00:00Z') }),
        message(ch, { receivedAt: t('2025-06-01T10:00:00Z') }),
        message(ch, { receivedAt: t('2025-06-01T11:00:00Z') }),
        message(ch, { receivedAt: t('2025-06-01T12:00:00Z') }),
      ];
      await store.insertMessages([...ms, message(channel(), { receivedAt: t('2025-06-01T12:00:00Z') })]);
      await store.completePipeline(ms[1]!.id, { status: 'rejected', issues: [], deliveries: [] });
      await store.completePipeline(ms[2]!.id, processed([{ name: 'ehr' }]));
      await store.completePipeline(ms[0]!.id, processed([{ name: 'ehr' }]));
      await store.setDeliveryState(`${ms[0]!.id}.ehr`, 'parked', 'behind');
      expect(await store.channelCounts(ch, t('2025-06-01T09:00:00Z'))).toEqual({
        messages: { rejected: 1, processed: 1, received: 1 },
        openDeliveries: { pending: 1, parked: 1 },
      });
    });
  });

  describe('searchMessages by one free text', () => {
    it('matches a message id, a control id or any business key value exactly, with the other filters and paging', async () => {
      const ch = channel();
      const other = channel();
      const mrn = `MRN-${randomUUID().slice(0, 6)}`;
      const a = message(ch, { keys: { mrn }, receivedAt: t('2025-07-01T08:00:00Z') });
      const b = message(ch, { keys: { visit: mrn }, receivedAt: t('2025-07-01T09:00:00Z') });
      const c = message(other, { keys: { mrn }, receivedAt: t('2025-07-01T10:00:00Z') });
      // Its control id is the MRN as text: found once, not twice.
      const d = message(ch, { keys: { mrn }, controlId: mrn, receivedAt: t('2025-07-01T11:00:00Z') });
      const e = message(ch, { keys: { mrn: `${mrn}0` }, receivedAt: t('2025-07-01T12:00:00Z') });
      await store.insertMessages([a, b, c, d, e]);
      const ids = async (s: Parameters<Store['searchMessages']>[0]) =>
        (await store.searchMessages(s)).map((m) => m.id);
      expect(await ids({ text: mrn })).toEqual([d.id, c.id, b.id, a.id]);
      expect(await ids({ text: mrn, channelId: ch })).toEqual([d.id, b.id, a.id]);
      expect(await ids({ text: mrn, channelId: ch, since: t('2025-07-01T09:00:00Z') })).toEqual([d.id, b.id]);
      expect(await ids({ text: mrn.toLowerCase() })).toEqual([]);
      expect(await ids({ text: mrn.slice(0, -1) })).toEqual([]);
      expect(await ids({ text: a.controlId! })).toEqual([a.id]);
      expect(await ids({ text: e.id })).toEqual([e.id]);
      expect(await ids({ text: e.id, channelId: other })).toEqual([]);
      const first = await store.searchMessages({ text: mrn, limit: 2 });
      expect(first.map((m) => m.id)).toEqual([d.id, c.id]);
      const last = first[1]!;
      expect(
        await ids({ text: mrn, limit: 2, after: { receivedAt: last.receivedAt, seq: last.seq } }),
      ).toEqual([b.id, a.id]);
      await expect(store.searchMessages({ text: '' })).rejects.toMatchObject({ code: 'store.invalid' });
    });
  });

  describe('channelOverview', () => {
    it("counts a channel's messages since a time, their deliveries sent and dead-lettered, and per destination its queue and dead letters", async () => {
      const ch = channel();
      const ms = [
        message(ch, { receivedAt: t('2025-08-01T08:00:00Z') }),
        message(ch, { receivedAt: t('2025-08-01T10:00:00Z') }),
        message(ch, { receivedAt: t('2025-08-01T11:00:00Z') }),
        message(ch, { receivedAt: t('2025-08-01T12:00:00Z') }),
        message(ch, { receivedAt: t('2025-08-01T12:30:00Z') }),
      ];
      await store.insertMessages([...ms, message(channel(), { receivedAt: t('2025-08-01T12:00:00Z') })]);
      // Before the window: its open delivery is in the queue all the same.
      await store.completePipeline(ms[0]!.id, processed([{ name: 'ehr' }]));
      await store.completePipeline(ms[1]!.id, processed([{ name: 'ehr' }, { name: 'archive' }]));
      await store.recordAttempt(`${ms[1]!.id}.ehr`, attempt(1, 'sent'), { status: 'sent' });
      await store.recordAttempt(`${ms[1]!.id}.archive`, attempt(1, 'failed'), { status: 'dead_lettered' });
      await store.completePipeline(ms[2]!.id, processed([{ name: 'ehr' }, { name: 'archive' }]));
      await store.recordAttempt(`${ms[2]!.id}.archive`, attempt(1, 'sent'), { status: 'sent' });
      await store.completePipeline(ms[3]!.id, { status: 'errored', issues: [], deliveries: [] });
      await store.completePipeline(ms[4]!.id, { status: 'errored', issues: [], deliveries: [] });
      const since = t('2025-08-01T09:00:00Z');
      const counts = await store.channelOverview(ch, since, t('2025-08-01T12:15:00Z'));
      const oldest = (await store.getDelivery(`${ms[0]!.id}.ehr`))!.createdAt;
      expect(await store.channelDeliveryCounts(ch, since)).toEqual({ sent: 2, deadLettered: 1 });
      expect(counts).toEqual({
        messages: { failed: 1, processed: 1, errored: 2 },
        recentErrored: 1,
        destinations: [
          { destination: 'archive', open: 0, deadLettered: 1, recentDeadLettered: 1 },
          { destination: 'ehr', open: 2, oldestOpenAt: oldest, deadLettered: 0, recentDeadLettered: 0 },
        ],
      });
      // Dead-lettered before `recentSince` (now, in an hour): still a dead letter, not a recent one.
      const later = await store.channelOverview(ch, since, new Date(Date.now() + 3600_000));
      expect(later.destinations[0]).toEqual({
        destination: 'archive',
        open: 0,
        deadLettered: 1,
        recentDeadLettered: 0,
      });
      expect(later.recentErrored).toBe(0);
      expect(await store.channelDeliveryCounts(channel(), since)).toEqual({ sent: 0, deadLettered: 0 });
      expect(await store.channelOverview(channel(), since, since)).toEqual({
        messages: {},
        recentErrored: 0,
        destinations: [],
      });
    });
  });

  describe('paused channels', () => {
    it('pauses and resumes a channel for every process on the ledger', async () => {
      const ch = channel();
      const other = channel();
      await store.setChannelPaused(ch, true, 'user:nightshift', t('2025-07-01T10:00:00Z'));
      await store.setChannelPaused(ch, true, 'user:someone-else', t('2025-07-01T11:00:00Z'));
      await store.setChannelPaused(other, false, 'user:nightshift', t('2025-07-01T10:00:00Z'));
      const paused = (await store.listPausedChannels()).filter(
        (p) => p.channelId === ch || p.channelId === other,
      );
      expect(paused).toEqual([
        { channelId: ch, pausedAt: t('2025-07-01T10:00:00Z'), pausedBy: 'user:nightshift' },
      ]);
      await store.setChannelPaused(ch, false, 'user:nightshift', t('2025-07-01T12:00:00Z'));
      expect((await store.listPausedChannels()).some((p) => p.channelId === ch)).toBe(false);
    });
  });

  describe('channel version of a message', () => {
    it('keeps the version given at receipt, replaced by the one the pipeline ran', async () => {
      const ch = channel();
      const a = message(ch, { channelVersion: 3 });
      const b = message(ch, { channelVersion: 3 });
      const plain = message(ch);
      await store.insertMessages([a, b, plain]);
      expect((await store.getMessage(a.id))!.channelVersion).toBe(3);
      expect(await store.getMessage(plain.id)).not.toHaveProperty('channelVersion');

      await store.completePipeline(a.id, { ...processed([]), channelVersion: 4 });
      await store.completePipeline(b.id, processed([]));
      expect((await store.getMessage(a.id))!.channelVersion).toBe(4);
      expect((await store.getMessage(b.id))!.channelVersion).toBe(3);
      expect((await store.searchMessages({ channelId: ch })).map((m) => m.channelVersion)).toEqual([
        undefined,
        3,
        4,
      ]);
      await expect(store.insertMessages([message(ch, { channelVersion: 0 })])).rejects.toMatchObject({
        code: 'store.invalid',
        message: expect.stringContaining('channelVersion'),
      });
      await expect(
        store.completePipeline(plain.id, { ...processed([]), channelVersion: 1.5 }),
      ).rejects.toMatchObject({ code: 'store.invalid' });
    });
  });

  describe('reprocessMessages', () => {
    it('resets errored, rejected and filtered messages to received, keeping their outcome', async () => {
      const s = await fresh();
      const ch = channel();
      const [errored, rejected, filtered, delivered, received] = Array.from({ length: 5 }, () =>
        message(ch, {
          channelVersion: 2,
          keys: { mrn: 'R-1' },
          ack: { code: 'AA', bytes: Buffer.from('MSA|AA|1\r') },
        }),
      ) as [NewMessage, NewMessage, NewMessage, NewMessage, NewMessage];
      await s.insertMessages([errored, rejected, filtered, delivered, received]);
      const bundle = Buffer.from('{"resourceType":"Bundle","type":"transaction"}');
      const issue = {
        severity: 'error' as const,
        code: 'map.unmapped',
        location: 'PID-8',
        message: 'no code',
      };
      await s.completePipeline(errored.id, {
        status: 'errored',
        issues: [issue],
        transformed: { contentType: 'fhir', body: bundle },
        ack: { code: 'AE', bytes: Buffer.from('MSA|AE|1\r') },
        deliveries: [],
      });
      await s.completePipeline(rejected.id, { status: 'rejected', issues: [issue], deliveries: [] });
      await s.completePipeline(filtered.id, { status: 'filtered', issues: [], deliveries: [] });
      await s.completePipeline(delivered.id, processed([]));
      const before = await s.getMessage(errored.id);

      const unknown = randomUUID();
      const reset = await s.reprocessMessages([
        filtered.id,
        unknown,
        delivered.id,
        errored.id,
        received.id,
        rejected.id,
        errored.id,
      ]);
      expect(reset).toEqual([filtered.id, errored.id, rejected.id]);

      const after = await s.getMessage(errored.id);
      expect(after).toMatchObject({ status: 'received', issues: [], ackCode: 'AE', channelVersion: 2 });
      expect(after!.keys).toEqual({ mrn: 'R-1' });
      expect(await s.getContent(errored.id, 'transformed')).toBeUndefined();
      expect(await s.getContent(errored.id, 'raw')).toEqual(errored.raw);
      expect(await s.getContent(errored.id, 'ack')).toEqual(Buffer.from('MSA|AE|1\r'));
      expect(await s.getOutcomes(errored.id)).toEqual([
        {
          messageId: errored.id,
          number: 1,
          status: 'errored',
          issues: [issue],
          ackCode: 'AE',
          channelVersion: 2,
          transformed: { contentType: 'fhir', body: bundle },
          decidedAt: before!.updatedAt,
          reprocessedAt: expect.any(Date),
        },
      ]);
      expect(await s.getOutcomes(filtered.id)).toEqual([
        expect.objectContaining({ number: 1, status: 'filtered', issues: [], ackCode: 'AA' }),
      ]);
      expect(await s.getOutcomes(filtered.id).then((o) => o[0])).not.toHaveProperty('transformed');
      expect((await s.getMessage(delivered.id))!.status).toBe('delivered');
      expect(await s.getOutcomes(delivered.id)).toEqual([]);
      expect(await s.getOutcomes(unknown)).toEqual([]);

      // The recovery sweep finds them again, in their original order.
      expect((await s.listUnprocessed(10)).map((m) => m.id)).toEqual([
        errored.id,
        rejected.id,
        filtered.id,
        received.id,
      ]);
      expect(await s.searchMessages({ channelId: ch, status: 'errored' })).toEqual([]);
    });

    it('numbers outcomes oldest first across reprocess rounds; the new outcome is the message', async () => {
      const m = message(channel());
      await insertOne(store, m);
      await store.completePipeline(m.id, {
        status: 'rejected',
        issues: [],
        deliveries: [],
        channelVersion: 1,
      });
      expect(await store.reprocessMessages([m.id])).toEqual([m.id]);
      await store.completePipeline(m.id, {
        status: 'errored',
        issues: [],
        deliveries: [],
        channelVersion: 2,
      });
      expect(await store.reprocessMessages([m.id])).toEqual([m.id]);
      const deliveries = await store.completePipeline(m.id, {
        ...processed([{ name: 'ehr' }]),
        channelVersion: 3,
      });
      expect(deliveries.map((d) => d.id)).toEqual([`${m.id}.ehr`]);
      expect((await store.getOutcomes(m.id)).map((o) => [o.number, o.status, o.channelVersion])).toEqual([
        [1, 'rejected', 1],
        [2, 'errored', 2],
      ]);
      expect(await store.getMessage(m.id)).toMatchObject({ status: 'processed', channelVersion: 3 });
      expect(await store.reprocessMessages([m.id])).toEqual([]);
    });

    it('resets each message once when asked twice at the same time, and large batches whole', async () => {
      const ch = channel();
      const ms = Array.from({ length: 520 }, () => message(ch));
      await store.insertMessages(ms);
      await Promise.all(
        ms.map((m) => store.completePipeline(m.id, { status: 'filtered', issues: [], deliveries: [] })),
      );
      const ids = ms.map((m) => m.id);
      const [first, second] = await Promise.all([
        store.reprocessMessages(ids),
        store.reprocessMessages([...ids].reverse()),
      ]);
      expect([...first!, ...second!].sort()).toEqual([...ids].sort());
      for (const id of [ids[0]!, ids[300]!, ids[519]!]) expect(await store.getOutcomes(id)).toHaveLength(1);
      expect(await store.searchMessages({ channelId: ch, status: 'received', limit: 1000 })).toHaveLength(
        520,
      );
    }, 30_000);

    it('answers an empty list with nothing and refuses what is not a list of ids', async () => {
      await expect(store.reprocessMessages([])).resolves.toEqual([]);
      await expect(store.reprocessMessages('x' as unknown as string[])).rejects.toMatchObject({
        code: 'store.invalid',
      });
      await expect(store.reprocessMessages([1 as unknown as string])).rejects.toMatchObject({
        code: 'store.invalid',
      });
    });
  });

  describe('deployments', () => {
    const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
    function deployment(
      channelId: string,
      content: string,
      overrides: Partial<NewDeployment> = {},
    ): NewDeployment {
      return {
        channelId,
        content,
        filePath: `/srv/sinew/channels/${channelId}.yaml`,
        deployedBy: 'startup',
        deployedAt: t('2025-05-01T09:00:00.250Z'),
        outcome: 'deployed',
        ...overrides,
      };
    }
    const v1 = 'id: lab\nsource: { type: mllp, listen: "127.0.0.1:2575" }\n';
    const v2 = 'id: lab\nsource: { type: mllp, listen: "127.0.0.1:2576" } # port moved, Zürich 😀\n';
    const problem = {
      level: 'error' as const,
      code: 'channel.unknown_field',
      line: 3,
      column: 1,
      path: 'destinatons',
      message: 'unknown field destinatons',
    };

    it('numbers deployments per channel and keeps every field; lists newest first', async () => {
      const ch = channel();
      const first = await store.recordDeployment(deployment(ch, v1, { gitCommit: 'a1b2c3d' }));
      expect(first).toEqual({
        channelId: ch,
        version: 1,
        contentHash: sha256(v1),
        content: v1,
        filePath: `/srv/sinew/channels/${ch}.yaml`,
        gitCommit: 'a1b2c3d',
        deployedBy: 'startup',
        deployedAt: t('2025-05-01T09:00:00.250Z'),
        outcome: 'deployed',
        problems: [],
      });
      const second = await store.recordDeployment(
        deployment(ch, v2, { deployedBy: 'user:alice', deployedAt: t('2025-05-02T10:00:00Z') }),
      );
      expect(second).toMatchObject({
        version: 2,
        content: v2,
        contentHash: sha256(v2),
        deployedBy: 'user:alice',
      });
      expect(second).not.toHaveProperty('gitCommit');
      const other = await store.recordDeployment(deployment(channel(), v1));
      expect(other.version).toBe(1);

      expect((await store.listDeployments(ch)).map((d) => d.version)).toEqual([2, 1]);
      expect((await store.listDeployments(ch, 1)).map((d) => d.version)).toEqual([2]);
      expect(await store.getDeployment(ch, 1)).toEqual(first);
      expect(await store.latestDeployment(ch)).toEqual(second);
      expect(await store.getDeployment(ch, 3)).toBeUndefined();
      expect(await store.getDeployment(ch, 2 ** 40)).toBeUndefined();
      expect(await store.latestDeployment(channel())).toBeUndefined();
      expect(await store.listDeployments(channel())).toEqual([]);
    });

    it('returns the running version unchanged when the same text is deployed again', async () => {
      const ch = channel();
      const first = await store.recordDeployment(deployment(ch, v1));
      const again = await store.recordDeployment(
        deployment(ch, v1, { deployedBy: 'watcher', deployedAt: t('2025-05-03T00:00:00Z') }),
      );
      expect(again).toEqual(first);
      expect(await store.listDeployments(ch)).toHaveLength(1);

      // The earlier text deployed again after a change is a new version (a rollback).
      await store.recordDeployment(deployment(ch, v2));
      const back = await store.recordDeployment(deployment(ch, v1, { deployedBy: 'rollback' }));
      expect(back).toMatchObject({ version: 3, contentHash: first.contentHash, deployedBy: 'rollback' });
    });

    it('records refused attempts with their problems, once per text, and skips them as latest', async () => {
      const ch = channel();
      await store.recordDeployment(deployment(ch, v1));
      const refused = await store.recordDeployment(
        deployment(ch, v2, { outcome: 'refused', deployedBy: 'watcher', problems: [problem] }),
      );
      expect(refused).toMatchObject({ version: 2, outcome: 'refused', problems: [problem] });
      expect(await store.getDeployment(ch, 2)).toEqual(refused);
      expect((await store.latestDeployment(ch))!.version).toBe(1);
      const refusedAgain = await store.recordDeployment(
        deployment(ch, v2, { outcome: 'refused', deployedBy: 'startup', problems: [problem] }),
      );
      expect(refusedAgain).toEqual(refused);
      // The refused change taken back: version 1 still runs, nothing new is recorded.
      expect((await store.recordDeployment(deployment(ch, v1, { deployedBy: 'watcher' }))).version).toBe(1);
      expect((await store.listDeployments(ch)).map((d) => `${d.version} ${d.outcome}`)).toEqual([
        '2 refused',
        '1 deployed',
      ]);
      // Fixed (the same text now passes): a new version.
      const fixed = await store.recordDeployment(
        deployment(ch, v2, { problems: [{ ...problem, level: 'warning' }] }),
      );
      expect(fixed).toMatchObject({ version: 3, outcome: 'deployed', problems: [{ level: 'warning' }] });
    });

    it('gives concurrent recorders of one text the same version, and of different texts distinct ones', async () => {
      const ch = channel();
      const same = await Promise.all(
        Array.from({ length: 6 }, () => store.recordDeployment(deployment(ch, v1))),
      );
      expect(same.map((d) => d.version)).toEqual([1, 1, 1, 1, 1, 1]);
      const texts = Array.from({ length: 6 }, (_, i) => `${v1}# change ${i}\n`);
      const distinct = await Promise.all(texts.map((text) => store.recordDeployment(deployment(ch, text))));
      expect(distinct.map((d) => d.version).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7]);
      expect(await store.listDeployments(ch)).toHaveLength(7);
    });

    it('refuses invalid deployments with a clear error', async () => {
      const ch = channel();
      const refuse = (d: NewDeployment, text: string) =>
        expect(store.recordDeployment(d)).rejects.toMatchObject({
          code: 'store.invalid',
          message: expect.stringContaining(text),
        });
      await refuse(deployment(ch, v1, { outcome: 'refused' }), 'problems');
      await refuse(deployment(ch, v1, { outcome: 'refused', problems: [] }), 'problems');
      await refuse(deployment(ch, v1, { outcome: 'lost' as never }), 'deployed or refused');
      await refuse(deployment('', v1), 'channelId');
      await refuse(deployment(ch, v1, { filePath: '' }), 'filePath');
      await refuse(deployment(ch, v1, { deployedAt: new Date('x') }), 'deployedAt');
      await refuse(deployment(ch, Buffer.from(v1) as unknown as string), 'content');
      await refuse(deployment(ch, v1, { problems: [{ line: 1 } as never] }), 'message');
      await expect(store.getDeployment(ch, 0)).rejects.toMatchObject({ code: 'store.invalid' });
      expect(await store.listDeployments(ch)).toEqual([]);
    });
  });

  describe('completePipeline', () => {
    it('writes status, issues, transformed content, ACK and pending deliveries in one go', async () => {
      const ch = channel();
      const m = message(ch, { keys: { mrn: 'K1' } });
      const { seq } = await insertOne(store, m);
      const transformed = Buffer.from(JSON.stringify({ resourceType: 'Bundle', type: 'transaction' }));
      const ack = Buffer.from('MSH|^~\\&|EHR|||||||ACK|2|P|2.5.1\rMSA|AA|x\r');
      const result: PipelineResult = {
        status: 'processed',
        issues: [
          {
            severity: 'warning',
            code: 'hl7.required',
            location: 'PID-8',
            message: 'missing',
            step: 'validate',
          },
        ],
        transformed: { contentType: 'fhir', body: transformed },
        ack: { code: 'AA', bytes: ack },
        deliveries: [
          { destination: 'ehr', payload: Buffer.from('{"a":1}'), payloadType: 'fhir', orderKey: 'K1' },
          { destination: 'archive', payload: Buffer.from([0, 1, 2, 255]), payloadType: 'text' },
        ],
      };
      const deliveries = await store.completePipeline(m.id, result);
      expect(deliveries.map((d) => d.id).sort()).toEqual([`${m.id}.archive`, `${m.id}.ehr`]);
      const ehr = deliveries.find((d) => d.destination === 'ehr')!;
      expect(ehr).toEqual({
        id: `${m.id}.ehr`,
        messageId: m.id,
        channelId: ch,
        destination: 'ehr',
        seq,
        orderKey: 'K1',
        status: 'pending',
        attempts: 0,
        createdAt: expect.any(Date),
        updatedAt: expect.any(Date),
      });
      expect(deliveries.find((d) => d.destination === 'archive')).not.toHaveProperty('orderKey');

      const stored = await store.getMessage(m.id);
      expect(stored!.status).toBe('processed');
      expect(stored!.ackCode).toBe('AA');
      expect(stored!.issues).toEqual(result.issues);
      expect(await store.getContent(m.id, 'transformed')).toEqual(transformed);
      expect(await store.getContent(m.id, 'ack')).toEqual(ack);
      expect(await store.getDeliveryPayload(`${m.id}.ehr`)).toEqual({
        body: Buffer.from('{"a":1}'),
        contentType: 'fhir',
      });
      expect(await store.getDeliveryPayload(`${m.id}.archive`)).toEqual({
        body: Buffer.from([0, 1, 2, 255]),
        contentType: 'text',
      });
      expect(await store.getDelivery(`${m.id}.ehr`)).toEqual(ehr);
      expect((await store.getDeliveries(m.id)).map((d) => d.destination)).toEqual(['archive', 'ehr']);
    });

    it('is idempotent: a second call writes nothing and returns the existing deliveries', async () => {
      const m = message(channel());
      await insertOne(store, m);
      const first = await store.completePipeline(m.id, processed([{ name: 'ehr' }]));
      const again = await store.completePipeline(m.id, {
        status: 'rejected',
        issues: [{ severity: 'error', code: 'x', message: 'y' }],
        deliveries: [],
      });
      expect(again).toEqual(first);
      const stored = await store.getMessage(m.id);
      expect(stored!.status).toBe('processed');
      expect(stored!.issues).toEqual([]);
      expect(await store.getDeliveries(m.id)).toHaveLength(1);
    });

    it('records filtered, rejected and errored outcomes without deliveries', async () => {
      const ch = channel();
      for (const status of ['filtered', 'rejected', 'errored'] as const) {
        const m = message(ch);
        await insertOne(store, m);
        const issues =
          status === 'filtered' ? [] : [{ severity: 'error' as const, code: `map.${status}`, message: 'no' }];
        await expect(store.completePipeline(m.id, { status, issues, deliveries: [] })).resolves.toEqual([]);
        const stored = await store.getMessage(m.id);
        expect(stored!.status).toBe(status);
        expect(stored!.issues).toEqual(issues);
        expect(await store.getDeliveries(m.id)).toEqual([]);
      }
    });

    it('marks a processed message without destinations delivered', async () => {
      const m = message(channel());
      await insertOne(store, m);
      await expect(store.completePipeline(m.id, processed([]))).resolves.toEqual([]);
      expect((await store.getMessage(m.id))!.status).toBe('delivered');
    });

    it('refuses deliveries on a message that is not processed, and unknown messages', async () => {
      const m = message(channel());
      await insertOne(store, m);
      await expect(
        store.completePipeline(m.id, { ...processed([{ name: 'ehr' }]), status: 'filtered' }),
      ).rejects.toMatchObject({ code: 'store.invalid' });
      await expect(
        store.completePipeline(m.id, processed([{ name: 'ehr' }, { name: 'ehr' }])),
      ).rejects.toMatchObject({ code: 'store.invalid', message: expect.stringContaining('twice') });
      expect((await store.getMessage(m.id))!.status).toBe('received');
      await expect(store.completePipeline(randomUUID(), processed([]))).rejects.toMatchObject({
        code: 'store.not_found',
      });
    });
  });

  describe('attempts and message status', () => {
    async function deliveredMessage(destinations: string[]) {
      const m = message(channel());
      await insertOne(store, m);
      await store.completePipeline(m.id, processed(destinations.map((name) => ({ name }))));
      return m.id;
    }

    it('numbers attempts from 1 and refuses a gap or a repeat', async () => {
      const id = await deliveredMessage(['ehr']);
      const deliveryId = `${id}.ehr`;
      await expect(
        store.recordAttempt(deliveryId, attempt(2, 'sent'), { status: 'sent' }),
      ).rejects.toMatchObject({
        code: 'store.conflict',
        message: expect.stringContaining('expected 1'),
      });
      const due = t('2025-03-01T10:01:00.000Z');
      const retrying = await store.recordAttempt(
        deliveryId,
        attempt(1, 'retry', { code: 'ECONNREFUSED', error: 'connect ECONNREFUSED 127.0.0.1:2575' }),
        { status: 'retrying', nextAttemptAt: due },
      );
      expect(retrying).toMatchObject({
        status: 'retrying',
        attempts: 1,
        nextAttemptAt: due,
        lastError: 'connect ECONNREFUSED 127.0.0.1:2575',
      });
      await expect(
        store.recordAttempt(deliveryId, attempt(1, 'sent'), { status: 'sent' }),
      ).rejects.toMatchObject({
        code: 'store.conflict',
      });
      const response = Buffer.from('MSH|^~\\&|EHR||||||ACK|1|P|2.5.1\rMSA|AA|1\r');
      const sent = await store.recordAttempt(deliveryId, attempt(2, 'sent', { code: 'AA', response }), {
        status: 'sent',
      });
      expect(sent.status).toBe('sent');
      expect(sent.attempts).toBe(2);
      expect(sent).not.toHaveProperty('nextAttemptAt');
      expect(await store.getDelivery(deliveryId)).toEqual(sent);

      const attempts = await store.getAttempts(deliveryId);
      expect(attempts).toEqual([
        {
          deliveryId,
          number: 1,
          startedAt: t('2025-03-01T10:00:01.000Z'),
          finishedAt: t('2025-03-01T10:00:01.250Z'),
          outcome: 'retry',
          code: 'ECONNREFUSED',
          error: 'connect ECONNREFUSED 127.0.0.1:2575',
        },
        {
          deliveryId,
          number: 2,
          startedAt: t('2025-03-01T10:00:01.000Z'),
          finishedAt: t('2025-03-01T10:00:01.250Z'),
          outcome: 'sent',
          code: 'AA',
          response,
        },
      ]);
      await expect(
        store.recordAttempt(deliveryId, attempt(3, 'sent'), { status: 'sent' }),
      ).rejects.toMatchObject({
        code: 'store.conflict',
        message: expect.stringContaining('already sent'),
      });
      await expect(store.getAttempts(randomUUID())).resolves.toEqual([]);
    });

    it('refuses a retry without a due time and an unknown delivery', async () => {
      const id = await deliveredMessage(['ehr']);
      await expect(
        store.recordAttempt(`${id}.ehr`, attempt(1, 'retry'), { status: 'retrying' }),
      ).rejects.toMatchObject({ code: 'store.invalid', message: expect.stringContaining('nextAttemptAt') });
      await expect(store.getDelivery(`${id}.ehr`)).resolves.toMatchObject({ attempts: 0, status: 'pending' });
      await expect(
        store.recordAttempt(`${randomUUID()}.ehr`, attempt(1, 'sent'), { status: 'sent' }),
      ).rejects.toMatchObject({ code: 'store.not_found' });
    });

    it('marks the message delivered once every delivery is sent', async () => {
      const id = await deliveredMessage(['ehr', 'lab']);
      await store.recordAttempt(`${id}.ehr`, attempt(1, 'sent'), { status: 'sent' });
      expect((await store.getMessage(id))!.status).toBe('processed');
      await store.recordAttempt(`${id}.lab`, attempt(1, 'sent'), { status: 'sent' });
      expect((await store.getMessage(id))!.status).toBe('delivered');
    });

    it('marks the message failed when one delivery is dead-lettered, and back on requeue', async () => {
      const id = await deliveredMessage(['ehr', 'lab']);
      await store.recordAttempt(`${id}.ehr`, attempt(1, 'failed', { code: 'AR', error: 'AR from peer' }), {
        status: 'dead_lettered',
      });
      expect((await store.getMessage(id))!.status).toBe('processed');
      await store.recordAttempt(`${id}.lab`, attempt(1, 'sent'), { status: 'sent' });
      expect((await store.getMessage(id))!.status).toBe('failed');

      const requeued = await store.requeueDelivery(`${id}.ehr`);
      expect(requeued).toMatchObject({ status: 'pending', attempts: 1, lastError: 'AR from peer' });
      expect((await store.getMessage(id))!.status).toBe('processed');
      await store.recordAttempt(`${id}.ehr`, attempt(2, 'sent'), { status: 'sent' });
      expect((await store.getMessage(id))!.status).toBe('delivered');
      expect(await store.getAttempts(`${id}.ehr`)).toHaveLength(2);
    });

    it('keeps concurrent final attempts of one message consistent', async () => {
      const names = ['a', 'b', 'c', 'd', 'e', 'f'];
      const id = await deliveredMessage(names);
      await Promise.all(
        names.map((n) => store.recordAttempt(`${id}.${n}`, attempt(1, 'sent'), { status: 'sent' })),
      );
      expect((await store.getMessage(id))!.status).toBe('delivered');
    });
  });

  describe('dead letters', () => {
    it('lists dead-lettered deliveries by channel, destination and message; requeues only those', async () => {
      const ch = channel();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const m = message(ch);
        await insertOne(store, m);
        await store.completePipeline(m.id, processed([{ name: 'ehr' }, { name: 'lab' }]));
        ids.push(m.id);
      }
      for (const id of ids) {
        await store.recordAttempt(`${id}.ehr`, attempt(1, 'failed', { code: 'HTTP 400' }), {
          status: 'dead_lettered',
        });
      }
      await store.recordAttempt(`${ids[0]}.lab`, attempt(1, 'failed'), { status: 'dead_lettered' });

      const list = async (s: Parameters<Store['listDeadLetters']>[0]) =>
        (await store.listDeadLetters(s)).map((d) => d.id);
      expect(await list({ channelId: ch })).toEqual([
        `${ids[2]}.ehr`,
        `${ids[1]}.ehr`,
        `${ids[0]}.ehr`,
        `${ids[0]}.lab`,
      ]);
      expect(await list({ channelId: ch, destination: 'lab' })).toEqual([`${ids[0]}.lab`]);
      expect(await list({ messageId: ids[1] })).toEqual([`${ids[1]}.ehr`]);
      expect(await list({ channelId: ch, limit: 2 })).toEqual([`${ids[2]}.ehr`, `${ids[1]}.ehr`]);
      const [dead] = await store.listDeadLetters({ messageId: ids[1] });
      expect(dead).toMatchObject({ status: 'dead_lettered', lastError: 'HTTP 400', attempts: 1 });

      await store.requeueDelivery(`${ids[1]}.ehr`);
      expect(await list({ channelId: ch, destination: 'ehr' })).toEqual([`${ids[2]}.ehr`, `${ids[0]}.ehr`]);
      await expect(store.requeueDelivery(`${ids[1]}.ehr`)).rejects.toMatchObject({
        code: 'store.conflict',
        message: expect.stringContaining('only a dead-lettered delivery'),
      });
      await expect(store.requeueDelivery(`${ids[1]}.lab`)).rejects.toMatchObject({ code: 'store.conflict' });
      await expect(store.requeueDelivery('nope.ehr')).rejects.toMatchObject({ code: 'store.not_found' });
    });

    it('sends a sent delivery again only when asked to (a repair of a record the target lost)', async () => {
      const ch = channel();
      const m = message(ch);
      await insertOne(store, m);
      await store.completePipeline(m.id, processed([{ name: 'ehr' }]));
      await store.recordAttempt(`${m.id}.ehr`, attempt(1, 'sent'), { status: 'sent' });
      expect((await store.getMessage(m.id))!.status).toBe('delivered');
      await expect(store.requeueDelivery(`${m.id}.ehr`)).rejects.toMatchObject({ code: 'store.conflict' });
      const again = await store.requeueDelivery(`${m.id}.ehr`, { sent: true });
      expect(again).toMatchObject({ status: 'pending', attempts: 1 });
      expect((await store.getMessage(m.id))!.status).toBe('processed');
      expect((await store.listOpenDeliveries(new Date(Date.now() + 60_000), 100)).map((d) => d.id)).toContain(
        `${m.id}.ehr`,
      );
    });
  });

  describe('ordering', () => {
    it('finds the blocker: the open delivery of the same key with the highest lower seq', async () => {
      const ch = channel();
      const keys = ['A', 'A', 'B', 'A', ''];
      const ms = keys.map(() => message(ch));
      const seqs = (await store.insertMessages(ms)).map((r) => r.seq);
      for (const [i, m] of ms.entries()) {
        await store.completePipeline(
          m.id,
          processed([
            { name: 'ehr', orderKey: keys[i] },
            { name: 'lab' }, // unordered: never a blocker
          ]),
        );
      }
      const [a1, a2, , a3] = ms.map((m) => `${m.id}.ehr`);
      const blocker = async (key: string, seq: number) => (await store.findBlocker(ch, 'ehr', key, seq))?.id;

      expect(await blocker('A', seqs[3]!)).toBe(a2);
      expect(await blocker('A', seqs[1]!)).toBe(a1);
      expect(await blocker('A', seqs[0]!)).toBeUndefined();
      expect(await blocker('B', seqs[2]!)).toBeUndefined();
      expect(await blocker('', seqs[4]!)).toBeUndefined();
      expect(await store.findBlocker(ch, 'lab', 'A', seqs[3]!)).toBeUndefined();
      expect(await store.findBlocker(channel(), 'ehr', 'A', seqs[3]!)).toBeUndefined();

      // Parked and retrying deliveries still block; sent and dead-lettered ones do not.
      await store.setDeliveryState(a2!, 'parked', `waiting behind ${a1}`);
      expect(await blocker('A', seqs[3]!)).toBe(a2);
      await store.recordAttempt(a1!, attempt(1, 'retry'), {
        status: 'retrying',
        nextAttemptAt: t('2030-01-01T00:00:00Z'),
      });
      expect(await blocker('A', seqs[1]!)).toBe(a1);
      await store.setDeliveryState(a3!, 'parked', 'behind');

      expect((await store.nextParked(ch, 'ehr', 'A'))?.id).toBe(a2);
      await store.recordAttempt(a1!, attempt(2, 'sent'), { status: 'sent' });
      await store.setDeliveryState(a2!, 'pending');
      expect((await store.nextParked(ch, 'ehr', 'A'))?.id).toBe(a3);
      await store.recordAttempt(a2!, attempt(1, 'failed'), { status: 'dead_lettered' });
      expect(await blocker('A', seqs[3]!)).toBeUndefined();
      expect(await store.nextParked(ch, 'ehr', 'B')).toBeUndefined();
    });

    it('parks with a reason and makes pending again; refuses terminal and unknown deliveries', async () => {
      const m = message(channel());
      await insertOne(store, m);
      await store.completePipeline(m.id, processed([{ name: 'ehr', orderKey: '' }]));
      const id = `${m.id}.ehr`;
      await store.setDeliveryState(id, 'parked', 'behind 123');
      expect(await store.getDelivery(id)).toMatchObject({ status: 'parked', parkedReason: 'behind 123' });
      await store.setDeliveryState(id, 'pending');
      const pending = await store.getDelivery(id);
      expect(pending!.status).toBe('pending');
      expect(pending).not.toHaveProperty('parkedReason');
      await store.recordAttempt(id, attempt(1, 'sent'), { status: 'sent' });
      await expect(store.setDeliveryState(id, 'parked', 'x')).rejects.toMatchObject({
        code: 'store.conflict',
      });
      await expect(store.setDeliveryState('missing.ehr', 'pending')).rejects.toMatchObject({
        code: 'store.not_found',
      });
    });

    it('creates a delivery parked, with its reason, when the pipeline result says it waits', async () => {
      const m = message(channel());
      await insertOne(store, m);
      const result = processed([{ name: 'ehr' }, { name: 'pms' }]);
      result.deliveries[1]!.parkedReason = 'after ehr';
      const created = await store.completePipeline(m.id, result);
      expect(created.map((d) => [d.destination, d.status, d.parkedReason])).toEqual([
        ['ehr', 'pending', undefined],
        ['pms', 'parked', 'after ehr'],
      ]);
      expect(await store.getDelivery(`${m.id}.pms`)).toMatchObject({
        status: 'parked',
        parkedReason: 'after ehr',
      });
    });
  });

  describe('recovery listings (on an empty store)', () => {
    it('lists messages still received, oldest first', async () => {
      const s = await fresh();
      const ch = channel();
      const ms = Array.from({ length: 4 }, () => message(ch));
      const inserted = await s.insertMessages(ms);
      await s.completePipeline(ms[1]!.id, { status: 'filtered', issues: [], deliveries: [] });
      expect(await s.listUnprocessed(10)).toEqual(
        [0, 2, 3].map((i) => ({ id: ms[i]!.id, channelId: ch, seq: inserted[i]!.seq })),
      );
      expect((await s.listUnprocessed(2)).map((r) => r.id)).toEqual([ms[0]!.id, ms[2]!.id]);
    });

    it("finds a channel's oldest message still received, whatever other channels hold", async () => {
      const s = await fresh();
      const ch = channel();
      const other = channel();
      const [o] = await s.insertMessages([message(other)]);
      const ms = Array.from({ length: 3 }, () => message(ch));
      const inserted = await s.insertMessages(ms);
      expect(o).toBeDefined();
      expect(await s.firstUnprocessed(ch)).toEqual({ id: ms[0]!.id, seq: inserted[0]!.seq });
      await s.completePipeline(ms[0]!.id, { status: 'filtered', issues: [], deliveries: [] });
      expect(await s.firstUnprocessed(ch)).toEqual({ id: ms[1]!.id, seq: inserted[1]!.seq });
      await s.completePipeline(ms[1]!.id, { status: 'filtered', issues: [], deliveries: [] });
      await s.completePipeline(ms[2]!.id, { status: 'filtered', issues: [], deliveries: [] });
      expect(await s.firstUnprocessed(ch)).toBeUndefined();
      expect((await s.firstUnprocessed(other))?.id).toBe(o!.id);
    });

    it('lists pending, parked and due retrying deliveries, oldest first', async () => {
      const s = await fresh();
      const ch = channel();
      const ms = Array.from({ length: 5 }, () => message(ch));
      await s.insertMessages(ms);
      for (const m of ms) await s.completePipeline(m.id, processed([{ name: 'ehr' }]));
      const ids = ms.map((m) => `${m.id}.ehr`);
      await s.setDeliveryState(ids[1]!, 'parked', 'behind');
      await s.recordAttempt(ids[2]!, attempt(1, 'retry'), {
        status: 'retrying',
        nextAttemptAt: t('2025-03-01T12:00:00Z'),
      });
      await s.recordAttempt(ids[3]!, attempt(1, 'sent'), { status: 'sent' });
      await s.recordAttempt(ids[4]!, attempt(1, 'failed'), { status: 'dead_lettered' });

      const open = async (dueBy: string, limit = 100) =>
        (await s.listOpenDeliveries(t(dueBy), limit)).map((d) => d.id);
      expect(await open('2025-03-01T11:59:59.999Z')).toEqual([ids[0], ids[1]]);
      expect(await open('2025-03-01T12:00:00.000Z')).toEqual([ids[0], ids[1], ids[2]]);
      expect(await open('2025-03-01T12:00:00.000Z', 2)).toEqual([ids[0], ids[1]]);
      const [parked] = await s.listOpenDeliveries(t('2025-03-01T12:00:00Z'), 100).then((d) => d.slice(1));
      expect(parked).toMatchObject({ status: 'parked', parkedReason: 'behind' });
    });
    it("lists one destination's open deliveries by seq, whenever due", async () => {
      const s = await fresh();
      const ch = channel();
      const ms = Array.from({ length: 5 }, () => message(ch));
      await s.insertMessages(ms);
      for (const m of ms) await s.completePipeline(m.id, processed([{ name: 'ehr' }, { name: 'lab' }]));
      const ehr = ms.map((m) => `${m.id}.ehr`);
      await s.setDeliveryState(ehr[1]!, 'parked', 'behind');
      await s.recordAttempt(ehr[2]!, attempt(1, 'retry'), {
        status: 'retrying',
        nextAttemptAt: t('2099-01-01T00:00:00Z'),
      });
      await s.recordAttempt(ehr[3]!, attempt(1, 'sent'), { status: 'sent' });
      await s.recordAttempt(ehr[4]!, attempt(1, 'failed'), { status: 'dead_lettered' });

      const listed = await s.listDestinationDeliveries(ch, 'ehr', 100);
      expect(listed.map((d) => [d.id, d.status])).toEqual([
        [ehr[0], 'pending'],
        [ehr[1], 'parked'],
        [ehr[2], 'retrying'],
      ]);
      expect(listed[2]?.nextAttemptAt).toEqual(t('2099-01-01T00:00:00Z'));
      expect((await s.listDestinationDeliveries(ch, 'ehr', 2)).map((d) => d.id)).toEqual([ehr[0], ehr[1]]);
      const after = (await s.listDestinationDeliveries(ch, 'ehr', 2, listed[1]!.seq)).map((d) => d.id);
      expect(after).toEqual([ehr[2]]);
      expect(await s.listDestinationDeliveries(ch, 'lab', 100)).toHaveLength(5);
      expect(await s.listDestinationDeliveries(ch, 'other', 100)).toEqual([]);
      expect(await s.listDestinationDeliveries(channel(), 'ehr', 100)).toEqual([]);
    });
  });

  describe('channel statistics', () => {
    it('counts per hour from the ledger, the queue now, and ACK and end-to-end latency percentiles', async () => {
      const ch = channel();
      const at = (hhmm: string) => t(`2025-03-01T${hhmm}:00.000Z`);
      const m1 = await insertOne(store, message(ch, { receivedAt: at('10:05'), ackLatencyUs: 2000 }));
      const m2 = await insertOne(store, message(ch, { receivedAt: at('10:30'), ackLatencyUs: 4000 }));
      const m3 = await insertOne(store, message(ch, { receivedAt: at('11:10') }));
      const m4 = await insertOne(store, message(ch, { receivedAt: at('11:20') }));
      const m5 = await insertOne(store, message(ch, { receivedAt: at('11:40') }));
      const m6 = await insertOne(store, message(ch, { receivedAt: at('11:50') }));
      // Outside the window, and another channel inside it: not counted.
      await insertOne(store, message(ch, { receivedAt: at('09:59'), ackLatencyUs: 900_000 }));
      await insertOne(store, message(channel(), { receivedAt: at('10:10'), ackLatencyUs: 900_000 }));
      await store.completePipeline(m1.id, processed([{ name: 'a' }]));
      await store.recordAttempt(
        `${m1.id}.a`,
        { number: 1, startedAt: at('10:05'), finishedAt: t('2025-03-01T10:05:02.000Z'), outcome: 'sent' },
        { status: 'sent' },
      );
      await store.completePipeline(m2.id, { status: 'filtered', issues: [], deliveries: [] });
      await store.completePipeline(m3.id, { status: 'rejected', issues: [], deliveries: [] });
      await store.completePipeline(m4.id, { status: 'errored', issues: [], deliveries: [] });
      await store.completePipeline(m5.id, processed([{ name: 'a' }, { name: 'b' }]));
      await store.recordAttempt(
        `${m5.id}.a`,
        { number: 1, startedAt: at('11:59'), finishedAt: at('12:00'), outcome: 'sent' },
        { status: 'sent' },
      );
      await store.recordAttempt(
        `${m5.id}.b`,
        { number: 1, startedAt: at('11:41'), finishedAt: at('11:42'), outcome: 'retry' },
        { status: 'retrying', nextAttemptAt: at('11:45') },
      );
      await store.recordAttempt(
        `${m5.id}.b`,
        { number: 2, startedAt: at('11:49'), finishedAt: at('11:50'), outcome: 'failed' },
        { status: 'dead_lettered' },
      );
      await store.completePipeline(m6.id, processed([{ name: 'a' }]));

      const stats = await store.channelStats(ch, at('10:00'), at('13:00'));
      const zero = { received: 0, filtered: 0, rejected: 0, errored: 0, sent: 0, deadLettered: 0 };
      expect(stats.hours).toEqual([
        { ...zero, hour: at('10:00'), received: 2, filtered: 1, sent: 1 },
        { ...zero, hour: at('11:00'), received: 4, rejected: 1, errored: 1, deadLettered: 1 },
        { ...zero, hour: at('12:00'), sent: 1 },
      ]);
      expect(stats.queued).toEqual({ pending: 1 });
      expect(stats.ackLatencyMs).toEqual({ count: 2, p50: 2, p95: 4, p99: 4 });
      expect(stats.endToEndMs).toEqual({ count: 2, p50: 2000, p95: 1_200_000, p99: 1_200_000 });

      // A window that starts inside an hour still lists that hour; an empty one measures nothing.
      const empty = await store.channelStats(
        ch,
        t('2025-03-02T00:30:00.000Z'),
        t('2025-03-02T02:00:00.000Z'),
      );
      expect(empty.hours.map((h) => [h.hour.toISOString(), h.received])).toEqual([
        ['2025-03-02T00:00:00.000Z', 0],
        ['2025-03-02T01:00:00.000Z', 0],
      ]);
      expect(empty.ackLatencyMs).toEqual({ count: 0 });
      expect(empty.endToEndMs).toEqual({ count: 0 });
    });

    it('reads the raw, transformed and ACK bytes of many messages at once', async () => {
      const ch = channel();
      const ack = Buffer.from('MSH|^~\\&|EHR|CLINIC|LAB|NORTH|||ACK|1|P|2.5.1\rMSA|AA|1\r');
      const a = message(ch, { ack: { code: 'AA', bytes: ack } });
      const b = message(ch, { raw: Buffer.from([0xff, 0x00, 0x01]) });
      await store.insertMessages([a, b]);
      await store.completePipeline(a.id, {
        ...processed([{ name: 'x' }]),
        transformed: { contentType: 'fhir', body: Buffer.from('{"resourceType":"Bundle"}') },
      });
      const many = Array.from({ length: 600 }, () => message(ch));
      await store.insertMessages(many);
      const got = await store.getContents([a.id, b.id, 'no-such-message', ...many.map((m) => m.id)]);
      expect(got.get(a.id)).toEqual({
        raw: a.raw,
        ack,
        transformed: Buffer.from('{"resourceType":"Bundle"}'),
      });
      expect(got.get(b.id)).toEqual({ raw: Buffer.from([0xff, 0x00, 0x01]) });
      expect(got.has('no-such-message')).toBe(false);
      // More ids than one query takes: every one answered.
      expect(many.every((m) => got.get(m.id)?.raw?.equals(m.raw))).toBe(true);
      expect(await store.getContents([])).toEqual(new Map());
    });

    it('refuses a window beyond 31 days or backwards, and an ACK latency that is not whole microseconds', async () => {
      const ch = channel();
      await expect(
        store.channelStats(ch, t('2025-01-01T00:00:00Z'), t('2025-02-02T00:00:01Z')),
      ).rejects.toMatchObject({
        code: 'store.invalid',
      });
      await expect(
        store.channelStats(ch, t('2025-01-02T00:00:00Z'), t('2025-01-01T00:00:00Z')),
      ).rejects.toMatchObject({
        code: 'store.invalid',
      });
      await expect(store.insertMessages([message(ch, { ackLatencyUs: -1 })])).rejects.toMatchObject({
        code: 'store.invalid',
      });
      await expect(store.insertMessages([message(ch, { ackLatencyUs: 1.5 })])).rejects.toMatchObject({
        code: 'store.invalid',
      });
    });
  });

  describe('lifecycle', () => {
    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('rejects every call once closed', async () => {
      const s = await fresh();
      const m = message(channel());
      await insertOne(s, m);
      await s.close();
      await s.close();
      const calls: Array<() => Promise<unknown>> = [
        () => s.insertMessages([message(channel())]),
        () => s.findDuplicate('c', 's', 'x', new Date()),
        () => s.countDuplicate(m.id),
        () => s.getMessage(m.id),
        () => s.getContent(m.id, 'raw'),
        () => s.searchMessages({}),
        () => s.completePipeline(m.id, processed([])),
        () => s.getDelivery('x'),
        () => s.getDeliveries(m.id),
        () => s.getDeliveryPayload('x'),
        () => s.getAttempts('x'),
        () => s.recordAttempt('x', attempt(1, 'sent'), { status: 'sent' }),
        () => s.setDeliveryState('x', 'pending'),
        () => s.findBlocker('c', 'd', '', 1),
        () => s.nextParked('c', 'd', ''),
        () => s.listUnprocessed(1),
        () => s.listOpenDeliveries(new Date(), 1),
        () => s.listDestinationDeliveries('c', 'd', 1),
        () => s.listDeadLetters({}),
        () => s.requeueDelivery('x'),
        () => s.reprocessMessages([m.id]),
        () => s.getOutcomes(m.id),
        () =>
          s.recordDeployment({
            channelId: 'c',
            content: '',
            filePath: '/c.yaml',
            deployedBy: 'startup',
            deployedAt: new Date(),
            outcome: 'deployed',
          }),
        () => s.listDeployments('c'),
        () => s.getDeployment('c', 1),
        () => s.latestDeployment('c'),
        () => s.channelStats('c', new Date(0), new Date(3600_000)),
        () => s.getContents(['x']),
        () => s.ping(),
      ];
      for (const call of calls) await expect(call()).rejects.toMatchObject({ code: 'store.closed' });
    });

    it('lets calls already started finish before closing', async () => {
      const s = await fresh();
      const ms = Array.from({ length: 50 }, () => message(channel()));
      const writing = s.insertMessages(ms);
      const closing = s.close();
      await expect(writing).resolves.toHaveLength(50);
      await closing;
    });
  });

  describe('parent and child messages (channel hand-offs)', () => {
    it('records the parent with the child in one insert and reads the links both ways', async () => {
      const a = channel();
      const b = channel();
      const parent = message(a);
      await insertOne(store, parent);
      const child = message(b, {
        source: 'channel',
        parent: { messageId: parent.id, channelId: a, destination: 'to-b' },
      });
      await insertOne(store, child);
      expect(await store.links.findChild(parent.id, 'to-b')).toEqual({
        messageId: child.id,
        channelId: b,
        destination: 'to-b',
      });
      expect(await store.links.findChild(parent.id, 'other')).toBeUndefined();
      expect(await store.links.linksOf(child.id)).toEqual({
        parent: { messageId: parent.id, channelId: a, destination: 'to-b' },
        children: [],
      });
      expect(await store.links.linksOf(parent.id)).toEqual({
        children: [{ messageId: child.id, channelId: b, destination: 'to-b' }],
      });
    });

    it('refuses a second child for the same parent and destination, and keeps nothing of it', async () => {
      const a = channel();
      const b = channel();
      const parent = message(a);
      await insertOne(store, parent);
      const link = { messageId: parent.id, channelId: a, destination: 'to-b' };
      const first = message(b, { parent: link });
      await insertOne(store, first);
      const second = message(b, { parent: link });
      await expect(store.insertMessages([second])).rejects.toThrow();
      expect(await store.getMessage(second.id)).toBeUndefined();
      expect((await store.links.linksOf(parent.id)).children.map((c) => c.messageId)).toEqual([first.id]);
    });

    it('refuses a parent link without its parts', async () => {
      const m = message(channel(), { parent: { messageId: '', channelId: 'a', destination: 'd' } });
      await expect(store.insertMessages([m])).rejects.toMatchObject({ code: 'store.invalid' });
    });
  });
}
