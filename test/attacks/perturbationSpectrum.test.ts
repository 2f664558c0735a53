import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PerturbationSpectrumAccumulator } from '../../src/attacks/perturbationSpectrum.js';
import { PIXELS_PER_IMAGE } from '../../src/attacks/types.js';

/** A perturbation cos(2*pi*(fy*y + fx*x)/32) * a on every channel. */
function cosine(fy: number, fx: number, a: number): Float32Array {
  const out = new Float32Array(PIXELS_PER_IMAGE);
  for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) out[c * 1024 + y * 32 + x] = a * Math.cos((2 * Math.PI * (fy * y + fx * x)) / 32);
  return out;
}

test('a low-frequency perturbation has no high-frequency energy and peaks at its centred bins', () => {
  const acc = new PerturbationSpectrumAccumulator();
  acc.add(cosine(0, 2, 0.01), new Float32Array(PIXELS_PER_IMAGE), 1);
  const r = acc.result();
  assert.equal(r.samples, 1);
  assert.ok(r.highFrequencyShare < 1e-12);
  // cos splits into bins (0, +2) and (0, -2), 0.005 each, centred at row 16, columns 18 and 14
  assert.ok(Math.abs(r.channels[0][16][18] - 0.005) < 1e-9);
  assert.ok(Math.abs(r.channels[0][16][14] - 0.005) < 1e-9);
  assert.ok(Math.abs(r.channels[0][16][16]) < 1e-9);
});

test('a checkerboard-like perturbation is all high frequency; mixtures split by energy', () => {
  const high = new PerturbationSpectrumAccumulator();
  high.add(cosine(16, 16, 0.02), new Float32Array(PIXELS_PER_IMAGE), 1);
  assert.ok(Math.abs(high.result().highFrequencyShare - 1) < 1e-12);
  const mix = new PerturbationSpectrumAccumulator();
  const a = cosine(1, 0, 0.03);
  const b = cosine(0, 12, 0.04);
  mix.add(a.map((v, i) => v + b[i]), new Float32Array(PIXELS_PER_IMAGE), 1);
  // energies scale with amplitude squared: 0.04^2 / (0.03^2 + 0.04^2) = 0.64
  assert.ok(Math.abs(mix.result().highFrequencyShare - 0.64) < 1e-6); // float32 pixels
});
