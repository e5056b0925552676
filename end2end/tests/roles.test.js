import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { BASE_URL, ROLES, ingest, launch, signIn, watchedPage } from './support.js';

let browser;
const marker = `m${randomUUID().slice(0, 8)}`;
const hostile = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';

// Records in the demo workspace "agency" (the provider's and the client's),
// one per visibility and brand, all about one entity.
const records = [
  { visibility: 'internal', brand: 'nike' },
  { visibility: 'client', brand: 'nike' },
  { visibility: 'client', brand: 'puma' },
  { visibility: 'system', brand: 'nike' },
].map(({ visibility, brand }) => ({
  key: 'e2e.role_check',
  kind: 'audit',
  message: `${marker} ${visibility} ${brand}`,
  visibility,
  brand,
  entity: { type: 'e2e_track', id: marker },
  diff: { old: { title: 'Before' }, new: { title: 'After' } },
}));

const allowed = {
  founder: ['internal nike', 'client nike', 'client puma', 'system nike'],
  admin: ['internal nike', 'client nike', 'client puma', 'system nike'],
  provider: ['internal nike', 'client nike', 'client puma'],
  client: ['client nike'],
};

before(async () => {
  browser = await launch();
  await ingest(records);
  await ingest([{
    key: 'e2e.hostile', message: `${marker} ${hostile}`, actor: { name: hostile, id: hostile },
    entity: { type: 'e2e', id: hostile }, payload: { html: hostile }, visibility: 'client', brand: 'nike',
  }]);
});
after(async () => browser?.close());

/** The messages of the visible feed rows that carry this run's marker. */
async function markedMessages(page) {
  const texts = await page.locator('ol.feed li .message').allInnerTexts();
  return texts.filter((t) => t.startsWith(`${marker} `) && !t.includes('<')).map((t) => t.slice(marker.length + 1)).sort();
}

for (const [role, credentials] of Object.entries(ROLES)) {
  test(`${role} sees exactly what the role allows, searches, opens a record and its entity`, async () => {
    const { page, problems } = await watchedPage(browser);
    await signIn(page, credentials);

    // Search with the search box; the URL keeps the query.
    await page.getByRole('searchbox').fill(`"${marker}" key:e2e.role_check`);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=/);
    await page.locator('ol.feed li').first().waitFor();
    assert.deepEqual(await markedMessages(page), [...allowed[role]].sort(), `${role} sees its records only`);

    // A copied link reproduces the view, before any script runs.
    const copied = await browser.newPage({ javaScriptEnabled: false });
    const context = page.context();
    await copied.context().addCookies(await context.cookies());
    await copied.goto(page.url());
    const copiedTexts = (await copied.locator('ol.feed li .message').allInnerTexts()).filter((t) => t.startsWith(marker));
    assert.equal(copiedTexts.length, allowed[role].length, `${role}: the server renders the filtered view`);
    await copied.close();

    // Open a record, follow its entity, come back.
    await page.locator('ol.feed li a.key').first().click();
    await page.waitForURL(/\/events\//);
    await page.getByRole('heading', { name: 'Changes' }).waitFor();
    const recordUrl = page.url();
    await page.getByRole('link', { name: `e2e_track/${marker}` }).click();
    await page.waitForURL(/\/entities\/e2e_track\//);
    const entries = page.locator('ol.timeline li');
    await entries.first().waitFor();
    assert.equal(await entries.count(), allowed[role].length, `${role}: the timeline holds visible records only`);
    await page.goBack();
    await page.waitForURL(recordUrl);
    await page.goBack();
    await page.waitForURL(/q=/);

    assert.deepEqual(problems, [], `${role}: no console errors`);
    await page.close();
  });
}

test('markup in records is shown as text and runs nothing', async () => {
  const { page, problems } = await watchedPage(browser);
  await signIn(page, ROLES.client);
  await page.goto(`${BASE_URL}/?q=${encodeURIComponent(`"${marker}" key:e2e.hostile`)}`);
  const row = page.locator('ol.feed li').first();
  await row.waitFor();
  assert.match(await row.locator('.message').innerText(), /<img src=x onerror=/);
  await row.locator('a.key').click();
  await page.waitForURL(/\/events\//);
  await page.getByRole('heading', { name: 'Payload' }).waitFor();
  assert.match(await page.locator('pre.json').innerText(), /<script>window.__xss=2<\/script>/);
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no injected script ran');
  assert.equal(await page.locator('main img').count(), 0, 'no injected element exists');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the feed is usable with the keyboard alone', async () => {
  const { page, problems } = await watchedPage(browser);
  await signIn(page, ROLES.founder);
  await page.goto(`${BASE_URL}/?q=${encodeURIComponent(`"${marker}"`)}`);
  await page.locator('ol.feed li').first().waitFor();
  // The live feed's island renders its Pause button once it has hydrated.
  await page.getByRole('button', { name: 'Pause' }).waitFor();
  const reached = new Set();
  for (let i = 0; i < 90; i++) {
    await page.keyboard.press('Tab');
    const label = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el) return '';
      const name = el.getAttribute('name') ?? (el.classList.contains('key') ? 'key' : '');
      return `${el.tagName.toLowerCase()}:${name}:${el.textContent.trim().slice(0, 20)}`;
    });
    reached.add(label);
  }
  const all = [...reached].join('\n');
  for (const control of ['input:q', 'select:workspace', 'select:kind', 'select:severity', 'select:range', 'input:errors', 'button::Pause', 'a:key:']) {
    assert.ok(all.includes(control), `Tab reaches ${control}:\n${all}`);
  }
  // Enter on a focused record link opens it.
  await page.locator('ol.feed li a.key').first().focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/events\//);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a founder creates an API key in /admin and sees it once', async () => {
  const { page, problems } = await watchedPage(browser);
  await signIn(page, ROLES.founder);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin', exact: true }).click();
  await page.waitForURL(/\/admin/);
  const form = page.getByRole('form', { name: 'New API key' });
  await form.getByLabel('Workspace').selectOption('agency');
  await form.getByLabel('Name').fill(`e2e ${marker}`);
  await form.getByRole('button', { name: 'Create key' }).click();
  const secret = page.getByTestId('new-key');
  await secret.waitFor();
  const key = (await secret.innerText()).trim();
  assert.match(key, /^trl_[0-9a-f]{64}$/);
  await page.locator('td', { hasText: `e2e ${marker}` }).first().waitFor();
  // The key works for ingest.
  const response = await fetch(`${BASE_URL}/api/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ key: 'e2e.admin_key' }),
  });
  assert.equal(response.status, 202);
  await page.reload();
  assert.equal(await page.getByTestId('new-key').count(), 0, 'the secret is not shown again');

  // Revoking asks first: the first click only opens the question.
  const row = page.getByRole('row', { name: new RegExp(`e2e ${marker}`) });
  const confirm = row.getByRole('form', { name: new RegExp(`^Revoke e2e ${marker}\\?`) });
  assert.equal(await confirm.isVisible(), false, 'closed until asked');
  await row.locator('summary', { hasText: 'Revoke' }).click();
  await confirm.getByRole('button', { name: 'Revoke' }).click();
  await page.getByRole('status').filter({ hasText: 'revoked' }).waitFor();
  await page.getByRole('row', { name: new RegExp(`e2e ${marker}.*revoked`) }).waitFor();
  const refused = await fetch(`${BASE_URL}/api/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ key: 'e2e.admin_key' }),
  });
  assert.equal(refused.status, 401);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a wrong password keeps the email typed, and the password is next', async () => {
  const page = await browser.newPage();
  await page.goto(`${BASE_URL}/login`);
  await page.getByLabel('Email').fill(ROLES.client.email);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong email or password' }).waitFor();
  assert.equal(await page.getByLabel('Email').inputValue(), ROLES.client.email);
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'password');
  assert.doesNotMatch(page.url(), /demo\.trail/, 'the email is not in the address');
  await page.close();
});

test('a founder sets a retention period in /admin/retention; an admin only reads it', async () => {
  const { page, problems } = await watchedPage(browser);
  await signIn(page, ROLES.founder);
  await page.goto(`${BASE_URL}/admin`);
  await page.getByRole('link', { name: 'Retention periods' }).click();
  await page.waitForURL(/\/admin\/retention/);
  const form = page.getByRole('form', { name: 'Set a retention period' });
  await form.getByLabel('Workspace').selectOption('agency');
  await form.getByLabel('Kind').selectOption('action');
  await form.getByLabel('Keep (days, forever, or default)').fill('45');
  await form.getByRole('button', { name: 'Save' }).click();
  // Shorter than forever: records would be deleted, so it asks first.
  await page.getByRole('alert').filter({ hasText: 'action records of agency a shorter time' }).waitFor();
  const again = page.getByRole('form', { name: 'Set a retention period' });
  await again.getByLabel('Workspace').selectOption('agency');
  await again.getByLabel('Kind').selectOption('action');
  await again.getByLabel('Keep (days, forever, or default)').fill('45');
  await again.getByLabel('Delete older records').check();
  await again.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('status').filter({ hasText: 'kept 45 days' }).waitFor();
  const agency = page.getByRole('row', { name: /^agency/ });
  assert.match(await agency.innerText(), /45 days/);
  // The change is one of Trail's own audit records, in the founder's feed.
  await page.goto(`${BASE_URL}/?q=${encodeURIComponent('workspace:trail key:retention.changed')}`);
  await page.locator('ol.feed li').first().waitFor();
  assert.match(await page.locator('ol.feed li').first().innerText(), /kept 45 days/);
  assert.deepEqual(problems, []);

  const admin = await browser.newPage();
  await signIn(admin, ROLES.admin);
  await admin.goto(`${BASE_URL}/admin/retention`);
  await admin.getByRole('heading', { name: 'Retention' }).waitFor();
  assert.match(await admin.getByRole('row', { name: /^agency/ }).innerText(), /45 days/);
  assert.equal(await admin.getByRole('form', { name: 'Set a retention period' }).count(), 0, 'admins only read');
  const client = await browser.newPage();
  await signIn(client, ROLES.client);
  assert.equal((await client.goto(`${BASE_URL}/admin/retention`)).status(), 404);
  await Promise.all([page.close(), admin.close(), client.close()]);
});
