import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { BASE_URL, FOUNDER, ingest, launch, signIn, watchedPage } from './support.js';

let browser;
before(async () => {
  assert.ok(process.env.TRAIL_E2E_KEY, 'TRAIL_E2E_KEY names an ingest key for the demo workspace "agency"');
  browser = await launch();
});
after(async () => browser?.close());

test('without a session the feed sends the browser to /login', async () => {
  const { page, problems } = await watchedPage(browser);
  await page.goto(`${BASE_URL}/`);
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a wrong password is refused with a message', async () => {
  const { page } = await watchedPage(browser);
  await page.goto(`${BASE_URL}/login`);
  await page.getByLabel('Email').fill(FOUNDER.email);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').innerText(), /Wrong email or password/);
  await page.close();
});

test('the founder sees ingested records, and new ones arrive live without a reload', async () => {
  const run = randomUUID().slice(0, 8);
  const first = `e2e first ${run}`;
  await ingest([{ key: 'e2e.check', message: first, actor: { name: 'Playwright' }, entity: { type: 'test', id: run } }]);

  const { page, problems } = await watchedPage(browser);
  await signIn(page, FOUNDER);
  const feed = page.getByRole('list', { name: 'Activity feed' });
  await feed.getByText(first).waitFor({ timeout: 5_000 });
  const row = feed.locator('li', { hasText: first });
  assert.match(await row.innerText(), /e2e\.check/);
  assert.match(await row.innerText(), /Playwright/);
  assert.match(await row.innerText(), /agency/);

  // Mark the document: a reload would lose the mark.
  await page.evaluate(() => { window.__noReload = true; });
  const second = `e2e live ${run}`;
  await ingest([{ key: 'e2e.live', message: second, severity: 'error' }]);
  await feed.getByText(second).waitFor({ timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
  const fresh = feed.locator('li.fresh', { hasText: second });
  assert.equal(await fresh.count(), 1, 'the new row is marked as new');

  assert.deepEqual(problems, [], 'no console errors');
  await page.close();
});

test('pausing stops live updates', async () => {
  const { page, problems } = await watchedPage(browser);
  await signIn(page, FOUNDER);
  await page.getByRole('button', { name: 'Pause' }).click();
  await page.getByText('Paused', { exact: true }).waitFor();
  const unseen = `e2e paused ${randomUUID().slice(0, 8)}`;
  await ingest([{ key: 'e2e.paused', message: unseen }]);
  await page.waitForTimeout(11_000);
  assert.equal(await page.getByText(unseen).count(), 0, 'nothing arrives while paused');
  await page.getByRole('button', { name: 'Resume' }).click();
  await page.getByText(unseen).waitFor({ timeout: 15_000 });
  assert.deepEqual(problems, []);
  await page.close();
});
