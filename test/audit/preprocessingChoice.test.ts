/**
 * The preprocessing choice (SPEC §3): every audit scores the presets (a given one first on 64
 * images, on 256 when the look might end in a flag); `auto` keeps the best, a tie
 * within 3 points goes to the first of none, cifar10, imagenet; a choice more than 10 points below
 * the best and an ambiguous `auto` choice are flagged; a preset stops being scored once it can no
 * longer change any of that. The rule on made-up scores, then an audit of a model whose output
 * does not depend on its input, so every preset ties exactly, then the bundled model.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { runAudit } from '../../src/audit/audit.js';
import { DEFAULT_AUDIT_OPTIONS } from '../../src/audit/options.js';
import {
  autoPreset,
  CANDIDATE_SAMPLES,
  checkGivenPreprocessing,
  CHECK_SAMPLES,
  couldChallenge,
  couldTieBest,
  PartialScore,
  PreprocessingCandidate,
  preprocessingFlags,
  PROBE_KEPT_OPEN_MAX_BYTES,
  ScoreMore,
  scoreAutoPresets,
  scoredSoFar,
  worthConfirming,
} from '../../src/audit/preprocessingChoice.js';
import { SeededRandom } from '../../src/attacks/random.js';
import { loadCifar10Test } from '../../src/data/cifar10.js';
import { encodeModel } from '../../src/onnx/codec.js';
import { attr, Graph } from '../../src/onnx/ir.js';
import { DataType } from '../../src/onnx/schema.js';

const scores = (none: number, cifar10: number, imagenet: number, samples = 256): PreprocessingCandidate[] => [
  { name: 'none', accuracy: none, samples },
  { name: 'cifar10', accuracy: cifar10, samples },
  { name: 'imagenet', accuracy: imagenet, samples },
];

test('auto keeps the best preset; within 3 points, the first of none, cifar10, imagenet', () => {
  assert.equal(autoPreset(scores(0.2, 0.85, 0.5)), 'cifar10');
  assert.equal(autoPreset(scores(0.2, 0.5, 0.85)), 'imagenet');
  // 2 images of 256 apart: a tie, so none
  assert.equal(autoPreset(scores(66 / 256, 68 / 256, 68 / 256)), 'none');
  // imagenet best, cifar10 within 3 points, none 5 below: cifar10 (none is not tied)
  assert.equal(autoPreset(scores(0.8, 0.825, 0.85)), 'cifar10');
  // exactly 3 points is a tie; 4 is not
  assert.equal(autoPreset(scores(0.5, 0.53, 0.1, 100)), 'none');
  assert.equal(autoPreset(scores(0.5, 0.54, 0.1, 100)), 'cifar10');
});

test('a choice more than 10 points below the best is flagged with the preset and the option to pass', () => {
  const [flag, ...rest] = preprocessingFlags({ name: 'cifar10', chosenBy: 'preset' }, scores(0.87, 0.56, 0.5));
  assert.deepEqual(rest, []);
  assert.match(flag, /^preprocessing cifar10 scores 56\.0% on the first 256 images, 31\.0 points below none \(87\.0%\)/);
  assert.match(flag, /pass --preprocess none$/);
  assert.deepEqual(preprocessingFlags({ name: 'cifar10', chosenBy: 'preset' }, scores(0.66, 0.56, 0.5)), [], 'exactly 10 points is not more than 10');
  const custom = preprocessingFlags({ name: 'custom', chosenBy: 'explicit' }, [...scores(0.87, 0.56, 0.5), { name: 'custom', accuracy: 0.3, samples: 256 }]);
  assert.equal(custom.length, 1);
  assert.match(custom[0], /^preprocessing custom \(--mean\/--std\) scores 30\.0%.*pass --preprocess none instead of --mean\/--std$/);
  assert.deepEqual(preprocessingFlags({ name: 'custom', chosenBy: 'explicit' }, [...scores(0.5, 0.56, 0.5), { name: 'custom', accuracy: 0.9, samples: 256 }]), []);
});

test('an auto choice with a runner-up within 3 points is flagged as ambiguous; a clear one is not', () => {
  const [flag, ...rest] = preprocessingFlags({ name: 'none', chosenBy: 'auto' }, scores(0.5, 0.52, 0.2, 100));
  assert.deepEqual(rest, []);
  assert.match(flag, /^auto preprocessing is ambiguous: none \(50\.0%\) and cifar10 \(52\.0%\) score within 3 points/);
  assert.match(flag, /none was kept; pass the one the model expects explicitly \(--preprocess none or --preprocess cifar10\)$/);
  assert.deepEqual(preprocessingFlags({ name: 'none', chosenBy: 'auto' }, scores(0.85, 0.2, 0.19)), []);
  // the same scores given explicitly are the user's choice: not ambiguous, and not 10 points below
  assert.deepEqual(preprocessingFlags({ name: 'none', chosenBy: 'preset' }, scores(0.5, 0.52, 0.2, 100)), []);
});

test('a given preprocessing is confirmed on more images only when a candidate beats it by more than 5 points', () => {
  assert.equal(worthConfirming('none', scores(0.8, 0.85, 0.2, 64)), false, 'exactly 5 points: not worth it');
  assert.equal(worthConfirming('none', scores(0.8, 0.8 + 5 / 64, 0.2, 64)), true, '5 of 64 images (7.8 points)');
  assert.equal(worthConfirming('cifar10', scores(0.1, 0.9, 0.2, 64)), false, 'the best candidate itself');
  assert.throws(() => worthConfirming('custom', scores(0.1, 0.9, 0.2)), /custom was not scored/);
  // every preset near chance (random weights): their gaps are noise
  assert.equal(worthConfirming('none', scores(0.05, 0.19, 0.1, 64)), false, 'a better preset near chance');
  assert.equal(worthConfirming('none', scores(0.05, 0.2, 0.1, 64)), true, 'a better preset at 20%');
});

test('a preset that beats the choice but is itself near chance (< 20%) is not named', () => {
  assert.deepEqual(preprocessingFlags({ name: 'none', chosenBy: 'preset' }, scores(0.02, 0.19, 0.1)), []);
  assert.equal(preprocessingFlags({ name: 'none', chosenBy: 'preset' }, scores(0.02, 0.2, 0.1)).length, 1);
});

const partial = (name: string, correct: number, scored: number, total: number): PartialScore => ({ name, correct, scored, total });

test('a preset stops under auto once its best case is more than 3 points below what another already has', () => {
  // none has 200 of 256 right whatever comes; cifar10 could still reach 192 + 0 = 75%
  const none = partial('none', 200, 256, 256);
  assert.equal(couldTieBest(partial('cifar10', 100, 164, 256), [none]), false, 'at best 192/256 = 75.0%, 3.1 points below 78.1%');
  assert.equal(couldTieBest(partial('cifar10', 100, 163, 256), [none]), true, 'at best 193/256: within 3 points');
  // a leader part-way counts only what it has: 100 of 256 so far
  assert.equal(couldTieBest(partial('cifar10', 0, 160, 256), [partial('none', 100, 100, 256)]), true);
  assert.equal(couldTieBest(partial('cifar10', 0, 0, 256), [none]), true, 'not scored yet');
});

test('a candidate of a given preprocessing stops once even a perfect rest could not trigger the rule', () => {
  const mine = { name: 'none', accuracy: 55 / 64, samples: 64 };
  const confirm = (c: PreprocessingCandidate[]): boolean => worthConfirming('none', c);
  // worth confirming needs more than 5 points above 55/64: 59 of 64 images
  assert.equal(couldChallenge(confirm, mine, partial('cifar10', 11, 16, 64)), true, 'at best 11 + 48 = 59 of 64');
  assert.equal(couldChallenge(confirm, mine, partial('cifar10', 10, 16, 64)), false, 'at best 10 + 48 = 58 of 64');
  // the final flag needs more than 10 points, and a candidate at 20% or more
  const flag = (c: PreprocessingCandidate[]): boolean => preprocessingFlags({ name: 'none', chosenBy: 'preset' }, c).length > 0;
  const low = { name: 'none', accuracy: 0.05, samples: 256 };
  assert.equal(couldChallenge(flag, low, partial('cifar10', 0, 205, 256)), false, 'at best 51/256 = 19.9%: near chance');
  assert.equal(couldChallenge(flag, low, partial('cifar10', 1, 205, 256)), true, 'at best 52/256 = 20.3%');
});

/** Scores made-up answers (`answers[c][i]`: candidate c right on image i) in chunks of 1 to 40 images. */
function madeUpScorer(answers: boolean[][], random: SeededRandom): ScoreMore {
  return (index, score) => {
    const to = Math.min(score.total, score.scored + 1 + random.int(40));
    for (let i = score.scored; i < to; i++) if (answers[index][i]) score.correct++;
    score.scored = to;
    return Promise.resolve();
  };
}

/** Every candidate on the first n images, as the check scored them before it stopped early. */
const fullScores = (names: readonly string[], answers: boolean[][], n: number): PreprocessingCandidate[] =>
  names.map((name, c) => ({ name, accuracy: answers[c].slice(0, n).filter(Boolean).length / n, samples: n }));

test('stopping early decides as scoring every image would: 400 made-up models, auto and given', async () => {
  const random = new SeededRandom(13);
  const names = ['none', 'cifar10', 'imagenet'];
  let stopped = 0;
  for (let trial = 0; trial < 400; trial++) {
    // accuracies from chance to high, often close to each other, so that ties and near-misses occur
    const base = random.uniform(0.05, 0.95);
    const rates = names.map(() => (random.next() < 0.5 ? base + random.uniform(-0.06, 0.06) : random.uniform(0.05, 0.95)));
    const answers = rates.map((r) => Array.from({ length: 256 }, () => random.next() < r));
    const samples = [20, 64, 100, 300][random.int(4)];
    const n = Math.min(samples, CANDIDATE_SAMPLES);

    const early = (await scoreAutoPresets(names, n, madeUpScorer(answers, random))).map(scoredSoFar);
    const full = fullScores(names, answers, n);
    assert.equal(autoPreset(early), autoPreset(full));
    const chosen = autoPreset(full);
    assert.deepEqual(preprocessingFlags({ name: chosen, chosenBy: 'auto' }, early), preprocessingFlags({ name: chosen, chosenBy: 'auto' }, full));
    for (const [c, e] of early.entries()) {
      assert.equal(e.accuracy, fullScores(names, answers, e.samples)[c].accuracy, 'a stopped preset reports its own images');
      if (e.samples < n) stopped++;
    }

    const given = random.int(3);
    const count = (k: number): number => answers[given].slice(0, Math.min(samples, k)).filter(Boolean).length;
    const checked = await checkGivenPreprocessing(
      { names, given, chosenBy: 'preset', samples, correctFirst: { check: count(CHECK_SAMPLES), candidate: count(CANDIDATE_SAMPLES) } },
      madeUpScorer(answers, random),
    );
    // before stopping early: every candidate on the first look, all of them on 256 when it was worth confirming
    const look = fullScores(names, answers, Math.min(samples, CHECK_SAMPLES));
    const reference = samples > CHECK_SAMPLES && worthConfirming(names[given], look) ? fullScores(names, answers, n) : look;
    const used = { name: names[given], chosenBy: 'preset' as const };
    assert.deepEqual(preprocessingFlags(used, checked), preprocessingFlags(used, reference), JSON.stringify({ checked, reference }));
    assert.equal(checked[given].samples, reference[given].samples);
    for (const [c, e] of checked.entries()) assert.equal(e.accuracy, fullScores(names, answers, e.samples)[c].accuracy);
  }
  assert.ok(stopped > 100, `presets stopped early in ${stopped} cases`);
});

/** Conv (stride 2, zero weights) -> pool -> linear with zero weights plus a bias: always class 3. */
function constantClassifier(): Uint8Array {
  const g = new Graph({ name: 'constant', inputs: [{ name: 'image', elemType: DataType.FLOAT, shape: ['N', 3, 32, 32] }] });
  const w = g.constantFloat('w', [4, 3, 3, 3], new Float32Array(108));
  const conv = g.op('Conv', ['image', w], [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1])]);
  const pooled = g.op('Flatten', [g.op('GlobalAveragePool', [conv])]);
  const fc = g.constantFloat('fc', [4, 10], new Float32Array(40));
  const bias = g.constantFloat('bias', [10], Float32Array.from({ length: 10 }, (_, k) => (k === 3 ? 1 : 0)));
  g.addOutput(g.addNode({ opType: 'Add', inputs: [g.op('MatMul', [pooled, fc]), bias], outputs: ['logits'] }).outputs[0]);
  return encodeModel({ irVersion: 8, opsetImports: [{ domain: '', version: 13 }], graph: g, producerName: 'alias-audit-tests', otherFields: [] });
}

test('an audit scores every preset; presets that tie make auto keep none and flag it', async () => {
  const dataset = await loadCifar10Test();
  const report = await runAudit(constantClassifier(), { ...DEFAULT_AUDIT_OPTIONS, samples: 60, ep: 'cpu' }, { dataset });
  const pre = report.dataset.preprocessing;
  const cats = [...dataset.labels.subarray(0, 60)].filter((l) => l === 3).length / 60;
  assert.deepEqual(pre.candidates, ['none', 'cifar10', 'imagenet'].map((name) => ({ name, accuracy: cats, samples: 60 })));
  assert.equal(pre.chosenBy, 'auto');
  assert.equal(pre.name, 'none');
  assert.ok(report.flags.some((f) => f.startsWith('auto preprocessing is ambiguous: none') && f.includes('--preprocess imagenet')), JSON.stringify(report.flags));

  const given = await runAudit(constantClassifier(), { ...DEFAULT_AUDIT_OPTIONS, samples: 60, ep: 'cpu', preprocess: 'imagenet' }, { dataset });
  assert.equal(given.dataset.preprocessing.chosenBy, 'preset');
  assert.equal(given.dataset.preprocessing.candidates?.length, 3, 'an explicit preset keeps the candidates');
  assert.ok(!given.flags.some((f) => f.includes('ambiguous')), 'a preset given explicitly is not ambiguous');
});

test('a given preset is checked on the first 64 images, wrong presets stop early, and on 256 when another preset might fit better (bundled model)', async () => {
  const dataset = await loadCifar10Test();
  const model = await readFile(new URL('../../models/preact_resnet_standard.onnx', import.meta.url));
  const audit = (preprocess: 'none' | 'cifar10' | 'imagenet', samples = 300) => runAudit(model, { ...DEFAULT_AUDIT_OPTIONS, samples, ep: 'cpu', preprocess }, { dataset });
  // clean accuracy under a preset on the first n images, from an audit of its own
  const accuracyOn = async (preprocess: 'none' | 'cifar10' | 'imagenet', n: number): Promise<number> => (await audit(preprocess, n)).cleanAccuracy;

  const right = await audit('none');
  const looked = right.dataset.preprocessing.candidates ?? [];
  assert.deepEqual(looked.map((c) => c.name), ['none', 'cifar10', 'imagenet']);
  assert.equal(looked[0].samples, CHECK_SAMPLES);
  // the model takes [0,1] pixels (about 85% right): the normalising presets fall out of reach after a first look
  for (const c of looked.slice(1)) {
    assert.ok(c.samples > 0 && c.samples < CHECK_SAMPLES, JSON.stringify(looked));
    assert.equal(c.accuracy, await accuracyOn(c.name as 'cifar10' | 'imagenet', c.samples), `${c.name}: its score on the images it was given`);
  }
  assert.ok(!right.flags.some((f) => f.startsWith('preprocessing')), JSON.stringify(right.flags));

  const wrong = await audit('cifar10');
  const candidates = wrong.dataset.preprocessing.candidates ?? [];
  assert.equal(candidates[0].samples, CANDIDATE_SAMPLES, 'none, which beats it, confirmed on 256 images');
  assert.equal(candidates[1].samples, CANDIDATE_SAMPLES, 'the given one, from the measurement pass');
  assert.ok(candidates[0].accuracy - candidates[1].accuracy > 0.1, JSON.stringify(candidates));
  assert.equal(candidates[0].accuracy, await accuracyOn('none', CANDIDATE_SAMPLES));
  assert.equal(candidates[2].accuracy, await accuracyOn('imagenet', candidates[2].samples));
  assert.ok(wrong.flags.some((f) => f.startsWith('preprocessing cifar10 scores') && f.includes('pass --preprocess none')), JSON.stringify(wrong.flags));
  // the given preset's own score is the measurement pass's: on exactly 64 images it is the clean accuracy
  const first = await runAudit(model, { ...DEFAULT_AUDIT_OPTIONS, samples: CHECK_SAMPLES, ep: 'cpu', preprocess: 'cifar10' }, { dataset });
  const mine = first.dataset.preprocessing.candidates?.find((c) => c.name === 'cifar10');
  assert.deepEqual(mine, { name: 'cifar10', accuracy: first.cleanAccuracy, samples: CHECK_SAMPLES });
  assert.deepEqual(first.dataset.preprocessing.candidates?.map((c) => c.name), ['none', 'cifar10', 'imagenet'], 'the report keeps the candidates in order');
});

/**
 * Conv (3 -> 32, stride 2) -> Relu -> a dense layer of 8,192 x 1,040 weights (34 MB) -> 10
 * classes: bigger than the audit is told to keep open, so its probe session is closed during the
 * measurement pass and opened again for the check. Fixed pseudo-random weights.
 */
function bigDenseClassifier(): Uint8Array {
  const weights = (n: number, scale: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * scale);
  const g = new Graph({ name: 'big-dense', inputs: [{ name: 'image', elemType: DataType.FLOAT, shape: ['N', 3, 32, 32] }] });
  const conv = g.op('Conv', ['image', g.constantFloat('w', [32, 3, 3, 3], weights(864, 0.3, 1))], [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1])]);
  const flat = g.op('Flatten', [g.op('Relu', [conv])]);
  const hidden = g.op('Relu', [g.op('MatMul', [flat, g.constantFloat('dense', [8192, 1040], weights(8192 * 1040, 0.02, 2))])]);
  g.addOutput(g.addNode({ opType: 'MatMul', inputs: [hidden, g.constantFloat('out', [1040, 10], weights(10400, 0.1, 3))], outputs: ['logits'] }).outputs[0]);
  return encodeModel({ irVersion: 8, opsetImports: [{ domain: '', version: 13 }], graph: g, producerName: 'alias-audit-tests', otherFields: [] });
}

test('a model too big to keep its probe session open is checked with one opened again after the measurement pass', async () => {
  const dataset = await loadCifar10Test();
  const model = bigDenseClassifier();
  // the default keeps models up to PROBE_KEPT_OPEN_MAX_BYTES open; a test model that big would be slow to build and run
  const probeKeptOpenMaxBytes = 32 * 2 ** 20;
  assert.ok(model.length > probeKeptOpenMaxBytes && probeKeptOpenMaxBytes < PROBE_KEPT_OPEN_MAX_BYTES, `${model.length} bytes`);
  const audit = (preprocess: 'none' | 'cifar10' | 'imagenet', samples: number) =>
    runAudit(model, { ...DEFAULT_AUDIT_OPTIONS, samples, batch: 50, ep: 'cpu', preprocess }, { dataset, probeKeptOpenMaxBytes });
  const report = await audit('cifar10', 100);
  const candidates = report.dataset.preprocessing.candidates ?? [];
  assert.deepEqual(candidates.map((c) => c.name), ['none', 'cifar10', 'imagenet']);
  assert.equal(candidates[1].samples, CHECK_SAMPLES);
  for (const c of [candidates[0], candidates[2]]) {
    assert.ok(c.samples > 0, JSON.stringify(candidates));
    assert.equal(c.accuracy, (await audit(c.name as 'none' | 'imagenet', c.samples)).cleanAccuracy, `${c.name} on its ${c.samples} images`);
  }
});
