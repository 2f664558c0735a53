/**
 * The pages in a real browser (headless Chromium): upload a model from models/ through the
 * upload page, follow its progress, land on the report, and check that its charts have one
 * bar per op and attack and show the JSON's numbers; print it; open a training run's chart.
 * Screenshots and a PDF go to test-artifacts/e2e/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AuditReport } from '../../src/audit/report.js';
import { loadCifar10Test } from '../../src/data/cifar10.js';
import { metric, percent } from '../../src/report/format.js';
import { startTestService, TestService } from '../service/helpers.js';
import { ARTIFACTS, Browser, chromiumMissing, launchBrowser, saveScreenshot } from './browser.js';

const model = (name: string): string => fileURLToPath(new URL(`../../models/${name}`, import.meta.url));
const STANDARD = model('preact_resnet_standard.onnx');
const ROBUST = model('preact_resnet_fgsm.onnx');

const modelsMissing = [STANDARD, ROBUST].every(existsSync) ? false : 'models/preact_resnet_standard.onnx or models/preact_resnet_fgsm.onnx is missing';
// Only where the rest is there: loading the test set may download it (as the other audit tests do).
const dataMissing =
  chromiumMissing || modelsMissing ? false : await loadCifar10Test().then(() => false as const, (err: Error) => `no CIFAR-10 test set: ${err.message}`);
const skip = chromiumMissing || modelsMissing || dataMissing;

describe('pages in headless Chromium', { skip }, () => {
  let svc: TestService;
  let browser: Browser;
  let reportUrl = '';

  before(async () => {
    svc = await startTestService();
    await svc.readiness.check();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await svc?.stop();
  });

  test('upload through the page: live progress, then the report, whose charts and numbers equal the JSON', { timeout: 300_000 }, async () => {
    const { page, problems } = await browser.page();
    const progressSeen: string[] = [];
    await page.exposeFunction('recordProgress', (text: string) => progressSeen.push(text));
    await page.goto(`${svc.url}/`);
    await page.evaluate(() => {
      const target = document.getElementById('progress-percent') as HTMLElement;
      const record = (window as unknown as { recordProgress: (t: string) => void }).recordProgress;
      new MutationObserver(() => record(target.textContent ?? '')).observe(target, { childList: true, characterData: true, subtree: true });
    });
    await page.setInputFiles('#model-file', STANDARD);
    assert.match(await page.textContent('#chosen-file') ?? '', /preact_resnet_standard\.onnx/);
    await page.fill('#opt-samples', '60');
    await page.selectOption('#opt-preprocess', 'none');
    await page.selectOption('#opt-robustness', 'fast');
    await page.click('details.more summary');
    await page.fill('#opt-attack-samples', '20');
    const events = page.waitForRequest((r) => r.url().endsWith('/events'));
    await page.click('#submit');
    await page.waitForSelector('#progress-section:not([hidden])');
    await events;
    // Best effort: the audit may finish and the page move on to the report while this is taken.
    await saveScreenshot(page, 'upload-progress').catch(() => undefined);
    await page.waitForURL(/\/audits\/[0-9a-f-]{36}\/report$/, { timeout: 240_000 });
    assert.ok(progressSeen.some((p) => p !== '0%'), `progress shown: ${progressSeen.join(' ')}`);
    reportUrl = page.url();

    const report = (await (await fetch(reportUrl)).json()) as AuditReport;
    assert.equal(report.dataset.samples, 60);
    assert.ok(report.robustness, 'the audit ran the attacks');
    await page.waitForSelector('svg.bar-chart');
    await saveScreenshot(page, 'report-upload');

    // One bar per measured op in each chart, with the op's value, shown as the JSON's number.
    for (const key of ['am', 'amRel'] as const) {
      const bars = await page.$$eval(`svg.bar-chart[data-metric="${key}"] rect.bar`, (rects) =>
        rects.map((r) => ({ node: r.getAttribute('data-node') ?? '', value: Number(r.getAttribute('data-value')), shown: '' })),
      );
      const measured = report.downsampling.filter((d) => d[key] !== null && !d.error);
      assert.equal(bars.length, measured.length, `${key} bars`);
      assert.ok(bars.length >= 2);
      assert.deepEqual(bars.map((b) => [b.node, b.value]), measured.map((d) => [d.node, d[key]]));
      const labels = await page.$$eval(`svg.bar-chart[data-metric="${key}"] text.value`, (ts) => ts.map((t) => t.textContent));
      assert.deepEqual(labels, measured.map((d) => metric(d[key])));
      const means = await page.$$eval(`svg.bar-chart[data-metric="${key}"] line.stage-mean`, (ls) => ls.map((l) => Number(l.getAttribute('data-value'))));
      assert.deepEqual(means, report.stages.map((s) => s[key]));
      const cells = await page.$$eval(`#ops-table td[data-key="${key}"]`, (tds) => tds.map((td) => td.textContent));
      assert.deepEqual(cells, report.downsampling.map((d) => metric(d[key])));
      const stageCells = await page.$$eval(`#stages-table td[data-key="${key}"]`, (tds) => tds.map((td) => td.textContent));
      assert.deepEqual(stageCells, report.stages.map((s) => metric(s[key])));
    }
    assert.equal(await page.textContent('dd[data-field="cleanAccuracy"]'), percent(report.cleanAccuracy));

    // Layers: every strided op is marked in the list of the model's nodes.
    assert.equal(await page.locator('ol.layers li.ds').count(), report.downsampling.length);
    assert.equal(await page.locator('ol.layers li').count(), (report.graph?.nodes.length ?? 0) + 2);

    // Robustness: clean, one bar per attack, the worst case; examples; three spectrum panels.
    const r = report.robustness;
    const accuracy = await page.$$eval('svg.accuracy-chart rect.acc-bar', (rects) => rects.map((b) => [b.getAttribute('data-key'), Number(b.getAttribute('data-value'))]));
    assert.deepEqual(accuracy, [['clean', r.cleanAccuracy], ...r.attacks.map((a) => [a.name, a.robustAccuracy]), ['robustAccuracy', r.robustAccuracy]]);
    const attackCells = await page.$$eval('#attacks-table td[data-key="robustAccuracy"]', (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(attackCells, r.attacks.map((a) => percent(a.robustAccuracy)));
    assert.equal(await page.locator('.example').count(), r.examples.length);
    const images = await page.$$eval('.example img', (imgs) => imgs.map((i) => ({ w: (i as HTMLImageElement).naturalWidth, alt: i.getAttribute('alt') ?? '' })));
    assert.equal(images.length, r.examples.length * 3);
    for (const img of images) {
      assert.equal(img.w, 32, 'the PNG decoded');
      assert.ok(img.alt.length > 10, 'every image says what it shows');
    }
    assert.equal(await page.locator('svg.heatmap').count(), 3);
    assert.equal(await page.textContent('#hf-share'), percent(r.perturbationSpectrum?.highFrequencyShare));

    // Every chart has a text alternative, and the raw JSON is one click away and is the report.
    const unlabelled = await page.$$eval('svg.chart', (svgs) => svgs.filter((s) => s.getAttribute('role') !== 'img' || !s.getAttribute('aria-label')).length);
    assert.equal(unlabelled, 0);
    await page.click('#raw-json summary');
    assert.deepEqual(JSON.parse((await page.textContent('#raw-json pre')) ?? ''), report);
    const jsonHref = await page.getAttribute('#json-link', 'href');
    assert.deepEqual(await (await fetch(new URL(jsonHref ?? '', svc.url))).json(), report);

    assert.deepEqual(problems, [], 'no console error, CSP violation or failed request');
    assert.deepEqual(svc.responseViolations, []);
    await page.close();
  });

  test('the report prints: print styles hide navigation and JSON, and Chromium makes a PDF of it', { timeout: 120_000 }, async (t) => {
    if (!reportUrl) return t.skip('needs the uploaded report of the first test');
    const { page, problems } = await browser.page();
    await page.goto(reportUrl);
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('header.top').isVisible(), false);
    assert.equal(await page.locator('#raw-json').isVisible(), false);
    assert.equal(await page.locator('#chart-amRel svg').isVisible(), true);
    mkdirSync(ARTIFACTS, { recursive: true });
    const pdf = await page.pdf({ path: join(ARTIFACTS, 'report.pdf'), format: 'A4', printBackground: true });
    assert.ok(pdf.length > 20_000 && pdf.subarray(0, 5).toString() === '%PDF-', `a PDF (${pdf.length} bytes)`);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('the upload page lists the audit and names every control for screen readers', { timeout: 60_000 }, async (t) => {
    if (!reportUrl) return t.skip('needs the uploaded report of the first test');
    const { page, problems } = await browser.page();
    await page.goto(`${svc.url}/`);
    const id = new URL(reportUrl).pathname.split('/')[2];
    await page.waitForSelector(`#audits-table tr[data-id="${id}"] a`);
    assert.equal(await page.getAttribute(`#audits-table tr[data-id="${id}"] a`, 'href'), `/audits/${id}/report`);
    assert.match((await page.textContent(`#audits-table tr[data-id="${id}"]`)) ?? '', /preact_resnet_standard\.onnx.*succeeded/);
    const unnamed = await page.$$eval('input, select, button', (els) =>
      els.filter((e) => !(e as HTMLInputElement).labels?.length && !e.getAttribute('aria-label') && !(e.textContent ?? '').trim()).map((e) => e.outerHTML),
    );
    assert.deepEqual(unnamed, []);
    // The file picker is reachable by keyboard: Tab from the skip link lands on the page's controls.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.className), 'skip');
    await saveScreenshot(page, 'upload-page');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test("a run's page charts aliasing per epoch with the threshold, the stop epoch and PGD accuracy", { timeout: 300_000 }, async () => {
    const created = await fetch(`${svc.url}/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'fgsm then standard', samples: 50, preprocess: 'none' }),
    });
    assert.equal(created.status, 201);
    const run = (await created.json()) as { id: string };
    // A robust model twice, then the standard one: stage-1 aliasing jumps at epoch 3.
    const epochs = [
      { file: ROBUST, pgd: '0.41' },
      { file: ROBUST, pgd: '0.42' },
      { file: STANDARD, pgd: '0.05' },
    ];
    for (const [i, e] of epochs.entries()) {
      const form = new FormData();
      form.set('model', new Blob([readFileSync(e.file)]), `epoch_${i + 1}.onnx`);
      form.set('epoch', String(i + 1));
      form.set('pgdAccuracy', e.pgd);
      const res = await fetch(`${svc.url}/runs/${run.id}/checkpoints?wait=true&timeout=120`, { method: 'POST', body: form });
      assert.equal(res.status, 200, await res.clone().text());
    }
    const json = (await (await fetch(`${svc.url}/runs/${run.id}`)).json()) as {
      series: { epoch: number; am: number; amRel: number; limit: number | null; pgdAccuracy: number }[];
      decision: { stop: boolean; triggeredAtEpoch: number; recommendedEpoch: number };
    };
    assert.deepEqual(json.decision, { stop: true, triggeredAtEpoch: 3, recommendedEpoch: 2 });

    const { page, problems } = await browser.page();
    await page.goto(`${svc.url}/runs/${run.id}`);
    await page.waitForSelector('body[data-loaded="true"]');
    const chart = await page.evaluate(() => {
      const c = (window as unknown as { Chart: { getChart(el: Element): { data: { labels: unknown[]; datasets: { label: string; data: unknown[] }[] } } } }).Chart.getChart(
        document.getElementById('series-chart') as Element,
      );
      return { labels: c.data.labels, datasets: c.data.datasets.map((d) => ({ label: d.label, data: d.data })) };
    });
    assert.deepEqual(chart.labels, [1, 2, 3]);
    assert.deepEqual(chart.datasets.map((d) => d.label), ['stage-1 am', 'stop threshold (1 + 0.2) × previous epoch', 'previous epoch', 'PGD accuracy (yours, right axis)']);
    assert.deepEqual(chart.datasets[0].data, json.series.map((e) => e.am));
    assert.deepEqual(chart.datasets[1].data, json.series.map((e) => e.limit));
    assert.deepEqual(chart.datasets[3].data, json.series.map((e) => e.pgdAccuracy));
    const painted = await page.$eval('#series-chart', (c) => (c as HTMLCanvasElement).width > 0 && (c as HTMLCanvasElement).toDataURL().length > 5000);
    assert.ok(painted, 'the canvas is drawn');
    const cells = await page.$$eval('#series-table td[data-key="am"]', (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(cells, json.series.map((e) => metric(e.am)));
    assert.match((await page.textContent('#decision')) ?? '', /jumped at epoch 3; keep the checkpoint of epoch 2/);
    assert.match((await page.getAttribute('#series-chart', 'aria-label')) ?? '', /epoch 1 .*epoch 3/);
    await saveScreenshot(page, 'run-chart');
    assert.deepEqual(problems, []);
    await page.close();
  });
});
