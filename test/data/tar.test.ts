import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DataIntegrityError } from '../../src/data/errors.js';
import { extractTarGzEntries } from '../../src/data/tar.js';

/** One ustar header block; `prefix` goes in the ustar prefix field. */
function header(name: string, size: number, type = '0', prefix = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.write('00000000000\0', 136, 'latin1');
  h.write(type, 156, 'latin1');
  h.write('ustar\0' + '00', 257, 'latin1');
  h.write(prefix, 345, 155, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

function entry(name: string, data: Buffer, type = '0', prefix = ''): Buffer {
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header(name, data.length, type, prefix), data, pad]);
}

function tar(...entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, Buffer.alloc(1024)]);
}

const longName = `package/${'d'.repeat(120)}/long.txt`;
const body = Buffer.from(Array.from({ length: 1500 }, (_, i) => i & 255));

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'alias-audit-tar-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('extractTarGzEntries', () => {
  it('returns only the wanted entries, across ustar prefix, GNU long names and pax paths', async () => {
    const paxRecord = (key: string, value: string): string => {
      const base = ` ${key}=${value}\n`;
      let len = base.length + 1;
      if (`${len}${base}`.length !== len) len = `${len}${base}`.length;
      return `${len}${base}`;
    };
    const archive = tar(
      entry('package/skip.bin', Buffer.alloc(3000, 7)),
      entry('wanted.txt', Buffer.from('hello'), '0', 'package'),
      entry('././@LongLink', Buffer.from(longName + '\0'), 'L'),
      entry('truncated-name', body),
      entry('PaxHeader', Buffer.from(paxRecord('path', 'package/pax.txt')), 'x'),
      entry('ignored-name', Buffer.from('via pax')),
      entry('package/empty.txt', Buffer.alloc(0)),
    );
    const file = join(dir, 'a.tgz');
    await writeFile(file, gzipSync(archive));
    const wanted = ['package/wanted.txt', longName, 'package/pax.txt', 'package/empty.txt', 'package/missing'];
    const found = await extractTarGzEntries(file, wanted);
    assert.deepEqual([...found.keys()].sort(), wanted.slice(0, 4).sort());
    assert.equal(found.get('package/wanted.txt')!.toString(), 'hello');
    assert.ok(found.get(longName)!.equals(body));
    assert.equal(found.get('package/pax.txt')!.toString(), 'via pax');
    assert.equal(found.get('package/empty.txt')!.length, 0);
  });

  it('checks the sha512 integrity of the compressed file', async () => {
    const gz = gzipSync(tar(entry('package/x', Buffer.from('x'))));
    const file = join(dir, 'b.tgz');
    await writeFile(file, gz);
    const good = `sha512-${createHash('sha512').update(gz).digest('base64')}`;
    assert.equal((await extractTarGzEntries(file, ['package/x'], { integrity: good })).size, 1);
    await assert.rejects(extractTarGzEntries(file, ['package/x'], { integrity: 'sha512-AAAA' }), /integrity/);
  });

  it('raises DataIntegrityError for a bad header checksum, truncation, or non-gzip input', async () => {
    const bad = entry('package/x', Buffer.from('x'));
    bad[0] = 'q'.charCodeAt(0); // name changed after the checksum was computed
    const file = join(dir, 'c.tgz');
    await writeFile(file, gzipSync(tar(bad)));
    await assert.rejects(extractTarGzEntries(file, ['package/x']), DataIntegrityError);

    const cut = entry('package/x', Buffer.alloc(2000, 1)).subarray(0, 1200);
    await writeFile(file, gzipSync(cut));
    await assert.rejects(extractTarGzEntries(file, ['package/x']), /truncated/);

    await writeFile(file, Buffer.from('plain text'));
    await assert.rejects(extractTarGzEntries(file, ['package/x']), DataIntegrityError);
  });

  it('refuses wanted entries over the size limit', async () => {
    const file = join(dir, 'd.tgz');
    await writeFile(file, gzipSync(tar(entry('package/big', Buffer.alloc(4096)))));
    await assert.rejects(extractTarGzEntries(file, ['package/big'], { maxEntryBytes: 1024 }), /limit/);
  });
});
