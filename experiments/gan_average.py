"""Does averaging the generator's weights over the last epochs give 05's DCGAN cleaner digits? Measured after the
fact on the end-of-epoch snapshots that experiments/gan_extend.py keeps, so it costs no training.

    DATA_ROOT=/path/to/data python experiments/gan_average.py runs/gan-extend/const-25-30/snapshots \\
        --upto 40 --last 1 2 4 8 --out docs/gan_average_cpu.json

For each k in --last: G's weights averaged uniformly over the snapshots of epochs upto−k+1 … upto
(torch.optim.swa_utils.AveragedModel, as stochastic weight averaging does), then batch norm's running statistics
recomputed for the averaged weights from 200 batches of 256 noise vectors (swa_utils.update_bn: statistics
averaged over weights that never ran together mean nothing). k = 1 is the last epoch's G with its statistics
recomputed the same way, the row to compare against. FD on the shipped evaluator, 10,000 samples against the first
10,000 test digits, seed 0 (as gan_extend.py measures). D is not used. --out must not exist yet; it is rewritten
after every row.

With --ema D1 D2 …, rows are added for the moving averages of G that gan_extend.py --ema kept beside the snapshot of
epoch --upto (ema-<decay>.pt), their statistics recomputed the same way. With --seeds S1 S2 …, every row's FD is
the mean ± std over those sampling seeds (metrics.evaluate, as a shipped model's record is measured) instead of one
seed. With --as-shipped, a first row scores epoch --upto's model exactly as ``pretrained build`` would ship it: its
weights rounded to float16, batch norm's running statistics as training left them (nothing recomputed). With --grid
PATH, 64 samples of each row's G from one fixed noise are drawn side by side into PATH.

    DATA_ROOT=/path/to/data python experiments/gan_average.py runs/gan-extend/const-25-30/snapshots \
        --upto 80 --last 1 8 --ema 0.999 0.9999 --seeds 0 1 2 --grid docs/figures/gan_epoch80_averages.png \
        --out docs/gan_average_80_cpu.json
    DATA_ROOT=/path/to/data python experiments/gan_average.py runs/gan-extend/const-25-30/snapshots \
        --upto 100 --last 1 8 --as-shipped --ema 0.999 0.9999 --seeds 3 4 5 --out docs/gan_average_100_cpu.json
"""
import argparse
import json
from datetime import datetime
from pathlib import Path

import matplotlib
import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, update_bn
from torchvision.utils import make_grid

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tutorial_lib import data, evaluator, methods, metrics, runtime
from tutorial_lib.commands import pretrained
from tutorial_lib.training import checkpoints

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("snapshots", type=Path, help="a folder of epoch-NNN/last.pt (gan_extend.py's snapshots)")
parser.add_argument("--upto", type=int, required=True, help="the last epoch of every average")
parser.add_argument("--last", type=int, nargs="+", default=[1, 2, 4, 8], help="how many epochs each average spans")
parser.add_argument("--ema", type=float, nargs="*", default=[], help="moving averages kept by gan_extend.py --ema")
parser.add_argument("--seeds", type=int, nargs="*", default=[], help="sampling seeds of a mean ± std FD (default: 0)")
parser.add_argument("--as-shipped", action="store_true", help="first, epoch --upto's model as it would ship")
parser.add_argument("--grid", type=Path, help="a PNG of 64 samples from each row's G")
parser.add_argument("--out", type=Path, required=True, help="the JSON to write (refused if it exists)")
args = parser.parse_args()
if args.out.exists():
    parser.error(f"{args.out} exists: pick another --out")
paths = {k: [args.snapshots / f"epoch-{e:03d}" / checkpoints.LAST for e in range(args.upto - k + 1, args.upto + 1)]
         for k in args.last}
emas = {d: args.snapshots / f"epoch-{args.upto:03d}" / f"ema-{d}.pt" for d in args.ema}
missing = sorted({str(p) for ps in [*paths.values(), list(emas.values())] for p in ps if not p.exists()})
if missing:
    parser.error(f"no snapshot at {', '.join(missing)}")

run = checkpoints.load(paths[max(paths)][-1])["history"]["run"]    # the model: its settings, epochs, device
test = data.load("mnist", "test")
judge = evaluator.load_evaluator("mnist")
quality = metrics.epoch_quality(test, judge)
rows, grids = [], []


def measured(gan, row):
    """``row`` with the FD of ``gan``'s G (its statistics already recomputed), one seed or --seeds."""
    gan.eval()
    if args.seeds:
        report = metrics.evaluate(gan, test.x[:10_000], judge, n=10_000, seeds=tuple(args.seeds))
        return {**row, "FD": report.mean("FD"), "FD std": report.std("FD"), "seeds": args.seeds}
    return {**row, **{key: v for key, v in quality(gan).items() if key in ("FD", "top class share")}}


def recompute_statistics(gan, averaged):
    runtime.seed_everything(0)
    update_bn([gan.noise(256) for _ in range(200)], averaged)
    gan.generator.load_state_dict(averaged.module.state_dict())


def record(row, gan):
    rows.append(row)
    print(row, flush=True)
    if args.grid:
        with torch.no_grad():
            grids.append((row, gan.sample(64, z=torch.randn(64, gan.cfg.latent_dim,
                                                            generator=torch.Generator().manual_seed(0)))))
    json.dump({"what": "05's DCGAN, G's weights averaged uniformly over its last end-of-epoch snapshots, or as moving "
                       "averages over steps, batch-norm statistics recomputed (experiments/gan_average.py)",
               "snapshots": str(args.snapshots), "date": datetime.now().isoformat(timespec="seconds"),
               "device": "cpu", "run": run, "rows": rows}, open(args.out, "w"), indent=1)


if args.as_shipped:             # what pretrained.ship_run stores and scores: float16 weights, training's statistics
    gan = methods.build("gan")
    state = checkpoints.load(paths[max(paths)][-1])["method"]
    gan.load_state_dict(pretrained.stored_weights(state))
    record(measured(gan, {"as shipped": True, "to epoch": args.upto}), gan)
for k, snapshot_paths in paths.items():
    gan = methods.build("gan")
    gan.load_state_dict(checkpoints.load(snapshot_paths[-1])["method"])
    averaged = AveragedModel(gan.generator)
    for path in snapshot_paths:
        state = checkpoints.load(path)["method"]
        gan.generator.load_state_dict({n[len("generator."):]: v for n, v in state.items() if n.startswith("generator.")})
        averaged.update_parameters(gan.generator)
    recompute_statistics(gan, averaged)
    record(measured(gan, {"epochs averaged": k, "from epoch": args.upto - k + 1, "to epoch": args.upto}), gan)
for decay, path in emas.items():
    gan = methods.build("gan")
    gan.load_state_dict(checkpoints.load(paths[max(paths)][-1])["method"])
    gan.generator.load_state_dict(torch.load(path))
    recompute_statistics(gan, AveragedModel(gan.generator))
    record(measured(gan, {"moving average": decay, "to epoch": args.upto}), gan)
if args.grid:
    fig, axes = plt.subplots(1, len(grids), figsize=(4.2 * len(grids), 4.6))
    for ax, (row, x) in zip(np.atleast_1d(axes), grids):
        ax.imshow(make_grid(x * 0.5 + 0.5, nrow=8, padding=1).permute(1, 2, 0).clamp(0, 1))
        what = (f"moving average, β = {row['moving average']}" if "moving average" in row
                else "G at epoch %d, as shipped" % row["to epoch"] if "as shipped" in row
                else "G at epoch %d" % row["to epoch"] if row["epochs averaged"] == 1
                else f"mean of epochs {row['from epoch']}–{row['to epoch']}")
        ax.set_title(f"{what}\nFD {row['FD']:.1f}" + (f" ± {row['FD std']:.1f}" if "FD std" in row else ""))
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.grid, dpi=90, bbox_inches="tight")
