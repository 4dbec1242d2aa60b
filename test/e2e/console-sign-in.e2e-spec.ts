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

// Generous: a browser, an engine and the stand-ins share 2 cores with the other suites in CI.
jest.setTimeout(300_000);

describeWithBrowser('the console: served by the engine, signing in', () => {
  let stack: ConsoleStack;
  let browser: Browser;

  beforeAll(async () => {
    [stack, browser] = await Promise.all([startConsoleStack(), launchBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('serves the console with a strict CSP, hashed assets cached for a year, and pages for any path', async () => {
    const index = await fetch(`${stack.base}/messages/some-id`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(index.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    // Nothing from elsewhere: every script and stylesheet is the engine's own.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const asset = await fetch(`${stack.base}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('max-age=31536000');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${stack.base}/assets/missing.js`)).status).toBe(404);
    // The engine's own paths are not the console's.
    expect((await fetch(`${stack.base}/api/v1/channels`)).status).toBe(401);
    expect(await (await fetch(`${stack.base}/health`)).json()).toEqual({ status: 'ok' });
  });

  it('signs in with username and password; a wrong password gets one generic error', async () => {
    const { page, errors } = await openPage(browser);
    await page.goto(`${stack.base}/channels`);
    // Not signed in: the sign-in page, which comes back to the page asked for.
    await page.waitForURL((u) => u.pathname === '/sign-in');
    await page.getByLabel('Username').fill(stack.users.admin.username);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectText(page, 'Wrong username or password.');
    // An unknown user gets the very same words.
    await page.getByLabel('Username').fill('nobody-here');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectText(page, 'Wrong username or password.');
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'sign-in', stack.dir);

    await page.getByLabel('Username').fill(stack.users.admin.username);
    await page.getByLabel('Password').fill(stack.users.admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/channels');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((u) => u.pathname === '/sign-in');
    // The session is over on the server too.
    expect((await page.request.get(`${stack.base}/api/v1/session`)).status()).toBe(401);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('explains a lockout after repeated failures', async () => {
    const { page } = await openPage(browser);
    await page.goto(`${stack.base}/sign-in`);
    await page.getByLabel('Username').fill(stack.users.viewer.username);
    await page.getByLabel('Password').fill('wrong-password');
    for (let i = 0; i < 12; i++) {
      await page.getByRole('button', { name: 'Sign in' }).click();
      const text = await page.getByRole('alert').first().textContent({ timeout: 10_000 });
      if (text?.includes('locked')) break;
    }
    await expectText(page, 'this account is locked');
    await page.context().close();
  });

  it('keeps a signed-in person on the page they open, across a reload', async () => {
    const { page, errors } = await openPage(browser);
    await signIn(page, stack.base, stack.users.operator);
    await page.reload();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    expect(errors).toEqual([]);
    await page.context().close();
  });
});

async function expectText(page: Page, text: string): Promise<void> {
  await page.getByText(text, { exact: false }).first().waitFor({ timeout: 10_000 });
}
