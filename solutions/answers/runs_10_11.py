"""The runs behind the answer keys of notebooks 10 and 11: cheap variants of each "predict, then run" question.

    python solutions/answers/runs_10_11.py 10 [--root DATA] [--out FILE]
    python solutions/answers/runs_10_11.py 11 [--root DATA] [--out FILE]

10: CVAE-GAN (width 16, latent 64, batch 128, the notebook's weights) trained for one pass over the first
20,000 training digits (156 iterations), once with λ_GC = 0.3 and once with λ_GC = 0; top-1 of the shipped evaluator on
100 samples per class (3 sampling seeds); then the λ_GC = 0.3 model repairs 500 test digits masked at the
centre (12 × 12 and 18 × 18) with 1, 5 and 10 iterations.
11: the semi-supervised GAN of notebook 11 on the first 10,000 training images (100 updates per epoch):
100 labels with unsupervised_weight 0.5 and 0 against the labels-only baseline (2 epochs), and the baseline
with 20 labels (5 epochs), its training and test accuracy per epoch. Prints one JSON line per run.
"""
import argparse
import json
import time

import torch

from tutorial_lib import data, evaluator, methods, training
from tutorial_lib.training import callbacks
from tutorial_lib.methods import ssgan


def cvaegan_runs(train, test, judge):
    out = {}
    models = {}
    for gc in (0.3, 0.0):
        t0 = time.time()
        torch.manual_seed(0)
        cfg = methods.CVAEGANConfig(variant="cvaegan", latent_dim=64, width=16, kl_weight=3.0, pairwise_weight=1.0,
                                    centre_weight=3.0, class_centre_weight=gc, centre_momentum=0.9, lr=2e-4, beta1=0.5)
        model = methods.CVAEGAN(cfg)
        training.fit(model, train.take(20_000), epochs=1, batch_size=128, seed=0, checkpoint_dir=None, progress=False)
        model.eval()
        asked = torch.arange(10).repeat_interleave(100)
        top1 = []
        with torch.no_grad():
            for s in range(3):
                torch.manual_seed(s)
                top1.append((judge(model.sample(len(asked), y=asked)).argmax(1) == asked).float().mean().item())
        out[f"class_centre_weight={gc}"] = {"top1": top1, "mean": sum(top1) / 3, "seconds": round(time.time() - t0)}
        print(json.dumps({"run": f"10 class_centre_weight={gc}", **out[f"class_centre_weight={gc}"]}), flush=True)
        models[gc] = model
    model = models[0.3]
    originals, labels = test.floats(500), test.y[:500]
    for size in (12, 18):
        mask = torch.zeros(1, 1, 28, 28, dtype=torch.bool)
        start = (28 - size) // 2
        mask[..., start:start + size, start:start + size] = True
        masked = torch.where(mask, torch.full_like(originals, -1.0), originals)
        row = {}
        with torch.no_grad():
            row["masked"] = (judge(masked).argmax(1) == labels).float().mean().item()
            for k in (1, 5, 10):
                r = model.inpaint(masked, mask, iterations=k)
                row[f"restored_{k}"] = (judge(r).argmax(1) == labels).float().mean().item()
                row[f"mse_{k}"] = ((r - originals) ** 2)[mask.expand_as(r)].mean().item()
        print(json.dumps({"run": f"10 inpainting mask_size={size}", **row}), flush=True)


def ssgan_run(train, test, n_labels, gan, weight, epochs):
    t0 = time.time()
    torch.manual_seed(0)
    cfg = methods.SSGANConfig(n_labels=n_labels, label_seed=0, gan=gan, latent_dim=100, unsupervised_weight=weight,
                              lr=3e-3, beta1=0.5, lr_decay=False, fixed_scales=True, polyak_decay=0.9999)
    model = methods.SSGAN(cfg)
    model.attach_labels(train)
    history = training.fit(model, train, epochs=epochs, batch_size=100, seed=0, checkpoint_dir=None, progress=False,
                          callbacks=[callbacks.EpochMetric(lambda m: {
                              "test_raw": ssgan.test_accuracy(m, test, averaged=False)})])
    train_acc = [r["classifier/train_accuracy"] for r in history.logs if "classifier/train_accuracy" in r]
    row = {"run": f"11 n_labels={n_labels} gan={gan} unsupervised_weight={weight} epochs={epochs}",
           "test_averaged": ssgan.test_accuracy(model, test),
           "test_raw_by_epoch": [r["test_raw"] for r in history.epochs if "test_raw" in r],
           "train_accuracy_logged": train_acc[::max(1, len(train_acc) // 10)],
           "seconds": round(time.time() - t0)}
    print(json.dumps(row), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("notebook", choices=["10", "11"])
    parser.add_argument("--root", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    test = data.load("mnist", "test", root=args.root)
    if args.notebook == "10":
        train = data.load("mnist", "train", root=args.root)
        cvaegan_runs(train, test, evaluator.load_evaluator("mnist", "cpu"))
    else:
        train = data.load("mnist", "train", root=args.root, limit=10_000)
        ssgan_run(train, test, 100, True, 0.5, 2)
        ssgan_run(train, test, 100, True, 0.0, 2)
        ssgan_run(train, test, 100, False, 0.5, 2)
        ssgan_run(train, test, 20, False, 0.5, 5)


if __name__ == "__main__":
    main()
