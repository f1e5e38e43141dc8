"""Execute the notebook series with papermill into a run folder: side by side, in dependency order, resumable.

    python -m tutorial_lib.commands.series                      # auto: full where a GPU and MNIST are at hand, else smoke
    python -m tutorial_lib.commands.series --smoke              # the embedded sample, tiny settings (seconds per notebook)
    python -m tutorial_lib.commands.series --full --jobs auto --out runs/reference --deadline-min 50
    python -m tutorial_lib.commands.series --full --only 04 05 --out runs/my-run
    python -m tutorial_lib.commands.series --full --lecture     # the defaults, shipped models, shorter extra runs

Each notebook runs in a fresh kernel, ``--jobs`` of them at once (``auto``, the default: one per CPU
core, or several sharing the GPU). A notebook waits for the notebooks whose models it loads or whose
runs it reuses (:func:`needs`). Notebook 11's runs, one per label count and draw, are jobs of their
own that run before 11 itself, which then finds them trained (:data:`SPLITS`).

``--deadline-min M`` gives the series M minutes. Then every ``fit`` stops after its current iteration
with a checkpoint (:data:`tutorial_lib.training.DEADLINE_ENV`), no notebook starts, and a notebook still
busy a minute later is stopped as by its stop button. Such notebooks are marked interrupted. The same
command with the same ``--out`` resumes: complete notebooks are kept (``--force`` runs them again), the
others run again and their fits resume from their checkpoints.

Executed copies appear in the run folder only when complete (written to a temporary name, then
renamed); a failed notebook is kept as ``NAME.failed.ipynb``, an interrupted one as
``NAME.interrupted.ipynb``, and the series goes on with what does not need it. 11's runs go to
``<run>/parts/``, figures to ``<run>/figures``, headline numbers to ``<run>/results``.
``<run>/summary.json``, rewritten as each notebook ends, records the mode and why, the device, date,
Python and torch versions, the arguments, and per notebook its status, seconds (summed over the calls
that ran it) and parameters (``python -m tutorial_lib.commands.site --run <run>`` builds the course website from it).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

from tutorial_lib import data, files, methods, parameters, runtime, training
from tutorial_lib.commands.jobs import Job, View, record, run_jobs
from tutorial_lib.parameters import declared_parameters

NOTEBOOKS = runtime.NOTEBOOKS_DIR

LOADS = {"08_compare": tuple(methods.SERIES),                  # shipped.load_series_model for each of the four
         "09_latent_exploration": ("gan",)}                      # its model_name, 'gan' by default
"""The series' models (:data:`tutorial_lib.methods.SERIES` names) that a notebook loads."""
REUSES = {"07_aegan": ("04_vae",)}
"""Notebooks that train a run another notebook trains with the same settings (07's λ = 1 VAE is 04's):
they wait for it, as two kernels never train in one run folder at once."""
SPLITS = {"11_semi_supervised_gan": ("label_counts", "label_seeds")}
"""Notebooks whose runs are independent over these list parameters: each combination of their values
runs as a job of its own (the notebook at one value of each), before the notebook itself."""
FIRST = ("10", "04", "07", "06", "05", "11")
"""Of the jobs ready to start, these notebooks' go first, in this order: those that train longest at their
defaults, 04 early since 07 and 08 wait for it, 11's many runs filling what is left; then the others."""
class SeriesError(Exception):
    """An expected failure of the command (bad argument, no data, ...); the message says what to do."""


# ----------------------------------------------------------------------------- what runs, and in which order


def needs(notebook: str) -> tuple[str, ...]:
    """The notebooks that must finish before ``notebook`` starts: those that export the models it loads
    (:data:`LOADS`) and those that train a run it reuses (:data:`REUSES`)."""
    return tuple(sorted({methods.series_notebook(name) for name in LOADS.get(notebook, ())} | set(REUSES.get(notebook, ()))))


def plan(notebooks: list[Path], out: Path, lecture: bool = False, smoke: bool | None = None) -> list[Job]:
    """Every job of a run: each notebook, after the jobs of its own runs (:func:`split`) and after the
    notebooks it needs, where those are in ``notebooks`` (otherwise it uses what exists: its own
    earlier export, else the shipped model)."""
    chosen = {nb.stem for nb in notebooks}
    jobs = []
    for nb in notebooks:
        params = {"figures_dir": str(out / "figures"), "results_json": str(out / "results" / f"{nb.stem}.json"),
                  **({"lecture": True} if lecture else {})}
        params = {k: v for k, v in params.items() if k in declared_parameters(nb)}
        waits = tuple(n for n in needs(nb.stem) if n in chosen)
        parts = split(nb, params, out / "parts", waits, smoke)
        jobs += parts
        jobs.append(Job(nb.stem, nb, out / nb.name, params, waits + tuple(p.name for p in parts)))
    return jobs


def split(nb: Path, params: dict, folder: Path, waits: tuple[str, ...] = (), smoke: bool | None = None) -> list[Job]:
    """The jobs of ``nb``'s independent runs (:data:`SPLITS`): one per combination of the split parameters'
    values (at this mode's defaults), each the notebook at one value of each, writing to ``folder``.
    None when there is one combination, or with the lecture preset (which picks its own runs)."""
    names = SPLITS.get(nb.stem, ())
    if not names or params.get("lecture"):
        return []
    defaults = parameters.notebook_defaults(nb.stem, smoke)
    combos = list(itertools.product(*(list(dict.fromkeys(defaults[name])) for name in names)))
    if len(combos) < 2:
        return []
    jobs = []
    for combo in combos:
        tag = "-".join(f"{name}{value}" for name, value in zip(names, combo))      # label_counts20-label_seeds0
        label = ", ".join(f"{name}={value}" for name, value in zip(names, combo))
        part_params = {**params, **{name: [value] for name, value in zip(names, combo)},
                       "results_json": str(folder / "results" / f"{nb.stem}-{tag}.json"),
                       "figures_dir": str(folder / "figures" / tag)}
        jobs.append(Job(f"{nb.stem}[{label}]", nb, folder / f"{nb.stem}-{tag}.ipynb", part_params, waits, part=True))
    return jobs


def _first(job: Job) -> int:
    number = job.notebook.name[:2]
    return FIRST.index(number) if number in FIRST else len(FIRST)


# ----------------------------------------------------------------------------- the command


GET_MNIST = ("to run the real course, put MNIST where torchvision finds it (connect once to the internet, or "
             "copy its four files to $DATA_ROOT/MNIST/raw/) and run this again")


def choose_mode(requested: str, lecture: bool | None = None) -> tuple[bool, bool, str]:
    """(smoke?, lecture preset?, reason). Auto is the real course whenever MNIST is on disk or downloadable:
    the defaults on a GPU; on a CPU the defaults with the lecture preset (the shipped models, shorter extra
    runs). Without MNIST, smoke mode. ``lecture`` (``--lecture`` / ``--no-lecture``) overrides the preset."""
    import torch
    gpu = torch.cuda.is_available()
    where = f"GPU {torch.cuda.get_device_name(0)}" if gpu else "no GPU"
    if requested == "smoke":
        return True, bool(lecture), "smoke mode requested"
    if requested == "auto":
        try:
            data.load("mnist", "test")
        except data.DatasetUnavailable:
            return True, bool(lecture), f"MNIST is neither on disk nor downloadable: {GET_MNIST}"
    preset = (not gpu) if lecture is None else lecture
    how = "with the lecture preset" if preset else "at the defaults"
    return False, preset, f"{'full mode requested' if requested == 'full' else 'MNIST available'}, {where}: {how}"


def describe_machine() -> dict:
    """What ran the series, for summary.json: device (GPU name, or CPU and its thread count), Python, torch."""
    import torch
    if torch.cuda.is_available():
        device = torch.cuda.get_device_name(0)
    else:
        device = f"CPU ({torch.get_num_threads()} threads)"
        try:
            model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name"))
            device = f"CPU {model} ({torch.get_num_threads()} threads)"
        except (OSError, StopIteration):
            pass
    return {"device": device, "python": platform.python_version(), "torch": torch.__version__}


def jobs_at_once(requested: str) -> int:
    """``--jobs``: a number, or ``auto``: on a GPU one kernel per 6 GiB of its memory, on a CPU one per
    core (each kernel then computes on one thread); at most 8."""
    if requested != "auto":
        return int(requested)
    import torch
    if torch.cuda.is_available():
        return max(1, min(8, int(torch.cuda.get_device_properties(0).total_memory / 2**30 // 6)))
    return max(1, min(8, os.cpu_count() or 1))


def select(only: list[str] | None) -> list[Path]:
    """The notebooks ``--only`` names by number (``4`` or ``04``), in order; all without it."""
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only is None:
        return notebooks
    numbers = [nb.name[:2] for nb in notebooks]
    unknown = [n for n in only if n.zfill(2) not in numbers]
    if unknown or not only:
        what = f"names no notebook {', '.join(unknown)}" if unknown else "selects no notebook"
        raise SeriesError(f"--only {' '.join(only)} {what}: the notebooks are numbered {numbers[0]} to "
                          f"{numbers[-1]}; name those to run, e.g. --only 04 05")
    return [nb for nb in notebooks if nb.name[:2] in {n.zfill(2) for n in only}]


def check_data(notebooks: list[Path]) -> None:
    """Full mode: MNIST on disk (downloaded now if need be, once, before any kernel starts)."""
    if not any("dataset" in declared_parameters(nb) for nb in notebooks):
        return
    try:
        for split_name in ("train", "test"):
            data.load("mnist", split_name)
    except data.DatasetUnavailable as err:
        raise SeriesError(f"{' '.join(str(err).split())} Or run the series on the shipped sample: --smoke") from None


def earlier_run(out: Path, mode: str, force: bool) -> dict:
    """The summary an earlier call left in ``out`` ({} if none, or with ``--force``)."""
    path = out / "summary.json"
    if force or not path.exists():
        return {}
    try:
        summary = json.loads(path.read_text())
    except ValueError:
        raise SeriesError(f"{path} cannot be read; delete it, or run with --force to run every notebook again") from None
    if summary.get("mode") != mode:
        raise SeriesError(f"{out} holds a {summary.get('mode')} run and this one is {mode}; give another --out, "
                          f"or add --force to run every notebook again in {mode} mode")
    return summary


def _jobs_value(text: str) -> str:
    if text != "auto" and not (text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"{text} is not a number of notebooks at once (1, 2, ...) or auto")
    return text


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a number of minutes > 0, e.g. 50")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise SeriesError(f"{message} (python -m tutorial_lib.commands.series --help lists the options)")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m tutorial_lib.commands.series", description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_const", const="smoke", dest="mode")
    mode.add_argument("--full", action="store_const", const="full", dest="mode")
    p.add_argument("--out", type=Path, help="run folder (default runs/series-<time>); the same one resumes a run")
    p.add_argument("--only", nargs="*", default=None, help="notebook numbers, e.g. 04 05")
    p.add_argument("--lecture", action=argparse.BooleanOptionalAction, default=None,
                   help="the lecture preset in the notebooks that have one (shorter extra runs; shipped models); "
                        "default: on for a full run without a GPU, off otherwise")
    p.add_argument("--jobs", type=_jobs_value, default="auto",
                   help="notebooks at once (default auto: one per CPU core, or by GPU memory, at most 8)")
    p.add_argument("--deadline-min", type=_minutes, default=None,
                   help="stop training after this many minutes, checkpointed; the same command resumes")
    p.add_argument("--force", action="store_true", help="run again the notebooks an earlier call completed")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return run(parser().parse_args(argv))
    except (SeriesError, OSError) as err:
        if "--debug" in argv:
            raise
        print(f"error: {' '.join(str(err).split())}" if isinstance(err, SeriesError) else
              f"error: {err} (if the run folder cannot be written, give another --out)", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    notebooks = select(args.only)
    smoke, lecture, reason = choose_mode(args.mode or "auto", args.lecture)
    mode = "smoke" if smoke else "full"
    out = args.out or runtime.REPO_ROOT / "runs" / f"series-{datetime.now():%Y%m%d-%H%M%S}"
    out = out.resolve()                                     # the kernels run in notebooks/
    earlier = earlier_run(out, mode, args.force)
    deadline = time.time() + 60 * args.deadline_min if args.deadline_min else None
    if deadline is None and os.environ.get(training.DEADLINE_ENV):            # one deadline for several commands
        try:
            deadline = float(os.environ[training.DEADLINE_ENV])
        except ValueError:
            raise SeriesError(f"{training.DEADLINE_ENV}={os.environ[training.DEADLINE_ENV]!r} is not a time "
                              f"(seconds since 1970, as date +%s gives); unset it or use --deadline-min") from None
    if smoke:
        print(f"Running the series in SMOKE mode ({reason}). The shipped MNIST sample, tiny settings: "
              f"the results are not meaningful.")
    else:
        check_data(notebooks)
        print(f"Running the real course ({reason}).")
    jobs = plan(notebooks, out, lecture, smoke)
    at_once = min(jobs_at_once(args.jobs), len(jobs))

    by_name = {job.name: job for job in jobs}
    kept = {r["name"]: r for r in earlier.get("notebooks", []) + earlier.get("parts", []) if r.get("name") in by_name}
    records = {name: r for name, r in kept.items() if _complete(r, by_name[name])}
    print(f"{_count(len(jobs), 'job')} ({_count(len(notebooks), 'notebook')}), {at_once} at a time -> {out}"
          + (f"; {len(records)} complete from an earlier call" if records else "")
          + (f"; deadline {datetime.fromtimestamp(deadline):%H:%M:%S}" if deadline else ""))
    header = {"mode": mode, "reason": reason, **describe_machine(),
              "date": earlier.get("date") or datetime.now().astimezone().isoformat(timespec="seconds"),
              "arguments": {"mode": args.mode or "auto", "only": args.only, "out": str(out), "lecture": lecture,
                            "jobs": args.jobs, "deadline_min": args.deadline_min, "force": args.force},
              "jobs_at_once": at_once, "calls": earlier.get("calls", 1 if earlier else 0) + 1}
    wall_before, t0 = earlier.get("wall_seconds", 0.0), time.perf_counter()

    def write() -> None:
        ordered = [records.get(j.name) or record(j, "not started", error="not reached") for j in jobs]
        summary = {**header, "seconds": sum(r["seconds"] for r in ordered),
                   "wall_seconds": wall_before + time.perf_counter() - t0,
                   "notebooks": [r for r, j in zip(ordered, jobs) if not j.part],
                   "parts": [r for r, j in zip(ordered, jobs) if j.part]}
        files.atomic_write_bytes(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())

    def ended(rec: dict) -> None:
        rec["seconds"] += kept.get(rec["name"], {}).get("seconds", 0.0)     # earlier calls' time on it
        write()

    threads = {} if at_once == 1 or "OMP_NUM_THREADS" in os.environ else {
        "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // at_once))}     # no more threads than cores in all
    view = View(len(jobs) - len(records), at_once)
    for name in records:
        view.say(f"{'complete':<12} {name} (in an earlier call; --force runs it again)")
    write()
    try:
        env = {runtime.SMOKE_ENV: "1" if smoke else None, runtime.HEADLESS_ENV: "1",
               training.DEADLINE_ENV: repr(deadline) if deadline else None, **threads}
        run_jobs(jobs, at_once, records, view, deadline=deadline, on_record=ended, env=env, order=_first)
    finally:
        view.close()
        write()
    again = "the same command" + ("" if args.out else f" with --out {out}")
    return report(jobs, records, out, time.perf_counter() - t0, at_once, again)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _complete(rec: dict, job: Job) -> bool:
    """Whether an earlier call completed ``job`` as this one would run it."""
    return rec.get("status", "ok" if rec.get("ok") else "failed") == "ok" and rec.get("parameters") == job.params \
        and job.output.exists()


def report(jobs: list[Job], records: dict[str, dict], out: Path, wall: float, at_once: int,
           again: str = "the same command") -> int:
    """The table of every job's status and time, and one line on what to do (``again``: the command
    that resumes); the exit code: 0 all complete, 1 a notebook failed, 3 some were interrupted."""
    width = max(len(j.name) for j in jobs)
    print(f"\n  {'notebook':<{width}}  {'seconds':>8}  status")
    for job in jobs:
        rec = records[job.name]
        status = rec["status"] + (f" (resume by running {again} again)" if rec["interrupted"] else "")
        print(f"  {job.name:<{width}}  {rec['seconds']:8.1f}  {status}" + (f": {rec['error']}" if rec["error"] else ""))
    total = sum(records[j.name]["seconds"] for j in jobs)
    complete = sum(records[j.name]["ok"] for j in jobs)
    print(f"{complete}/{len(jobs)} complete; {wall:.0f} s for this call with {at_once} at a time "
          f"(the notebooks' times add up to {total:.0f} s); executed copies in {out}")
    failed = [records[j.name] for j in jobs if records[j.name]["status"] in ("failed", "not run")]
    waiting = [j.name for j in jobs if records[j.name]["interrupted"]]
    if failed:
        first = next((r for r in failed if r["status"] == "failed"), failed[0])
        print(f"error: {_count(len(failed), 'notebook')} did not complete ({', '.join(r['name'] for r in failed)}); "
              f"{first['name']} stopped with {first['error']}: see {first['output']}, fix the cause and run {again} "
              f"again (complete notebooks are kept)", file=sys.stderr)
        return 1
    if waiting:
        print(f"interrupted: {', '.join(waiting)} did not finish (training stopped at a checkpoint); run {again} "
              f"again to resume", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
