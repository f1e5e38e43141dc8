"""Execute the notebook series with papermill into a run folder: side by side, in dependency order, resumable.

    python -m tutorial_lib.series                      # auto: full where a GPU and MNIST are at hand, else smoke
    python -m tutorial_lib.series --smoke              # the embedded sample, tiny settings (seconds per notebook)
    python -m tutorial_lib.series --full --jobs auto --out runs/reference --deadline-min 50
    python -m tutorial_lib.series --full --only 04 05 --out runs/my-run
    python -m tutorial_lib.series --full --lecture     # the defaults, shipped models, shorter extra runs

Each notebook runs in a fresh kernel, ``--jobs`` of them at once (``auto``, the default: one per CPU
core, or several sharing the GPU). A notebook waits for the notebooks whose models it loads or whose
runs it reuses (:func:`needs`). Notebook 11's runs, one per label count and draw, are jobs of their
own that run before 11 itself, which then finds them trained (:data:`SPLITS`).

``--deadline-min M`` gives the series M minutes. Then every ``fit`` stops after its current iteration
with a checkpoint (:data:`tutorial_lib.trainer.DEADLINE_ENV`), no notebook starts, and a notebook still
busy a minute later is stopped as by its stop button. Such notebooks are marked interrupted. The same
command with the same ``--out`` resumes: complete notebooks are kept (``--force`` runs them again), the
others run again and their fits resume from their checkpoints.

Executed copies appear in the run folder only when complete (written to a temporary name, then
renamed); a failed notebook is kept as ``NAME.failed.ipynb``, an interrupted one as
``NAME.interrupted.ipynb``, and the series goes on with what does not need it. 11's runs go to
``<run>/parts/``, figures to ``<run>/figures``, headline numbers to ``<run>/results``.
``<run>/summary.json``, rewritten as each notebook ends, records the mode and why, the device, date,
Python and torch versions, the arguments, and per notebook its status, seconds (summed over the calls
that ran it) and parameters (``python -m tutorial_lib.site --run <run>`` builds the course website from it).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import itertools
import json
import os
import platform
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tqdm.auto import tqdm

from tutorial_lib import methods, runtime, trainer

NOTEBOOKS = runtime.REPO_ROOT / "notebooks"

LOADS = {"08_compare": ("vae", "gan", "wgan_gp", "aegan"),      # methods.load_series_model for each of the four
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
STOP_GRACE_S = 60.0
"""Seconds after the deadline at which a kernel still busy (outside ``fit``) is stopped."""
RESUMABLE = ("interrupted", "not started")
"""Statuses that the same command resumes; "failed" and "not run" (a notebook it needs failed) need a fix."""

declared_parameters = runtime.declared_parameters

# ipykernel 7 logs a warning on every start that its local TCP connection is unencrypted, and an error
# "KeyboardInterrupt caught in kernel" when jupyter_client's shutdown (which interrupts the kernel first)
# meets it busy: lines in the middle of the series' progress. Only the kernel's own log is quietened; cell
# output and errors are untouched.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


class SeriesError(Exception):
    """An expected failure of the command (bad argument, no data, ...); the message says what to do."""


@dataclass
class Outcome:
    notebook: str
    ok: bool
    seconds: float
    output: Path
    error: str = ""
    interrupted: bool = False          # stopped by the deadline or the stop button; running it again resumes


@dataclass
class Job:
    """One kernel's work: a notebook, its parameters, where its executed copy goes, what it waits for."""
    name: str
    notebook: Path
    output: Path
    params: dict
    needs: tuple[str, ...] = ()
    part: bool = False                 # one of the runs of a split notebook (SPLITS)


def run_notebook(source: Path, output: Path, parameters: dict | None = None,
                 progress: bool | dict = False) -> Outcome:
    """Execute ``source`` with papermill into ``output`` (atomically); never raises on a cell error.

    Only parameters the notebook declares in its ``parameters`` cell are passed. ``progress`` is
    papermill's bar over the cells: on/off, or tqdm's arguments (its name, its line on the screen).
    """
    import papermill

    declared = declared_parameters(source)
    params = {k: v for k, v in (parameters or {}).items() if k in declared}
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.stem}.partial.ipynb")
    t0 = time.perf_counter()
    error, interrupted = "", False
    try:
        papermill.execute_notebook(str(source), str(partial), parameters=params, kernel_name="python3",
                                   cwd=str(source.parent), progress_bar=progress,
                                   extra_arguments=KERNEL_ARGUMENTS)
    except Exception as err:  # papermill raises PapermillExecutionError for a failing cell
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
        interrupted = getattr(err, "ename", "") in ("DeadlineReached", "KeyboardInterrupt")
    seconds = time.perf_counter() - t0
    kind = "interrupted" if interrupted else "failed"
    final = output if not error else output.with_name(f"{output.stem}.{kind}.ipynb")
    if error:
        output.unlink(missing_ok=True)             # an earlier complete copy no longer shows this notebook
    if partial.exists():
        os.replace(partial, final)
    for earlier in ("failed", "interrupted"):      # what an earlier call left
        if (stale := output.with_name(f"{output.stem}.{earlier}.ipynb")) != final:
            stale.unlink(missing_ok=True)
    return Outcome(source.stem, not error, seconds, final, error, interrupted)


# ----------------------------------------------------------------------------- what runs, and in which order


def needs(notebook: str) -> tuple[str, ...]:
    """The notebooks that must finish before ``notebook`` starts: those that export the models it loads
    (:data:`LOADS`) and those that train a run it reuses (:data:`REUSES`)."""
    made_by = {name: nb for name, (_, _, nb) in methods.SERIES.items()}
    return tuple(sorted({made_by[name] for name in LOADS.get(notebook, ())} | set(REUSES.get(notebook, ()))))


def plan(notebooks: list[Path], out: Path, lecture: bool = False) -> list[Job]:
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
        parts = split(nb, params, out / "parts", waits)
        jobs += parts
        jobs.append(Job(nb.stem, nb, out / nb.name, params, waits + tuple(p.name for p in parts)))
    return jobs


def split(nb: Path, params: dict, folder: Path, waits: tuple[str, ...] = ()) -> list[Job]:
    """The jobs of ``nb``'s independent runs (:data:`SPLITS`): one per combination of the split parameters'
    values (at this mode's defaults), each the notebook at one value of each, writing to ``folder``.
    None when there is one combination, or with the lecture preset (which picks its own runs)."""
    names = SPLITS.get(nb.stem, ())
    if not names or params.get("lecture"):
        return []
    defaults = runtime.notebook_defaults(nb.stem)
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


# ----------------------------------------------------------------------------- running the jobs


class View:
    """What the series shows while it runs: a line as each job starts and ends and, on a terminal, a bar
    for the series and one per running kernel (its cells, named after the notebook or run)."""

    def __init__(self, total: int, slots: int, live: bool | None = None):
        self.live = sys.stderr.isatty() if live is None else live
        self.t0 = time.perf_counter()
        self.bar = tqdm(total=total, desc="series", unit="job", position=0, disable=not self.live, dynamic_ncols=True)
        self.free, self.slots = list(range(1, slots + 1)), {}

    def say(self, text: str) -> None:
        line = f"[{time.perf_counter() - self.t0:5.0f} s] {text}"
        tqdm.write(line) if self.live else print(line, flush=True)

    def started(self, job: Job) -> bool | dict:
        """Announce ``job``; the progress bar papermill should show for it."""
        self.say(f"start        {job.name}")
        if not self.live:
            return False
        self.slots[job.name] = slot = self.free.pop(0)
        return {"desc": job.name, "position": slot, "leave": False, "dynamic_ncols": True}

    def ended(self, job: Job, rec: dict) -> None:
        if job.name in self.slots:
            self.free = sorted([*self.free, self.slots.pop(job.name)])
        self.bar.update(1)
        self.say(f"{rec['status']:<12} {job.name}" + (f"  {rec['seconds']:.1f} s" if rec["seconds"] else "")
                 + (f"  ({rec['error']})" if rec["error"] else ""))

    def close(self) -> None:
        self.bar.close()


def stop_kernels() -> int:
    """Send SIGINT, as the notebook's stop button does, to the kernels this process started; how many."""
    import psutil
    stopped = 0
    for child in psutil.Process().children():
        try:
            if any("ipykernel" in part for part in child.cmdline()):
                child.send_signal(signal.SIGINT)
                stopped += 1
        except psutil.Error:                       # it ended meanwhile
            pass
    return stopped


def record(job: Job, status: str, seconds: float = 0.0, error: str = "", output: Path | None = None) -> dict:
    """A job's line in summary.json."""
    return {"name": job.name, "status": status, "ok": status == "ok", "interrupted": status in RESUMABLE,
            "seconds": seconds, "error": error, "parameters": job.params, "output": str(output or job.output)}


def run_jobs(jobs: list[Job], at_once: int, records: dict[str, dict], view: View, *,
             deadline: float | None = None, on_record=lambda rec: None) -> dict[str, dict]:
    """Run every job not yet in ``records`` (name -> record), up to ``at_once`` at a time, each once the jobs
    it needs have ended; in the order of :data:`FIRST` among those ready. Each record is added to
    ``records`` as its job ends, then passed to ``on_record``.

    A job whose needs failed is "not run"; one whose needs were interrupted, or that would start after
    ``deadline`` (a ``time.time()``), is "not started". Kernels still busy :data:`STOP_GRACE_S` after the
    deadline are stopped as by the stop button. Ctrl-C presses the stop button of every kernel (twice:
    stop at once, the last checkpoint kept) and starts nothing more; a third quits.
    """
    waiting = sorted((job for job in jobs if job.name not in records), key=_first)
    running: dict[concurrent.futures.Future, Job] = {}
    stopped, presses = False, 0

    def finish(job: Job, rec: dict) -> None:
        records[job.name] = rec
        view.ended(job, rec)
        on_record(rec)

    with concurrent.futures.ThreadPoolExecutor(max_workers=at_once) as pool:
        while waiting or running:
            ready = [job for job in waiting if all(n in records for n in job.needs)]
            for job in ready:
                failed = [n for n in job.needs if records[n]["status"] in ("failed", "not run")]
                resumable = [n for n in job.needs if records[n]["status"] in RESUMABLE]
                late = deadline is not None and time.time() >= deadline
                if failed:
                    rec = record(job, "not run", error=f"needs {', '.join(failed)}, which did not complete")
                elif resumable or late:
                    rec = record(job, "not started", error=f"waits for {', '.join(resumable)}" if resumable
                                 else "the deadline had passed")
                elif len(running) < at_once:
                    running[pool.submit(run_notebook, job.notebook, job.output, job.params, view.started(job))] = job
                    waiting.remove(job)
                    continue
                else:
                    continue
                waiting.remove(job)
                finish(job, rec)
            if not running:
                if ready:
                    continue                           # what was just recorded may let others go
                raise RuntimeError(f"jobs wait for jobs that are not planned: {[j.name for j in waiting]}")
            timeout = None if deadline is None or stopped else max(1.0, deadline + STOP_GRACE_S - time.time())
            try:
                done, _ = concurrent.futures.wait(running, timeout=timeout,
                                                  return_when=concurrent.futures.FIRST_COMPLETED)
            except KeyboardInterrupt:
                presses += 1
                if presses > 2:
                    raise
                deadline, stopped = time.time(), True
                view.say(f"Ctrl-C: stop button pressed in {stop_kernels()} kernels"
                         + (" (once more: stop at once)" if presses == 1 else ""))
                continue
            if not done and not stopped and deadline is not None and time.time() >= deadline + STOP_GRACE_S:
                stopped = True
                view.say(f"deadline + {STOP_GRACE_S:.0f} s: stop button pressed in {stop_kernels()} kernels still busy")
            for future in done:
                job = running.pop(future)
                try:
                    outcome = future.result()
                except Exception as err:               # papermill itself failed (not installed, no kernel, ...)
                    finish(job, record(job, "failed", error=f"{type(err).__name__}: {err}"))
                    continue
                status = "ok" if outcome.ok else "interrupted" if outcome.interrupted else "failed"
                finish(job, record(job, status, outcome.seconds, outcome.error, outcome.output))
    return records


# ----------------------------------------------------------------------------- the command


def choose_mode(requested: str) -> tuple[bool, str]:
    """(smoke?, reason). Auto: full only with a GPU and MNIST on disk or downloadable."""
    if requested == "smoke":
        return True, "smoke mode requested"
    if requested == "full":
        return False, "full mode requested"
    import torch
    from tutorial_lib import data
    if not torch.cuda.is_available():
        return True, "no CUDA GPU on this machine"
    try:
        data.load("mnist", "test")
    except data.DatasetUnavailable:
        return True, "MNIST is neither on disk nor downloadable (offline?)"
    return False, f"GPU {torch.cuda.get_device_name(0)} and MNIST available"


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
    from tutorial_lib import data
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


@contextlib.contextmanager
def _environ(changes: dict[str, str | None]):
    """Environment variables set (or removed, for None) for the kernels started inside."""
    def apply(values: dict[str, str | None]) -> None:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    old = {k: os.environ.get(k) for k in changes}
    apply(changes)
    try:
        yield
    finally:
        apply(old)


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
        raise SeriesError(f"{message} (python -m tutorial_lib.series --help lists the options)")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m tutorial_lib.series", description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_const", const="smoke", dest="mode")
    mode.add_argument("--full", action="store_const", const="full", dest="mode")
    p.add_argument("--out", type=Path, help="run folder (default runs/series-<time>); the same one resumes a run")
    p.add_argument("--only", nargs="*", default=None, help="notebook numbers, e.g. 04 05")
    p.add_argument("--lecture", action="store_true",
                   help="the lecture preset in the notebooks that have one (shorter extra runs; shipped models)")
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
    smoke, reason = choose_mode(args.mode or "auto")
    mode = "smoke" if smoke else "full"
    out = args.out or runtime.REPO_ROOT / "runs" / f"series-{datetime.now():%Y%m%d-%H%M%S}"
    out = out.resolve()                                     # the kernels run in notebooks/
    earlier = earlier_run(out, mode, args.force)
    deadline = time.time() + 60 * args.deadline_min if args.deadline_min else None
    if deadline is None and os.environ.get(trainer.DEADLINE_ENV):            # one deadline for several commands
        try:
            deadline = float(os.environ[trainer.DEADLINE_ENV])
        except ValueError:
            raise SeriesError(f"{trainer.DEADLINE_ENV}={os.environ[trainer.DEADLINE_ENV]!r} is not a time "
                              f"(seconds since 1970, as date +%s gives); unset it or use --deadline-min") from None
    if smoke:
        os.environ[runtime.SMOKE_ENV] = "1"
        print(f"Running the series in SMOKE mode ({reason}): the shipped MNIST sample, tiny settings. "
              f"Results are not meaningful; use a GPU for the real run.")
    else:
        os.environ.pop(runtime.SMOKE_ENV, None)
        check_data(notebooks)
        print(f"Running the series at the notebooks' default parameters ({reason}).")
    os.environ[runtime.HEADLESS_ENV] = "1"
    jobs = plan(notebooks, out, args.lecture)
    at_once = min(jobs_at_once(args.jobs), len(jobs))

    by_name = {job.name: job for job in jobs}
    kept = {r["name"]: r for r in earlier.get("notebooks", []) + earlier.get("parts", []) if r.get("name") in by_name}
    records = {name: r for name, r in kept.items() if _complete(r, by_name[name])}
    print(f"{_count(len(jobs), 'job')} ({_count(len(notebooks), 'notebook')}), {at_once} at a time -> {out}"
          + (f"; {len(records)} complete from an earlier call" if records else "")
          + (f"; deadline {datetime.fromtimestamp(deadline):%H:%M:%S}" if deadline else ""))
    header = {"mode": mode, "reason": reason, **describe_machine(),
              "date": earlier.get("date") or datetime.now().astimezone().isoformat(timespec="seconds"),
              "arguments": {"mode": args.mode or "auto", "only": args.only, "out": str(out), "lecture": args.lecture,
                            "jobs": args.jobs, "deadline_min": args.deadline_min, "force": args.force},
              "jobs_at_once": at_once, "calls": earlier.get("calls", 1 if earlier else 0) + 1}
    wall_before, t0 = earlier.get("wall_seconds", 0.0), time.perf_counter()

    def write() -> None:
        ordered = [records.get(j.name) or record(j, "not started", error="not reached") for j in jobs]
        summary = {**header, "seconds": sum(r["seconds"] for r in ordered),
                   "wall_seconds": wall_before + time.perf_counter() - t0,
                   "notebooks": [r for r, j in zip(ordered, jobs) if not j.part],
                   "parts": [r for r, j in zip(ordered, jobs) if j.part]}
        runtime.atomic_write_bytes(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())

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
        with _environ({trainer.DEADLINE_ENV: repr(deadline) if deadline else None, **threads}):
            run_jobs(jobs, at_once, records, view, deadline=deadline, on_record=ended)
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
