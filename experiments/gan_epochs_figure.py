"""05's DCGAN at the series' defaults (batch 64, seed 0) trained on past its 10 epochs: every per-epoch FD measured so
far gathered into one file, and one figure (FD per epoch; 64 samples of the same noise at chosen epochs).

    DATA_ROOT=/path/to/data python experiments/gan_epochs_figure.py \\
        --rows docs/gan_batch64_20_epochs_cpu.json docs/gan_batch64_25_epochs_cpu.json \\
               docs/gan_lr_decay_25_30_cpu.json runs/gan-extend/const-30-80.json runs/gan-extend/const-32-80.json \\
               runs/gan-extend/const-61.json runs/gan-extend/const-62-80-ema.json runs/gan-extend/const-81-100-ema.json \\
        --snapshots runs/gan-extend/const-25-30/snapshots --grids 35 60 100 --shipped \\
        --first runs/gan-extend/shipped-10 \\
        --out docs/gan_batch64_epochs_cpu.json --figure docs/figures/gan_more_epochs.png

Rows that gan_extend.py --ema measured also carry "FD, EMA <β>" (G's moving average, batch-norm statistics
recomputed); those are drawn as markers beside the curve. Rows are read in the order given; a later file's row for an
epoch replaces an earlier one (the constant-rate branch of gan_lr_decay_25_30_cpu.json is the one kept). The grids are the model that shipped at 10 epochs until 2026-12-05
(--first: a folder with its file, model.pt, and its record from the shipped index, record.json; both are in the git
history of tutorial_lib/shipped, key gan-d0d0ecc76f) and the end-of-epoch snapshots that experiments/gan_extend.py
keeps.
"""
import argparse
import json
from datetime import datetime
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from tutorial_lib import methods  # noqa: E402
from tutorial_lib.training import checkpoints, shipped  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--rows", type=Path, nargs="+", required=True)
parser.add_argument("--snapshots", type=Path, required=True)
parser.add_argument("--grids", type=int, nargs="*", default=[])
parser.add_argument("--shipped", action="store_true", help="a last grid: the series' shipped DCGAN, as it samples")
parser.add_argument("--first", type=Path, required=True, help="folder of the 10-epoch model: model.pt, record.json")
parser.add_argument("--out", type=Path, required=True)
parser.add_argument("--figure", type=Path, required=True)
args = parser.parse_args()

by_epoch = {}
for path in args.rows:
    record = json.loads(path.read_text())
    rows = record.get("rows") or record["constant"]["rows"]
    for r in rows:
        if r.get("FD") is not None:
            by_epoch[r["epoch"]] = {**r, "from": str(path)}
epochs = sorted(by_epoch)
first = shipped.load_model(args.first / "model.pt")          # a shipped file holds what load_model reads
first_record = json.loads((args.first / "record.json").read_text())
latest = max(args.snapshots.glob("epoch-*"), default=None)      # the run's record: settings, epochs, device, dates
run = checkpoints.load(latest / checkpoints.LAST)["history"]["run"] if latest else None
json.dump({"what": "05's DCGAN at the series' defaults (batch 64, seed 0), FD per epoch after its 10 shipped epochs "
                   "(shipped evaluator, 10,000 samples against the first 10,000 test digits, sampling seed 0); "
                   "trained on this course's 2-core CPU over several calls of experiments/gan_extend.py that resume "
                   "one run", "date": datetime.now().isoformat(timespec="seconds"),
           "shipped at 10 epochs": first_record.get("fd"), "run": run, "rows": [by_epoch[e] for e in epochs]},
          open(args.out, "w"), indent=1, default=str)

z = torch.randn(64, first.cfg.latent_dim, generator=torch.Generator().manual_seed(0))
panels = [("epoch 10 (shipped until 2026-12-05)", first)]
for e in args.grids:
    model = methods.build("gan")
    model.load_state_dict(checkpoints.load(args.snapshots / f"epoch-{e:03d}" / checkpoints.LAST)["method"])
    panels.append((f"epoch {e}", model.eval()))
if args.shipped:
    now = shipped.load("gan")
    average = f", its average β = {now.cfg.polyak_decay:g}" if now.cfg.polyak_decay else ""
    panels.append((f"epoch {now.record['epochs_trained']} shipped{average}", now))
fig, axes = plt.subplots(1, 1 + len(panels), figsize=(4.2 * (1 + len(panels)), 4.2))
axes[0].plot(epochs, [by_epoch[e]["FD"] for e in epochs], marker=".")
fd10 = (first_record.get("fd") or {}).get("mean")
if fd10 is not None:
    by_epoch.setdefault(10, {"epoch": 10, "FD": fd10})
    axes[0].plot([10], [fd10], marker="s", color="C1", linestyle="none", label="shipped at 10 epochs (3 seeds)")
    axes[0].legend()
for i, key in enumerate(sorted({k for r in by_epoch.values() for k in r if k.startswith("FD, EMA")})):
    marked = [e for e in epochs if by_epoch[e].get(key) is not None]
    axes[0].plot(marked, [by_epoch[e][key] for e in marked], marker="^v"[i % 2], color=f"C{2 + i}", linestyle="none",
                 label=f"G's moving average, β = {key.split()[-1]}")
if any(k.startswith("FD, EMA") for r in by_epoch.values() for k in r):
    axes[0].legend(fontsize=8)
axes[0].set(xlabel="epoch", ylabel="FD (shipped evaluator)", title="FD per epoch, one seed")
axes[0].grid(alpha=0.3)
for ax, (title, model) in zip(axes[1:], panels):
    with torch.no_grad():
        x = model.sample(64, z=z)
    ax.imshow(make_grid(x * 0.5 + 0.5, nrow=8, padding=1).permute(1, 2, 0).clamp(0, 1))
    if getattr(model, "record", None) and model.record.get("fd"):       # the shipped model: its own 3-seed FD
        ax.set_title(f"{title}\nFD {model.record['fd']['mean']:.1f} ± {model.record['fd']['std']:.1f} (3 seeds)")
    else:
        fd = by_epoch.get(int(title.split()[1]), {}).get("FD")
        ax.set_title(title + (f", FD {fd:.1f}" if fd else ""))
    ax.axis("off")
fig.tight_layout()
args.figure.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(args.figure, dpi=90, bbox_inches="tight")
print(f"{len(epochs)} epochs of rows into {args.out}; figure {args.figure}")
