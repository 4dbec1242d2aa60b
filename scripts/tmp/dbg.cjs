const { chromium } = require('playwright-core');
(async () => {
  const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless','--no-sandbox','--disable-background-networking'] });
  const p = await b.newPage();
  p.on('console', (m) => console.log('console', m.type(), m.text()));
  p.on('pageerror', (e) => console.log('pageerror', e.message, e.stack));
  p.on('requestfailed', (r) => console.log('failed', r.url()));
  await p.goto('http://127.0.0.1:18081/sign-in');
  await p.waitForTimeout(3000);
  console.log((await p.content()).slice(0, 600));
  await b.close();
})();
