"""Notebooks run as jobs: each in a fresh kernel (papermill), several at once, each once the jobs it
needs have ended, with a deadline, the stop button, and what each left behind. The series
(:mod:`tutorial_lib.commands.series`) plans the jobs; the shipped models' build runs notebooks here too.
"""
from __future__ import annotations

import concurrent.futures
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from tutorial_lib.parameters import declared_parameters

STOP_GRACE_S = 60.0
"""Seconds after the deadline at which a kernel still busy (outside ``fit``) is stopped."""
RESUMABLE = ("interrupted", "not started")
"""Statuses that the same command resumes; "failed" and "not run" (a notebook it needs failed) need a fix."""

# ipykernel 7 logs a warning on every start that its local TCP connection is unencrypted, and an error
# "KeyboardInterrupt caught in kernel" when jupyter_client's shutdown (which interrupts the kernel first)
# meets it busy: lines in the middle of the series' progress. Only the kernel's own log is quietened; cell
# output and errors are untouched.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


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


def kernel_manager(env: dict[str, str | None]):
    """A Jupyter kernel manager whose kernels start with this process's environment changed by ``env``
    (a None value removes the variable): settings handed to the kernel, nothing changed here."""
    from jupyter_client.manager import AsyncKernelManager

    class KernelWithEnvironment(AsyncKernelManager):
        async def start_kernel(self, **kw):
            kernel_env = {**os.environ, **kw.get("env", {})}
            for name, value in env.items():
                if value is None:
                    kernel_env.pop(name, None)
                else:
                    kernel_env[name] = str(value)
            return await super().start_kernel(**{**kw, "env": kernel_env})

    return KernelWithEnvironment


def run_notebook(source: Path, output: Path, parameters: dict | None = None,
                 progress: bool | dict = False, env: dict[str, str | None] | None = None) -> Outcome:
    """Execute ``source`` with papermill into ``output`` (atomically); never raises on a cell error.

    Only parameters the notebook declares in its ``parameters`` cell are passed. ``progress`` is
    papermill's bar over the cells: on/off, or tqdm's arguments (its name, its line on the screen).
    ``env``: environment variables for the notebook's kernel (None removes one), e.g. smoke mode.
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
                                   extra_arguments=KERNEL_ARGUMENTS, kernel_manager_class=kernel_manager(env or {}))
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
             deadline: float | None = None, on_record=lambda rec: None, env: dict | None = None,
             order=lambda job: 0) -> dict[str, dict]:
    """Run every job not yet in ``records`` (name -> record), up to ``at_once`` at a time, each once the jobs
    it needs have ended; in ``order`` among those ready. Each record is added to
    ``records`` as its job ends, then passed to ``on_record``. ``env``: the kernels' environment
    variables (see :func:`run_notebook`); ``order``: a job's rank among those ready (lower first).

    A job whose needs failed is "not run"; one whose needs were interrupted, or that would start after
    ``deadline`` (a ``time.time()``), is "not started". Kernels still busy :data:`STOP_GRACE_S` after the
    deadline are stopped as by the stop button. Ctrl-C presses the stop button of every kernel (twice:
    stop at once, the last checkpoint kept) and starts nothing more; a third quits.
    """
    waiting = sorted((job for job in jobs if job.name not in records), key=order)
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
                    running[pool.submit(run_notebook, job.notebook, job.output, job.params, view.started(job),
                                        env=env)] = job
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
