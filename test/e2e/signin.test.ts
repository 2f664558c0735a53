/**
 * Sign-in with an API key in a real browser (headless Chromium): the server has keys, so `/`
 * is a sign-in form; a refused key shows why; the right key gives an HttpOnly session cookie
 * that scripts cannot read; the upload page then uploads a bundled model, follows its event
 * stream and opens the report on that cookie alone; signing out ends it. A page on another
 * origin that posts a form to the service is refused, with keys on and off.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadCifar10Test } from '../../src/data/cifar10.js';
import { SESSION_COOKIE } from '../../src/service/http/session.js';
import { startTestService, TestService } from '../service/helpers.js';
import { Browser, chromiumMissing, launchBrowser, saveScreenshot } from './browser.js';

const STANDARD = fileURLToPath(new URL('../../models/preact_resnet_standard.onnx', import.meta.url));
const KEY = 'team-a-key-0123456789abcdef';

const modelMissing = existsSync(STANDARD) ? false : 'models/preact_resnet_standard.onnx is missing';
const dataMissing = chromiumMissing || modelMissing ? false : await loadCifar10Test().then(() => false as const, (err: Error) => `no CIFAR-10 test set: ${err.message}`);
const skip = chromiumMissing || modelMissing || dataMissing;

/** A page on another origin (another port of loopback) whose form posts itself to `target` on load. */
async function startForeignSite(target: string): Promise<{ url: string; server: Server }> {
  const page = `<!doctype html><html><body><form id="f" method="post" action="${target}/audit" enctype="multipart/form-data">
<input name="samples" value="10"><input name="preprocess" value="none"></form>
<script>document.getElementById('f').submit()</script></body></html>`;
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

describe('sign-in in headless Chromium', { skip }, () => {
  let svc: TestService;
  let browser: Browser;

  before(async () => {
    svc = await startTestService({ apiKeys: [`team-a:${KEY}`] });
    await svc.readiness.check();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await svc?.stop();
  });

  test('sign in with a key, upload a model, follow it to its report, sign out', { timeout: 300_000 }, async () => {
    const { page, problems } = await browser.page();
    await page.goto(`${svc.url}/`);
    await page.waitForSelector('#signin-form');
    assert.equal(await page.locator('#upload-form').count(), 0, 'no upload form before signing in');

    await page.fill('#signin-key', 'not-the-key-of-this-server');
    await page.click('#signin-submit');
    await page.waitForSelector('#signin-error');
    assert.match((await page.textContent('#signin-error')) ?? '', /not known/);
    await saveScreenshot(page, 'signin-refused');
    assert.deepEqual(await browser.context.cookies(svc.url), []);
    // The refused key's page comes with 401, which Chromium logs; nothing else may fail from here on.
    assert.deepEqual(problems.splice(0), ['console: Failed to load resource: the server responded with a status of 401 (Unauthorized)']);

    await page.fill('#signin-key', KEY);
    await page.click('#signin-submit');
    await page.waitForSelector('#upload-form');
    assert.equal(new URL(page.url()).pathname, '/');
    await page.waitForSelector('#session-tenant');
    assert.equal(await page.textContent('#session-tenant'), 'signed in: team-a');
    const cookies = await browser.context.cookies(svc.url);
    assert.equal(cookies.length, 1);
    assert.equal(cookies[0].name, SESSION_COOKIE);
    assert.equal(cookies[0].httpOnly, true);
    assert.equal(cookies[0].sameSite, 'Strict');
    assert.ok(cookies[0].expires > Date.now() / 1000 + 3600, 'the cookie has an expiry');
    assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read the session');
    await page.waitForSelector('#audits-table tbody td');
    assert.match((await page.textContent('#audits-table tbody')) ?? '', /No audits yet/, 'the list loads on the cookie');
    await saveScreenshot(page, 'signed-in');

    await page.setInputFiles('#model-file', STANDARD);
    await page.fill('#opt-samples', '20');
    await page.selectOption('#opt-preprocess', 'none');
    await page.selectOption('#opt-robustness', 'none');
    const submitted = page.waitForResponse((r) => r.url() === `${svc.url}/audit` && r.request().method() === 'POST');
    const events = page.waitForResponse((r) => r.url().endsWith('/events'));
    await page.click('#submit');
    const post = await submitted;
    assert.equal(post.status(), 202, await post.text());
    assert.ok(post.request().headers()['x-csrf-token'], 'the page sent its CSRF token');
    assert.equal((await events).status(), 200, 'the event stream opens on the cookie');
    await page.waitForURL(/\/audits\/[0-9a-f-]{36}\/report$/, { timeout: 240_000 });
    await page.waitForSelector('svg.bar-chart');
    const id = new URL(page.url()).pathname.split('/')[2];
    const job = (await (await fetch(`${svc.url}/audits/${id}`, { headers: { Authorization: `Bearer ${KEY}` } })).json()) as { status: string; report: { dataset: { samples: number } } };
    assert.equal(job.status, 'succeeded');
    assert.equal(job.report.dataset.samples, 20);

    await page.goto(`${svc.url}/`);
    await page.click('#signout');
    await page.waitForSelector('#signin-form');
    assert.deepEqual(await browser.context.cookies(svc.url), [], 'the cookie is gone');
    assert.equal((await page.request.get(`${svc.url}/audits`)).status(), 401, 'signed out: the API refuses the browser');
    assert.deepEqual(problems, [], 'no console error, CSP violation or failed request');
    assert.deepEqual(svc.responseViolations, []);
    await page.close();
  });

  test('a form on another origin that posts to /audit is refused, with keys on and off', { timeout: 60_000 }, async () => {
    const open = await startTestService();
    try {
      for (const target of [svc, open]) {
        const foreign = await startForeignSite(target.url);
        try {
          const { page } = await browser.page();
          const refused = page.waitForResponse((r) => r.url() === `${target.url}/audit`);
          await page.goto(foreign.url);
          const res = await refused;
          assert.equal(res.status(), 403);
          assert.equal((await res.json() as { code: string }).code, 'CROSS_ORIGIN');
          assert.match(res.request().headers().origin ?? '', /^http:\/\/127\.0\.0\.1:\d+$/, 'Chromium said where the form came from');
          await page.close();
        } finally {
          foreign.server.close();
        }
      }
      const listed = (await (await fetch(`${open.url}/audits`)).json()) as { items: unknown[] };
      assert.deepEqual(listed.items, [], 'no audit was created');
    } finally {
      await open.stop();
    }
  });
});
