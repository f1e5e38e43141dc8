"""Measure a build-it-yourself bar: the library's model at a notebook's setting over seeds, the solution,
and typical wrong models (the classes in tests/test_homework.py), each trained as ``homework.judge`` trains.

    DATA_ROOT=/path/to/data python experiments/homework_bars.py 11 --mode full --seeds 0 1 2 \\
        --solution MySSGAN --wrong SSGANNoUnsupervised SSGANSwapped --out docs/homework_11_full.json

Prints one line per run (the figures and seconds) and rewrites the JSON after each, so the bars stored in
``tutorial_lib/homework/tasks.py`` can be traced to a file.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import torch

from tutorial_lib import data, files, homework, runtime
from tutorial_lib.evaluator import load_evaluator


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebook")
    parser.add_argument("--mode", choices=("full", "smoke"), default="full")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--solution", default="")
    parser.add_argument("--wrong", nargs="*", default=[])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task, s = homework.TASKS[args.notebook], homework.setting(args.notebook, args.mode)
    train, test = data.load(s.dataset, "train"), data.load(s.dataset, "test")
    test = data.Split(test.name, test.x[:s.eval_n], test.y[:s.eval_n])
    judge = load_evaluator("mnist") if task.uses_evaluator else None
    root = runtime.REPO_ROOT
    solution = next((root / "solutions").glob(f"{args.notebook}_*.py"))
    runs = [(f"library, seed {seed}", task.library, seed) for seed in args.seeds]
    if args.solution:
        runs.append((f"solution {args.solution}", getattr(_module(solution), args.solution), 0))
    if args.wrong:
        wrong = _module(root / "tests" / "test_homework.py")
        runs += [(f"wrong {name}", getattr(wrong, name), 0) for name in args.wrong]
    record = {"notebook": args.notebook, "mode": args.mode, "setting": repr(s), "threads": args.threads,
              "environment": runtime.environment(), "runs": {}}
    for label, cls, seed in runs:
        setting = replace(s, seed=seed)
        t0 = time.perf_counter()
        model = homework.make(cls, args.notebook, setting, "cpu", train)
        problem = homework.train(model, train, setting, progress=False)
        figures = task.measure(model, test, judge) if not problem else {}
        record["runs"][label] = {"figures": figures, "problem": problem, "seconds": round(time.perf_counter() - t0, 1),
                                 "at": datetime.now().isoformat(timespec="seconds")}
        print(f"{label:>36}: {figures or problem} ({record['runs'][label]['seconds']} s)", flush=True)
        files.atomic_write_bytes(args.out, json.dumps(record, indent=1).encode())


if __name__ == "__main__":
    main()
