import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { BASE_URL, FOUNDER, ingest, launch, ownServer, signIn, watchedPage } from './support.js';

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

test('a signed-out deep link comes back after signing in, and signing out is a button', async () => {
  const { page, problems } = await watchedPage(browser);
  await page.goto(`${BASE_URL}/health`);
  assert.equal(new URL(page.url()).pathname, '/login');
  await page.getByLabel('Email').fill(FOUNDER.email);
  await page.getByLabel('Password').fill(FOUNDER.password);
  await Promise.all([page.waitForURL(`${BASE_URL}/health`), page.getByRole('button', { name: 'Sign in' }).click()]);
  await Promise.all([page.waitForURL(`${BASE_URL}/login`), page.getByRole('button', { name: 'Sign out' }).click()]);
  await page.goto(`${BASE_URL}/`);
  assert.equal(new URL(page.url()).pathname, '/login', 'signed out');
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

test('a new record is pushed to the open feed, also after the server restarted', async () => {
  const server = await ownServer();
  try {
    const { page, problems } = await watchedPage(browser);
    await signIn(page, FOUNDER, server.base);
    const feed = page.getByRole('list', { name: 'Activity feed' });
    const live = page.getByText('Live', { exact: true });
    await live.waitFor({ timeout: 30_000 });
    await page.evaluate(() => { window.__noReload = true; });

    // From the ingest's answer to the row on screen, the status still `Live`
    // once it shows: while its stream is open the island's 10-s tick does not
    // poll, so the row was pushed. 5 s leaves room for a loaded machine.
    async function pushed(message) {
      const sent = Date.now();
      await ingest([{ key: 'e2e.pushed', message }], server.base);
      await feed.getByText(message).waitFor({ timeout: 20_000 });
      const took = Date.now() - sent;
      assert.equal(await page.locator('span.live').textContent(), 'Live', 'still streaming, so not polled');
      return took;
    }
    const run = randomUUID().slice(0, 8);
    const first = await pushed(`e2e pushed ${run}`);
    assert.ok(first < 5_000, `shown ${first} ms after it was acknowledged`);

    await server.stop();
    await server.start();
    // The browser reconnects by itself (the stream asks it to after 1 s).
    await live.waitFor({ timeout: 30_000 });
    const again = await pushed(`e2e pushed again ${run}`);
    assert.ok(again < 5_000, `after the restart, shown ${again} ms after it was acknowledged`);
    assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
    assert.equal(await feed.locator('li.fresh', { hasText: run }).count(), 2, 'both rows are marked as new');
    // While the server was down the browser's reconnection attempts failed, as they should.
    const unexpected = problems.filter((p) => !/api\/v1\/events\/stream|ERR_CONNECTION_REFUSED/.test(p));
    assert.deepEqual(unexpected, [], 'no other console errors');
    await page.close();
  } finally {
    await server.stop();
  }
});

test('records arriving live take their place in the feed; older pages stay for "Load more"', async () => {
  const run = randomUUID().slice(0, 8);
  const minutesAgo = (minutes) => new Date(Date.now() - minutes * 60_000).toISOString();
  // One batch, received together: 70 records, 1 to 70 minutes old.
  await ingest(Array.from({ length: 70 }, (_, i) => (
    { key: 'e2e.batch', message: `batch ${run} ${i}`, occurred_at: minutesAgo(i + 1) })));
  const { page, problems } = await watchedPage(browser);
  await signIn(page, FOUNDER);
  await page.goto(`${BASE_URL}/?q=${run}`);
  const rows = page.locator('ol.feed > li');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 50, 'a first page');

  await ingest([
    { key: 'e2e.batch', message: `newest ${run}` },
    { key: 'e2e.batch', message: `late ${run}`, occurred_at: minutesAgo(10.5) },
  ]);
  await page.locator('ol.feed > li', { hasText: `late ${run}` }).waitFor({ timeout: 15_000 });
  await page.waitForTimeout(500);
  const shown = await rows.evaluateAll((items) => items.map((li) => [Number(li.dataset.occurred), li.innerText]));
  assert.equal(shown.length, 52, 'the two new records, not the batch\'s older ones');
  assert.match(shown[0][1], new RegExp(`newest ${run}`));
  assert.match(shown[11][1], new RegExp(`late ${run}`), 'after the ten records younger than it');
  for (let i = 1; i < shown.length; i += 1) {
    assert.ok(shown[i - 1][0] >= shown[i][0], `newest first at row ${i}`);
  }
  assert.deepEqual(problems, []);
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

test('"Load more" appends the next page of the feed and of an entity\'s history', async () => {
  const run = randomUUID().slice(0, 8);
  const entity = { type: 'e2e_more', id: run };
  await ingest(Array.from({ length: 60 }, (_, i) => ({ key: 'e2e.more', message: `more ${run} ${i}`, entity })));
  const { page, problems } = await watchedPage(browser);
  await signIn(page, FOUNDER);

  // Every row once, in one list, whatever the page it came on. Until its
  // island has hydrated, "Load more" is the plain link to the next page
  // alone (as without JavaScript): a click that followed it is made again.
  async function loadAll(url, list) {
    const rows = page.locator(`${list} > li`);
    const started = Date.now();
    for (;;) {
      await page.goto(url);
      await rows.first().waitFor();
      assert.equal(await rows.count(), 50, 'a first page');
      await page.getByRole('link', { name: 'Load more' }).click();
      // Appended in place, or followed as a link (to a page with a cursor).
      await page.waitForFunction((selector) => document.querySelectorAll(`${selector} > li`).length === 60
        || new URLSearchParams(window.location.search).has('cursor'), list);
      if (!new URL(page.url()).searchParams.has('cursor')) break;
      assert.ok(Date.now() - started < 20_000, '"Load more" still a plain link after 20 s');
    }
    const ids = await rows.evaluateAll((items) => items.map((li) => li.dataset.id));
    assert.equal(new Set(ids).size, 60, 'no row twice');
    await page.getByRole('link', { name: 'Load more' }).waitFor({ state: 'detached' });
  }
  await loadAll(`${BASE_URL}/?q=${encodeURIComponent(`"more ${run}"`)}`, 'ol.feed');
  await loadAll(`${BASE_URL}/entities/e2e_more/${run}?order=oldest`, 'ol.timeline');
  assert.match(await page.locator('ol.timeline > li').last().innerText(), new RegExp(`more ${run} 59`), 'oldest first, to the end');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the search box explains its syntax, shows how it read a search, and finds one record by id, address or field', async () => {
  const run = randomUUID().slice(0, 8);
  const invoice = `INV-${run}-0042`;
  await ingest([
    { key: 'e2e.invoice', message: `Invoice ${invoice} paid`, ip: '203.0.113.77', payload: { data: { email: `bob-${run}@example.com` } } },
    { key: 'e2e.invoice', message: `Invoice INV-${run}-0043 sent`, ip: '198.51.100.7' },
  ]);
  const { page, problems } = await watchedPage(browser);
  await signIn(page, FOUNDER);

  await page.getByRole('button', { name: 'Syntax help' }).click();
  const help = page.getByRole('dialog', { name: 'Search syntax' });
  await help.waitFor();
  assert.match(await help.innerText(), /payload\.data\.email:bob@example\.com/);
  assert.match(await help.innerText(), /ip:203\.0\.113\.0\/24/);
  await page.keyboard.press('Escape');
  await help.waitFor({ state: 'hidden' });

  const feed = page.getByRole('list', { name: 'Activity feed' });
  for (const search of [invoice, `ip:203.0.113.0/24 key:e2e.invoice`, `payload.data.email:bob-${run}@example.com`]) {
    await page.getByRole('searchbox').fill(search);
    const searched = (url) => new URL(url).searchParams.get('q') === search;
    await Promise.all([page.waitForURL(searched), page.getByRole('button', { name: 'Search', exact: true }).click()]);
    await feed.getByText(invoice).waitFor({ timeout: 5_000 });
    assert.equal(await feed.locator('li').count(), 1, `only the one record for ${search}`);
  }
  const understood = page.getByRole('list', { name: 'Search understood as' });
  assert.match(await understood.innerText(), /payload\.data\.email\s*=\s*bob-/);
  assert.deepEqual(problems, []);
  await page.close();
});
