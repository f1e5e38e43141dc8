"""The semi-supervised GAN of notebook 11 at its defaults, one labelled draw, with one setting changed.

    DATA_ROOT=/path/to/data TUTORIAL_RUNS=runs/ssgan-ablation \
        python experiments/ssgan_alignment.py --variant aligned --out docs/ssgan_alignment/aligned.json

Trains one :class:`tutorial_lib.methods.SSGAN` with ``training.fit`` (so a stopped run resumes) at
notebook 11's defaults (100 labels, draw 0, 50 epochs, batch 100, seed 0) and the library's config
defaults, which follow the authors' final MNIST code. ``--variant`` says which:

    authors-nets   the defaults: fixed hidden scales, Polyak average, constant rate, tiled labels, uniform z,
                   and (since 2026-12-05) D's weight directions v ~ N(0, 0.1²), G as the authors build it and
                   feature matching as their mean of squares (``d_init_std``, ``authors_generator``, ``fm_mean``)
    d-init         the defaults but the series' G and the source's ½‖·‖² feature matching
    aligned        the recipe of 2026-12-04: also PyTorch's default init of D (U(±1/√fan_in), ‖v‖ ≈ 0.58 per
                   unit against the authors' 1.6–3.2: Adam, which moves a direction by about lr/‖v‖ per step,
                   then turns D's directions 3–5× faster)
    train-scales   aligned, with every weight-norm scale trained (fixed_scales=False)
    decay          aligned, with the rate held for two thirds of the run, then linearly to 0 (lr_decay=True)

The runs of 2026-12-05 (d-init, authors-nets) were made while these settings lived in this script (a subclass
that re-initialised the networks after building them): the same configs and recipes, other random draws.

After every epoch it measures the test accuracy on all 10,000 test images twice, with the Polyak
averaged weights and with the raw ones (so one run gives the averaged-vs-raw comparison), and
rewrites the JSON: config, epochs, device, dates, the per-epoch rows and the run record.
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path

import torch

from tutorial_lib import data, files, methods, runtime, training
from tutorial_lib.training import callbacks
from tutorial_lib.methods import ssgan

OLD_NETS = {"d_init_std": 0.0, "authors_generator": False, "fm_mean": False}   # before 2026-12-05
VARIANTS = {"aligned": OLD_NETS, "train-scales": {**OLD_NETS, "fixed_scales": False},
            "decay": {**OLD_NETS, "lr_decay": True}, "d-init": {"authors_generator": False, "fm_mean": False},
            "authors-nets": {}}


class WriteJSON(training.Callback):
    """After every epoch, the record so far, written atomically to ``path``."""

    def __init__(self, path: Path, record: dict):
        self.path, self.record = path, record

    def on_epoch_end(self, state) -> None:
        self.record["epochs"] = state.history.epochs
        self.record["run"] = state.history.run
        self.record["updated_at"] = datetime.now().isoformat(timespec="seconds")
        files.ensure_dir(self.path.parent)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.record, indent=1, default=str))
        tmp.replace(self.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="authors-nets")
    parser.add_argument("--n-labels", type=int, default=100)
    parser.add_argument("--label-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    dev = runtime.get_device(args.device)
    train = data.load(args.dataset, "train")
    test = data.load(args.dataset, "test")
    cfg = methods.SSGANConfig(n_labels=args.n_labels, label_seed=args.label_seed, **VARIANTS[args.variant])
    torch.manual_seed(args.seed)                 # as notebook 11: the seed before building and attaching
    model = methods.SSGAN(cfg).to(dev)
    model.attach_labels(train)

    def accuracies(m):
        return {"test_accuracy": ssgan.test_accuracy(m, test),                      # Polyak averaged weights
                "test_accuracy_raw": ssgan.test_accuracy(m, test, averaged=False)}

    record = {"what": f"notebook 11's ssgan, {args.n_labels} labels, draw {args.label_seed}, variant {args.variant}",
              "variant": args.variant, "changed": VARIANTS[args.variant], "config": model.config(),
              "epochs_asked": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
              "dataset": args.dataset, "device": str(dev), "torch_threads": torch.get_num_threads(),
              "torch": torch.__version__, "started_at": datetime.now().isoformat(timespec="seconds")}
    t0 = time.time()
    history = training.fit(model, train, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                          callbacks=[callbacks.EpochMetric(accuracies), WriteJSON(args.out, record)],
                          progress=False)
    record.update(epochs=history.epochs, run=history.run, final=accuracies(model),
                  seconds_this_call=round(time.time() - t0, 1),
                  finished_at=datetime.now().isoformat(timespec="seconds"))
    args.out.write_text(json.dumps(record, indent=1, default=str))
    for row in history.epochs:
        print(f"epoch {row['epoch']:3d}: averaged {100 * row['test_accuracy']:.2f} %, "
              f"raw {100 * row['test_accuracy_raw']:.2f} %")


if __name__ == "__main__":
    main()
