"""Execute the whole notebook series with papermill into a run folder of executed copies.

    python -m tutorial_lib.series                 # auto: full where a GPU and MNIST are at hand, else smoke
    python -m tutorial_lib.series --smoke         # the embedded sample, tiny settings (seconds per notebook)
    python -m tutorial_lib.series --full --only 04 05 --out runs/my-run
    python -m tutorial_lib.series --full --lecture  # the defaults, shipped models, shorter extra runs

Each notebook runs in a fresh kernel, in order (later notebooks load the models earlier ones
export). Executed copies appear in the run folder only when complete (written to a temporary
name, then renamed); a failed notebook is kept as ``NAME.failed.ipynb`` and the series goes on.
Figures the notebooks save go to ``<run>/figures``, their headline numbers to ``<run>/results``.
``<run>/summary.json`` records the mode and why, the device, date, Python and torch versions, the
arguments, and per notebook its seconds, status and the parameters passed to it
(``python -m tutorial_lib.site --run <run>`` builds the course website from it).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tutorial_lib import runtime

NOTEBOOKS = runtime.REPO_ROOT / "notebooks"


@dataclass
class Outcome:
    notebook: str
    ok: bool
    seconds: float
    output: Path
    error: str = ""


declared_parameters = runtime.declared_parameters

# ipykernel 7 logs a warning on every start that its local TCP connection is unencrypted: once per notebook
# in the middle of the series' progress lines. Only the kernel's own log is quietened; cell output and
# errors are untouched.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


def run_notebook(source: Path, output: Path, parameters: dict | None = None,
                 progress: bool = False) -> Outcome:
    """Execute ``source`` with papermill into ``output`` (atomically); never raises on a cell error.

    Only parameters the notebook declares in its ``parameters`` cell are passed.
    """
    import papermill

    declared = declared_parameters(source)
    params = {k: v for k, v in (parameters or {}).items() if k in declared}
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.stem}.partial.ipynb")
    t0 = time.perf_counter()
    error = ""
    try:
        papermill.execute_notebook(str(source), str(partial), parameters=params, kernel_name="python3",
                                   cwd=str(source.parent), progress_bar=progress,
                                   extra_arguments=KERNEL_ARGUMENTS)
    except Exception as err:  # papermill raises PapermillExecutionError for a failing cell
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
    seconds = time.perf_counter() - t0
    final = output if not error else output.with_name(f"{output.stem}.failed.ipynb")
    if partial.exists():
        os.replace(partial, final)
    return Outcome(source.stem, not error, seconds, final, error)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_const", const="smoke", dest="mode")
    mode.add_argument("--full", action="store_const", const="full", dest="mode")
    parser.add_argument("--out", type=Path, help="run folder (default runs/series-<time>)")
    parser.add_argument("--only", nargs="*", default=None, help="notebook number prefixes, e.g. 04 05")
    parser.add_argument("--lecture", action="store_true",
                        help="the lecture preset in the notebooks that have one (shorter extra runs; shipped models)")
    args = parser.parse_args(argv)

    smoke, reason = choose_mode(args.mode or "auto")
    if smoke:
        os.environ[runtime.SMOKE_ENV] = "1"
        print(f"Running the series in SMOKE mode ({reason}): the shipped MNIST sample, tiny settings. "
              f"Results are not meaningful; use a GPU for the real run.")
    else:
        os.environ.pop(runtime.SMOKE_ENV, None)
        print(f"Running the series at the notebooks' default parameters ({reason}).")
    os.environ[runtime.HEADLESS_ENV] = "1"

    out = (args.out or runtime.REPO_ROOT / "runs" / f"series-{datetime.now():%Y%m%d-%H%M%S}").resolve()   # the kernels run in notebooks/
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        notebooks = [nb for nb in notebooks if nb.name[:2] in args.only]
    if not notebooks:
        print("no notebooks selected", file=sys.stderr)
        return 2
    print(f"{len(notebooks)} notebooks -> {out}")

    outcomes, passed = [], []
    started = datetime.now().astimezone()
    t0 = time.perf_counter()
    for nb in notebooks:
        params = {"figures_dir": str(out / "figures"), "results_json": str(out / "results" / f"{nb.stem}.json"),
                  **({"lecture": True} if args.lecture else {})}
        outcome = run_notebook(nb, out / nb.name, params)
        outcomes.append(outcome)
        passed.append({k: v for k, v in params.items() if k in declared_parameters(nb)})
        status = "ok" if outcome.ok else f"FAILED ({outcome.error})"
        print(f"  {nb.stem:<28} {outcome.seconds:7.1f} s  {status}", flush=True)
    total = time.perf_counter() - t0

    summary = {"mode": "smoke" if smoke else "full", "reason": reason, "seconds": total,
               "date": started.isoformat(timespec="seconds"), **describe_machine(),
               "arguments": {"mode": args.mode or "auto", "only": args.only, "out": str(out),
                             "lecture": args.lecture},
               "notebooks": [{"name": o.notebook, "ok": o.ok, "seconds": o.seconds, "error": o.error,
                              "parameters": p} for o, p in zip(outcomes, passed)]}
    runtime.atomic_write_bytes(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    failed = [o for o in outcomes if not o.ok]
    print(f"{len(outcomes) - len(failed)}/{len(outcomes)} notebooks executed in {total:.0f} s; "
          f"executed copies in {out}")
    for o in failed:
        print(f"  see {o.output} for the error in {o.notebook}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
