"""Run one notebook over a grid of parameters, and collect what each run recorded.

    python -m tutorial_lib.commands.sweep notebooks/04_vae.ipynb --grid kl_weight=0.25,0.5,1,2,4 --grid seed=0,1,2
    python -m tutorial_lib.commands.sweep notebooks/06_wgan_gp.ipynb --grid gp_weight=1,10,100 -p epochs=5 --smoke
    python -m tutorial_lib.commands.sweep notebooks/04_vae.ipynb --grid seed=0,1,2,3 --jobs 2          # 2 kernels at once
    python -m tutorial_lib.commands.sweep notebooks/04_vae.ipynb --grid seed=0,1,2,3 --executor slurm \
        --partition gpu --gpus-per-run 1 --time-min 60 --parallelism 8                          # one Slurm array job
    python -m tutorial_lib.commands.sweep notebooks/04_vae.ipynb --grid seed=0,1,2,3 --executor ray --gpus-per-run 0.25

Every combination runs in its own kernel via papermill; the executed copies go to
``<out>/notebooks/``. Each run writes its headline figures as JSON (the notebook's
``results_json`` parameter), and the sweep gathers them into ``<out>/results.csv`` and a plot,
``<out>/sweep.png``: one figure (the notebook's ``headline``, or ``--metric``) against the first
grid parameter, averaged over ``seed`` when seeds are swept. A failed run is reported and the
sweep goes on. Each run's checkpoints and models live in its own ``<out>/runs/<run>/``, so a
sweep never touches the series' models or another run's.

Where the runs execute is an executor's business, never ours: a local process pool
(``--jobs N``; on one GPU the kernels share it), Slurm through submitit (one array job with a
parallelism cap; ``--executor submitit-local`` runs the same path on this machine), or Ray
(``ray.remote`` with a GPU fraction per run; ``pip install ray``). The layout, CSV and plot are
the same whichever runs them.

What cannot work is refused before any kernel starts, in one line on stderr, ``error: <what is
wrong and what to do>``, exit status 2: a bad grid or parameter, a file that is no notebook, an
executor whose package (papermill, submitit, Ray) or cluster is missing, an ``--out`` it cannot
write. A sweep whose runs failed exits 1 after its table and plot, its last line naming how many
failed and where their notebooks are. ``--debug`` shows the full traceback instead of one line.
"""
from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import math
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import yaml

from tutorial_lib import checks, cli, files, runtime
from tutorial_lib.commands.sweep_runs import (RunSpec, SweepError, flatten, run_local, run_ray,  # noqa: F401
                                             run_submitit)
from tutorial_lib.parameters import declared_parameters

EXECUTORS = ("local", "slurm", "submitit-local", "ray")


def parse_assignment(text: str, many: bool) -> tuple[str, list]:
    """``"name=1,2,3"`` -> ("name", [1, 2, 3]); values parsed as YAML scalars (numbers, strings, bools).

    An empty name or value (``"lr="``, ``"lr=1,,2"``) is an error: it would run a notebook with ``None``.
    """
    if "=" not in text:
        raise ValueError(f"expected name=value{',value...' if many else ''}, got {text!r}")
    name, _, raw = text.partition("=")
    parts = raw.split(",") if many else [raw]
    if not name.strip():
        raise ValueError(f"expected name=value, got {text!r} (no name)")
    if any(not p.strip() for p in parts):
        raise ValueError(f"{text!r} has an empty value; write each value, e.g. {name.strip()}=1,2,3")
    return name.strip(), [yaml.safe_load(p) for p in parts]


def check_notebook(path: Path) -> None:
    """Raise ValueError unless ``path`` is a readable Jupyter notebook (checked before any kernel starts)."""
    if not path.exists():
        raise ValueError(f"no such notebook: {path}")
    if path.suffix != ".ipynb":
        raise ValueError(f"{path} is not a notebook (expected a .ipynb file)")
    try:
        cells = json.loads(path.read_text())["cells"]
        assert isinstance(cells, list)
    except (ValueError, KeyError, TypeError, AssertionError, UnicodeDecodeError):
        raise ValueError(f"{path} is not a readable Jupyter notebook (not JSON with a list of cells)") from None


def run_name(params: dict) -> str:
    return "_".join(f"{k}={v}" for k, v in params.items()).replace("/", "-") or "default"


def plan(notebook: Path, grid: dict[str, list], fixed: dict, out: Path, smoke: bool) -> list[RunSpec]:
    """Check the notebook and the parameters, and lay out one :class:`RunSpec` per combination."""
    check_notebook(notebook)
    declared = declared_parameters(notebook)
    unknown = [k for k in [*grid, *fixed] if k not in declared]
    if unknown:
        raise ValueError(f"{notebook.name} has no parameter {', '.join(unknown)}: choose from those it declares, "
                         f"{', '.join(declared)}")
    if "results_json" not in declared:
        raise ValueError(f"{notebook.name} has no results_json parameter, so it records nothing to collect")
    specs = []
    for values in itertools.product(*grid.values()):
        combo = dict(zip(grid, values))
        name = run_name(combo)
        results = out / "results" / f"{name}.json"
        params = {**fixed, **combo, "results_json": str(results), "figures_dir": str(out / "figures" / name)}
        specs.append(RunSpec(str(notebook.resolve()), str(out / "notebooks" / f"{notebook.stem}_{name}.ipynb"),
                             name, params, combo, str(results), str(out / "runs" / name), smoke))
    return specs


def sweep(notebook: Path, grid: dict[str, list], fixed: dict, out: Path, *, smoke: bool | None = None,
          executor: str = "local", jobs: int = 1, **options) -> list[dict]:
    """Execute every combination; returns one row per run (status, parameters, recorded figures), in grid order."""
    checks.check_choice("executor", executor, EXECUTORS)
    checks.check_positive_int("jobs", jobs)
    specs = plan(notebook, grid, fixed, out, runtime.smoke_mode() if smoke is None else smoke)
    check_executor(executor)
    _check_out(out)
    where = ({"local": f"{jobs} at a time" if jobs > 1 else "one at a time"}.get(executor, executor)
             + (", smoke mode" if specs[0].smoke else ""))
    print(f"{len(specs)} runs of {notebook.name} ({where}) -> {out}", flush=True)
    if executor == "local":
        return run_local(specs, jobs)
    if executor == "ray":
        return run_ray(specs, **{k: v for k, v in options.items() if k in ("address", "gpus_per_run")})
    options = {k: v for k, v in options.items() if k != "address"}
    return run_submitit(specs, out / "submitit", cluster="local" if executor == "submitit-local" else None,
                        **options)


def check_executor(executor: str) -> None:
    """Refuse an executor that cannot run here (its package or its cluster is missing), before any run."""
    needs = {"local": ["papermill"], "slurm": ["papermill", "submitit"], "submitit-local": ["papermill", "submitit"],
             "ray": ["papermill", "ray"]}[executor]
    install = {"papermill": "pip install -e '.[sweep]' (or pip install papermill)",
               "submitit": "pip install -e '.[sweep]' (or pip install submitit)",
               "ray": "pip install -e '.[ray]' (or pip install ray)"}
    for package in needs:
        try:
            __import__(package)
        except ImportError:
            raise ModuleNotFoundError(f"--executor {executor} needs {package}, which is not installed here: "
                                      f"{install[package]}") from None
    if executor == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
        raise SweepError("--executor slurm needs a Slurm cluster, and sbatch/srun are not on this machine's PATH: "
                         "run the sweep on the cluster's login node, or use --executor submitit-local (the same "
                         "path on this machine) or --executor local")


def _check_out(out: Path) -> None:
    """The sweep's folder (and its ``runs/``) can be made and written, or one OSError naming ``--out``."""
    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as err:
        why = ("a file is in the way" if isinstance(err, (FileExistsError, NotADirectoryError))
               else err.strerror or str(err))
        raise OSError(f"cannot write the sweep's folder {out} ({why}): give --out a folder you can write to") from None


def write_csv(rows: list[dict], path: Path) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    files.atomic_write_bytes(path, buf.getvalue().encode())


def plot(rows: list[dict], grid: dict[str, list], metric: str | None, path: Path) -> str | None:
    """``metric`` against the first grid parameter (mean ± std over seeds); returns the metric plotted."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ok = [r for r in rows if r["status"] == "ok"]
    numeric = [k for k in dict.fromkeys(k for r in ok for k in r)
               if k not in grid and k not in ("run", "status", "seconds", "error")
               and all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool) for r in ok)]
    headline = next((r["headline"] for r in ok if isinstance(r.get("headline"), str)), None)
    metric = metric or (headline if headline in numeric else numeric[0] if numeric else None)
    if not ok or metric not in numeric:
        return None
    x_name = next(iter(grid))
    others = [k for k in grid if k not in (x_name, "seed")]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, group in itertools.groupby(sorted(ok, key=lambda r: [str(r[k]) for k in others]),
                                        key=lambda r: tuple(r[k] for k in others)):
        group = list(group)
        xs = [x for x in grid[x_name] if any(r[x_name] == x for r in group)]
        ys = [[r[metric] for r in group if r[x_name] == x] for x in xs]
        label = ", ".join(f"{k}={v}" for k, v in zip(others, key)) or None
        ax.errorbar(xs, [np.mean(y) for y in ys], yerr=[np.std(y) if len(y) > 1 else 0 for y in ys],
                    marker="o", capsize=3, label=label)
    if all(isinstance(x, (int, float)) and x > 0 for x in grid[x_name]) and \
            max(grid[x_name]) / min(grid[x_name]) >= 10:
        ax.set_xscale("log")
        ax.set_xticks(grid[x_name], [f"{x:g}" for x in grid[x_name]])     # the swept values, not 3×10⁻¹
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    seeds = " (mean ± std over seeds)" if "seed" in grid and len(grid["seed"]) > 1 else ""
    ax.set(xlabel=x_name, ylabel=metric, title=f"{metric} vs {x_name}{seeds}")
    if others:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return metric


CLI_ERRORS = (ValueError, OSError, ImportError, SweepError)
"""Failures with a cause outside the code (input, files, packages, cluster): one line each. Bugs raise."""


def _parser() -> argparse.ArgumentParser:
    parser = cli.OneLineParser(prog="python -m tutorial_lib.commands.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                        help="a swept parameter (repeat for more)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a fixed parameter for every run")
    parser.add_argument("--metric", help="the recorded figure to plot (default: the notebook's headline)")
    parser.add_argument("--out", type=Path, help="run folder (default runs/sweep-<notebook>-<time>)")
    parser.add_argument("--smoke", action="store_true", help="run in smoke mode (TUTORIAL_SMOKE=1)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="where runs execute: local pool, Slurm (submitit), submitit's local executor, Ray")
    parser.add_argument("--jobs", type=int, default=1, help="local executor: kernels at once (default 1)")
    parser.add_argument("--parallelism", type=int, default=8, help="slurm: array tasks running at once")
    parser.add_argument("--partition", help="slurm: partition")
    parser.add_argument("--time-min", type=int, default=60, help="slurm/submitit: time limit per run, minutes")
    parser.add_argument("--gpus-per-run", type=float, default=0,
                        help="slurm: GPUs per run (rounded up); ray: a fraction of a GPU, e.g. 0.25")
    parser.add_argument("--ray-address", help="ray: the cluster address (default: start a local Ray)")
    parser.add_argument("--debug", action="store_true", help="on an error, show the full traceback instead of one line")
    return parser


def _grid_and_fixed(args) -> tuple[dict[str, list], dict]:
    """``--grid`` and ``-p`` as {name: values} and {name: value}, checked; ValueError names what is wrong."""
    check_notebook(args.notebook)
    grid, fixed = {}, {}
    for text, many in [(g, True) for g in args.grid] + [(p, False) for p in args.param]:
        name, values = parse_assignment(text, many=many)
        if name in grid or name in fixed:
            raise ValueError(f"{name} is given twice: give each parameter once, a swept one as --grid "
                             f"{name}=V1,V2,... and a fixed one as -p {name}=VALUE")
        if many:
            grid[name] = values
        else:
            fixed[name] = values[0]
    if args.jobs < 1 or args.parallelism < 1 or args.time_min < 1 or not 0 <= args.gpus_per_run < math.inf:
        raise ValueError("--jobs, --parallelism and --time-min must be at least 1, --gpus-per-run >= 0")
    if not grid:
        raise ValueError("give at least one --grid NAME=V1,V2,...")
    return grid, fixed


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        grid, fixed = _grid_and_fixed(args)
    except ValueError as err:
        if args.debug:
            raise
        parser.error(str(err))
    out = args.out or runtime.REPO_ROOT / "runs" / f"sweep-{args.notebook.stem}-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        rows = sweep(args.notebook, grid, fixed, out, smoke=args.smoke or runtime.smoke_mode(),
                     executor=args.executor, jobs=args.jobs, parallelism=args.parallelism,
                     timeout_min=args.time_min, partition=args.partition, gpus_per_run=args.gpus_per_run,
                     address=args.ray_address)
        write_csv(rows, out / "results.csv")
    except CLI_ERRORS as err:
        if args.debug:
            raise
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    metric = plot(rows, grid, args.metric, out / "sweep.png")
    failed = [r for r in rows if r["status"] != "ok"]
    print(f"{len(rows) - len(failed)}/{len(rows)} runs succeeded; table {out / 'results.csv'}"
          + (f"; plot of {metric}: {out / 'sweep.png'}" if metric else ""))
    for r in failed:
        print(f"  {r['status']}: {r['run']} {r.get('error', '')}")
    if failed:
        logs = f" and the executors' logs in {out / 'submitit'}" if args.executor in ("slurm", "submitit-local") else ""
        print(f"error: {len(failed)} of {len(rows)} runs failed (listed above, and in {out / 'results.csv'}); "
              f"read why in their executed notebooks in {out / 'notebooks'} (a failed one ends in .failed.ipynb)"
              f"{logs}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
