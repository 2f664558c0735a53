/**
 * The upload page shows an audit's progress in two places, the progress panel and the audit's
 * row in the list of recent audits: in headless Chromium, every time either changes while the
 * audit runs, the two show the same percent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadCifar10Test } from '../../src/data/cifar10.js';
import { bundledModelPath, STANDARD } from '../helpers/models.js';
import { startTestService, TestService } from '../service/helpers.js';
import { Browser, chromiumMissing, launchBrowser } from './browser.js';

const dataMissing = chromiumMissing
  ? false
  : await loadCifar10Test({ fetch: false }).then(
      () => false as const,
      (err: Error) => `no CIFAR-10 test set in the cache (npm run data fetches it): ${err.message.split('\n')[0]}`,
    );

interface Seen {
  panel: string;
  row: string | null;
  rowStatus: string | null;
}

describe('the upload page: progress panel and list row', { skip: chromiumMissing || dataMissing }, () => {
  let svc: TestService;
  let browser: Browser;

  before(async () => {
    svc = await startTestService();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    if (svc) assert.deepEqual(svc.responseViolations, []);
    await svc?.stop();
  });

  test('the row of the audit being followed shows the panel’s percent at every change', { timeout: 300_000 }, async () => {
    const { page, problems } = await browser.page();
    const seen: Seen[] = [];
    await page.exposeFunction('recordSeen', (s: Seen) => seen.push(s));
    await page.goto(`${svc.url}/`);
    await page.evaluate(() => {
      const record = (window as unknown as { recordSeen: (s: unknown) => void }).recordSeen;
      new MutationObserver(() => {
        const id = document.querySelector('#progress-links a')?.textContent;
        if (!id) return;
        const row = document.querySelector(`#audits-table tr[data-id="${id}"]`);
        record({
          panel: document.getElementById('progress-percent')?.textContent ?? '',
          row: row?.querySelector('.row-progress')?.textContent?.trim() ?? null,
          rowStatus: row?.querySelector('[class^="status-"]')?.textContent ?? null,
        });
      }).observe(document.body, { childList: true, characterData: true, subtree: true });
    });
    await page.setInputFiles('#model-file', bundledModelPath(STANDARD));
    await page.selectOption('#opt-preprocess', 'none');
    await page.click('#submit');
    await page.waitForURL(/\/audits\/[0-9a-f-]{36}\/report$/, { timeout: 240_000 });

    const both = seen.filter((s) => s.row !== null);
    assert.ok(both.length >= 2, `the row showed progress while the audit ran: ${JSON.stringify(seen.slice(-5))}`);
    const differing = both.filter((s) => s.row !== s.panel);
    assert.deepEqual(differing, [], 'panel and row agree');
    assert.ok(both.some((s) => s.panel !== '0%'), `the percent moved: ${both.map((s) => s.panel).join(' ')}`);
    assert.ok(both.every((s) => s.rowStatus === 'queued' || s.rowStatus === 'running'), 'the row says queued or running meanwhile');
    assert.deepEqual(problems, []);
    await page.close();
  });
});
