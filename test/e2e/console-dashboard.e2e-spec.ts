import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

// Generous: a browser, an engine and the stand-ins share 2 cores with the other suites in CI.
jest.setTimeout(300_000);

/** What a channel's card on the dashboard shows for one counter (`Received`, `Queued`, …). */
function counter(page: Page, channel: string, label: string) {
  return page
    .getByRole('article', { name: channel })
    .locator('.counter')
    .filter({ has: page.getByText(label, { exact: true }) })
    .locator('dd');
}

describeWithBrowser('the console: dashboard and channels', () => {
  let stack: ConsoleStack;
  let browser: Browser;

  beforeAll(async () => {
    [stack, browser] = await Promise.all([startConsoleStack(), launchBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('shows every channel with the counts sent over MLLP, live, and passes axe at desktop and tablet sizes', async () => {
    const { page, errors } = await openPage(browser);
    await signIn(page, stack.base, stack.users.admin);
    // Time to first render: navigation start to the channel cards on screen.
    await page.goto(`${stack.base}/`);
    await page.getByRole('article', { name: 'pms-adt' }).waitFor({ timeout: 20_000 });
    const firstRender = await page.evaluate(() => Math.round(performance.now()));
    console.log(`dashboard: first render (navigation start to the channel cards) ${firstRender} ms`);
    await expectText(counter(page, 'lab-results', 'Received'), '0');
    await page.getByText('Live', { exact: true }).waitFor({ timeout: 20_000 });

    for (let i = 1; i <= 3; i++) expect(await stack.sendLab(`DASH-LAB-${i}`, `MRN-D${i}`)).toBe('AA');
    for (let i = 1; i <= 2; i++) expect(await stack.sendAdt(`DASH-ADT-${i}`, `MRN-A${i}`)).toBe('AA');
    // Pushed over server-sent events: no reload.
    await expectText(counter(page, 'lab-results', 'Received'), '3');
    await expectText(counter(page, 'pms-adt', 'Received'), '2');
    await expectText(counter(page, 'lab-results', 'Sent'), '3');
    const lab = page.getByRole('article', { name: 'lab-results' });
    await lab.getByText('Running', { exact: true }).waitFor();
    expect(await lab.getByRole('link', { name: 'Dead letters' }).getAttribute('href')).toBe(
      '/dead-letters?channel=lab-results',
    );
    // The charts of the first channel, with the numbers for screen readers.
    // The charts follow: 3 received in the last 24 hours, without a reload.
    await page
      .getByRole('img', {
        name: /lab-results: messages per hour, last 24 hours.*Received: 3 messages in all/,
      })
      .waitFor({ timeout: 20_000 });
    await page.locator('.chart-plot canvas').first().waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'dashboard', stack.dir);
    expect(errors).toEqual([]);
    await page.context().close();

    const tablet = await openPage(browser, { width: 820, height: 1180 });
    await signIn(tablet.page, stack.base, stack.users.operator);
    await expectText(counter(tablet.page, 'lab-results', 'Received'), '3');
    await tablet.page.getByRole('img', { name: /messages per hour, last 7 days/ }).waitFor();
    expect(await seriousAxeViolations(tablet.page)).toEqual([]);
    expect(tablet.errors).toEqual([]);
    await tablet.page.context().close();
  });

  it('pauses a channel from its page (its MLLP sender is refused) and resumes it; shows its configuration and history', async () => {
    const { page, errors } = await openPage(browser);
    await signIn(page, stack.base, stack.users.admin);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Channels' }).click();
    const row = page.getByRole('row', { name: /lab-results/ });
    await row.waitFor({ timeout: 20_000 });
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'channels', stack.dir);

    await row.getByRole('link', { name: 'lab-results' }).click();
    await page.getByRole('heading', { level: 1, name: 'lab-results' }).waitFor();
    // The configuration, readably.
    await page.getByText('keeps messages where MSH-9.1 = "ORU"').waitFor();
    await page.getByText('with transformer oru-to-fhir', { exact: false }).waitFor();
    await page.getByText('in order per PID-3.1').waitFor();
    await page.getByText('1 attempt, then dead-lettered').first().waitFor();
    // The deployment history: version 1, the current one; lint of its text.
    const history = page.getByRole('region', { name: 'Deployment history' });
    await history.getByRole('row', { name: /^1\s*current\s+deployed/ }).waitFor({ timeout: 20_000 });
    // The channel's file linted: the HTTP destination's default timeout is a warning, at its line.
    const lint = page.getByRole('region', { name: 'Lint' });
    await lint.getByText('0 errors, 1 warning').waitFor({ timeout: 20_000 });
    expect(await lint.getByRole('listitem').first().textContent()).toMatch(
      /^lab-results\.yaml:\d+:\d+ warning destination\.short_timeout /,
    );
    // The shadow run starts from the deployed text.
    expect(await page.getByLabel('Candidate channel text').inputValue()).toContain('id: lab-results');
    await page.getByRole('table', { name: 'Latency, last 24 hours' }).waitFor({ timeout: 20_000 });
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'channel', stack.dir);

    await page.getByRole('button', { name: 'Pause', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Pause lab-results?' });
    await dialog.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('button', { name: 'Resume', exact: true }).waitFor();
    await page.locator('.channel-head').getByText('Paused', { exact: true }).waitFor();
    // A paused channel refuses its senders with AR (send again later): nothing is stored.
    let n = 0;
    const refused = await waitFor(
      'the paused channel to refuse its sender',
      async () => {
        const code = await stack.sendLab(`DASH-PAUSED-${++n}`, 'MRN-P1');
        return code !== 'AA' && code;
      },
      15_000,
      250,
    );
    expect(refused).toBe('AR');

    const before = stack.peer.received.length;
    await page.getByRole('button', { name: 'Resume', exact: true }).click();
    await page
      .getByRole('dialog', { name: 'Resume lab-results?' })
      .getByRole('button', { name: 'Resume' })
      .click();
    await page.getByRole('button', { name: 'Pause', exact: true }).waitFor();
    await page.locator('.channel-head').getByText('Running', { exact: true }).waitFor({ timeout: 20_000 });
    await waitFor(
      'the resumed channel to take a message',
      async () => (await stack.sendLab('DASH-RESUMED-1', 'MRN-R1')) === 'AA',
      15_000,
      250,
    );
    await waitFor('the delivery after resuming', () => stack.peer.received.length > before, 20_000, 100);

    // A shadow run of a candidate that filters every lab message out: each stored one is "filtered".
    const candidate = page.getByLabel('Candidate channel text');
    await candidate.fill((await candidate.inputValue()).replace('equals: ORU', 'equals: ADT'));
    await page.getByRole('button', { name: 'Run shadow' }).click();
    const result = page.getByRole('region', { name: 'Shadow run result' });
    await result.waitFor({ timeout: 20_000 });
    const total = (label: string) =>
      result
        .locator('.totals > div')
        .filter({ has: page.getByText(label, { exact: true }) })
        .locator('dd');
    const read = Number(await total('Messages read').textContent());
    expect(read).toBeGreaterThan(0);
    expect(await total('Filtered').textContent()).toBe(String(read));
    const changed = result.locator('.shadow-changes > li');
    expect(await changed.count()).toBe(Math.min(read, 200));
    expect(await changed.first().locator('strong').first().textContent()).toBe('filtered');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('compares two deployed versions of a channel and rolls back to the first', async () => {
    const { page, errors } = await openPage(browser);
    await signIn(page, stack.base, stack.users.admin);
    // Version 2: the ADT channel's file changed and the folder redeployed, as an engineer would.
    const file = join(stack.dir, 'channels', 'pms-adt.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('retry: { attempts: 1 }', 'retry: { attempts: 3 }'),
    );
    const session = (await (await page.request.get(`${stack.base}/api/v1/session`)).json()) as {
      csrf_token: string;
    };
    const deployed = await page.request.post(`${stack.base}/api/v1/channels/deploy`, {
      headers: { 'X-CSRF-Token': session.csrf_token },
    });
    expect(deployed.status()).toBe(200);

    await page.goto(`${stack.base}/channels/pms-adt`);
    await page.getByText('3 attempts, then dead-lettered', { exact: false }).waitFor({ timeout: 20_000 });
    const history = page.getByRole('region', { name: 'Deployment history' });
    await history.getByRole('row', { name: /^2\s*current\s+deployed/ }).waitFor({ timeout: 20_000 });
    // The diff from version 1 to 2, line by line.
    const diff = page.getByRole('region', { name: 'Changes from version 1 to version 2' });
    await diff.waitFor({ timeout: 20_000 });
    await diff
      .getByText('1 line added, 1 line removed', { exact: false })
      .or(page.getByText('1 line added, 1 line removed'))
      .first()
      .waitFor();
    expect(await diff.locator('tr.diff-del .diff-text').textContent()).toMatch(
      /-\s*retry: \{ attempts: 1 \}$/,
    );
    expect(await diff.locator('tr.diff-add .diff-text').textContent()).toMatch(
      /\+\s*retry: \{ attempts: 3 \}$/,
    );
    expect(await seriousAxeViolations(page)).toEqual([]);

    await history.getByRole('button', { name: 'Roll back to version 1' }).click();
    await page
      .getByRole('dialog', { name: 'Roll back pms-adt to version 1?' })
      .getByRole('button', { name: 'Roll back' })
      .click();
    await page
      .getByText('Rolled back to the text of version 1; now deployed as version 3.')
      .waitFor({ timeout: 20_000 });
    await history.getByRole('row', { name: /^3\s*current\s+deployed/ }).waitFor({ timeout: 20_000 });
    await page.getByText('1 attempt, then dead-lettered').waitFor({ timeout: 20_000 });
    expect(readFileSync(file, 'utf8')).toContain('retry: { attempts: 1 }');
    expect(await stack.sendAdt('DASH-ADT-AFTER', 'MRN-A9')).toBe('AA');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('shows a viewer the channel but no pause, rollback or shadow run', async () => {
    const { page, errors } = await openPage(browser);
    await signIn(page, stack.base, stack.users.viewer);
    await page.goto(`${stack.base}/channels/pms-adt`);
    await page.getByRole('heading', { level: 2, name: 'Configuration' }).waitFor({ timeout: 20_000 });
    await page.getByRole('region', { name: 'Deployment history' }).getByRole('row').nth(1).waitFor();
    expect(await page.getByRole('button', { name: /^(Pause|Resume)$/ }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /Roll back/ }).count()).toBe(0);
    expect(await page.getByRole('heading', { name: 'Shadow run' }).count()).toBe(0);
    expect(errors).toEqual([]);
    await page.context().close();
  });
});

/** Waits (live updates take a moment) until `locator` shows `text`; says what it showed if it never does. */
async function expectText(locator: ReturnType<Page['locator']>, text: string): Promise<void> {
  let seen: string | null = null;
  try {
    await waitFor(
      `“${text}”`,
      async () => (seen = await locator.first().textContent({ timeout: 20_000 })) === text,
      20_000,
      200,
    );
  } catch {
    throw new Error(`expected “${text}”, the page shows “${seen ?? '(nothing)'}”`);
  }
}
