"""Run one notebook over a grid of parameters, and collect what each run recorded.

    python -m tutorial_lib.sweep notebooks/04_vae.ipynb --grid kl_weight=0.25,0.5,1,2,4 --grid seed=0,1,2
    python -m tutorial_lib.sweep notebooks/06_wgan_gp.ipynb --grid gp_weight=1,10,100 -p epochs=5 --smoke

Every combination runs in its own kernel via papermill; the executed copies go to
``<out>/notebooks/``. Each run writes its headline figures as JSON (the notebook's
``results_json`` parameter), and the sweep gathers them into ``<out>/results.csv`` and a plot,
``<out>/sweep.png``: one figure (the notebook's ``headline``, or ``--metric``) against the first
grid parameter, averaged over ``seed`` when seeds are swept. A failed run is reported and the
sweep goes on.
"""
from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import math
import os
import sys
from datetime import datetime
from pathlib import Path

import yaml

from tutorial_lib import runtime
from tutorial_lib.series import declared_parameters, run_notebook


def parse_assignment(text: str, many: bool) -> tuple[str, list]:
    """``"name=1,2,3"`` -> ("name", [1, 2, 3]); values parsed as YAML scalars (numbers, strings, bools)."""
    if "=" not in text:
        raise ValueError(f"expected name=value{',value...' if many else ''}, got {text!r}")
    name, _, raw = text.partition("=")
    parts = raw.split(",") if many else [raw]
    values = [yaml.safe_load(p) if p.strip() else "" for p in parts]
    if not name.strip() or not values:
        raise ValueError(f"expected name=value, got {text!r}")
    return name.strip(), values


def run_name(params: dict) -> str:
    return "_".join(f"{k}={v}" for k, v in params.items()).replace("/", "-") or "default"


def sweep(notebook: Path, grid: dict[str, list], fixed: dict, out: Path) -> list[dict]:
    """Execute every combination; returns one row per run (status, parameters, recorded figures)."""
    declared = declared_parameters(notebook)
    unknown = [k for k in [*grid, *fixed] if k not in declared]
    if unknown:
        raise ValueError(f"{notebook.name} has no parameter(s) {unknown}; it declares: {', '.join(declared)}")
    if "results_json" not in declared:
        raise ValueError(f"{notebook.name} has no results_json parameter, so it records nothing to collect")
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    rows = []
    for i, combo in enumerate(combos, 1):
        name = run_name(combo)
        results = out / "results" / f"{name}.json"
        params = {**fixed, **combo, "results_json": str(results), "figures_dir": str(out / "figures" / name)}
        outcome = run_notebook(notebook, out / "notebooks" / f"{notebook.stem}_{name}.ipynb", params)
        row = {"run": name, "status": "ok" if outcome.ok else "failed", "seconds": round(outcome.seconds, 1),
               **combo}
        if outcome.ok and results.exists():
            row.update({k: v for k, v in json.loads(results.read_text()).items() if not isinstance(v, (list, dict))})
        elif outcome.ok:
            row["status"] = "no results"
        else:
            row["error"] = outcome.error
        rows.append(row)
        print(f"[{i}/{len(combos)}] {name}: {row['status']} ({outcome.seconds:.0f} s)"
              + (f" — {outcome.error}" if not outcome.ok else ""), flush=True)
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    runtime.atomic_write_bytes(path, buf.getvalue().encode())


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                        help="a swept parameter (repeat for more)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a fixed parameter for every run")
    parser.add_argument("--metric", help="the recorded figure to plot (default: the first numeric one)")
    parser.add_argument("--out", type=Path, help="run folder (default runs/sweep-<notebook>-<time>)")
    parser.add_argument("--smoke", action="store_true", help="run in smoke mode (TUTORIAL_SMOKE=1)")
    args = parser.parse_args(argv)

    if not args.notebook.exists():
        parser.error(f"no such notebook: {args.notebook}")
    try:
        grid = dict(parse_assignment(g, many=True) for g in args.grid)
        fixed = {k: v[0] for k, v in (parse_assignment(p, many=False) for p in args.param)}
    except ValueError as err:
        parser.error(str(err))
    if not grid:
        parser.error("give at least one --grid NAME=V1,V2,...")
    if args.smoke:
        os.environ[runtime.SMOKE_ENV] = "1"
    os.environ[runtime.HEADLESS_ENV] = "1"
    out = args.out or runtime.REPO_ROOT / "runs" / f"sweep-{args.notebook.stem}-{datetime.now():%Y%m%d-%H%M%S}"
    n_runs = math.prod(len(v) for v in grid.values())
    print(f"{n_runs} runs of {args.notebook.name} -> {out}")
    try:
        rows = sweep(args.notebook, grid, fixed, out)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_csv(rows, out / "results.csv")
    metric = plot(rows, grid, args.metric, out / "sweep.png")
    failed = [r for r in rows if r["status"] != "ok"]
    print(f"{len(rows) - len(failed)}/{len(rows)} runs succeeded; table {out / 'results.csv'}"
          + (f"; plot of {metric}: {out / 'sweep.png'}" if metric else ""))
    for r in failed:
        print(f"  {r['status']}: {r['run']} {r.get('error', '')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
