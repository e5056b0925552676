// Shared set-up for the browser tests: Debian's Chromium driven by
// playwright-core, a server started by scripts/test, and its ingest key.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

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

/** Sends records to the ingest API (of the server at `base`); returns the parsed 202 body. */
export async function ingest(records, base = BASE_URL) {
  const response = await fetch(`${base}/api/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${INGEST_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(records),
  });
  if (response.status !== 202) {
    throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
  }
  return response.json();
}

export async function signIn(page, { email, password }, base = BASE_URL) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await Promise.all([page.waitForURL(`${base}/`), page.getByRole('button', { name: 'Sign in' }).click()]);
}

/**
 * A server of the test's own (`trail serve` of TRAIL_E2E_SERVER_BIN) on the
 * database of the main one, so that a test can stop and start it.
 */
export async function ownServer() {
  const port = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const base = `http://127.0.0.1:${port}`;
  let child;
  const server = {
    base,
    async start() {
      child = spawn(process.env.TRAIL_E2E_SERVER_BIN, ['serve'], {
        // The repository: the environment's site root is relative to it.
        cwd: fileURLToPath(new URL('../../', import.meta.url)),
        env: { ...process.env, LEPTOS_SITE_ADDR: `127.0.0.1:${port}` },
        stdio: 'ignore',
      });
      for (let i = 0; i < 200; i += 1) {
        try {
          if ((await fetch(`${base}/login`)).ok) return;
        } catch {
          // not up yet
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`the server at ${base} did not come up`);
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
  await server.start();
  return server;
}
