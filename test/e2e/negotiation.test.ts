/**
 * The pages over plain HTTP (no browser needed): `/` and the assets are served by us (no CDN),
 * `/audits/{id}/report` and `/runs/{id}` answer HTML to browsers and JSON to everyone else as
 * before, `?format=` overrides, and no page carries an inline script (helmet's CSP forbids it).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadCifar10Test } from '../../src/data/cifar10.js';
import type { JobWithReport } from '../../src/service/jobs/types.js';
import { renderStatusPage } from '../../src/service/web/statusPage.js';
import { pollJob, startTestService, TestService, upload } from '../service/helpers.js';

const STANDARD = fileURLToPath(new URL('../../models/preact_resnet_standard.onnx', import.meta.url));
/** What Chromium sends when it navigates to a page. */
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8';

const modelMissing = existsSync(STANDARD) ? false : 'models/preact_resnet_standard.onnx is missing';
const dataMissing = modelMissing ? false : await loadCifar10Test().then(() => false as const, (err: Error) => `no CIFAR-10 test set: ${err.message}`);

function noInlineScript(html: string): void {
  for (const tag of html.match(/<script\b[^>]*>/gi) ?? []) assert.match(tag, /\ssrc="\/assets\//, `script from our own assets only: ${tag}`);
  assert.doesNotMatch(html, /\son[a-z]+="/i, 'no inline event handlers');
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//i, 'nothing from another host');
}

describe('pages and content negotiation over HTTP', { skip: modelMissing || dataMissing }, () => {
  let svc: TestService;
  let jobId: string;
  let runId: string;

  before(async () => {
    svc = await startTestService();
    await svc.readiness.check();
    const res = await upload(svc.url, { model: readFileSync(STANDARD), filename: 'standard.onnx', fields: { samples: '20', preprocess: 'none' } });
    jobId = ((await res.json()) as { id: string }).id;
    assert.equal((await pollJob(svc.url, jobId)).status, 'succeeded');
    const run = await fetch(`${svc.url}/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'r', samples: 20, preprocess: 'none' }) });
    runId = ((await run.json()) as { id: string }).id;
  });

  after(async () => {
    await svc?.stop();
  });

  test('/ is the upload page; its scripts, styles and Chart.js come from /assets on this server', async () => {
    const res = await fetch(`${svc.url}/`, { headers: { accept: BROWSER_ACCEPT } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await res.text();
    noInlineScript(html);
    for (const asset of ['/assets/app.css', '/assets/common.js', '/assets/index.js', '/assets/run.js', '/assets/vendor/chart.js/chart.umd.min.js']) {
      const a = await fetch(`${svc.url}${asset}`);
      assert.equal(a.status, 200, asset);
      assert.match(a.headers.get('content-type') ?? '', asset.endsWith('.css') ? /^text\/css/ : /javascript/, asset);
    }
    const chart = await (await fetch(`${svc.url}/assets/vendor/chart.js/chart.umd.min.js`)).text();
    assert.match(chart.slice(0, 200), /Chart\.js v4/);
    const missing = await fetch(`${svc.url}/assets/nothing.js`);
    assert.equal(missing.status, 404);
    assert.match(missing.headers.get('content-type') ?? '', /problem\+json/);
  });

  test('the report: HTML to a browser, JSON to API clients as before, ?format overrides', async () => {
    const url = `${svc.url}/audits/${jobId}/report`;
    const page = await fetch(url, { headers: { accept: BROWSER_ACCEPT } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('vary') ?? '', /Accept/i);
    const html = await page.text();
    noInlineScript(html);
    assert.match(html, /<h1>standard\.onnx<\/h1>/);

    const json: unknown = await (await fetch(url)).json();
    for (const accept of ['application/json', '*/*', 'application/json, text/html;q=0.5']) {
      const res = await fetch(url, { headers: { accept } });
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/, accept);
      assert.deepEqual(await res.json(), json);
    }
    const forcedJson = await fetch(`${url}?format=json`, { headers: { accept: BROWSER_ACCEPT } });
    assert.deepEqual(await forcedJson.json(), json);
    const forcedHtml = await fetch(`${url}?format=html`);
    assert.match(forcedHtml.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal((await fetch(`${url}?format=xml`)).status, 400);
    assert.deepEqual(svc.responseViolations, []);
  });

  test('a missing audit answers a browser with the API\'s problem, not a page', async () => {
    const res = await fetch(`${svc.url}/audits/00000000-0000-4000-8000-000000000000/report`, { headers: { accept: BROWSER_ACCEPT } });
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
  });

  test('a run: the chart page to a browser, the run JSON to API clients', async () => {
    const page = await fetch(`${svc.url}/runs/${runId}`, { headers: { accept: BROWSER_ACCEPT } });
    assert.equal(page.status, 200);
    const html = await page.text();
    noInlineScript(html);
    assert.match(html, /\/assets\/vendor\/chart\.js\/chart\.umd\.min\.js/);
    const json = (await (await fetch(`${svc.url}/runs/${runId}`)).json()) as { id: string; series: unknown[] };
    assert.equal(json.id, runId);
    assert.deepEqual(json.series, []);
    const missing = await fetch(`${svc.url}/runs/00000000-0000-4000-8000-000000000000`, { headers: { accept: BROWSER_ACCEPT } });
    assert.equal(missing.status, 404);
    assert.deepEqual(svc.responseViolations, []);
  });
});

test('before the report exists, the report page shows the progress and reloads itself (no script)', () => {
  const job = {
    id: 'x',
    status: 'running',
    model: { sha256: 'ab'.repeat(32), bytes: 1, filename: '<b>m</b>.onnx' },
    progress: { percent: 42, stage: 'measuring', message: '20/50 images' },
  } as unknown as JobWithReport; // only the fields the page reads
  const html = renderStatusPage(job);
  assert.match(html, /<meta http-equiv="refresh" content="2">/);
  assert.match(html, /<progress max="100" value="42"/);
  assert.match(html, /&lt;b&gt;m&lt;\/b&gt;\.onnx/);
  assert.match(html, /role="status"/);
  noInlineScript(html);
});
