"""Which WGAN-GP recipe brings notebook 06's digits closest to clean at the same CPU time?

    DATA_ROOT=/path/to/data TUTORIAL_RUNS=runs \
        python experiments/wgan_recipes.py --variants c1-ttur base c1-ttur-2x --seconds 600 \
            --out docs/wgan_recipes_cpu.json

Each variant trains 06's WGAN-GP (DCGAN nets, critic without batch norm, z of 64, width 64,
batch 64, λ_GP 10, Adam with β = (0.5, 0.9), seed 0, full MNIST) with ``training.fit`` and changes
one thing:

    base        06 until 2026-12-05: 5 critic steps per G step, both rates 1e-4 (Gulrajani et al.)
    c1          one critic step per G step, both rates 1e-4 (is it only the number of G updates?)
    c1-ttur     one critic step per G step, critic 3e-4 and G 1e-4 (two time-scales, Heusel et al. 2017)
    c1-ttur-2x  c1-ttur with both rates doubled: critic 6e-4, G 2e-4 (06's default since 2026-12-05)

A WGAN-GP critic step costs about as much as a G step on a CPU (the penalty's second backward pass
is the extra), so 5 critic steps make a G update about three times dearer than one. The budget is
the same for all, in **training seconds** (``--seconds``): each variant trains whole epochs until the
next one would pass it. Every run keeps the library's Polyak average of G (β = 0.999,
``polyak_decay``), which never feeds back into training, and after every epoch measures FD on the
shipped evaluator (``--n`` samples against the first ``--n`` test digits, sampling seed 0) of the
trained G and of the average; the JSON (configs, rows with seconds, G updates, device, dates) is
rewritten after each epoch. A stopped variant resumes from its checkpoint, after the epochs its JSON already
holds (``--max-epochs`` raised runs it on). ``--graph`` records each iteration as a CUDA graph on a GPU: 06's
shipped model, 98 epochs on an H100 and 2 more here (docs/wgan_long_h100.json); every call's machine is listed in
the JSON's ``calls``.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from tutorial_lib import data, evaluator, files, metrics, runtime, training
from tutorial_lib.methods.gan import WGAN, WGANConfig
from tutorial_lib.training import callbacks
from tutorial_lib.training.step import batches_per_iteration

BASE = {"polyak_decay": 0.999}
VARIANTS = {"base": {}, "c1": {"critic_steps": 1}, "c1-ttur": {"critic_steps": 1, "lr_d": 3e-4},
            "c1-ttur-2x": {"critic_steps": 1, "lr": 2e-4, "lr_d": 6e-4}}
BATCH = 64


class Record(training.Callback):
    """After each epoch: the rows, with G updates and training seconds so far, into the JSON."""

    def __init__(self, path: Path, record: dict, variant: str, n_train: int):
        self.path, self.record, self.variant, self.n_train = path, record, variant, n_train

    def on_epoch_end(self, state) -> None:
        rows = state.history.epochs
        # fit's iterations per epoch, one G update each
        updates_per_epoch = data.batches_per_epoch(self.n_train, BATCH) // batches_per_iteration(state.method.phases())
        for i, row in enumerate(rows, 1):
            row["G updates"] = i * updates_per_epoch
            row["training seconds so far"] = sum(r["seconds"] for r in rows[:i])
        self.record["variants"][self.variant] = {"epochs": rows, "run": state.history.run}
        self.record["updated_at"] = datetime.now().isoformat(timespec="seconds")
        files.atomic_write_bytes(self.path, json.dumps(self.record, indent=1, default=str).encode())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["base"])
    parser.add_argument("--seconds", type=float, default=600, help="training seconds per variant")
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--n", type=int, default=5000, help="samples per FD")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--folder", default="wgan-recipes", help="the runs' folder under $TUTORIAL_RUNS")
    parser.add_argument("--as-notebook", action="store_true",
                        help="also record what notebook 06 reads from a run it resumes: FD of 2,000 eval-mode "
                             "samples per epoch ('fd') and a grid of 64 samples per epoch")
    parser.add_argument("--graph", action="store_true",
                        help="fit records each iteration as a CUDA graph (on a GPU; the CPU runs eagerly)")
    args = parser.parse_args(argv)
    device = runtime.get_device("auto")
    train = data.load("mnist", "train")
    test = data.load("mnist", "test")
    judge = evaluator.load_evaluator("mnist", device)
    quality = metrics.epoch_quality(test, judge, n=args.n)
    x_test = test.floats(2000).to(device)          # notebook 06's per-epoch FD, as its cell computes it
    record = json.loads(args.out.read_text()) if args.out.exists() else {"variants": {}}
    call = {"environment": runtime.environment(), "graph": args.graph, "variants": args.variants,
            "started_at": datetime.now().isoformat(timespec="seconds")}
    record.setdefault("environment", call["environment"])      # the first call's; every call's in "calls"
    record.setdefault("calls", []).append(call)
    record.update(evaluator="mnist (shipped)", n=args.n, batch_size=BATCH, budget_seconds=args.seconds)
    for variant in args.variants:
        cfg = WGANConfig(**BASE, **VARIANTS[variant])
        record.setdefault("configs", {})[variant] = asdict(cfg)
        wgan = WGAN(cfg).to(device)

        def measure(method: WGAN) -> dict[str, float]:
            raw = quality(lambda n: method.generator(method.noise(n)))
            avg = quality(method)                   # eval mode: the average
            out = {"FD": raw["FD"], "top class share": raw["top class share"],
                   "FD averaged": avg["FD"], "top class share averaged": avg["top class share"]}
            if args.as_notebook:
                out["fd"] = metrics.frechet_distance(x_test, method.sample(len(x_test)), judge)
            return out

        print(f"== {variant}: {VARIANTS[variant]}", flush=True)
        log = Record(args.out, record, variant, len(train))
        extra = [callbacks.SampleGrid(n=64)] if args.as_notebook else []
        done = len(record["variants"].get(variant, {}).get("epochs", []))   # epochs an earlier call recorded
        for epochs in range(done + 1, args.max_epochs + 1):    # one more epoch per call (fit resumes the run) ...
            training.fit(wgan, train, epochs=epochs, batch_size=BATCH, seed=0, progress=False, log_every=100, graph=args.graph,
                         checkpoint_dir=files.runs_dir() / args.folder / variant,
                         callbacks=[*extra, callbacks.EpochMetric(measure), log])
            last = record["variants"][variant]["epochs"][-1]
            if last["training seconds so far"] + last["seconds"] > args.seconds:   # ... until the next would pass it
                break
        for row in record["variants"][variant]["epochs"]:
            print(f"   epoch {row['epoch']} ({row['G updates']} G updates, {row['training seconds so far']:.0f} s): "
                  f"FD {row['FD']:.1f}, averaged {row['FD averaged']:.1f}", flush=True)


if __name__ == "__main__":
    main()
