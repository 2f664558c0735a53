/**
 * `alias-audit audit --html FILE`: the same report as the JSON on stdout, as one file that opens
 * from disk in Chromium with nothing to fetch (offline) and every chart drawn.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { AuditReport } from '../../src/audit/report.js';
import { loadCifar10Test } from '../../src/data/cifar10.js';
import { Browser, chromiumMissing, launchBrowser, saveScreenshot } from './browser.js';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const STANDARD = fileURLToPath(new URL('../../models/preact_resnet_standard.onnx', import.meta.url));
const missing = !existsSync(cli) ? 'dist/cli/main.js is not built (npm run build)' : !existsSync(STANDARD) ? 'models/preact_resnet_standard.onnx is missing' : false;
const dataMissing = missing ? false : await loadCifar10Test().then(() => false as const, (err: Error) => `no CIFAR-10 test set: ${err.message}`);

describe('alias-audit audit --html', { skip: missing || dataMissing }, () => {
  let dir: string;
  let report: AuditReport;
  let html: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'alias-audit-html-'));
    const file = join(dir, 'report.html');
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'audit', STANDARD, '--samples', '30', '--preprocess', 'none', '--robustness', 'fast', '--attack-samples', '10', '--quiet', '--html', file], { maxBuffer: 64 << 20 });
    report = JSON.parse(stdout) as AuditReport;
    html = readFileSync(file, 'utf8');
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('writes a self-contained page of the report printed on stdout', () => {
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<h1>preact_resnet_standard\.onnx<\/h1>/);
    assert.doesNotMatch(html, /<script|<link rel="stylesheet"|(src|href)="https?:/i);
    assert.ok(report.graph && report.graph.nodes.length > 10, 'the report lists the layers');
    const bars = html.match(/<rect class="bar" data-metric="amRel"/g) ?? [];
    assert.equal(bars.length, report.downsampling.length);
  });

  test('opens from disk in Chromium with nothing to fetch, charts and images drawn', { skip: chromiumMissing }, async () => {
    let browser: Browser | undefined;
    try {
      browser = await launchBrowser();
      const { page, problems } = await browser.page();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(pathToFileURL(join(dir, 'report.html')).href);
      assert.equal(await page.locator('svg.bar-chart rect.bar').count(), 2 * report.downsampling.length);
      const decoded = await page.$$eval('.example img', (imgs) => imgs.every((i) => (i as HTMLImageElement).naturalWidth === 32));
      assert.ok(decoded);
      assert.deepEqual(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:')), [], 'no network request');
      await saveScreenshot(page, 'cli-report');
      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
    }
  });
});
