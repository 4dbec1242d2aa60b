import type { Browser, Page } from 'playwright-core';
import {
  describeWithBrowser,
  launchBrowser,
  openPage,
  screenshot,
  seriousAxeViolations,
  signIn,
  startConsoleStack,
  type ConsoleStack,
} from '../support/console';
import { waitFor } from '../support/wait';

jest.setTimeout(150_000);

/**
 * Waits until `read` gives a value `ok` accepts, and returns it; on timeout the error says the
 * last value read.
 */
async function until<T>(
  what: string,
  read: () => T | Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  let last: T | undefined;
  try {
    return await waitFor(
      what,
      async () => {
        last = await read();
        return ok(last) ? { value: last } : undefined;
      },
      timeoutMs,
      25,
    ).then((r) => r.value);
  } catch (err) {
    throw new Error(`${(err as Error).message} (last: ${JSON.stringify(last)})`);
  }
}

const same = (want: string[]) => (got: string[]) => JSON.stringify([...got].sort()) === JSON.stringify(want);

/** Whether the page fits a tablet's width (820 px) without scrolling sideways. */
async function fitsTablet(page: Page): Promise<boolean> {
  const before = page.viewportSize() ?? { width: 1280, height: 800 };
  await page.setViewportSize({ width: 820, height: 1180 });
  const fits = await page.evaluate(() => {
    const d = (
      globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }
    ).document.documentElement;
    return d.scrollWidth <= d.clientWidth;
  });
  await page.setViewportSize(before);
  return fits;
}

/** The control ids in the messages table, in order. */
async function controlIds(page: Page): Promise<string[]> {
  const cells = page.locator('.vtable-body [role="row"] [role="cell"]:nth-child(4)');
  return (await cells.allTextContents()).map((t) => t.trim());
}

describeWithBrowser('the console: find a patient’s messages, read one, replay dead letters', () => {
  let stack: ConsoleStack;
  let browser: Browser;

  beforeAll(async () => {
    [stack, browser] = await Promise.all([startConsoleStack(), launchBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('searches by MRN, shows a message’s stages with field names, and replays a dead letter once its destination is fixed', async () => {
    expect(await stack.sendLab('E2E-LAB-1', 'MRN-A', 'DOE')).toBe('AA');
    expect(await stack.sendLab('E2E-LAB-2', 'MRN-A', 'DOE')).toBe('AA');
    expect(await stack.sendLab('E2E-LAB-3', 'MRN-B', 'ROE')).toBe('AA');
    expect(await stack.sendAdt('E2E-ADT-1', 'MRN-A', 'DOE')).toBe('AA');
    // All four delivered: the transformed stage and the payloads are stored.
    await until(
      'the four deliveries',
      () => stack.peer.received.length,
      (n) => n === 4,
      20_000,
    );

    const { page, errors } = await openPage(browser);
    await signIn(page, stack.base, stack.users.admin);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Messages' }).click();
    await page.getByRole('heading', { level: 1, name: 'Messages' }).waitFor();
    // Every message, newest first, before any search.
    await until(
      'every message listed',
      () => controlIds(page),
      (ids) => ids.length === 4,
    );

    await page.getByLabel('Search messages').fill('MRN-A');
    const submitted = Date.now();
    await page.getByLabel('Search messages').press('Enter');
    await until(
      'MRN-A’s messages only',
      () => controlIds(page),
      same(['E2E-ADT-1', 'E2E-LAB-1', 'E2E-LAB-2']),
    );
    console.log(`message search: submit → first rows shown in ${Date.now() - submitted} ms`);
    expect(new URL(page.url()).searchParams.get('q')).toBe('MRN-A');
    await page.getByText('3 messages').waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'messages', stack.dir);
    expect(await fitsTablet(page)).toBe(true);

    // Keyset paging: one message a page, the next pages loaded as the end of the list comes into view.
    await page.goto(`${stack.base}/messages?limit=1`);
    await until(
      'every message, a page at a time',
      () => controlIds(page),
      (ids) => ids.length === 4,
    );
    expect((await controlIds(page)).sort()).toEqual(['E2E-ADT-1', 'E2E-LAB-1', 'E2E-LAB-2', 'E2E-LAB-3']);
    await page.getByText('End of results.').waitFor();

    // A control id finds its message; so does a key written name:value.
    await page.getByLabel('Search messages').fill('E2E-LAB-3');
    await page.getByLabel('Search messages').press('Enter');
    await until('the message with that control id', () => controlIds(page), same(['E2E-LAB-3']));
    await page.getByLabel('Search messages').fill('mrn:MRN-B');
    await page.getByLabel('Search messages').press('Enter');
    await until('MRN-B’s message by key', () => controlIds(page), same(['E2E-LAB-3']));
    expect(new URL(page.url()).searchParams.get('key')).toBe('mrn:MRN-B');

    // A dashboard's link: the filters come from the URL.
    await page.goto(`${stack.base}/messages?channel=lab-results&q=MRN-A`);
    await until('MRN-A’s lab results', () => controlIds(page), same(['E2E-LAB-1', 'E2E-LAB-2']));
    expect(await page.getByLabel('Channel').inputValue()).toBe('lab-results');
    expect(await page.getByLabel('Search messages').inputValue()).toBe('MRN-A');

    // The message page asks for the metadata first, and for the content (an audited read) only when told to.
    const reads: string[] = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (/^\/api\/v1\/messages\/[^/]+$/.test(u.pathname))
        reads.push(u.searchParams.get('content') ?? 'default');
    });
    await page.getByRole('link', { name: /message E2E-LAB-1/ }).click();
    await page.getByRole('heading', { level: 1, name: /Message E2E-LAB-1/ }).waitFor();
    const messageUrl = page.url();
    const messageId = new URL(messageUrl).pathname.split('/').pop() as string;
    await page.getByRole('heading', { name: /To ehr/ }).waitFor();
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.filter((c) => c !== 'false')).toEqual([]);
    await page.getByRole('button', { name: 'Show content' }).click();

    const raw = page.getByRole('region', { name: 'Raw message' });
    await raw.getByText('PID', { exact: true }).waitFor({ timeout: 15_000 });
    const family = raw.locator('[data-path="PID-5.1"]');
    expect(await family.textContent()).toBe('DOE');
    expect(await family.getAttribute('title')).toBe('PID-5.1 Family name');
    await family.hover();
    const panel = raw.locator('.hl7-panel');
    await until(
      'the family name’s path',
      () => panel.textContent(),
      (t) => !!t?.includes('PID-5.1'),
    );
    expect(await panel.textContent()).toContain('Family name');
    // The keyboard gets there too: the next value is the given name.
    await family.focus();
    await page.keyboard.press('ArrowRight');
    await until(
      'the given name',
      () => panel.textContent(),
      (t) => !!t?.includes('PID-5.2 Given name'),
    );
    // Escapes are decoded: the NTE's \T\ is an ampersand.
    await raw.getByText('Fasting sample & repeat in 3 months').waitFor();

    expect(reads.filter((c) => c !== 'false')).toEqual(['true']);
    const transformed = page.getByRole('region', { name: 'Transformed' });
    await transformed.getByText('"resourceType"').first().waitFor();
    // Folded and unfolded as a whole.
    await transformed.getByRole('button', { name: 'Collapse all of Transformed' }).click();
    expect(await transformed.locator('details[open]').count()).toBe(0);
    expect(await transformed.getByText('"resourceType"').first().isVisible()).toBe(false);
    await transformed.getByRole('button', { name: 'Expand all of Transformed' }).click();
    expect(await transformed.locator('details:not([open])').count()).toBe(0);
    expect(await transformed.getByText('"resourceType"').first().isVisible()).toBe(true);
    await page.getByRole('region', { name: 'ACK sent' }).getByText('MSA', { exact: true }).waitFor();
    await page.getByRole('region', { name: 'Payload to ehr' }).getByText('"resourceType"').first().waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'message', stack.dir);
    expect(await fitsTablet(page)).toBe(true);

    // The destination refuses: the next lab result is dead-lettered.
    stack.peer.status = 400;
    expect(await stack.sendLab('E2E-LAB-4', 'MRN-C', 'POE')).toBe('AA');
    await until(
      'the dead letter',
      async () => {
        const r = await page.request.get(`${stack.base}/api/v1/dead-letters`);
        return ((await r.json()) as { total: number }).total;
      },
      (n) => n === 1,
      20_000,
    );

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dead letters' }).click();
    await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
    const group = page.getByTestId('dead-letter-group');
    await group.first().waitFor({ timeout: 15_000 });
    expect(await group.count()).toBe(1);
    const cells = (await group.getByRole('cell').allTextContents()).map((t) => t.trim());
    expect(cells.slice(0, 2)).toEqual(['lab-results', 'ehr']);
    expect(cells[2]).toContain('400');
    expect(cells[3]).toBe('1');
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'dead-letters', stack.dir);
    expect(await fitsTablet(page)).toBe(true);

    // Fixed: replay the group, dry-run count first.
    stack.peer.status = 200;
    await group.getByRole('button', { name: /Replay/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('1 delivery will be replayed.').waitFor();
    await dialog.getByRole('button', { name: 'Replay' }).click();
    await page.getByText('Replayed 1 delivery to ehr').waitFor();
    await until(
      'the replayed delivery at the peer',
      () => stack.peer.received.some((r) => r.path === '/fhir' && r.body.includes('MRN-C')),
      (ok) => ok,
      20_000,
    );
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByText('No dead letters').waitFor({ timeout: 15_000 });

    // One message's dead letter, replayed from its own page, which follows the delivery until it is sent.
    stack.peer.status = 400;
    expect(await stack.sendLab('E2E-LAB-5', 'MRN-D', 'DOE')).toBe('AA');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await group.first().waitFor({ timeout: 20_000 });
    stack.peer.status = 200;
    await group.getByRole('link', { name: /Sample/ }).click();
    await page.getByRole('heading', { level: 1, name: /Message E2E-LAB-5/ }).waitFor();
    const delivery = page.getByRole('heading', { name: /To ehr/ });
    expect(await delivery.textContent()).toContain('dead lettered');
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    await page.getByRole('dialog').getByText('1 dead-lettered delivery is queued again').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Replay' }).click();
    await page.getByText('Replayed 1 delivery').waitFor();
    await until(
      'the delivery shown as sent',
      () => delivery.textContent(),
      (t) => !!t?.includes('sent'),
      20_000,
    );
    expect(stack.peer.received.some((r) => r.body.includes('MRN-D'))).toBe(true);
    expect(errors).toEqual([]);
    await page.context().close();

    // A viewer sees the message, but no content and no replay.
    const viewer = await openPage(browser);
    await signIn(viewer.page, stack.base, stack.users.viewer);
    // A message id typed into the search opens that message.
    await viewer.page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Messages' })
      .click();
    await viewer.page.getByLabel('Search messages').fill(messageId);
    await viewer.page.getByLabel('Search messages').press('Enter');
    await viewer.page.waitForURL((u) => u.pathname === `/messages/${messageId}`);
    await viewer.page.getByRole('heading', { level: 1, name: /Message E2E-LAB-1/ }).waitFor();
    await viewer.page.getByText('needs the phi:read permission').waitFor();
    expect(await viewer.page.getByRole('button', { name: 'Show content' }).count()).toBe(0);
    expect(await viewer.page.getByRole('button', { name: /Replay/ }).count()).toBe(0);
    expect(await viewer.page.locator('.hl7-view, .json-view').count()).toBe(0);
    expect(await viewer.page.locator('main').textContent()).not.toContain('DOE');
    expect(await seriousAxeViolations(viewer.page)).toEqual([]);
    expect(viewer.errors).toEqual([]);
    await viewer.page.context().close();
  });
});
