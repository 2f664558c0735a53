/**
 * Headless Chromium for the end-to-end tests: Debian's `chromium` driven by playwright-core
 * (which downloads no browser of its own). Tests skip, saying why, where it is not installed;
 * `.ci/run` installs it.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserContext, chromium, Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const chromiumMissing: string | false = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`;

/** Screenshots and PDFs the tests leave for people to look at (gitignored). */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/e2e/', import.meta.url));

/**
 * Flags that keep Chromium quiet on a machine without network: no background requests to
 * Google's services (refused here, many at a time), no GPU, no sandbox (the tests run as root).
 */
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Browser {
  context: BrowserContext;
  /** A new page that records console errors, failed requests and uncaught exceptions. */
  page(): Promise<RecordedPage>;
  close(): Promise<void>;
}

export interface RecordedPage {
  page: Page;
  /** Console errors (CSP violations land here), page errors and failed requests, in order. */
  problems: string[];
}

/** Starts Chromium headless with a fresh, empty profile that is removed on close. */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'alias-audit-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1200, height: 900 },
    acceptDownloads: false,
  });
  context.setDefaultTimeout(30_000);
  return {
    context,
    async page() {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('requestfailed', (r) => {
        // Leaving a page aborts its open requests (the event stream, a list still loading): not a fault.
        const why = r.failure()?.errorText ?? '';
        if (why !== 'net::ERR_ABORTED') problems.push(`request failed: ${r.url()} ${why}`);
      });
      return { page, problems };
    },
    async close() {
      try {
        await context.close();
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}

/** Saves a full-page screenshot under test-artifacts/e2e/. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
