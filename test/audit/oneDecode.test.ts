/**
 * An audit decodes its model once (issue 13): the shape probe, the audit graph with its twins,
 * the shape table and the gradient graph each edit a copy of the one decoded model, which stays
 * as it was; a caller that decoded the model already (the service's worker, for its memory
 * check) hands it over and the audit decodes nothing.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { runAudit } from '../../src/audit/audit.js';
import { parseAuditOptions } from '../../src/audit/options.js';
import { loadCifar10Test, type Cifar10Set } from '../../src/data/cifar10.js';
import { decodeModel, encodeModel, modelDecodeCount } from '../../src/onnx/codec.js';
import { cloneModel } from '../../src/onnx/ir.js';
import { findDownsamplingOps } from '../../src/onnx/inspect.js';
import { exposeForShapeProbe } from '../../src/onnx/surgery.js';
import { bundledModel, STANDARD } from '../helpers/models.js';

let dataset: Cifar10Set;
before(async () => {
  dataset = await loadCifar10Test();
});

/** The audit with the gradient attacks on: every graph an audit can build is built. */
const attacking = parseAuditOptions({ samples: '40', batch: '20', preprocess: 'none', ep: 'cpu', robustness: 'fast', attackSamples: '10' });

test('a whole audit with attacks decodes its model once', async () => {
  const before = modelDecodeCount();
  const report = await runAudit(bundledModel(STANDARD), attacking, { dataset });
  assert.ok(report.robustness, 'the attacks ran');
  assert.ok(report.downsampling.every((d) => d.am !== null), 'every twin was measured');
  assert.equal(modelDecodeCount() - before, 1);
});

test('an audit given the decoded model decodes nothing and leaves that model as it was', async () => {
  const bytes = bundledModel(STANDARD);
  const model = decodeModel(bytes);
  const encodedBefore = encodeModel(model);
  const before = modelDecodeCount();
  const given = await runAudit(bytes, attacking, { dataset, model });
  assert.equal(modelDecodeCount() - before, 0);
  assert.deepEqual(encodeModel(model), encodedBefore, 'the audit edited the model it was given');
  const own = await runAudit(bytes, attacking, { dataset });
  assert.deepEqual(given.downsampling.map((d) => d.am), own.downsampling.map((d) => d.am));
  assert.equal(given.robustness?.robustAccuracy, own.robustness?.robustAccuracy);
});

test('edits of a clone (outputs, nodes, initializers) never reach the original', () => {
  const original = decodeModel(bundledModel(STANDARD));
  const encoded = encodeModel(original);
  const copy = cloneModel(original);
  exposeForShapeProbe(copy, findDownsamplingOps(copy).ops);
  copy.graph.addNode({ opType: 'Relu', inputs: [copy.graph.outputs[0].name], outputs: ['extra'] });
  copy.graph.addOutput('extra');
  copy.graph.initializers.clear();
  copy.opsetImports[0].version = 1;
  assert.deepEqual(encodeModel(original), encoded);
  assert.notDeepEqual(encodeModel(cloneModel(original)), encodeModel(copy));
});
