#!/usr/bin/python3
"""Independent reference values for APGD and the DLR losses (Croce & Hein 2020, "Reliable
evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks"), for
test/attacks/apgd.test.ts.

Nothing here comes from alias-audit's TypeScript or from the autoattack package: the losses and
the attack are written from the paper, the gradients are PyTorch autograd, and the model is a
small PyTorch network whose weights and test images both sides draw from the same integer LCG
(Park-Miller, s <- s * 48271 mod 2^31 - 1), so no weights or images need to be stored.

Model (NCHW [N,3,32,32] pixels in [0,1], no preprocessing):
  x - 0.5 -> Conv(3->8, kernel 4, stride 4) -> Relu -> Conv(8->16, kernel 3, pad 1) -> Relu
  -> Flatten -> Linear(1024->10), all with biases;
weights uniform in [-scale, scale) from the LCG seeds below, row-major, rounded to float32;
image i: draws u of seed IMAGE_SEED + i, the first 3072 per-pixel noise (NCHW order), the next
48 a 4x4 grid of 8x8 blocks per channel (row-major); pixel = float32(0.7 block + 0.3 noise).

The fixture holds:
- `dlr`: at a few (image, label, target) cases, the logits, the untargeted and the targeted
  DLR loss, and their gradients w.r.t. the pixels (float32, little-endian, base64) for the first
  GRADIENT_CASES cases;
- `apgd`: APGD runs (L-infinity, no random start: x(0) is the clean image) with the
  cross-entropy and with the untargeted DLR loss, per image: the best loss after each evaluated
  iterate (until the image is fooled), the checkpoints where the step size was halved, and the
  iterate at which the image was fooled (or null);
- `apgdL2`: the same for APGD-CE in the L2 ball (no random start), below, on the same images and
  on copies of them with doubled contrast: float32(clip((x - 0.5) * 2 + 0.5, 0, 1)) in float64.

APGD as run here (the paper's Algorithm 1, with its open details fixed as the TypeScript does):
  eta = 2 eps; x(1) = P(x(0) + eta sign(g(0))); for k >= 1
  z = P(x(k) + eta sign(g(k))), x(k+1) = P(x(k) + a (z - x(k)) + (1 - a)(x(k) - x(k-1))), a = 0.75;
  P clamps into the eps ball and [0,1]. Every iterate x(0..N) is evaluated; an image is fooled,
  and stops, at the first misclassified iterate. f_max/x_max track the largest loss. At each
  checkpoint w_j = ceil(p_j N) (p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03,
  0.06), only w_j < N, duplicates dropped), after evaluating x(w_j):
    cond 1: #{i in (w_{j-1}, w_j]: f(x(i)) > f(x(i-1))} < rho (w_j - w_{j-1}), rho = 0.75;
    cond 2: eta was not halved at w_{j-1} and f_max is the same as at w_{j-1};
  either one halves eta and restarts from the best point: x(w_j) = x_max with its loss and
  gradient (the momentum term of the next step is then x_max - x(w_j - 1)).
L2 (APGD-L2): the same with sign(g) replaced by g / ||g||_2 (a zero gradient leaves x) and P
the exact Euclidean projection onto {x: ||x - clean||_2 <= eps} intersected with [0,1]^d. That
projection is clean + clip(t d, -clean, 1 - clean), d = v - clean, for the largest t in [0, 1]
whose norm is <= eps (KKT); found here by bisection on t (the TypeScript solves for t exactly).
L2 iterates are rounded to float32 towards the clean image (to the float32 neighbour nearer the
clean pixel where round-to-nearest would move a pixel away from it), so they stay in the ball.
Losses are computed in float64 from the float32 logits; the update arithmetic in float64 and
each iterate rounded to float32 (as the TypeScript stores it).

Usage (Debian's python3-torch): /usr/bin/python3 scripts/reference/apgd_reference.py
  [--out test/fixtures/apgd-reference.json]
"""

import argparse
import base64
import datetime
import json
import math
import os
import platform
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))

LCG_MULTIPLIER = 48271
LCG_MODULUS = 2147483647
# name: (seed, dims, scale)
WEIGHTS = {
    'conv_w': (11, [8, 3, 4, 4], 0.5),
    'conv_b': (12, [8], 0.1),
    'conv2_w': (15, [16, 8, 3, 3], 0.25),
    'conv2_b': (16, [16], 0.1),
    'fc_w': (13, [10, 1024], 0.1),
    'fc_b': (14, [10], 0.1),
}
IMAGE_SEED = 1000
CLASSES = 10
DLR_EPSILON = 1e-12

# Images whose margins need eps around 0.5/255 to 2/255 in one linearised step, a mix that
# the attack breaks at the first iterate, later, or not at all.
APGD_IMAGES = [2, 8, 9, 13, 22, 25, 36, 40, 42, 47, 52, 59]
APGD_ITERATIONS = 30
APGD_EPS = 1 / 255
# L2 (APGD-CE): (contrast, eps, iterations). On the sphere the loss changes by ~1e-6 per step
# once the step size has been halved a few times, below what float32 logits summed in another
# order reproduce, so step-size decisions would be coin flips; these runs keep every compared
# pair of losses at least MIN_L2_GAP apart (checked below). The contrast-2 copies have ~31% of
# their pixels at 0 or 1, so the box binds in most projections there.
APGD_L2_RUNS = [(1, 0.3, 12), (2, 0.4, 8)]
MIN_L2_GAP = 1e-5
MOMENTUM = 0.75
RHO = 0.75
GRADIENT_CASES = 3


def lcg(seed, n):
    """n draws in (0,1) of the Park-Miller LCG started at seed (float64, exact)."""
    out = np.empty(n, dtype=np.float64)
    s = seed
    for i in range(n):
        s = (s * LCG_MULTIPLIER) % LCG_MODULUS
        out[i] = s / LCG_MODULUS
    return out


def weight(name):
    seed, dims, scale = WEIGHTS[name]
    n = int(np.prod(dims))
    return torch.from_numpy(((2 * lcg(seed, n) - 1) * scale).astype(np.float32).reshape(dims))


def image(i):
    """0.7 times a 4x4 grid of 8x8 blocks per channel plus 0.3 times per-pixel noise."""
    u = lcg(IMAGE_SEED + i, 3 * 32 * 32 + 3 * 16)
    noise = u[:3 * 32 * 32].reshape(3, 32, 32)
    blocks = np.kron(u[3 * 32 * 32:].reshape(3, 4, 4), np.ones((8, 8)))
    return (0.7 * blocks + 0.3 * noise).astype(np.float32)


class Net:
    def __init__(self):
        self.w = {name: weight(name) for name in WEIGHTS}

    def __call__(self, x):
        h = F.relu(F.conv2d(x - 0.5, self.w['conv_w'], self.w['conv_b'], stride=4))
        h = F.relu(F.conv2d(h, self.w['conv2_w'], self.w['conv2_b'], padding=1))
        return F.linear(h.flatten(1), self.w['fc_w'], self.w['fc_b'])


def dlr_untargeted(z, y):
    """-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12), rows of z [B,K], y [B] class indices."""
    s, _ = torch.sort(z, dim=1, descending=True)
    zy = z.gather(1, y[:, None])[:, 0]
    others = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), -math.inf).max(dim=1).values
    return -(zy - others) / (s[:, 0] - s[:, 2] + DLR_EPSILON)


def dlr_targeted(z, y, t):
    """-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4)/2 + 1e-12)."""
    s, _ = torch.sort(z, dim=1, descending=True)
    zy = z.gather(1, y[:, None])[:, 0]
    zt = z.gather(1, t[:, None])[:, 0]
    return -(zy - zt) / (s[:, 0] - (s[:, 2] + s[:, 3]) / 2 + DLR_EPSILON)


def loss64(kind, logits, y):
    """The attack's loss of one row of float32 logits, in float64."""
    z = logits.astype(np.float64)
    if kind == 'ce':
        m = z.max()
        return math.log(np.exp(z - m).sum()) + m - z[y]
    s = np.sort(z)[::-1]
    other = np.max(np.delete(z, y))
    return -(z[y] - other) / (s[0] - s[2] + DLR_EPSILON)


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype='<f4').tobytes()).decode('ascii')


def dlr_cases(net):
    # (image, label rank, target rank): ranks in the clean logits, 0 the top class. Case 2 has
    # a label that is not the top class (a misclassified image: max over i != y is z_pi1;
    # a label ranked third would make the untargeted loss the constant 1).
    specs = [(0, 0, 1), (1, 0, 3), (2, 3, 0), (3, 0, 2), (4, 1, 5)]
    out = []
    for idx, label_rank, target_rank in specs:
        x = torch.from_numpy(image(idx))[None].requires_grad_(True)
        z = net(x)
        order = torch.argsort(z[0].detach(), descending=True).tolist()
        y = torch.tensor([order[label_rank]])
        t = torch.tensor([order[target_rank]])
        lu = dlr_untargeted(z, y)
        (gu,) = torch.autograd.grad(lu.sum(), x, retain_graph=True)
        lt = dlr_targeted(z, y, t)
        (gt,) = torch.autograd.grad(lt.sum(), x)
        case = {
            'image': idx,
            'label': int(y[0]),
            'target': int(t[0]),
            'logits': [float(v) for v in z[0].detach()],
            'dlr': float(lu[0]),
            'dlrTargeted': float(lt[0]),
        }
        if len(out) < GRADIENT_CASES:
            case['gradient'] = b64(gu[0].numpy())
            case['gradientTargeted'] = b64(gt[0].numpy())
        out.append(case)
    return out


def checkpoints(n):
    """Iterations w_j = ceil(p_j n), 0 < w_j < n, increasing."""
    p_prev, p = 0.0, 0.22
    out = []
    while p <= 1:
        w = math.ceil(p * n - 1e-9)  # p_j accumulates rounding: 0.41 * 100 must give 41
        if 0 < w < n and (not out or w > out[-1]):
            out.append(w)
        p_prev, p = p, p + max(p - p_prev - 0.03, 0.06)
    return out


def project_l2(v, clean, eps):
    """Nearest point to v of the L2 eps ball around clean intersected with [0,1] (float64, bisection)."""
    c = clean.astype(np.float64)
    d = v - c

    def norm_at(t):
        return math.sqrt(float((np.clip(t * d, -c, 1 - c) ** 2).sum()))

    if norm_at(1.0) <= eps:
        return c + np.clip(d, -c, 1 - c)
    lo_t, hi_t = 0.0, 1.0  # norm_at(lo_t) <= eps < norm_at(hi_t)
    for _ in range(200):
        mid = (lo_t + hi_t) / 2
        if mid in (lo_t, hi_t):
            break
        if norm_at(mid) <= eps:
            lo_t = mid
        else:
            hi_t = mid
    return c + np.clip(lo_t * d, -c, 1 - c)


def to_float32_towards(v, clean):
    """v rounded to float32; where that moves a pixel away from clean, the next float32 towards it."""
    f = v.astype(np.float32)
    c = clean.astype(np.float32)
    away = np.abs(f.astype(np.float64) - c) > np.abs(v - c)
    f[away] = np.nextafter(f[away], c[away])
    return f


def apgd_one(net, kind, clean, y, n, eps, norm='linf', gaps=None):
    """One image, no random start. Returns (best losses per evaluated iterate, halvings, fooled at).
    `gaps`, a list, receives |f(x(k+1)) - f(x(k))| and |f(x(k+1)) - f_max| of every comparison."""
    lo = np.maximum(clean.astype(np.float64) - eps, 0)
    hi = np.minimum(clean.astype(np.float64) + eps, 1)

    def project(v):
        return np.clip(v, lo, hi) if norm == 'linf' else project_l2(v, clean, eps)

    def to_float32(v):
        return v.astype(np.float32) if norm == 'linf' else to_float32_towards(v, clean)

    def direction(g):
        if norm == 'linf':
            return np.sign(g)
        length = math.sqrt(float((g ** 2).sum()))
        return g / length if length > 0 else np.zeros_like(g)

    def evaluate(x32):
        x = torch.from_numpy(x32)[None].requires_grad_(True)
        z = net(x)
        yt = torch.tensor([y])
        loss = F.cross_entropy(z, yt, reduction='sum') if kind == 'ce' else dlr_untargeted(z, yt).sum()
        (g,) = torch.autograd.grad(loss, x)
        logits = z[0].detach().numpy()
        return loss64(kind, logits, y), g[0].numpy().astype(np.float64), int(np.argmax(logits)) != y

    marks = set(checkpoints(n))
    eta = 2 * eps
    x = clean.astype(np.float32)
    x_prev = x
    f, g, fooled = evaluate(x)
    best = [f]
    if fooled:
        return best, [], 0
    f_max, x_max, g_max = f, x, g
    increases, last_check, f_max_last, halved_last = 0, 0, f_max, False
    halvings = []
    for k in range(n):
        x64 = x.astype(np.float64)
        z = project(x64 + eta * direction(g))
        if k > 0:
            z = project(x64 + MOMENTUM * (z - x64) + (1 - MOMENTUM) * (x64 - x_prev.astype(np.float64)))
        x_prev, x = x, to_float32(z)
        f_new, g, fooled = evaluate(x)
        if gaps is not None:
            gaps.extend([abs(f_new - f), abs(f_new - f_max)])
        if f_new > f_max:
            f_max, x_max, g_max = f_new, x, g
        best.append(f_max)
        if fooled:
            return best, halvings, k + 1
        if f_new > f:
            increases += 1
        f = f_new
        if k + 1 in marks:
            span = k + 1 - last_check
            halve = increases < RHO * span or (not halved_last and f_max == f_max_last)
            if halve:
                eta /= 2
                x, g, f = x_max, g_max, f_max
                halvings.append(k + 1)
            increases, last_check, f_max_last, halved_last = 0, k + 1, f_max, halve
    return best, halvings, None


def apgd_runs(net):
    images = np.stack([image(i) for i in APGD_IMAGES])
    with torch.no_grad():
        labels = net(torch.from_numpy(images)).argmax(1).tolist()
    runs = []
    for kind in ('ce', 'dlr'):
        per_image = []
        for i, idx in enumerate(APGD_IMAGES):
            best, halvings, fooled_at = apgd_one(net, kind, images[i], labels[i], APGD_ITERATIONS, APGD_EPS)
            per_image.append({'image': idx, 'label': labels[i], 'bestLoss': best, 'halvedAt': halvings, 'fooledAt': fooled_at})
        runs.append({'loss': kind, 'images': per_image})
        print(f'APGD-{kind}: fooled {sum(r["fooledAt"] is not None for r in per_image)}/{len(APGD_IMAGES)}', file=sys.stderr)
    return {'iterations': APGD_ITERATIONS, 'eps': APGD_EPS, 'checkpoints': checkpoints(APGD_ITERATIONS), 'runs': runs}


def contrasted(x, contrast):
    """float32(clip((x - 0.5) * contrast + 0.5, 0, 1)), computed in float64."""
    return np.clip((x.astype(np.float64) - 0.5) * contrast + 0.5, 0, 1).astype(np.float32)


def apgd_l2_runs(net):
    """APGD-CE in the L2 ball, no random start, per (contrast, eps, iterations) of APGD_L2_RUNS."""
    runs = []
    for contrast, eps, iterations in APGD_L2_RUNS:
        images = np.stack([contrasted(image(i), contrast) for i in APGD_IMAGES])
        with torch.no_grad():
            labels = net(torch.from_numpy(images)).argmax(1).tolist()
        per_image = []
        gaps = []
        for i, idx in enumerate(APGD_IMAGES):
            best, halvings, fooled_at = apgd_one(net, 'ce', images[i], labels[i], iterations, eps, norm='l2', gaps=gaps)
            per_image.append({'image': idx, 'label': labels[i], 'bestLoss': best, 'halvedAt': halvings, 'fooledAt': fooled_at})
        runs.append({'loss': 'ce', 'contrast': contrast, 'eps': eps, 'iterations': iterations,
                     'checkpoints': checkpoints(iterations), 'minLossGap': min(gaps), 'images': per_image})
        print(f'APGD-ce L2 (contrast {contrast}, eps {eps}, N {iterations}): fooled '
              f'{sum(r["fooledAt"] is not None for r in per_image)}/{len(APGD_IMAGES)}, '
              f'halvings {sum(len(r["halvedAt"]) for r in per_image)}, smallest loss gap {min(gaps):.2e}', file=sys.stderr)
        if min(gaps) < MIN_L2_GAP:
            sys.exit(f'APGD-L2 run (contrast {contrast}, eps {eps}): losses {min(gaps):.2e} apart; choose another run')
    return {'norm': 'l2', 'runs': runs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=os.path.join(ROOT, 'test', 'fixtures', 'apgd-reference.json'))
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = Net()
    fixture = {
        'what': 'APGD and DLR reference values (scripts/reference/apgd_reference.py)',
        'lcg': {'multiplier': LCG_MULTIPLIER, 'modulus': LCG_MODULUS},
        'weights': {k: {'seed': s, 'dims': d, 'scale': sc} for k, (s, d, sc) in WEIGHTS.items()},
        'imageSeed': IMAGE_SEED,
        'dlrEpsilon': DLR_EPSILON,
        'dlr': dlr_cases(net),
        'apgd': apgd_runs(net),
        'apgdL2': apgd_l2_runs(net),
        'momentum': MOMENTUM,
        'rho': RHO,
        'torch': torch.__version__,
        'python': platform.python_version(),
        'date': datetime.date.today().isoformat(),
    }
    with open(args.out, 'w') as f:
        json.dump(fixture, f, indent=1)
        f.write('\n')
    print(f'wrote {args.out} ({os.path.getsize(args.out)} bytes)', file=sys.stderr)


if __name__ == '__main__':
    main()
