"""Notebook 06's WGAN-GP at its defaults, three runs side by side: FD after each epoch.

    python experiments/wgan_graph_vs_eager.py --out docs/figures/wgan_graph_vs_eager.png

Reads the per-epoch records that ``experiments/wgan_recipes.py --as-notebook`` wrote (variant c1-ttur-2x,
seed 0): on one H100 with ``fit(graph=True)`` (docs/wgan_long_h100.json, the run that ships), on the same
H100 at the same time eagerly (docs/wgan_eager_h100.json) and on this course's 2-core CPU eagerly
(docs/wgan_long_cpu.json). Prints the FD of the moving average of G at shared epochs and draws both FDs.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs"
RUNS = {"H100, CUDA graphs": "wgan_long_h100.json", "H100, eager": "wgan_eager_h100.json",
        "CPU, eager": "wgan_long_cpu.json"}


def rows(name: str) -> list[dict]:
    (run,) = json.loads((DOCS / name).read_text())["variants"].values()
    return run["epochs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=0, help="plot only the first N epochs (0: all)")
    args = parser.parse_args()
    runs = {label: rows(name) for label, name in RUNS.items()}
    shared = sorted(set.intersection(*({r["epoch"] for r in rs} for rs in runs.values())))
    print("FD of the averaged G (5,000 samples, first 5,000 test digits), at shared epochs:")
    print("epoch".ljust(20) + "".join(f"{e:>7}" for e in shared if e % 5 == 0 or e == shared[-1]))
    for label, rs in runs.items():
        by = {r["epoch"]: r for r in rs}
        print(label.ljust(20) + "".join(f"{by[e]['FD averaged']:>7.1f}" for e in shared if e % 5 == 0 or e == shared[-1]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
    for ax, key, title in zip(axes, ("FD", "FD averaged"), ("trained G", "moving average of G (β = 0.999)")):
        for label, rs in runs.items():
            rs = [r for r in rs if not args.epochs or r["epoch"] <= args.epochs]
            ax.plot([r["epoch"] for r in rs], [r[key] for r in rs], "-", marker=".", ms=3, label=label)
        ax.set(xlabel="epoch", yscale="log", title=title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("FD, 5,000 samples (log scale)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
