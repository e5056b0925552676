// Shared set-up for the browser tests: Debian's Chromium driven by
// playwright-core, a server started by scripts/test, and its ingest key.
import { chromium } from 'playwright-core';

export const BASE_URL = process.env.TRAIL_E2E_URL ?? 'http://127.0.0.1:3000';
export const INGEST_KEY = process.env.TRAIL_E2E_KEY;
export const FOUNDER = { email: 'founder@demo.trail', password: 'demo-founder' };
export const ROLES = {
  founder: FOUNDER,
  admin: { email: 'admin@demo.trail', password: 'demo-admin' },
  provider: { email: 'provider@demo.trail', password: 'demo-provider' },
  client: { email: 'client@demo.trail', password: 'demo-client' },
};

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A new page that records console errors and uncaught exceptions. */
export async function watchedPage(browser) {
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return { page, problems };
}

/** Sends records to the ingest API; returns the parsed 202 body. */
export async function ingest(records) {
  const response = await fetch(`${BASE_URL}/api/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${INGEST_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(records),
  });
  if (response.status !== 202) {
    throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
  }
  return response.json();
}

export async function signIn(page, { email, password }) {
  await page.goto(`${BASE_URL}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await Promise.all([page.waitForURL(`${BASE_URL}/`), page.getByRole('button', { name: 'Sign in' }).click()]);
}
