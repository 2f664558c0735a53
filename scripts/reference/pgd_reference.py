#!/usr/bin/python3
"""An independent PGD figure for vnn21_resnet_2b (../shared/models) on the first 1,000 CIFAR-10
test images at Linf eps 2/255, for test/audit/robustness.test.ts to compare our attack with.

Nothing here comes from alias-audit's TypeScript: the network is rebuilt in PyTorch by reading
the ONNX graph with the onnx package (weights and ops; only the ops this model uses are
interpreted, any other op stops the script), the gradient is PyTorch autograd, and the attack
follows SPEC §4: a uniform random start in the eps-ball, 20 signed steps of eps/4 on the
cross-entropy loss, projection onto the ball and [0,1] after each step, one restart. A sample
counts as broken when any iterate, from the random start to the last step, is misclassified
(our attack stops a sample at that point, which is the same count). PGD is random, so it runs
several seeds and records their spread; the test's tolerance is set from it.

Usage (Debian's python3-torch and python3-onnx):
  /usr/bin/python3 scripts/reference/pgd_reference.py [--model ../shared/models/vnn21_resnet_2b.onnx]
      [--cifar10 FILE] [--seeds 10] [--out test/fixtures/pgd-vnn21.json]

--cifar10: our decoded cache (cifar10-test.bin, default: $ALIAS_AUDIT_CACHE, else
$XDG_CACHE_HOME/alias-audit, else ~/.cache/alias-audit) or the official test_batch.bin; both are
10,000 records of one label byte and 3,072 pixel bytes (R, G, B planes of 32x32).
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))

# SPEC §3: the `cifar10` preset, the preprocessing vnn21 expects (../shared/models/models.json).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2471, 0.2435, 0.2616)
FIRST_TEST_LABELS = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
RECORD_BYTES = 1 + 3 * 32 * 32
TEST_COUNT = 10_000

IMAGES = 1000
EPS = 2 / 255
STEPS = 20
STEP_SIZE = EPS / 4
# The published reference (../shared/models/reference/vnn21_resnet_2b.json) counts 703 correct.
EXPECTED_CLEAN = 0.703


class UnsupportedOnnx(Exception):
    pass


def default_cifar10_file():
    if os.environ.get('ALIAS_AUDIT_CACHE'):
        folder = os.environ['ALIAS_AUDIT_CACHE']
    elif os.environ.get('XDG_CACHE_HOME'):
        folder = os.path.join(os.environ['XDG_CACHE_HOME'], 'alias-audit')
    else:
        folder = os.path.join(os.path.expanduser('~'), '.cache', 'alias-audit')
    return os.path.join(folder, 'cifar10-test.bin')


def load_cifar10_test(path, count):
    """The first `count` test images as float32 [count,3,32,32] in [0,1], and their labels."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size != TEST_COUNT * RECORD_BYTES:
        sys.exit(f'{path}: {raw.size} bytes, expected {TEST_COUNT * RECORD_BYTES} (10,000 CIFAR-10 test records)')
    records = raw.reshape(TEST_COUNT, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels[:10].tolist() != FIRST_TEST_LABELS or np.bincount(labels, minlength=10).tolist() != [1000] * 10:
        sys.exit(f'{path}: not the CIFAR-10 test set in official order (first labels {labels[:10].tolist()})')
    pixels = records[:count, 1:].reshape(count, 3, 32, 32).astype(np.float32) / 255.0
    return torch.from_numpy(pixels), torch.from_numpy(labels[:count])


def attribute_values(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def expect_only(node, attrs, allowed):
    unknown = sorted(set(attrs) - set(allowed))
    if unknown:
        raise UnsupportedOnnx(f'{node.op_type} node {node.name or node.output[0]}: attribute(s) {unknown} not interpreted')


def run_conv(node, attrs, x, w, b):
    expect_only(node, attrs, {'dilations', 'group', 'kernel_shape', 'pads', 'strides', 'auto_pad'})
    if attrs.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET'):
        raise UnsupportedOnnx(f'Conv {node.name}: auto_pad {attrs["auto_pad"]!r} not interpreted')
    if list(attrs.get('kernel_shape', w.shape[2:])) != list(w.shape[2:]):
        raise UnsupportedOnnx(f'Conv {node.name}: kernel_shape {attrs["kernel_shape"]} differs from the weight {list(w.shape)}')
    top, left, bottom, right = attrs.get('pads', [0, 0, 0, 0])
    # ONNX pads are [begin_h, begin_w, end_h, end_w]; F.pad takes the last axis first.
    x = F.pad(x, (left, right, top, bottom))
    return F.conv2d(x, w, b, stride=tuple(attrs.get('strides', [1, 1])), dilation=tuple(attrs.get('dilations', [1, 1])), groups=attrs.get('group', 1))


def run_gemm(node, attrs, a, b, c):
    expect_only(node, attrs, {'alpha', 'beta', 'transA', 'transB'})
    if attrs.get('transA', 0):
        a = a.t()
    if attrs.get('transB', 0):
        b = b.t()
    y = attrs.get('alpha', 1.0) * (a @ b)
    return y if c is None else y + attrs.get('beta', 1.0) * c


def run_flatten(node, attrs, x):
    expect_only(node, attrs, {'axis'})
    axis = attrs.get('axis', 1)
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


class OnnxNetwork(torch.nn.Module):
    """The ONNX graph interpreted op by op in PyTorch; the batch size is free."""

    SUPPORTED = ('Conv', 'Relu', 'Add', 'Flatten', 'Gemm')

    def __init__(self, path):
        super().__init__()
        model = onnx.load(path)
        graph = model.graph
        unsupported = sorted({n.op_type for n in graph.node} - set(self.SUPPORTED))
        if unsupported:
            raise UnsupportedOnnx(f'{path}: op(s) {unsupported} are not interpreted (only {", ".join(self.SUPPORTED)})')
        self.weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).astype(np.float32).copy()) for t in graph.initializer}
        inputs = [i.name for i in graph.input if i.name not in self.weights]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise UnsupportedOnnx(f'{path}: expected one image input and one output, got {inputs} and {[o.name for o in graph.output]}')
        self.input_name = inputs[0]
        self.output_name = graph.output[0].name
        self.nodes = list(graph.node)

    def forward(self, x):
        values = dict(self.weights)
        values[self.input_name] = x
        for node in self.nodes:
            args = [values[name] if name else None for name in node.input]
            attrs = attribute_values(node)
            if node.op_type == 'Conv':
                out = run_conv(node, attrs, args[0], args[1], args[2] if len(args) > 2 else None)
            elif node.op_type == 'Relu':
                out = F.relu(args[0])
            elif node.op_type == 'Add':
                out = args[0] + args[1]
            elif node.op_type == 'Flatten':
                out = run_flatten(node, attrs, args[0])
            else:
                out = run_gemm(node, attrs, args[0], args[1], args[2] if len(args) > 2 else None)
            values[node.output[0]] = out
        return values[self.output_name]


class Classifier(torch.nn.Module):
    """Pixels in [0,1] -> (x - mean) / std -> the network's logits."""

    def __init__(self, network):
        super().__init__()
        self.network = network
        self.mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)

    def forward(self, pixels):
        return self.network((pixels - self.mean) / self.std)


def project(x, clean, eps):
    return torch.min(torch.max(x, (clean - eps).clamp(min=0)), (clean + eps).clamp(max=1))


def pgd_broken(model, clean, labels, seed, batch=250):
    """1 where some PGD iterate is misclassified (the random start counts)."""
    generator = torch.Generator().manual_seed(seed)
    broken = torch.zeros(len(labels), dtype=torch.bool)
    for lo in range(0, len(labels), batch):
        x0 = clean[lo:lo + batch]
        y = labels[lo:lo + batch]
        start = torch.rand(x0.shape, generator=generator) * 2 * EPS - EPS
        x = project(x0 + start, x0, EPS)
        hit = torch.zeros(len(y), dtype=torch.bool)
        for step in range(STEPS + 1):
            x = x.detach().requires_grad_(step < STEPS)
            logits = model(x)
            hit |= logits.argmax(1) != y
            if step == STEPS:
                break
            loss = F.cross_entropy(logits, y, reduction='sum')
            (grad,) = torch.autograd.grad(loss, x)
            x = project(x.detach() + STEP_SIZE * grad.sign(), x0, EPS)
        broken[lo:lo + batch] = hit
    return broken


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default=os.path.join(ROOT, '..', 'shared', 'models', 'vnn21_resnet_2b.onnx'))
    parser.add_argument('--cifar10', default=default_cifar10_file())
    parser.add_argument('--seeds', type=int, default=10)
    parser.add_argument('--out', default=os.path.join(ROOT, 'test', 'fixtures', 'pgd-vnn21.json'))
    args = parser.parse_args()
    if not os.path.exists(args.model):
        sys.exit(f'no model at {args.model} (the shared third-party models live in ../shared/models)')
    if not os.path.exists(args.cifar10):
        sys.exit(f'no CIFAR-10 test set at {args.cifar10} (`npm run data` fetches it, or pass --cifar10 test_batch.bin)')

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    try:
        model = Classifier(OnnxNetwork(args.model)).eval()
    except UnsupportedOnnx as err:
        sys.exit(f'pgd_reference: {err}')
    for p in model.parameters():
        p.requires_grad_(False)
    clean_pixels, labels = load_cifar10_test(args.cifar10, IMAGES)

    with torch.no_grad():
        correct = torch.cat([model(clean_pixels[i:i + 250]).argmax(1) == labels[i:i + 250] for i in range(0, IMAGES, 250)])
    clean = int(correct.sum()) / IMAGES
    print(f'clean accuracy on the first {IMAGES}: {clean:.3f} (reference {EXPECTED_CLEAN})', file=sys.stderr)
    if abs(clean - EXPECTED_CLEAN) > 0.5 / IMAGES:
        sys.exit(f'clean accuracy {clean:.3f} is not the reference {EXPECTED_CLEAN}: the network or the data is read wrong')

    seeds = list(range(args.seeds))
    robust = []
    for seed in seeds:
        broken = pgd_broken(model, clean_pixels, labels, seed)
        robust.append(int((correct & ~broken).sum()) / IMAGES)
        print(f'seed {seed}: robust accuracy {robust[-1]:.3f}', file=sys.stderr)
    mean = sum(robust) / len(robust)
    std = math.sqrt(sum((r - mean) ** 2 for r in robust) / (len(robust) - 1)) if len(robust) > 1 else 0.0

    document = {
        'what': 'PGD robust accuracy of vnn21_resnet_2b on the first 1,000 CIFAR-10 test images, from an independent PyTorch implementation (scripts/reference/pgd_reference.py)',
        'model': {'file': os.path.basename(args.model), 'sha256': sha256(args.model)},
        'samples': IMAGES,
        'preprocessing': {'mean': list(CIFAR10_MEAN), 'std': list(CIFAR10_STD)},
        'attack': {
            'name': 'pgd',
            'norm': 'linf',
            'eps': '2/255',
            'steps': STEPS,
            'stepSize': 'eps/4',
            'restarts': 1,
            'randomStart': 'uniform in the eps-ball, then projected onto [0,1]',
            'loss': 'cross-entropy',
            'broken': 'any iterate misclassified, from the random start to the last step',
        },
        'cleanAccuracy': clean,
        'seeds': seeds,
        'robustAccuracy': robust,
        'mean': round(mean, 6),
        'std': round(std, 6),
        'min': min(robust),
        'max': max(robust),
        'torch': torch.__version__,
        'onnx': onnx.__version__,
        'python': platform.python_version(),
        'date': datetime.date.today().isoformat(),
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(document, f, indent=2)
        f.write('\n')
    print(f'mean {mean:.4f}, std {std:.4f} over {len(seeds)} seeds -> {args.out}', file=sys.stderr)


if __name__ == '__main__':
    main()
