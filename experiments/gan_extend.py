"""Extend 05's rebuilt DCGAN (batch 64, 10 epochs) epoch by epoch, FD after each new epoch (shipped evaluator,
10,000 samples, seed 0), to see how FD falls with more epochs at the new default; or branch a copy of that run
and let its learning rates fall linearly to 0 over its last epochs, to compare the two at equal budget.

    DATA_ROOT=/path/to/data python experiments/gan_extend.py --epochs 20 --out docs/gan_batch64_20_epochs_cpu.json
    DATA_ROOT=/path/to/data python experiments/gan_extend.py --epochs 30 --out docs/gan_batch64_30_epochs_cpu.json
    DATA_ROOT=/path/to/data python experiments/gan_extend.py --epochs 30 --decay-last 5 \\
        --branch runs/gan-extend/decay-25-30 --out docs/gan_batch64_decay_25_30_cpu.json

It needs the finished 10-epoch run of ``pretrained build --only 05`` (05's default length until 2026-12-05) copied to
runs/gan-extend/gan-d0d0ecc76f (fit then resumes it from where it stopped and trains up to --epochs, so a second
call with more epochs goes on from the first). With --branch, the run is first copied to that folder (once; later
calls resume the copy), and the copy trains instead of the original. With --decay-last K, both Adam rates are scaled by
min(1, (1 − p)·epochs/K), p the share of --epochs done: constant, then linearly to 0 over the last K epochs
(fit keeps the run's length in its config, as for any schedule). --out must not exist yet; it is rewritten after
every epoch with the rows this call trained, so an interrupted call keeps what it measured.

With --ema D1 D2 …, this call also keeps an exponential moving average of G's weights for each decay, updated after
every step from where this call starts (torch.optim.swa_utils.AveragedModel with get_ema_multi_avg_fn; a resumed
call starts its averages afresh). Every --ema-every epochs, and at the last, each average's batch-norm statistics are
recomputed from 200 batches of 256 noise vectors (swa_utils.update_bn, as gan_average.py does) and its FD is
measured like the raw G's; each average is kept beside the epoch's snapshot as ema-<decay>.pt.

    DATA_ROOT=/path/to/data python experiments/gan_extend.py --epochs 80 --branch runs/gan-extend/const-25-30 \
        --ema 0.999 0.9999 --out docs/gan_batch64_61_80_ema_cpu.json"""
import argparse
import copy
import dataclasses
import json
import shutil
from datetime import datetime
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

from tutorial_lib import data, evaluator, methods, metrics, runtime, training
from tutorial_lib.methods.gan import GAN
from tutorial_lib.training import callbacks, checkpoints

BASE = Path("runs/gan-extend/gan-d0d0ecc76f")
parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--epochs", type=int, default=20, help="train up to this many epochs in all")
parser.add_argument("--out", type=Path, required=True, help="the JSON to write (refused if it exists)")
parser.add_argument("--branch", type=Path, help="train a copy of the run in this folder, not the run itself")
parser.add_argument("--ema", type=float, nargs="*", default=[], help="decays of moving averages of G to keep")
parser.add_argument("--ema-every", type=int, default=5, help="measure the averages every this many epochs")
parser.add_argument("--decay-last", type=float, default=0.0, help="epochs at the end over which the rates fall to 0")
args = parser.parse_args()
if args.out.exists():
    parser.error(f"{args.out} exists: pick another --out (a finished run's record is not overwritten)")
if args.decay_last and not args.branch:
    parser.error("--decay-last changes the run's settings: give it a --branch folder of its own")
if not 0 <= args.decay_last <= args.epochs:
    parser.error(f"--decay-last must lie in [0, --epochs={args.epochs}]")


class DecayedGAN(GAN):
    """05's GAN whose two phases scale their rate by min(1, (1 − progress)·epochs/K)."""

    def phases(self):
        factor = lambda p: max(0.0, min(1.0, (1.0 - p) * args.epochs / args.decay_last))  # noqa: E731
        return [dataclasses.replace(phase, lr_factor=factor) for phase in super().phases()]


folder = BASE
if args.branch:
    folder = args.branch
    if not folder.exists():
        shutil.copytree(BASE, folder)
        print(f"branched {BASE} into {folder}")
    if args.decay_last:        # fit records a schedule's run length in the run's settings
        saved = checkpoints.read_config(folder)
        if "epochs" not in saved:
            checkpoints.write_config(folder, {**saved, "epochs": args.epochs})
train, test = data.load("mnist", "train"), data.load("mnist", "test")
quality = metrics.epoch_quality(test, evaluator.load_evaluator("mnist"))
gan = DecayedGAN(methods.GANConfig()) if args.decay_last else methods.build("gan")
what = (f"05's DCGAN at the new defaults (batch 64) continued to {args.epochs} epochs"
        + (f", in a copy ({folder}) whose rates fall linearly to 0 over the last {args.decay_last:g}" if args.decay_last
           else ""))
rows = []


class Record(callbacks.Callback):
    """After each epoch: the rows so far into --out, and the whole training state at the end of this epoch (what
    fit's checkpoint holds) in <folder>/snapshots/epoch-NNN/last.pt, so that any epoch's model can be shipped or
    resumed later (fit's own checkpoint is overwritten every few minutes)."""
    def on_epoch_end(self, state):
        (folder / "snapshots" / f"epoch-{state.epoch:03d}").mkdir(parents=True, exist_ok=True)
        checkpoints.save_training(folder / "snapshots" / f"epoch-{state.epoch:03d}", state.method,
                                  state.history.state(), state.epoch, 0, state.step)
        r = state.history.epochs[-1]
        rows.append({k: r.get(k) for k in ("epoch", "seconds", "FD", "top class share")})
        last = state.epoch == args.epochs
        for decay, average in averages.items():
            torch.save(average.module.state_dict(), folder / "snapshots" / f"epoch-{state.epoch:03d}" / f"ema-{decay}.pt")
            if last or state.epoch % args.ema_every == 0:
                rows[-1][f"FD, EMA {decay}"] = averaged_fd(state.method, average)
        json.dump({"what": what, "date": datetime.now().isoformat(timespec="seconds"), "rows": rows},
                  open(args.out, "w"), indent=1)


averages = {}


class Average(callbacks.Callback):
    """After every step: each moving average of G takes in G's new weights."""
    def on_step_end(self, state):
        if not averages:
            averages.update({d: AveragedModel(state.method.generator, multi_avg_fn=get_ema_multi_avg_fn(d))
                             for d in args.ema})
        for average in averages.values():
            average.update_parameters(state.method.generator)


def averaged_fd(gan, average):
    """FD of a copy of ``gan`` whose G is ``average`` with its batch-norm statistics recomputed."""
    probe, module = copy.deepcopy(gan), copy.deepcopy(average)
    with torch.random.fork_rng(devices=[]):           # training's own random stream goes on untouched
        runtime.seed_everything(0)
        update_bn([gan.noise(256) for _ in range(200)], module)
        probe.generator.load_state_dict(module.module.state_dict())
        probe.eval()
        return quality(probe)["FD"]


measure = callbacks.EpochMetric(lambda m: {k: v for k, v in quality(m).items() if k in ("FD", "top class share")})
h = training.fit(gan, train, epochs=args.epochs, batch_size=64, seed=0, progress=False, checkpoint_dir=str(folder),
                 callbacks=[measure, Record(), *([Average()] if args.ema else [])])
print(json.dumps(rows, indent=1))
json.dump({"what": what, "date": datetime.now().isoformat(timespec="seconds"), "rows": rows, "run": h.run},
          open(args.out, "w"), indent=1, default=str)
