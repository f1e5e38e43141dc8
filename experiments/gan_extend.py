"""Extend 05's rebuilt DCGAN (batch 64, 10 epochs) epoch by epoch, FD after each new epoch (shipped evaluator,
10,000 samples, seed 0), to see how FD falls with more epochs at the new default.

    DATA_ROOT=/path/to/data python experiments/gan_extend.py --epochs 20 --out docs/gan_batch64_20_epochs_cpu.json
    DATA_ROOT=/path/to/data python experiments/gan_extend.py --epochs 30 --out docs/gan_batch64_30_epochs_cpu.json

It needs the finished 10-epoch run of ``pretrained build --only 05`` copied to runs/gan-extend/gan-d0d0ecc76f
(fit then resumes it from its last epoch and trains up to --epochs, so a second call with more epochs goes on
from the first); it writes the rows of the epochs this call trained to --out, which must not exist yet."""
import argparse
import json
from pathlib import Path

from tutorial_lib import data, evaluator, methods, metrics, training
from tutorial_lib.training import callbacks

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--epochs", type=int, default=20, help="train up to this many epochs in all")
parser.add_argument("--out", type=Path, required=True, help="the JSON to write (refused if it exists)")
args = parser.parse_args()
if args.out.exists():
    parser.error(f"{args.out} exists: pick another --out (a finished run's record is not overwritten)")
train, test = data.load("mnist", "train"), data.load("mnist", "test")
quality = metrics.epoch_quality(test, evaluator.load_evaluator("mnist"))
gan = methods.build("gan")
h = training.fit(gan, train, epochs=args.epochs, batch_size=64, seed=0, progress=False,
                 checkpoint_dir="runs/gan-extend/gan-d0d0ecc76f",
                 callbacks=[callbacks.EpochMetric(lambda m: {k: v for k, v in quality(m).items() if k in ("FD", "top class share")})])
rows = [{k: r.get(k) for k in ("epoch", "seconds", "FD", "top class share")} for r in h.epochs]
print(json.dumps(rows, indent=1))
json.dump({"what": f"05's DCGAN at the new defaults, extended to {args.epochs} epochs", "rows": rows, "run": h.run},
          open(args.out, "w"), indent=1, default=str)
