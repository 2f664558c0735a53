/**
 * The gradient graph of every shared third-party model (../shared/models) against finite
 * differences, and its forward pass against the model run on the project's own preprocessing.
 * Skips, saying why, where the folder is missing.
 *
 * Directions: ReLU networks are piecewise linear in the pixels, with kinks so dense that a step
 * moving all 3072 pixels crosses some for any h large enough to rise above the float32 rounding
 * of the loss when the direction is uniform (|<g,d>| ~ |g|_2). Directions d_i = u_i sign(g_i)
 * (u uniform, no pixel left out) give |<g,d>| ~ |g|_1, about 50x more, so h = 1e-4 is both
 * below the kinks and above the rounding. Per-pixel differences on the 16 largest |g_i| check
 * single elements (a single pixel crosses few kinks, so h = 3e-4 there).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildGradientModel } from '../../../src/attacks/grad/gradientGraph.js';
import { probeShapes } from '../../../src/attacks/grad/shapes.js';
import { fillModelInput, Layout, pixelsInUnitRange, Preprocessing } from '../../../src/data/preprocess.js';
import { ModelSession } from '../../../src/runtime/session.js';
import { syntheticDataset } from '../../helpers/modelBuilder.js';
import { assertGradient } from './helpers.js';

const sharedModels = new URL('../../../../shared/models/', import.meta.url);
const catalogue = fileURLToPath(new URL('models.json', sharedModels));
const missing = existsSync(catalogue) ? false : 'no ../shared/models beside this checkout (third-party reference models)';

interface SharedModel {
  file: string;
  preprocessing: { layout: Layout; mean: [number, number, number]; std: [number, number, number] };
}

const models: SharedModel[] = missing ? [] : (JSON.parse(readFileSync(catalogue, 'utf8')) as SharedModel[]);
if (missing) test('shared models: gradient graph', { skip: missing }, () => {});

for (const m of models) {
  const bytes = (): Uint8Array => readFileSync(fileURLToPath(new URL(m.file, sharedModels)));
  const spec = { layout: m.preprocessing.layout, preprocessing: { mean: m.preprocessing.mean, std: m.preprocessing.std, scale: 1 as const } };

  test(`${m.file}: gradient vs finite differences (3 directions, 16 pixels)`, async () => {
    const r = await assertGradient(bytes(), { spec, aligned: true, h: 1e-4, directions: 3, topPixels: 16, pixelH: 3e-4, rtol: 2e-2 });
    assert.equal(r.model.outputKind, 'logits');
    assert.equal(r.model.classes, 10);
  });

  test(`${m.file}: the graph's logits equal the model's on fillModelInput`, async () => {
    const modelBytes = bytes();
    const gm = buildGradientModel(modelBytes, { ...spec, shapes: await probeShapes(modelBytes) });
    const batch = gm.fixedBatch ?? 2;
    const set = syntheticDataset(batch, 9);
    const pre: Preprocessing = { name: 'shared', ...spec.preprocessing };
    const original = await ModelSession.open(modelBytes, { ep: 'cpu', intraOpThreads: 1 });
    const graph = await ModelSession.open(gm.bytes, { ep: 'cpu', intraOpThreads: 1 });
    try {
      const dims = m.preprocessing.layout === 'NCHW' ? [batch, 3, 32, 32] : [batch, 32, 32, 3];
      const want = (await original.run({ [original.inputNames[0]]: { data: fillModelInput(set, 0, batch, pre, m.preprocessing.layout), dims } }, [original.outputNames[0]]))[original.outputNames[0]].data;
      const got = (await graph.run({
        [gm.inputs.pixels]: { data: pixelsInUnitRange(set, 0, batch), dims: [batch, 3, 32, 32] },
        [gm.inputs.labels]: { data: new Float32Array(batch * 10), dims: [batch, 10] },
      }, [gm.outputs.logits]))[gm.outputs.logits].data;
      const scale = Math.max(...Array.from(want, Math.abs));
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-5 * Math.max(1, scale), `logit ${i}: ${got[i]} vs ${want[i]}`);
    } finally {
      await original.release();
      await graph.release();
    }
  });
}
