/**
 * The CLI on hostile models (issue 11, point 5): each is refused with exit code 2 and one line
 * that names the problem, before ONNX Runtime loads anything.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { buildModel } from '../helpers/modelBuilder.js';
import { baseModel, indicesBytes, nestedIf, sparseTensorBytes, tensorBytes, withGraphField, withNode } from '../fuzz/onnxParts.js';
import { runCli } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'alias-audit-cli-limits-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const secret = join(dir, 'secret.bin');
writeFileSync(secret, new Uint8Array(32));

const cases: [string, () => Uint8Array, RegExp][] = [
  ['a stride-1024 conv', () => buildModel({ ops: [{ op: 'Conv', kernel: [3, 3], strides: [1024, 1024] }] }).bytes, /strides 1024.*maxStride/],
  ['If bodies nested 3,000 deep', () => withNode(baseModel(), nestedIf(3000)), /maxGraphNesting/],
  ['a batch dimension of 2^31', () => buildModel({ ops: [{ op: 'Conv', kernel: [3, 3], strides: [2, 2] }], batch: 2 ** 31 }).bytes, /maxDim/],
  [
    'a sparse initializer with external data',
    () => withGraphField(baseModel(), 15, sparseTensorBytes(tensorBytes('sparse_w', [2], { entries: { location: secret } }), indicesBytes('sparse_i', 2), [4, 4])),
    /external data file/,
  ],
];

for (const [what, make, reason] of cases) {
  test(`audit of ${what} exits 2 with one line naming the problem`, async () => {
    const path = join(dir, 'model.onnx');
    writeFileSync(path, make());
    const r = await runCli(['audit', path, '--samples', '4', '--quiet']);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('alias-audit:') && !l.startsWith('alias-audit: warning:'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], reason);
    assert.doesNotMatch(lines[0], /secret\.bin/);
  });
}
