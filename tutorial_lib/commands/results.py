"""The results page of one executed series run: every notebook's figures, the device and the date.

    make series                                   # or: python -m tutorial_lib.commands.series --full
    python -m tutorial_lib.commands.results runs/series-20261123-101500                 # docs/results.md
    python -m tutorial_lib.commands.results runs/series-20261123-101500 --out /tmp/page # anywhere else

Reads what the notebooks recorded in ``<run>/results/*.json``, the run's ``summary.json`` and the
sample grids in ``<run>/figures/``. The page has a row for every notebook the run executed (its
status, time and headline figure), notebook 08's comparison of the four models, a table for each
notebook that measures several models (10's conditional models, 11's label counts), and the training
speed. The page is rendered in full before anything is written; then ``results.md`` and the grids
go to ``--out`` (default ``docs/``). A smoke run's numbers mean nothing, so it is never written to
``docs/``: give it another ``--out``.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

from tutorial_lib import files, methods, runtime
from tutorial_lib.metrics import KEYS

DOCS = runtime.REPO_ROOT / "docs"
COMPARE = "08_compare"
MODELS = {name: f"{title} ({notebook[:2]})" for name, (_, notebook, title) in methods.SERIES.items()}
GRIDS = [f"{name}_samples.png" for name in methods.SERIES] + ["aegan_vs_vae.png", "aegan_interpolation.png",
                                                             "vae_reconstructions.png"]
# A results file's tables (its key: the page's heading, the first column's name): a dict of rows, each a
# dict of numbers (10's models; a column "X_std" is shown as X's "± std"), or a dict of numbers whose
# keys read "row/column" (11's "100/0/ssgan": 100 labels, draw 0, the semi-supervised GAN).
TABLES = {"table": ("the models it trains", "model"), "runs": ("its runs", "labels / draw")}


class ResultsError(ValueError):
    """The run folder cannot be made into a results page (the message says why and what to do)."""


# ----------------------------------------------------------------------------- reading a run

def read_run(run: Path) -> tuple[dict, dict[str, dict]]:
    """(summary, ``{notebook: its results file}``) of ``run``; ResultsError for what is missing or damaged."""
    if not run.is_dir():
        raise ResultsError(f"run folder {run} does not exist: make one with python -m tutorial_lib.commands.series --out {run}")
    records = {}
    for path in sorted((run / "results").glob("*.json")):
        records[path.stem] = _read_json(path)
    summary = _read_json(run / "summary.json") if (run / "summary.json").exists() else {}
    if not records and not summary:
        raise ResultsError(f"{run} holds neither results/*.json nor summary.json: it is not a run of the series "
                           f"(python -m tutorial_lib.commands.series --out {run} makes one)")
    return summary, records


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path} cannot be read ({err}); run that notebook again") from err
    if not isinstance(value, dict):
        raise ResultsError(f"{path} holds a {type(value).__name__}, not the record a notebook writes; run it again")
    return value


# ----------------------------------------------------------------------------- formatting

def number(value, digits: int = 4) -> str:
    """One table cell: numbers to ``digits`` significant figures, a missing value as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        whole = len(str(int(abs(value)))) if abs(value) < 1e6 else 0     # 1025.6 as 1026, not 1.03e+03
        return f"{value:.{max(digits, whole)}g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(number(v, digits) for v in value)
    return " ".join(str(value).replace("|", "\\|").split())


def _pair(pair: list[float], digits: int = 3) -> str:
    mean, std = pair
    return f"{number(float(mean), digits)} ± {std:.2g}"


def headline(record: dict) -> str:
    """``name = value`` for the figure a notebook names as its headline (a table's name where it is one)."""
    name = record.get("headline")
    if not name:
        return "–"
    if name in record and not isinstance(record[name], dict):
        return f"{name} = {number(record[name])}"
    return f"{name}: see its table below"


def matrix(values: dict) -> tuple[list[str], list[str], dict[tuple[str, str], object]]:
    """(row names, column names, cells) of a results table in either of TABLES's two shapes."""
    rows, columns, cells = [], [], {}
    for key, value in values.items():
        if isinstance(value, dict):
            row, entries = str(key), value.items()
        else:
            row, _, column = str(key).rpartition("/")
            entries = [(column, value)]
        if row not in rows:
            rows.append(row)
        for column, cell in entries:
            if column not in columns:
                columns.append(column)
            cells[row, column] = cell
    return rows, columns, cells


def markdown_table(first: str, values: dict) -> list[str]:
    """A markdown table of ``values`` (see TABLES); a column ``X_std`` joins column ``X`` as ``mean ± std``."""
    rows, columns, cells = matrix(values)
    spread = {c: f"{c}_std" for c in columns if f"{c}_std" in columns}
    shown = [c for c in columns if c not in spread.values()]

    def cell(row: str, column: str) -> str:
        value = number(cells.get((row, column)))
        std = cells.get((row, spread[column])) if column in spread else None
        return value if std is None else f"{value} ± {number(std, 2)}"

    lines = [f"| {first} | " + " | ".join(map(number, shown)) + " |", "| --- |" + " --- |" * len(shown)]
    lines += [f"| {number(row) or '–'} | " + " | ".join(cell(row, c) for c in shown) + " |" for row in rows]
    return lines


def _made_by(record: dict) -> tuple[str, str]:
    """(epochs trained, 'device, finished at') of a results file, as far as it says."""
    model = record.get("model") if isinstance(record.get("model"), dict) else {}
    epochs = record.get("epochs_trained", model.get("epochs_trained"))
    device = model.get("device_name") or record.get("device")
    return number(epochs), ", ".join(number(v) for v in (device, model.get("finished_at")) if v) or "–"


# ----------------------------------------------------------------------------- the page

def render(run: Path, summary: dict, records: dict[str, dict], figures: list[str]) -> str:
    """The results page of ``run`` as markdown (nothing is written)."""
    compare = records.get(COMPARE)
    lines = [
        "# Results", "",
        f"Generated by `python -m tutorial_lib.commands.results {run.name}` from an execution of the series "
        f"({summary.get('mode', '?')} mode"
        + (f"; the notebooks' times add up to {summary['seconds'] / 60:.1f} minutes"
           if isinstance(summary.get("seconds"), (int, float)) else "") + ").",
        "",
        *([f"*{summary['note']}*", ""] if summary.get("note") else []),
        f"- **Date:** {(compare or {}).get('date') or summary.get('date', 'not recorded')}",
        f"- **Machine:** {(compare or {}).get('device') or summary.get('device', 'not recorded')}",
    ]
    if compare:
        lines += [f"- **Protocol:** {compare['n']:,} generated vs {compare['n']:,} test images of "
                  f"{compare['dataset']}, features of the shipped evaluator network; mean ± std over sampling "
                  f"seeds {compare['seeds']}."]
    lines += ["", *notebooks_section(summary, records)]
    lines += ["", *(compare_section(compare) if compare else
                    ["## The four models compared", "", "Notebook 08 did not run in this run, so the four "
                     "models were not measured side by side."])]
    for name, record in records.items():
        for key, (heading, first) in TABLES.items():
            if isinstance(record.get(key), dict) and record[key]:
                lines += ["", f"## {name}: {heading}", "", *markdown_table(first, record[key])]
    speed = speed_rows(records)
    if speed:
        lines += ["", "## Training time", "", "| notebook | model | seconds per epoch (median) |", "| --- | --- | --- |"]
        lines += [f"| {notebook} | {model} | {number(s, 3)} |" for notebook, model, s in speed]
    if figures:
        lines += ["", "## Samples", ""]
        lines += [f"![{f}](figures/{f})" for f in figures]
    return "\n".join(lines) + "\n"


def notebooks_section(summary: dict, records: dict[str, dict]) -> list[str]:
    """A row for every notebook the run executed (and for any results file without one)."""
    executed = [n for n in summary.get("notebooks", []) if isinstance(n, dict) and n.get("name")]
    names = [n["name"] for n in executed] + [name for name in records if name not in {n["name"] for n in executed}]
    by_name = {n["name"]: n for n in executed}
    lines = ["## Every notebook", "",
             "| notebook | status | seconds | headline figure | epochs trained | device, finished |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name in names:
        run = by_name.get(name, {})
        status = "–" if not run else ("ok" if run.get("ok") else f"FAILED: {number(run.get('error') or '?')}")
        status = "interrupted (resumable)" if run.get("interrupted") else status
        record = records.get(name)
        figure, (epochs, made) = (headline(record), _made_by(record)) if record else ("no figures recorded", ("–", "–"))
        lines.append(f"| {name} | {status} | {number(run.get('seconds'), 3)} | {figure} | {epochs} | {made} |")
    return lines


def compare_section(compare: dict) -> list[str]:
    """Notebook 08's table: each model's metrics against the real-vs-real floor."""
    keys = [k for k in KEYS if k in compare["floor"]]
    lines = ["## The four models compared (08)", "",
             "| model | " + " | ".join(keys) + " | FD / floor | epochs trained | trained on |",
             "| --- | " + " | ".join("---" for _ in keys) + " | --- | --- | --- |",
             "| real train vs test (floor) | " + " | ".join(_pair(compare["floor"][k]) for k in keys) + " | 1 | – | – |"]
    made_by = compare.get("made_by", {})
    floor_fd = compare["floor"]["FD"][0]
    order = [m for m in MODELS if m in compare["models"]] + [m for m in compare["models"] if m not in MODELS]
    for name in order:
        row, record = compare["models"][name], made_by.get(name) or {}
        lines.append(f"| {MODELS.get(name, name)} | " + " | ".join(_pair(row[k]) for k in keys)
                     + f" | {row['FD'][0] / floor_fd:.1f} | {record.get('epochs_trained', '?')} | "
                     f"{record.get('device_name', '?')}, {record.get('finished_at', '?')} |")
    if "vae_test_nelbo" in compare:
        lines += ["", f"VAE test negative ELBO: **{compare['vae_test_nelbo']:.1f} nats** per image."]
    if compare.get("briefly_trained"):
        lines += ["", f"**Warning:** briefly trained in notebook 08, not by their notebooks: "
                      f"{', '.join(compare['briefly_trained'])}."]
    if compare.get("inception_fid"):
        lines += ["", "Standard Inception FID (torchmetrics): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in compare["inception_fid"].items())]
    return lines


def speed_rows(records: dict[str, dict]) -> list[tuple[str, str, float]]:
    """(notebook, model, seconds per epoch): one row for a notebook's one model, one per model of 10 and 11."""
    rows = []
    for name, record in records.items():
        speed = record.get("seconds_per_epoch")
        if isinstance(speed, dict):
            rows += [(name, str(model), s) for model, s in speed.items()]
        elif isinstance(speed, (int, float)):
            model = record.get("model") if isinstance(record.get("model"), dict) else {}
            rows.append((name, str(model.get("method", "–")), speed))
    return rows


def figures_of(run: Path) -> list[str]:
    """The sample grids of GRIDS that the run saved."""
    return [name for name in GRIDS if (run / "figures" / name).is_file()]


def write(run: Path, out: Path, summary: dict, records: dict[str, dict]) -> Path:
    """Render the page, then write ``out/results.md`` (atomically) and copy its grids to ``out/figures``."""
    figures = figures_of(run)
    text = render(run, summary, records, figures)          # raises before anything is written
    if figures:
        (out / "figures").mkdir(parents=True, exist_ok=True)
    for name in figures:
        shutil.copyfile(run / "figures" / name, out / "figures" / name)
    files.atomic_write_bytes(out / "results.md", text.encode())
    return out / "results.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tutorial_lib.commands.results", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run folder written by python -m tutorial_lib.commands.series")
    parser.add_argument("--out", "--docs", type=Path, default=DOCS, dest="out",
                        help="folder for results.md and figures/ (default docs/; a smoke run needs another)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    try:
        summary, records = read_run(args.run)
        if summary.get("mode") == "smoke" and args.out.resolve() == DOCS.resolve():
            raise ResultsError(f"{args.run} is a smoke run, whose numbers mean nothing, so it is not written to "
                               f"docs/; render it elsewhere with --out DIR")
        page = write(args.run, args.out, summary, records)
    except (ResultsError, OSError, KeyError, TypeError, ValueError) as err:
        if args.debug:
            raise
        what = str(err) if isinstance(err, ResultsError) else (
            f"{args.run}'s results could not be rendered ({type(err).__name__}: {err}); "
            f"rerun with --debug and report it")
        print(f"error: {what}", file=sys.stderr)
        return 2
    print(f"wrote {page} ({len(figures_of(args.run))} figures, {len(records)} results files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
