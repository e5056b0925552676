import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { BASE_URL, ROLES, launch, signIn, watchedPage } from './support.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => browser?.close());

test('the stats panel is server-rendered SVG, readable without JavaScript', async () => {
  const { page } = await watchedPage(browser);
  await signIn(page, ROLES.founder);
  const noScript = await browser.newPage({ javaScriptEnabled: false });
  await noScript.context().addCookies(await page.context().cookies());
  await noScript.goto(`${BASE_URL}/?window=7d`);
  const bars = noScript.locator('.histogram svg g.column');
  assert.equal(await bars.count(), 7, 'one bar per day');
  assert.match(await bars.first().locator('title').textContent(), /\d+ info, \d+ warning, \d+ error, \d+ critical/);
  assert.ok(Number(await noScript.locator('.tile .value').first().innerText()) > 0, 'records are counted');
  await noScript.close();
  await page.close();
});

test('hovering a bar shows its numbers; the window is in the URL', async () => {
  const { page, problems } = await watchedPage(browser);
  await signIn(page, ROLES.provider);
  await page.getByRole('navigation', { name: 'Stats window' }).getByRole('link', { name: '30d' }).click();
  await page.waitForURL(/window=30d/);
  // The readout listens once its island has hydrated: until then a hover
  // shows nothing, so the pointer leaves the chart and comes back.
  const bar = page.locator('.histogram svg g.column').nth(29);
  const shown = () => page.waitForFunction(
    () => /\d+ info/.test(document.querySelector('.readout')?.textContent ?? ''), null, { timeout: 1_000 },
  ).then(() => true, () => false);
  const started = Date.now();
  for (;;) {
    await page.mouse.move(0, 0);
    await bar.hover();
    if (await shown()) break;
    assert.ok(Date.now() - started < 20_000, `the readout says "${await page.locator('.readout').textContent()}"`);
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test('the export link downloads the current view as CSV', async () => {
  const { page, problems } = await watchedPage(browser);
  await signIn(page, ROLES.client);
  await page.goto(`${BASE_URL}/?kind=audit`);
  const href = await page.getByRole('link', { name: 'CSV' }).getAttribute('href');
  assert.match(href, /format=csv&kind=audit/);
  const csv = await page.evaluate(async (url) => (await fetch(url)).text(), href);
  const [header, ...rows] = csv.trim().split('\r\n');
  assert.match(header, /^id,occurred_at,received_at,workspace,brand,kind,key,severity,visibility/);
  assert.ok(rows.length > 0, 'the client has audit records');
  for (const row of rows) {
    assert.match(row, /,agency,nike,audit,/, 'only the client\'s workspace, brand and kind');
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test('founders see system health; clients get a 404', async () => {
  const { page, problems } = await watchedPage(browser);
  await signIn(page, ROLES.founder);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Health' }).click();
  await page.getByRole('heading', { name: 'System health' }).waitFor();
  // database, query time, error rate, activity, integrity
  assert.equal(await page.locator('table.list tbody tr').count(), 5);
  const client = await browser.newPage();
  await signIn(client, ROLES.client);
  const response = await client.goto(`${BASE_URL}/health`);
  assert.equal(response.status(), 404);
  assert.deepEqual(problems, []);
  await client.close();
  await page.close();
});
