/**
 * Graph surgery for the audit (SPEC §1): expose values for a shape probe, and give each strided
 * op its stride-1 twin.
 */
import { Attribute, attr, Graph, Model } from './ir.js';
import { DownsamplingOp } from './inspect.js';

/** Spatial geometry of one op, read from a real run: [H, W] in and [Nh, Nw] out. */
export interface OpGeometry {
  inputHW: [number, number];
  outputHW: [number, number];
}

export interface StrideOneTwin {
  /** Name of the twin's output value, [B, C, sh*Nh, sw*Nw]. */
  output: string;
  /** Explicit pads of the twin, [top, left, bottom, right]. */
  pads: [number, number, number, number];
  outputHW: [number, number];
  twinHW: [number, number];
}

/** Raised when a twin cannot reproduce an op; reported for that op, never silently skipped. */
export class TwinError extends Error {
  constructor(readonly node: string, message: string) {
    super(message);
    this.name = 'TwinError';
  }
}

/**
 * Makes the inputs and outputs of the given ops graph outputs, so one run reads their shapes.
 * Shapes come from ONNX Runtime itself rather than our own shape inference: every op type the
 * runtime knows is then covered.
 */
export function exposeForShapeProbe(model: Model, ops: readonly DownsamplingOp[]): string[] {
  const names: string[] = [];
  for (const op of ops) {
    for (const name of [op.input, op.output]) {
      if (!names.includes(name)) names.push(name);
      model.graph.addOutput(name);
    }
  }
  return names;
}

/** Begin pads after resolving auto_pad, per spatial axis. */
export function resolvedBeginPads(op: DownsamplingOp, inputHW: readonly [number, number]): [number, number] {
  return [0, 1].map((axis) => {
    const s = op.strides[axis];
    const dk = op.dilations[axis] * (op.kernel[axis] - 1) + 1;
    const size = inputHW[axis];
    switch (op.autoPad) {
      case 'VALID':
        return 0;
      case 'SAME_UPPER':
      case 'SAME_LOWER': {
        const total = Math.max((Math.ceil(size / s) - 1) * s + dk - size, 0);
        return op.autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
      }
      default:
        return op.pads[axis];
    }
  }) as [number, number];
}

/**
 * Pads of the stride-1 twin: same begin pads as the op (so the twin's sample at s*i sees the
 * same window as the op's output i), end pads extended so the twin is exactly s*N long.
 */
export function strideOneTwinPads(op: DownsamplingOp, geometry: OpGeometry): [number, number, number, number] {
  const begin = resolvedBeginPads(op, geometry.inputHW);
  const end = [0, 1].map((axis) => {
    const dk = op.dilations[axis] * (op.kernel[axis] - 1) + 1;
    // twin length = H + begin + end - dk + 1 must equal s * N
    return op.strides[axis] * geometry.outputHW[axis] - 1 + dk - geometry.inputHW[axis] - begin[axis];
  });
  if (end[0] < 0 || end[1] < 0) {
    throw new TwinError(op.node.name, `stride-1 twin would need negative end padding (${end.join(',')})`);
  }
  if (op.op !== 'Conv') {
    for (const axis of [0, 1]) {
      if (end[axis] >= op.kernel[axis]) {
        // Its last windows would lie wholly in padding, which pooling does not define (and ORT rejects).
        throw new TwinError(op.node.name, `the stride-1 twin of this ${op.op} needs end padding ${end[axis]} >= kernel ${op.kernel[axis]}: its last windows would lie wholly in padding`);
      }
    }
  }
  return [begin[0], begin[1], end[0], end[1]];
}

const GEOMETRY_ATTRIBUTES = new Set(['strides', 'pads', 'auto_pad', 'ceil_mode', 'storage_order']);

/** Adds the stride-1 twin of `op` to the graph and returns where its output is. */
export function addStrideOneTwin(graph: Graph, op: DownsamplingOp, geometry: OpGeometry): StrideOneTwin {
  const pads = strideOneTwinPads(op, geometry);
  const kept: Attribute[] = op.node.attributes.filter((a) => !GEOMETRY_ATTRIBUTES.has(a.name));
  const hasKernelShape = kept.some((a) => a.name === 'kernel_shape');
  const attributes: Attribute[] = [
    ...kept,
    ...(hasKernelShape ? [] : [attr.ints('kernel_shape', op.kernel)]),
    attr.ints('strides', [1, 1]),
    attr.ints('pads', pads),
  ];
  const twin = graph.addNode({
    opType: op.op,
    domain: op.node.domain,
    name: `${op.node.name || op.output}_stride1_twin`,
    inputs: op.node.inputs,
    outputs: [`${op.output}_stride1_twin`],
    attributes,
  });
  return {
    output: twin.outputs[0],
    pads,
    outputHW: geometry.outputHW,
    twinHW: [op.strides[0] * geometry.outputHW[0], op.strides[1] * geometry.outputHW[1]],
  };
}
