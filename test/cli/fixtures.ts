/** Small ONNX models for the CLI's bad-input tests, built with our own IR and exporter. */
import { decodeTensorHeader, encodeModel } from '../../src/onnx/codec.js';
import { attr, Graph } from '../../src/onnx/ir.js';
import { ProtoWriter } from '../../src/onnx/protobuf.js';
import { DataType, TensorField } from '../../src/onnx/schema.js';

function modelBytes(graph: Graph, opset = 13): Uint8Array {
  return encodeModel({ irVersion: 8, opsetImports: [{ domain: '', version: opset }], graph, producerName: 'alias-audit-tests', otherFields: [] });
}

function seeded(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 0.2;
  }
  return out;
}

/** Conv (stride `stride`) -> GlobalAveragePool -> Flatten -> MatMul to 10 logits. */
export function tinyClassifier(stride: number): Uint8Array {
  const g = new Graph({ name: 'tiny', inputs: [{ name: 'image', elemType: DataType.FLOAT, shape: ['N', 3, 32, 32] }] });
  const w = g.constantFloat('w', [4, 3, 3, 3], seeded(108, 1));
  const conv = g.op('Conv', ['image', w], [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [stride, stride]), attr.ints('pads', [1, 1, 1, 1])]);
  const pooled = g.op('Flatten', [g.op('GlobalAveragePool', [conv])]);
  const fc = g.constantFloat('fc', [4, 10], seeded(40, 2));
  const logits = g.addNode({ opType: 'MatMul', inputs: [pooled, fc], outputs: ['logits'] }).outputs[0];
  g.addOutput(logits);
  return modelBytes(g);
}

/** A model whose input is a feature vector, not an image. */
export function vectorModel(): Uint8Array {
  const g = new Graph({ name: 'vector', inputs: [{ name: 'features', elemType: DataType.FLOAT, shape: [1, 16] }] });
  const w = g.constantFloat('w', [16, 10], seeded(160, 3));
  g.addOutput(g.addNode({ opType: 'MatMul', inputs: ['features', w], outputs: ['logits'] }).outputs[0]);
  return modelBytes(g);
}

/** A model whose conv weight lives in an external file (data_location = EXTERNAL). */
export function externalDataModel(): Uint8Array {
  const entry = (key: string, value: string): Uint8Array => new ProtoWriter().string(1, key).string(2, value).finish();
  const tensor = new ProtoWriter()
    .packedInt64s(TensorField.dims, [4, 3, 3, 3])
    .int64(TensorField.dataType, DataType.FLOAT)
    .string(TensorField.name, 'w')
    .bytes(TensorField.externalData, entry('location', 'weights.bin'))
    .bytes(TensorField.externalData, entry('offset', '0'))
    .int64(TensorField.dataLocation, 1)
    .finish();
  const g = new Graph({ name: 'external', inputs: [{ name: 'image', elemType: DataType.FLOAT, shape: [1, 3, 32, 32] }] });
  g.initializers.set('w', decodeTensorHeader(tensor));
  const conv = g.op('Conv', ['image', 'w'], [attr.ints('strides', [2, 2])]);
  g.addOutput(g.addNode({ opType: 'Flatten', inputs: [conv], outputs: ['logits'] }).outputs[0]);
  return modelBytes(g);
}
