"""Seed the run folder of 05's DCGAN with a moving average of G (``polyak_decay``) from a snapshot of the run
that trained without one, so that ``fit`` (or ``pretrained build --only 05``) continues it with the average on.

    python experiments/gan_start_average.py runs/gan-extend/const-25-30/snapshots/epoch-095 \\
        --decay 0.999 --runs runs/ship05

The average never feeds back into training: D and G follow the same trajectory with or without it, so a run of
``GANConfig(polyak_decay=β)`` is the constant-rate run plus a copy of G that :func:`methods.base.polyak_step`
moves after every G update. This script writes ``<runs>/checkpoints/<key of that config>/last.pt``: the
snapshot's whole training state (weights, optimizer states, RNG, history, position), with the average started as
a copy of the snapshot's G (``average_steps`` = 0, so its first update copies G, as at the start of a run). The
weight the start keeps after the remaining k updates is β^k: start at least ~5/(1 − β) updates before the end
(with β = 0.999 and batches of 64, five epochs leave it 0.9 %), and the result is the average a run from scratch
would hold. It refuses a folder that already holds a run.
"""
import argparse
from pathlib import Path

import torch

from tutorial_lib import methods
from tutorial_lib.training import checkpoints


def main(argv=None) -> Path:
    """Write the seeded run; return its folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("snapshot", type=Path, help="a folder with the last.pt of a finished epoch")
    parser.add_argument("--decay", type=float, required=True, help="β of the moving average (05's polyak_decay)")
    parser.add_argument("--runs", type=Path, required=True, help="the runs folder that fit or the build will train in")
    args = parser.parse_args(argv)
    saved = checkpoints.read_training(args.snapshot, torch.device("cpu"))
    run = saved["history"]["run"]
    if saved["iteration"]:
        parser.error(f"{args.snapshot} stopped inside an epoch: start from the end of one")
    if run["config"].get("polyak_decay", 0.0) != 0.0:
        parser.error(f"{args.snapshot} already keeps an average (polyak_decay={run['config']['polyak_decay']})")
    gan = methods.build("gan", **{**run["config"], "polyak_decay": args.decay})
    run_config = {"method": gan.config(), "dataset": run["dataset"], "n_train": run["n_train"],
                  "batch_size": run["batch_size"], "seed": run["seed"]}
    folder = checkpoints.run_dir("gan", run_config, args.runs)
    if (folder / checkpoints.LAST).exists():
        parser.error(f"{folder} already holds a run: remove it first")
    state = dict(saved["method"])
    state.update({f"averaged.{k[len('generator.'):]}": v.clone() for k, v in state.items()
                  if k.startswith("generator.")})
    state["average_steps"] = torch.zeros((), dtype=torch.float32)
    gan.load_state_dict(state)                    # every key the averaged model has, none it lacks
    folder.mkdir(parents=True, exist_ok=True)
    checkpoints.write_config(folder, run_config)
    checkpoints.save(folder / checkpoints.LAST, {**saved, "method": gan.state_dict()})
    print(f"{folder}: epoch {saved['epoch']} of the run in {args.snapshot}, its average (β = {args.decay}) starting "
          f"now; fit(epochs=E) trains epochs {saved['epoch'] + 1}–E with it")
    return folder


if __name__ == "__main__":
    main()
