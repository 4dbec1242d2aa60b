import { execFile } from 'node:child_process';
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

const WAIT = { timeout: 20_000 };

/** The real `curl` with an API key: the status and the body it printed. */
function curlWithKey(secret: string, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['-s', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${secret}`, url],
      { timeout: 15_000 },
      (err, stdout) => {
        if (err) return reject(err);
        const cut = stdout.lastIndexOf('\n');
        resolve({ status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) });
      },
    );
  });
}

/** `read()` again until `ok` holds of it (or 20 s pass): its last value. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let v = await read();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    v = await read();
  }
  return v;
}

describeWithBrowser('the console: users, API keys, OAuth clients and the audit log', () => {
  let stack: ConsoleStack;
  let browser: Browser;
  let admin: Page;
  let errors: string[];
  let keyId: string;

  /** Signs in through the form in a fresh browser context: `signed in`, or the error shown. */
  async function signInAs(user: { username: string; password: string }): Promise<string> {
    const { page } = await openPage(browser);
    try {
      await page.goto(`${stack.base}/sign-in`);
      await page.getByLabel('Username').fill(user.username);
      await page.getByLabel('Password').fill(user.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const outcome = page.getByRole('navigation', { name: 'Main' }).or(page.getByRole('alert')).first();
      await outcome.waitFor(WAIT);
      return (await page.getByRole('alert').count()) > 0
        ? ((await page.getByRole('alert').textContent()) ?? '')
        : 'signed in';
    } finally {
      await page.context().close();
    }
  }

  beforeAll(async () => {
    [stack, browser] = await Promise.all([startConsoleStack(), launchBrowser()]);
    ({ page: admin, errors } = await openPage(browser));
    await signIn(admin, stack.base, stack.users.admin);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('creates an API key whose secret, shown once, works with curl until it is revoked', async () => {
    await admin.getByRole('link', { name: 'API keys' }).click();
    await admin.getByRole('heading', { level: 1, name: 'API keys' }).waitFor(WAIT);
    const form = admin.locator('form', { has: admin.getByRole('heading', { name: 'New API key' }) });
    await form.getByLabel('Name', { exact: true }).fill('lab-dashboard');
    // Ingest scopes are offered for the deployed channels.
    await form.getByLabel('ingest:lab-results', { exact: true }).waitFor(WAIT);
    await form.getByLabel('channels:read', { exact: true }).check();
    await form.getByRole('button', { name: 'Create key' }).click();

    const panel = admin.getByRole('region', { name: 'API key lab-dashboard created' });
    await panel.waitFor(WAIT);
    await panel.getByText('it is shown only once').waitFor();
    const secret = (await panel.locator('[data-secret]').textContent())?.trim() ?? '';
    expect(secret).toMatch(/^snw_[A-Za-z0-9]+_/);
    expect(await panel.locator('pre').textContent()).toBe(
      `curl -s -H "Authorization: Bearer ${secret}" ${stack.base}/api/v1/channels`,
    );
    await panel.getByRole('button', { name: 'Copy the key' }).waitFor();
    expect(await seriousAxeViolations(admin)).toEqual([]);

    const ok = await curlWithKey(secret, `${stack.base}/api/v1/channels`);
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as { items: Array<{ id: string }> }).items.map((c) => c.id)).toEqual([
      'lab-results',
      'pms-adt',
    ]);

    // Once dismissed, the secret is gone from the page.
    await panel.getByRole('button', { name: 'I have copied it' }).click();
    await panel.waitFor({ state: 'detached' });
    expect(await admin.content()).not.toContain(secret);

    const row = admin.locator('tr[data-key="lab-dashboard"]');
    await row.getByText('active').waitFor(WAIT);
    expect(await row.locator('td').nth(1).textContent()).toBe('channels:read');
    await row.getByRole('button', { name: 'Revoke lab-dashboard' }).click();
    const dialog = admin.getByRole('dialog', { name: 'Revoke the key lab-dashboard?' });
    await dialog.getByRole('button', { name: 'Revoke key' }).click();
    await row.getByText('revoked').waitFor(WAIT);
    await dialog.waitFor({ state: 'hidden' });
    expect(await row.getByRole('button').count()).toBe(0);

    expect((await curlWithKey(secret, `${stack.base}/api/v1/channels`)).status).toBe(401);
    const keys = (await (await admin.request.get(`${stack.base}/api/v1/keys`)).json()) as {
      items: Array<{ id: string; name: string }>;
    };
    keyId = keys.items.find((k) => k.name === 'lab-dashboard')?.id ?? '';
    expect(keyId).not.toBe('');
    expect(await seriousAxeViolations(admin)).toEqual([]);
    await screenshot(admin, 'keys', stack.dir);
  });

  it('creates a viewer who sees no admin pages, and disabling them stops their sign-in', async () => {
    await admin.getByRole('link', { name: 'Users' }).click();
    await admin.getByRole('heading', { level: 1, name: 'Users' }).waitFor(WAIT);
    for (const u of Object.values(stack.users))
      await admin.locator(`tr[data-user="${u.username}"]`).waitFor(WAIT);
    const form = admin.locator('form', { has: admin.getByRole('heading', { name: 'New user' }) });
    await form.getByLabel('Username', { exact: true }).fill('nadia');
    await form.getByLabel('Role', { exact: true }).selectOption('viewer');
    // Too short: the engine's own words.
    await form.getByLabel('Password', { exact: true }).fill('short-pw');
    await form.getByLabel('Confirm password', { exact: true }).fill('short-pw');
    const before = errors.length;
    await form.getByRole('button', { name: 'Create user' }).click();
    await form.getByRole('alert').getByText('at least 12 characters').waitFor(WAIT);
    // The browser logs the refused request; that one is expected, nothing else.
    expect(errors.slice(before).every((e) => e.includes('status of 400 (Bad Request)'))).toBe(true);
    errors.splice(before);
    // Different confirmation: refused before asking the engine.
    await form.getByLabel('Password', { exact: true }).fill('nadia-password-1');
    await form.getByLabel('Confirm password', { exact: true }).fill('nadia-password-2');
    await form.getByRole('button', { name: 'Create user' }).click();
    await form.getByRole('alert').getByText('The two passwords differ.').waitFor(WAIT);
    await form.getByLabel('Confirm password', { exact: true }).fill('nadia-password-1');
    await form.getByRole('button', { name: 'Create user' }).click();
    const row = admin.locator('tr[data-user="nadia"]');
    await row.waitFor(WAIT);
    expect(await row.locator('td').first().textContent()).toBe('viewer');
    expect(await row.locator('td').nth(1).textContent()).toBe('active');
    expect(await seriousAxeViolations(admin)).toEqual([]);
    await screenshot(admin, 'users', stack.dir);

    const nadia = { username: 'nadia', password: 'nadia-password-1' };
    const viewer = await openPage(browser);
    await signIn(viewer.page, stack.base, nadia);
    const nav = viewer.page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Dashboard' }).waitFor(WAIT);
    const links = await nav.getByRole('link').allTextContents();
    expect(links).toContain('Messages');
    for (const hidden of ['Users', 'API keys', 'OAuth clients', 'Audit log'])
      expect(links).not.toContain(hidden);
    // Typed in, the pages say what is missing (and ask the engine nothing it would refuse).
    await viewer.page.goto(`${stack.base}/access/keys`);
    await viewer.page.getByText('This page needs the admin scope').waitFor(WAIT);
    await viewer.page.goto(`${stack.base}/audit`);
    await viewer.page.getByText('This page needs the audit:read scope').waitFor(WAIT);
    expect(viewer.errors).toEqual([]);
    await viewer.page.context().close();

    // A new password, then a new role, from the row's dialogs.
    await row.getByRole('button', { name: 'Reset password of nadia' }).click();
    const reset = admin.getByRole('dialog', { name: 'New password for nadia' });
    await reset.getByLabel('New password', { exact: true }).fill('nadia-password-new');
    await reset.getByLabel('Confirm new password', { exact: true }).fill('nadia-password-new');
    expect(await seriousAxeViolations(admin)).toEqual([]);
    await reset.getByRole('button', { name: 'Set password' }).click();
    await admin.getByRole('status').getByText('New password set for nadia.').waitFor(WAIT);
    await row.getByRole('button', { name: 'Change role of nadia' }).click();
    const role = admin.getByRole('dialog', { name: 'Role of nadia' });
    await role.getByLabel('Role', { exact: true }).selectOption('operator');
    await role.getByRole('button', { name: 'Change role' }).click();
    await admin.getByRole('status').getByText('nadia is now operator.').waitFor(WAIT);
    expect(await row.locator('td').first().textContent()).toBe('operator');
    nadia.password = 'nadia-password-new';
    expect(await signInAs(nadia)).toBe('signed in');

    // The last administrator cannot be disabled: the engine's answer is shown, nothing changes.
    const self = admin.locator(`tr[data-user="${stack.users.admin.username}"]`);
    await self.getByRole('button', { name: `Disable ${stack.users.admin.username}` }).click();
    const refuse = admin.getByRole('dialog', { name: `Disable ${stack.users.admin.username}?` });
    const logged = errors.length;
    await refuse.getByRole('button', { name: 'Disable', exact: true }).click();
    await refuse.getByRole('alert').waitFor(WAIT);
    expect(await refuse.getByRole('alert').textContent()).toMatch(/administrator/);
    expect(errors.slice(logged).every((e) => e.includes('status of 409 (Conflict)'))).toBe(true);
    errors.splice(logged);
    await refuse.getByRole('button', { name: 'Cancel' }).click();
    await refuse.waitFor({ state: 'hidden' });
    expect(await self.locator('td').nth(1).textContent()).toBe('active');

    await row.getByRole('button', { name: 'Disable nadia' }).click();
    const dialog = admin.getByRole('dialog', { name: 'Disable nadia?' });
    await dialog.getByRole('button', { name: 'Disable', exact: true }).click();
    await row.getByText('disabled').waitFor(WAIT);
    await row.getByRole('button', { name: 'Enable nadia' }).waitFor();
    expect(await signInAs(nadia)).toBe('Wrong username or password.');
  });

  it('registers an OAuth client whose secret is shown once and gets a token', async () => {
    await admin.goto(`${stack.base}/access/clients`);
    await admin.getByRole('heading', { level: 1, name: 'OAuth clients' }).waitFor(WAIT);
    const form = admin.locator('form', { has: admin.getByRole('heading', { name: 'Register a client' }) });
    await form.getByLabel('Name', { exact: true }).fill('ehr-sync');
    await form.getByLabel('messages:read', { exact: true }).check();
    await form.getByRole('button', { name: 'Register client' }).click();
    const panel = admin.getByRole('region', { name: 'Client ehr-sync registered' });
    await panel.waitFor(WAIT);
    const secret = (await panel.locator('[data-secret]').textContent())?.trim() ?? '';
    const clientId = (await panel.locator('dd code').first().textContent())?.trim() ?? '';
    const token = await fetch(`${stack.base}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: secret,
      }),
    });
    expect(token.status).toBe(200);
    expect(((await token.json()) as { scope: string }).scope).toBe('messages:read');
    const row = admin.locator('tr[data-client="ehr-sync"]');
    await row.getByText('active').waitFor(WAIT);
    expect(await seriousAxeViolations(admin)).toEqual([]);
    await panel.getByRole('button', { name: 'I have copied it' }).click();
    await row.getByRole('button', { name: 'Pause ehr-sync' }).click();
    await admin
      .getByRole('dialog', { name: 'Pause the client ehr-sync?' })
      .getByRole('button', { name: 'Pause client' })
      .click();
    await row.getByText('paused').waitFor(WAIT);
  });

  it('shows the key’s creation and revocation in the audit log, pages it, and verifies its chain', async () => {
    // Enough rows for a second page: refused calls are audited too.
    for (let i = 0; i < 110; i++) await fetch(`${stack.base}/api/v1/channels`);
    await admin.goto(`${stack.base}/audit`);
    await admin.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor(WAIT);
    const rows = admin.locator('tbody tr');
    expect(
      await until(
        () => rows.count(),
        (v) => v === 100,
      ),
    ).toBe(100);
    await admin.getByRole('button', { name: 'Load more' }).click();
    expect(
      await until(
        () => rows.count(),
        (v) => v > 110,
      ),
    ).toBeGreaterThan(110);
    // Newest first, all the way down.
    const seqs = (await rows.evaluateAll((trs) =>
      trs.map((tr) => Number(tr.getAttribute('data-seq'))),
    )) as number[];
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));

    const filters = admin.getByRole('search', { name: 'Audit log filters' });
    await filters.getByLabel('Action').fill('POST /api/v1/keys/{id}/revoke');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await admin.waitForURL((u) => u.searchParams.get('action') === 'POST /api/v1/keys/{id}/revoke');
    expect(
      await until(
        () => rows.count(),
        (v) => v === 1,
      ),
    ).toBe(1);
    const revoked = rows.first();
    expect(await revoked.locator('td').nth(1).textContent()).toContain(stack.users.admin.username);
    expect(await revoked.locator('td').nth(3).textContent()).toBe(keyId);
    expect(await revoked.locator('td').nth(4).textContent()).toBe('201 ok');

    await filters.getByLabel('Action').fill('POST /api/v1/keys');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await admin.waitForURL((u) => u.searchParams.get('action') === 'POST /api/v1/keys');
    expect(
      await until(
        () => rows.count(),
        (v) => v === 1,
      ),
    ).toBe(1);
    expect(await rows.first().locator('td').nth(3).textContent()).toBe(keyId);
    expect(await rows.first().locator('td').nth(4).textContent()).toBe('201 ok');
    // The filter survives a reload (it is in the URL).
    await admin.reload();
    expect(
      await until(
        () => admin.getByLabel('Action').inputValue(),
        (v) => v === 'POST /api/v1/keys',
      ),
    ).toBe('POST /api/v1/keys');
    expect(
      await until(
        () => rows.count(),
        (v) => v === 1,
      ),
    ).toBe(1);

    await admin.getByRole('button', { name: 'Verify chain' }).click();
    await admin.getByText('The hash chain is whole').waitFor(WAIT);
    expect(await admin.locator('.audit-verify-result .badge').textContent()).toBe('OK');

    const csv = await admin.getByRole('link', { name: 'CSV' }).getAttribute('href');
    expect(csv).toBe('/api/v1/audit/export?format=csv');
    const exported = await admin.request.get(`${stack.base}${csv}`);
    expect(exported.status()).toBe(200);
    expect(await exported.text()).toContain(keyId);

    expect(await seriousAxeViolations(admin)).toEqual([]);
    await screenshot(admin, 'audit', stack.dir);
    expect(errors).toEqual([]);
  });
});
