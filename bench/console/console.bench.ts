/**
 * Console benchmark: `node bench/run.mjs console [--messages 100000] [--runs 5]`.
 *
 * 1. The bundle: the JavaScript and CSS the console's first page loads (index.html's script,
 *    its module preloads and stylesheet), raw and gzipped (level 9), and all the JavaScript of
 *    every page. Target: initial JavaScript at most 250 KB gzipped.
 * 2. Time to first render on a ledger of `--messages` messages (SQLite, filled through the
 *    store with bench/support/ledger-fill.ts over the last 7 days, 20,000 patients): an engine
 *    started as a user starts it (`bin/sinew.js start`) with the two channels the messages
 *    belong to, and Debian's Chromium (playwright-core). Each run opens a fresh browser context
 *    signed in through the API, then measures, from the navigation's start:
 *      - a message search opened by URL (`/messages?q=MRN…`) until its first result is shown;
 *      - a search typed into `Search messages` and submitted, until its first result is shown;
 *      - the dashboard (`/`) until a channel's counts are shown, and the slowest answer of
 *        `/health` (asked every 20 ms) meanwhile: how long the dashboard's reads of the ledger
 *        hold the engine's event loop, which also answers MLLP senders.
 *    Medians and the slowest of `--runs`, in ms.
 */
import { gzipSync } from 'node:zlib';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessService } from '@sinew/auth';
import { openStore } from '@sinew/store';
import { chromium } from 'playwright-core';
import { freePort, ROOT, startEngineProcess } from '../../test/support/engine-process';
import { benchMrn, fillLedger } from '../support/ledger-fill';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const MESSAGES = Number(arg('messages', '100000'));
const RUNS = Number(arg('runs', '5'));
const PATIENTS = 20_000;
const TARGET_INITIAL_GZ = 250 * 1024;
const CONSOLE = join(ROOT, 'dist', 'console');
const CHROMIUM = process.env.SINEW_CHROMIUM ?? '/usr/bin/chromium';

function kb(n: number): string {
  return `${(n / 1024).toFixed(1)} KB`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

function bundle(): {
  initialJs: number;
  initialJsGz: number;
  cssGz: number;
  allJsGz: number;
  files: string[];
} {
  const html = readFileSync(join(CONSOLE, 'index.html'), 'utf8');
  const js = [
    ...html.matchAll(/<script[^>]+src="\/([^"]+\.js)"/g),
    ...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="\/([^"]+\.js)"/g),
  ].map((m) => m[1]!);
  const css = [...html.matchAll(/<link[^>]+rel="stylesheet"[^>]+href="\/([^"]+\.css)"/g)].map((m) => m[1]!);
  const gz = (f: string) => gzipSync(readFileSync(join(CONSOLE, f)), { level: 9 }).length;
  const raw = (f: string) => readFileSync(join(CONSOLE, f)).length;
  const allJs = readdirSync(join(CONSOLE, 'assets')).filter((f) => f.endsWith('.js'));
  return {
    initialJs: js.reduce((a, f) => a + raw(f), 0),
    initialJsGz: js.reduce((a, f) => a + gz(f), 0),
    cssGz: css.reduce((a, f) => a + gz(f), 0),
    allJsGz: allJs.reduce((a, f) => a + gz(join('assets', f)), 0),
    files: js,
  };
}

/** Asks `/health` every 20 ms until stopped; resolves with the slowest answer's time in ms. */
function healthProbe(base: string): { stop(): Promise<number> } {
  let running = true;
  let slowest = 0;
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      await fetch(`${base}/health`).then(
        (r) => r.arrayBuffer(),
        () => undefined,
      );
      slowest = Math.max(slowest, Date.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return slowest;
    },
  };
}

async function main(): Promise<void> {
  if (!existsSync(join(CONSOLE, 'index.html'))) throw new Error('dist/console is missing: npm run build');
  const b = bundle();
  console.log(
    `console benchmark: ${MESSAGES.toLocaleString('en')} messages, ${RUNS} runs; ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, load ${loadavg()[0]?.toFixed(1)}`,
  );
  console.log(
    `bundle: initial JavaScript ${kb(b.initialJs)} (${kb(b.initialJsGz)} gzipped, ${b.files.length} files), CSS ${kb(b.cssGz)} gzipped; all pages' JavaScript ${kb(b.allJsGz)} gzipped`,
  );

  const dir = mkdtempSync(join(tmpdir(), 'sinew-console-bench-'));
  const dataDir = join(dir, 'data');
  const channelsDir = join(dir, 'channels');
  mkdirSync(channelsDir);
  for (const id of ['lab-results', 'pms-adt']) {
    writeFileSync(
      join(channelsDir, `${id}.yaml`),
      `id: ${id}\nsource: { type: mllp, listen: 127.0.0.1:${await freePort()} }\nkeys: { mrn: PID-3.1 }\ndestinations:\n  - { name: ehr, type: http, url: 'http://127.0.0.1:9/fhir', retry: { attempts: 1 } }\n`,
    );
  }
  const store = await openStore({ dataDir });
  const now = Date.now();
  process.stderr.write(`filling ${MESSAGES.toLocaleString('en')} messages…\n`);
  const fillMs = await fillLedger(store, {
    count: MESSAGES,
    patients: PATIENTS,
    start: now - 7 * 24 * 3600_000,
    end: now - 60_000,
    channels: ['lab-results', 'pms-adt'],
  });
  const password = 'bench-password-1';
  await new AccessService(store).createUser({ username: 'bench', password, role: 'admin' });
  await store.close();
  process.stderr.write(`filled in ${(fillMs / 1000).toFixed(0)} s\n`);

  const engine = await startEngineProcess({ channelsDir, dataDir, env: { SINEW_API_RATE_LIMIT: '100000' } });
  const base = `http://127.0.0.1:${engine.httpPort}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--no-first-run',
    ],
  });
  const times = {
    dashboard: [] as number[],
    searchUrl: [] as number[],
    searchTyped: [] as number[],
    held: [] as number[],
  };
  try {
    for (let run = 0; run < RUNS + 1; run++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const signIn = await context.request.post(`${base}/api/v1/session`, {
        data: { username: 'bench', password },
      });
      if (!signIn.ok()) throw new Error(`sign-in answered ${signIn.status()}`);
      const page = await context.newPage();
      // The API calls each page makes, with their times (printed for the first measured run).
      const calls: string[] = [];
      let t0 = Date.now();
      page.on('requestfinished', (req) => {
        const u = new URL(req.url());
        if (!u.pathname.startsWith('/api/')) return;
        const t = req.timing();
        calls.push(
          `${u.pathname}${u.search}: ${Math.round(t.responseEnd - t.requestStart)} ms (sent at ${Math.round(t.startTime - t0)} ms)`,
        );
      });
      const mrn = benchMrn(run * 97 + 11);

      t0 = Date.now();
      await page.goto(`${base}/messages?q=${mrn}`);
      const loaded = Date.now() - t0;
      await page
        .locator('main')
        .getByText(/LAB\d{9}/)
        .first()
        .waitFor({ timeout: 60_000 });
      const searchUrl = Date.now() - t0;
      if (run === 1)
        console.log(`search by URL: page loaded at ${loaded} ms, first result at ${searchUrl} ms`);

      const other = benchMrn(run * 97 + 12);
      const field = page.getByLabel('Search messages');
      await field.fill(other);
      t0 = Date.now();
      await field.press('Enter');
      await page.waitForURL((u) => u.search.includes(other), { timeout: 60_000 });
      await page
        .locator('main')
        .getByText(/LAB\d{9}/)
        .first()
        .waitFor({ timeout: 60_000 });
      const searchTyped = Date.now() - t0;
      // The dashboard last: its 7-day statistics keep the engine busy for a while after it shows.
      // Meanwhile /health is asked every 20 ms: its slowest answer is how long the engine's
      // event loop (which also answers MLLP senders) was held by the dashboard's reads.
      const stall = healthProbe(base);
      t0 = Date.now();
      await page.goto(`${base}/`);
      await page.locator('main').getByText('lab-results').first().waitFor({ timeout: 60_000 });
      await page.locator('main').getByText(/\d/).first().waitFor({ timeout: 60_000 });
      const dashboard = Date.now() - t0;
      await page.waitForLoadState('networkidle').catch(() => undefined);
      const held = await stall.stop();

      await context.close();
      if (run === 1) console.log(`API calls of run 1:\n  ${calls.join('\n  ')}`);
      // The first run warms the engine's caches and the browser: not counted.
      if (run === 0) continue;
      times.dashboard.push(dashboard);
      times.held.push(held);
      times.searchUrl.push(searchUrl);
      times.searchTyped.push(searchTyped);
    }
  } finally {
    await browser.close();
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('\n| page | median ms | slowest ms |\n| --- | ---: | ---: |');
  const row = (name: string, xs: number[]) => console.log(`| ${name} | ${median(xs)} | ${Math.max(...xs)} |`);
  row('dashboard, first render with counts', times.dashboard);
  row('message search by URL, first result', times.searchUrl);
  row('message search typed, first result', times.searchTyped);
  row('slowest /health answer while the dashboard loads', times.held);
  if (b.initialJsGz > TARGET_INITIAL_GZ) {
    console.log(`\ntarget missed: initial JavaScript ${kb(b.initialJsGz)} gzipped > 250 KB`);
    process.exitCode = 1;
  } else console.log(`\ninitial JavaScript ${kb(b.initialJsGz)} gzipped: within 250 KB`);
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
