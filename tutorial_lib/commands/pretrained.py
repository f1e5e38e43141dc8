"""Trained models that ship with the series, and the one command that makes them again.

    python -m tutorial_lib.commands.pretrained list
    python -m tutorial_lib.commands.pretrained sample gan --n 10000 --out x.pt [--seed 0] [--png grid.png]
    python -m tutorial_lib.commands.pretrained build [--only 04 05] [--runs FOLDER] [--device auto]

Each command ends in one line when it cannot do its job: ``error: <what is wrong and what to do>``
on stderr, exit status 2 (bad input, a damaged or missing file, no data, a folder it cannot write)
or 1 (``build`` ran, but a notebook failed: the line names it and its executed copy). ``--debug``
shows the full traceback instead.

A shipped model is a *finished training run at a notebook's default settings*: its weights (no
optimizer state, stored as float16 to keep the repository small), the run's history (losses,
per-epoch figures, sample grids) and a record of how it was made: config, data, epochs trained,
device, training seconds, and its Fréchet distance on the shipped evaluator (10,000 samples,
3 seeds), measured on the stored float16 weights.

It is filed under the key ``fit()`` already gives a run folder, ``<method>-<hash of everything
that decides the trajectory>`` (see :func:`tutorial_lib.training.checkpoints.run_key`). So
``training.fit(..., shipped=True)`` finds it for exactly the settings it was trained with and
the same number of epochs, loads it (checking its SHA-256 first) instead of training, and says so
in one line; any other setting finds nothing and trains as before.

``build`` executes the notebooks 04-07 and 11 with papermill at their defaults (``lecture=True`` so that
only what the lesson needs is trained; nothing shipped is visible to them, so they train), then
files every run they asked ``fit(..., shipped=True)`` for. A changed recipe is one command away
from fresh weights.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import torch

from tutorial_lib import checks, cli, data, evaluator, files, methods, runtime
from tutorial_lib.commands import jobs
from tutorial_lib.training import checkpoints, shipped
from tutorial_lib.training.runs import ASKED_SHIPPED

MAX_BYTES = 48_000_000                 # the whole folder, weights and records (a clone stays small); 40 MB until
                                       # the DCGAN shipped its moving average of G beside G (2.7 MB more), 45 MB
                                       # until the WGAN-GP did too (and 30 epochs of sample grids: 3.2 MB more;
                                       # shipped files now keep only the 12 grids sample_strip shows)
ALSO_SHIPPED = ("11_semi_supervised_gan",)
"""Notebooks whose models ship though no later notebook loads them: so that the lecture preset can show
their results on a CPU (11: 100 labels, draw 0, the semi-supervised GAN and its labels-only baseline)."""
BUILD_NOTEBOOKS = tuple(notebook for _, notebook, _ in methods.SERIES.values()) + ALSO_SHIPPED
FD_SEEDS = (0, 1, 2)
FD_N = 10_000


def write_samples(name: str, n: int, path: Path, seed: int = 0, device: torch.device | str = "cpu",
                  progress: bool = False) -> torch.Tensor:
    """Write ``sample(name, n, seed)`` to ``path`` with ``torch.save``; returns the samples.

    The same numbers as :func:`sample` (one seed, then batch after batch as :func:`metrics.draw`
    draws them), filled batch by batch into one tensor allocated at its final size: memory holds
    that tensor and one batch. A tensor larger than half the memory this machine has available is
    refused up front, with the size it would need.
    """
    from tutorial_lib import metrics
    checks.check_positive_int("n", n)
    model = shipped.load(name, device)
    step = metrics.BATCH
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())), torch.no_grad():
        runtime.seed_everything(seed)
        first = model.sample(min(step, n)).float().cpu()                   # (B, 1, 28, 28)
        check_fits_in_memory(n, first[0].numel() * 4)
        x = torch.empty((n, *first.shape[1:]), dtype=torch.float32)
        x[:len(first)] = first
        starts = range(len(first), n, step)
        if progress:
            from tqdm.auto import tqdm
            starts = tqdm(starts, unit="batch", file=sys.stdout, mininterval=5)
        for i in starts:
            x[i:i + step] = model.sample(min(step, n - i)).float().cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    torch.save(x, partial)                              # a failure (a full disk) leaves no half-written file
    os.replace(partial, path)
    return x


def available_memory() -> int | None:
    """Bytes of memory this machine can still hand out (Linux's MemAvailable), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_fits_in_memory(n: int, bytes_each: int) -> None:
    """ValueError with the size it would need when ``n`` samples exceed half the available memory."""
    need, available = n * bytes_each, available_memory()
    if available is not None and need > available // 2:
        most = available // 2 // bytes_each
        raise ValueError(f"{n:,} samples take {_size(need)} ({n:,} × {bytes_each // 4} × 4 bytes) but this machine "
                         f"has {_size(available)} of memory available: ask for at most {most:,} per file "
                         f"(another --seed draws further, independent samples)")


def _size(nbytes: int) -> str:
    return f"{nbytes / 1e9:,.1f} GB" if nbytes >= 1e9 else f"{nbytes / 1e6:,.1f} MB"


def _fd(model, device) -> dict:
    from tutorial_lib import data, evaluator, metrics
    judge = evaluator.load_evaluator("mnist", device)
    test = data.load("mnist-sample" if runtime.smoke_mode() else "mnist", "test")
    n = min(FD_N, len(test))
    report = metrics.evaluate(model, test.x[:n].to(device), judge, n=n, seeds=FD_SEEDS)
    return {"mean": report.mean("FD"), "std": report.std("FD"), "n": n, "seeds": list(FD_SEEDS),
            "evaluator": "mnist", **{k: report.mean(k) for k in ("precision", "recall", "KID")}}


def stored_weights(state: dict) -> dict:
    """A model's state dict as a shipped file stores it: floating-point tensors in float16, the rest as they are."""
    return {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}


def strip_samples(samples: dict) -> dict:
    """The per-epoch sample grids a shipped file keeps: image grids only at the epochs that
    ``plots.sample_strip`` shows (the notebooks' one use of them), 2-D points at every epoch (05's toy
    cells follow mode coverage over all of them)."""
    from tutorial_lib.plots import strip_epochs
    shown = set(strip_epochs(samples))
    return {e: x for e, x in samples.items() if x.dim() != 4 or e in shown}


def ship_run(run_dir: Path, notebook: str, name: str | None, out: Path, device, measure: bool = True) -> dict:
    """File one finished run folder as a shipped model in ``out``; return its record (with its
    Fréchet distance, measured on the stored weights, when it makes images and ``measure``)."""
    from tutorial_lib import methods
    ckpt = checkpoints.read_training(run_dir, torch.device("cpu"))
    history, run = ckpt["history"], ckpt["history"]["run"]
    if ckpt["epoch"] != run.get("epochs_asked") or ckpt["iteration"]:
        raise ValueError(f"{run_dir} is not a finished run ({ckpt['epoch']} of {run.get('epochs_asked')} epochs)")
    key = run_dir.name
    state = stored_weights(ckpt["method"])
    model = methods.build(run["method"], **run["config"]).to(device)
    model.load_state_dict(state)
    model.eval()
    try:
        images = model.sample(2).dim() == 4            # digits, not the toys' 2-D points
    except ValueError:                                 # a model with nothing to sample (11's labels-only baseline)
        images = False
    last = history["epochs"][-1] if history["epochs"] else {}
    history["samples"] = strip_samples(history["samples"])
    file = f"{key}.pt"
    history["run"] = {k: v for k, v in run.items() if k != "run_dir"}
    checkpoints.save(out / file, {"method": run["method"], "config": run["config"], "state_dict": state,
                                  "history": history})
    record = {"key": key, "name": name, "notebook": notebook, "method": run["method"], "config": run["config"],
              "run_config": checkpoints.read_config(run_dir),
              "file": file, "sha256": shipped.sha256(out / file), "bytes": (out / file).stat().st_size,
              "stored_as": "float16", "run": history["run"],
              "fd": _fd(model, device) if images and measure else None,
              "final_epoch": {k: v for k, v in last.items() if k.startswith("test_accuracy")},
              "built_at": datetime.now().isoformat(timespec="seconds"), "host": platform.node(),
              "torch": str(torch.__version__), "smoke": runtime.smoke_mode()}
    return record


class BuildFailed(RuntimeError):
    """``build`` ran, but a notebook failed or the models outgrew :data:`MAX_BYTES`; the message says
    which, and where to read why."""


def build(notebooks=BUILD_NOTEBOOKS, runs: Path | None = None, out: Path | None = None, device: str = "auto",
          progress: bool = True) -> dict:
    """Execute ``notebooks`` at their defaults (lecture preset, trained here) and ship what they trained.

    Each notebook's kernel is given the runs folder and an empty folder of shipped models (so it trains,
    or resumes), in its environment. A run is shipped for the notebook during whose execution a
    ``fit(..., shipped=True)`` call used it (the run folder's :data:`ASKED_SHIPPED` says when).
    What it needs is checked first (see :func:`check_build`); a notebook that fails is reported and
    the others go on; at the end :class:`BuildFailed` names every failure.
    """
    out = Path(out or shipped.shipped_dir()).resolve()
    runs = Path(runs or runtime.REPO_ROOT / "runs" / f"pretrained-build-{datetime.now():%Y%m%d-%H%M%S}").resolve()
    # resolved: the kernels run in notebooks/, where a relative --runs would name another folder
    check_build(out, runs, device)
    dev = runtime.get_device(device)
    index = shipped.read_index(out)
    staging = runs / "build" / "nothing-shipped"
    staging.mkdir(parents=True, exist_ok=True)
    env = {files.RUNS_ENV: str(runs), runtime.HEADLESS_ENV: "1", shipped.SHIPPED_ENV: str(staging)}
    built, failed = {}, {}                             # failed: notebook -> what went wrong
    for nb in notebooks:
        t0, started = time.perf_counter(), time.time()
        print(f"{nb}: executing at its defaults (lecture preset, trained here) ...", flush=True)
        outcome = jobs.run_notebook(runtime.NOTEBOOKS_DIR / f"{nb}.ipynb", runs / "build" / f"{nb}.ipynb",
                                    {"lecture": True, "device": device}, progress=progress, env=env)
        if not outcome.ok:
            failed[nb] = (f"{nb} failed ({outcome.error}), see {outcome.output}; nothing was shipped for it "
                          f"and its earlier models are kept")
            print(failed[nb], flush=True)
            continue
        names = _exported_names(runs)
        for run_dir in _asked_shipped(runs, started, time.time()):
            key = run_dir.name
            earlier = index["models"].get(key, {}).get("notebook")
            if key in built or (earlier is not None and earlier not in notebooks):
                continue                               # another notebook trained it (07 reuses 04's VAE)
            record = ship_run(run_dir, nb, names.get(str(run_dir)), out, dev)
            built[record["key"]] = record
            print(f"  shipped {shipped.summary(record)}", flush=True)
        print(f"{nb}: done in {time.perf_counter() - t0:.0f} s", flush=True)
    # the rebuilt notebooks' old models go (unless the notebook failed); the others' stay, as the index is
    # now (read again: another build may have shipped other notebooks' models meanwhile)
    index = shipped.read_index(out)
    rebuilt = set(notebooks) - set(failed)
    kept = {k: r for k, r in index["models"].items() if r.get("notebook") not in rebuilt}
    models = {**kept, **built}
    for stale in set(index["models"]) - set(models):
        (out / index["models"][stale]["file"]).unlink(missing_ok=True)
    new_index = {"models": models, "names": {r["name"]: k for k, r in models.items() if r.get("name")}}
    files.atomic_write_bytes(out / shipped.INDEX, (json.dumps(new_index, indent=1, sort_keys=True) + "\n").encode())
    total = sum((out / r["file"]).stat().st_size for r in models.values()) + (out / shipped.INDEX).stat().st_size
    print(f"{len(models)} shipped models in {out}: {total / 1e6:.1f} MB in all (limit {MAX_BYTES / 1e6:.0f} MB)")
    problems = list(failed.values())
    if total > MAX_BYTES:
        problems.append(f"the shipped models take {total / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB limit: "
                        f"make a model smaller before committing {out}")
    if problems:
        raise BuildFailed("; ".join(problems))
    return new_index


def _asked_shipped(runs: Path, start: float, end: float) -> list[Path]:
    """The run folders under ``runs`` that a ``fit(..., shipped=True)`` call used between ``start`` and ``end``."""
    used = []
    for note in sorted(runs.glob(f"**/checkpoints/*/{ASKED_SHIPPED}")):
        times = [json.loads(line)["at"] for line in note.read_text().splitlines() if line.strip()]
        if any(start <= t <= end for t in times):
            used.append(note.parent)
    return used


def check_build(out: Path, runs: Path, device: str = "auto") -> None:
    """What ``build`` needs, checked in seconds rather than found missing after hours of training:
    papermill, the device, two folders it can write, the data and the evaluator (its SHA-256)."""
    try:
        import papermill  # noqa: F401
    except ImportError:
        raise ModuleNotFoundError("build executes the notebooks with papermill, which is not installed here: "
                                  "pip install -e '.[lab]' (or pip install papermill)") from None
    runtime.get_device(device, quiet=True)
    _writable(out, f"build into a copy of the repository you can write to, or point {shipped.SHIPPED_ENV} at such a folder")
    _writable(runs, "give --runs a folder you can write to")
    for split in ("train", "test"):                    # downloads MNIST once when online, as the notebooks would
        data.load(runtime.pick("mnist", "mnist-sample"), split)
    evaluator.load_evaluator("mnist")


def _writable(folder: Path, fix: str) -> Path:
    """Make ``folder`` (and its parents) and check that a file can be written in it; else one OSError with ``fix``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        why = ("a file is in the way" if isinstance(err, (FileExistsError, NotADirectoryError))
               else err.strerror or str(err))
        raise OSError(f"cannot write in {folder} ({why}): {fix}") from None
    return folder


def _exported_names(runs: Path) -> dict[str, str]:
    """run folder -> series name, from the models the notebooks exported (``<runs>/models/<name>.pt``)."""
    names = {}
    for path in sorted((runs / "models").glob("*.pt")):
        record = checkpoints.load(path).get("record") or {}
        if record.get("run_dir"):
            names[record["run_dir"]] = path.stem
    return names


# ----------------------------------------------------------------------------- command line

CLI_ERRORS = (ValueError, OSError, ImportError, checkpoints.CorruptCheckpoint, data.DatasetUnavailable,
              evaluator.EvaluatorHashError)
"""Failures with a cause outside the code (input, files, data, packages): one line each. Others are bugs, and raise."""


def _parser() -> argparse.ArgumentParser:
    parser = cli.OneLineParser(prog="python -m tutorial_lib.commands.pretrained", description=__doc__.split("\n\n")[0])
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="on an error, show the full traceback instead of one line")
    parser.add_argument("--debug", action="store_true", help="on an error, show the full traceback instead of one line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", parents=[debug], help="the shipped models and how each was made")
    s = sub.add_parser("sample", parents=[debug],
                       help="write N samples of a shipped model as a tensor file (and a PNG grid)")
    s.add_argument("model", help="vae, gan (the DCGAN), wgan (the WGAN-GP) or aegan")
    s.add_argument("--n", type=int, required=True,
                   help="number of samples (N × 3,136 bytes: refused beyond half the memory available)")
    s.add_argument("--out", type=Path, required=True,
                   help="file for the (N, 1, 28, 28) float32 tensor in [-1, 1]: x = torch.load(OUT)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--png", type=Path, help="also save a grid of the first 64 samples here")
    s.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    b = sub.add_parser("build", parents=[debug], help="train the notebooks' models at their defaults and ship them")
    b.add_argument("--only", nargs="*", help="notebook number prefixes, e.g. 04 05 (default: 04-07 and 11)")
    b.add_argument("--runs", type=Path, help="runs folder to train in (finished runs there are reused)")
    b.add_argument("--device", default="auto")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return {"list": _list, "sample": _sample, "build": _build}[args.command](args)
    except (BuildFailed, *CLI_ERRORS) as err:
        if args.debug:
            raise
        parser.exit(1 if isinstance(err, BuildFailed) else 2, f"error: {' '.join(str(err).split())}\n")


def _list(args) -> int:
    index = shipped.read_index()
    if not index["models"]:
        print(f"no shipped models in {shipped.shipped_dir()}")
    for record in index["models"].values():
        print(shipped.summary(record))
    return 0


def _sample(args) -> int:
    checks.check_positive_int("--n", args.n)
    checks.check_non_negative_int("--seed", args.seed)
    checks.check_choice("--device", args.device, runtime.DEVICES)
    device = runtime.get_device(args.device, quiet=True)
    shipped.resolve(args.model)                                                # an unknown name: refused now
    for flag, path in (("--out", args.out), ("--png", args.png)):     # so is a file it cannot write
        if path is None:
            continue
        if path.is_dir():
            raise IsADirectoryError(f"{flag} {path} is a folder: name a file in it, e.g. {path / 'samples.pt'}")
        _writable(path.parent, f"give {flag} a file in a folder you can write to")
    x = write_samples(args.model, args.n, args.out, seed=args.seed, device=device, progress=args.n >= 100_000)
    print(f"wrote {tuple(x.shape)} samples of {args.model} (seed {args.seed}) to {args.out}")
    if args.png:
        from tutorial_lib import plots
        plots.save_images(x[:64], args.png)
        print(f"grid of the first {min(64, args.n)} in {args.png}")
    return 0


def _build(args) -> int:
    chosen = BUILD_NOTEBOOKS if not args.only else [nb for nb in BUILD_NOTEBOOKS if nb[:2] in args.only]
    if not chosen:
        raise ValueError(f"--only {' '.join(args.only)} selects none of {', '.join(BUILD_NOTEBOOKS)}: "
                         f"give notebook numbers, e.g. --only 04 05")
    checks.check_choice("--device", args.device, runtime.DEVICES)
    build(chosen, runs=args.runs, device=args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
