/**
 * A minimal reader for gzipped tar archives (npm tarballs), enough to pull a few named
 * entries out of a stream without unpacking the rest and without shelling out to `tar`.
 * Supports ustar names with prefix, GNU long names ('L') and pax `path`/`size` records.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { DataIntegrityError } from './errors.js';

const BLOCK = 512;
/** Cap for metadata entries (long names, pax headers) that we buffer to read. */
const MAX_META_BYTES = 1 << 20;

/** Options for {@link extractTarGzEntries}. */
export interface TarExtractOptions {
  /** Refuse wanted entries larger than this (guards against absurd allocations). */
  maxEntryBytes?: number;
  /** Expected Subresource-Integrity hash of the `.tgz` file (`sha512-<base64>`), as npm records it. */
  integrity?: string;
}

interface PendingOverrides {
  path?: string;
  size?: number;
}

/** Parses a NUL/space-terminated octal field, or the GNU base-256 form (high bit set). */
function parseNumeric(block: Buffer, offset: number, length: number): number {
  const field = block.subarray(offset, offset + length);
  if (field.length > 0 && (field[0] & 0x80) !== 0) {
    let value = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i];
    return value;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return Number.NaN;
  return parseInt(text, 8);
}

function parseString(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/** Header checksum: byte sum with the checksum field itself counted as spaces. */
function checksumMatches(block: Buffer): boolean {
  const stored = parseNumeric(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b; // some old writers summed signed chars
  }
  return stored === unsigned || stored === signed;
}

/** Parses pax extended header records of the form "<len> <key>=<value>\n". */
function parsePax(data: Buffer): PendingOverrides {
  const out: PendingOverrides = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const len = parseInt(data.subarray(pos, space).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0 || pos + len > data.length) break;
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) {
      const key = record.slice(0, eq);
      const value = record.slice(eq + 1);
      if (key === 'path') out.path = value;
      if (key === 'size') out.size = Number(value);
    }
    pos += len;
  }
  return out;
}

function normaliseName(name: string): string {
  return name.replace(/^(\.\/)+/, '');
}

/**
 * Streams a `.tgz` file and returns the contents of the regular-file entries named in
 * `wanted` (paths inside the archive, e.g. `package/test_batch.png`). Entries not found are
 * absent from the result. Throws {@link DataIntegrityError} for a corrupt or truncated archive.
 */
export async function extractTarGzEntries(
  file: string,
  wanted: readonly string[],
  options: TarExtractOptions = {},
): Promise<Map<string, Buffer>> {
  const maxEntryBytes = options.maxEntryBytes ?? 256 * 1024 * 1024;
  const want = new Set(wanted.map(normaliseName));
  const found = new Map<string, Buffer>();

  const header = Buffer.alloc(BLOCK);
  let headerFill = 0;
  let ended = false;
  // Current entry body: bytes left to consume (data + padding) and where wanted bytes go.
  let bodyLeft = 0;
  let dataLeft = 0;
  let target: Buffer | null = null;
  let targetFill = 0;
  let onBodyDone: (() => void) | null = null;
  let pending: PendingOverrides = {};

  const startEntry = (): void => {
    if (header.every((b) => b === 0)) {
      ended = true; // end-of-archive marker; anything after it is padding
      return;
    }
    if (!checksumMatches(header)) {
      throw new DataIntegrityError(`${file}: tar header checksum mismatch (corrupt archive)`);
    }
    const magic = header.subarray(257, 262).toString('latin1');
    const prefix = magic === 'ustar' ? parseString(header, 345, 155) : '';
    const baseName = parseString(header, 0, 100);
    const name = normaliseName(pending.path ?? (prefix ? `${prefix}/${baseName}` : baseName));
    const size = pending.size ?? parseNumeric(header, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new DataIntegrityError(`${file}: bad size field in tar header of "${name}"`);
    }
    const type = String.fromCharCode(header[156]);
    pending = {};
    dataLeft = size;
    bodyLeft = size + ((BLOCK - (size % BLOCK)) % BLOCK);
    target = null;
    targetFill = 0;
    onBodyDone = null;

    const collect = (limit: number, done: (data: Buffer) => void): void => {
      if (size > limit) {
        throw new DataIntegrityError(`${file}: tar entry "${name}" is ${size} bytes, over the ${limit}-byte limit`);
      }
      const buf = Buffer.allocUnsafe(size);
      target = buf;
      onBodyDone = () => done(buf);
    };

    if (type === 'L') {
      collect(MAX_META_BYTES, (data) => {
        pending.path = parseString(data, 0, data.length);
      });
    } else if (type === 'x') {
      collect(MAX_META_BYTES, (data) => {
        pending = parsePax(data);
      });
    } else if ((type === '0' || type === '\0' || type === '7') && want.has(name) && !found.has(name)) {
      const entryName = name;
      collect(maxEntryBytes, (data) => {
        found.set(entryName, data);
      });
    }
    if (bodyLeft === 0) finishBody();
  };

  const finishBody = (): void => {
    const done = onBodyDone;
    onBodyDone = null;
    target = null;
    if (done) done();
  };

  const push = (chunk: Buffer): void => {
    let pos = 0;
    while (pos < chunk.length && !ended) {
      if (bodyLeft === 0) {
        const take = Math.min(BLOCK - headerFill, chunk.length - pos);
        chunk.copy(header, headerFill, pos, pos + take);
        headerFill += take;
        pos += take;
        if (headerFill === BLOCK) {
          headerFill = 0;
          startEntry();
        }
        continue;
      }
      const take = Math.min(bodyLeft, chunk.length - pos);
      const dataTake = Math.min(dataLeft, take);
      if (target !== null && dataTake > 0) {
        chunk.copy(target, targetFill, pos, pos + dataTake);
        targetFill += dataTake;
      }
      dataLeft -= dataTake;
      bodyLeft -= take;
      pos += take;
      if (bodyLeft === 0) finishBody();
    }
  };

  // Hash the compressed bytes on their way to gunzip, so the file is read once.
  const expected = options.integrity;
  const hash = expected === undefined ? null : createHash('sha512');
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash?.update(chunk);
      done(null, chunk);
    },
  });
  // pipeline reports an abort, not our error, when the consumer throws; keep ours.
  const ours: { parseError?: Error } = {};
  try {
    await pipeline(createReadStream(file), tap, createGunzip(), async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        // Only our own parse errors are kept as they are; a gunzip error also surfaces from the
        // iterator here, and must go through the wrapping below.
        try {
          push(chunk);
        } catch (err) {
          ours.parseError = err instanceof Error ? err : new DataIntegrityError(`${file}: ${String(err)}`);
          throw ours.parseError;
        }
      }
    });
  } catch (err) {
    if (ours.parseError) throw ours.parseError;
    if (err instanceof DataIntegrityError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw err;
    throw new DataIntegrityError(`${file}: cannot read gzipped tar (${e.message})`, { cause: err });
  }
  if (bodyLeft > 0 || headerFill > 0) {
    throw new DataIntegrityError(`${file}: tar archive is truncated`);
  }
  if (hash !== null && expected !== undefined) {
    const actual = `sha512-${hash.digest('base64')}`;
    if (actual !== expected) {
      throw new DataIntegrityError(`${file}: integrity ${actual} does not match the expected ${expected}`);
    }
  }
  return found;
}
