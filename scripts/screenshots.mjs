// The README's pictures: the HTML reports of the standard and the adversarially trained model
// in models/, audited with the same options, screenshotted in headless Chromium (Debian's
// chromium, driven by playwright-core) to docs/report-standard.png and docs/report-fgsm.png.
//
//   npm run build && node scripts/screenshots.mjs [--samples 500] [--robustness fast]
//
// The reports themselves stay in test-artifacts/screenshots/ (gitignored).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '500' },
    robustness: { type: 'string', default: 'fast' },
    width: { type: 'string', default: '1000' },
  },
});
const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: apt-get install chromium, or set CHROMIUM_PATH`);
const cli = join(root, 'dist/cli/main.js');
if (!existsSync(cli)) throw new Error('build first: npm run build');

const out = join(root, 'test-artifacts/screenshots');
mkdirSync(out, { recursive: true });
mkdirSync(join(root, 'docs'), { recursive: true });

const models = [
  { file: 'preact_resnet_standard.onnx', png: 'report-standard.png' },
  { file: 'preact_resnet_fgsm.onnx', png: 'report-fgsm.png' },
];

for (const m of models) {
  const base = join(out, m.file.replace(/\.onnx$/, ''));
  process.stderr.write(`auditing ${m.file} (samples ${values.samples}, robustness ${values.robustness})\n`);
  execFileSync(
    process.execPath,
    [cli, 'audit', join(root, 'models', m.file), '--samples', values.samples, '--preprocess', 'none', '--robustness', values.robustness, '--quiet', '--out', `${base}.json`, '--html', `${base}.html`],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

const profile = mkdtempSync(join(tmpdir(), 'alias-audit-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  headless: true,
  // No background requests to Google's services (refused offline), no GPU, no sandbox (root in CI).
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: Number(values.width), height: 900 },
});
try {
  const page = await context.newPage();
  for (const m of models) {
    const html = join(out, m.file.replace(/\.onnx$/, '.html'));
    await page.goto(pathToFileURL(html).href);
    await page.waitForSelector('svg.bar-chart');
    const target = join(root, 'docs', m.png);
    await page.screenshot({ path: target, fullPage: true });
    process.stderr.write(`wrote ${target}\n`);
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
