"""A sweep's runs: each one notebook in a fresh kernel, described as plain data (:class:`RunSpec`) that an
executor ships to another process or machine: this one's process pool, Slurm or submitit's local
stand-in, or a Ray cluster. :mod:`tutorial_lib.commands.sweep` plans the runs and reads their rows."""
from __future__ import annotations

import concurrent.futures
import json
import math
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

from tutorial_lib import files, runtime
from tutorial_lib.commands.jobs import run_notebook


class SweepError(RuntimeError):
    """A sweep that cannot run here as asked (no Slurm, a refused job); the message says what to do."""


@dataclass
class RunSpec:
    """One run of a sweep, as plain data an executor can ship to another process or machine."""
    notebook: str
    output: str
    name: str
    params: dict
    combo: dict
    results: str
    runs_dir: str
    smoke: bool


def flatten(record: dict, prefix: str = "") -> dict:
    """Nested results as one CSV row: ``{"model": {"epochs_trained": 3}}`` -> ``{"model.epochs_trained": 3}``.
    Lists (per-epoch curves) stay in the JSON only."""
    row = {}
    for k, v in record.items():
        if isinstance(v, dict):
            row.update(flatten(v, f"{prefix}{k}."))
        elif not isinstance(v, (list, tuple)):
            row[f"{prefix}{k}"] = v
    return row


def execute(spec: RunSpec) -> dict:
    """Run one notebook of a sweep in a fresh kernel; the row for the CSV. Never raises on a failed run."""
    env = {files.RUNS_ENV: spec.runs_dir, runtime.HEADLESS_ENV: "1",
           runtime.SMOKE_ENV: "1" if spec.smoke else None}
    outcome = run_notebook(Path(spec.notebook), Path(spec.output), spec.params, env=env)
    row = {"run": spec.name, "status": "ok" if outcome.ok else "failed", "seconds": round(outcome.seconds, 1),
           **spec.combo}
    results = Path(spec.results)
    if outcome.ok and results.exists():
        row.update({k: v for k, v in flatten(json.loads(results.read_text())).items() if k not in row})
    elif outcome.ok:
        row["status"] = "no results"
    else:
        row["error"] = outcome.error
    return row


def _report(i: int, n: int, row: dict) -> None:
    print(f"[{i}/{n}] {row['run']}: {row['status']} ({row.get('seconds', 0):.0f} s)"
          + (f" — {row['error']}" if row.get("error") else ""), flush=True)


def _failed(spec: RunSpec, err: BaseException) -> dict:
    return {"run": spec.name, "status": "failed", "seconds": 0.0, **spec.combo,
            "error": f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"}


def run_local(specs: list[RunSpec], jobs: int = 1) -> list[dict]:
    """In this process one after another (``jobs=1``), or ``jobs`` kernels at once in a process pool."""
    rows: list[dict | None] = [None] * len(specs)
    if jobs == 1:
        for i, spec in enumerate(specs):
            rows[i] = execute(spec)
            _report(i + 1, len(specs), rows[i])
        return rows
    ctx = multiprocessing.get_context("spawn")       # a clean interpreter per worker, whatever this one holds
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {pool.submit(execute, spec): i for i, spec in enumerate(specs)}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            i = futures[future]
            try:
                rows[i] = future.result()
            except Exception as err:                 # a worker died (killed, out of memory)
                rows[i] = _failed(specs[i], err)
            _report(done, len(specs), rows[i])
    return rows


def run_submitit(specs: list[RunSpec], folder: Path, *, cluster: str | None = None, parallelism: int = 8,
                 timeout_min: int = 60, partition: str | None = None, gpus_per_run: float = 0,
                 cpus_per_run: int = 2) -> list[dict]:
    """One submitit array job: Slurm (``cluster=None`` auto-detects it) or ``cluster="local"``."""
    import submitit
    from submitit.core.utils import FailedSubmissionError
    from submitit.helpers import as_completed

    executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster)
    executor.update_parameters(timeout_min=timeout_min, gpus_per_node=int(math.ceil(gpus_per_run)),
                               cpus_per_task=cpus_per_run, slurm_array_parallelism=parallelism,
                               name="tutorial-sweep", **({"slurm_partition": partition} if partition else {}))
    try:
        jobs = executor.map_array(execute, specs)
    except FailedSubmissionError as err:
        raise SweepError(f"Slurm refused the sweep's array job ({' '.join(str(err).split())}): check --partition, "
                         f"--gpus-per-run and --time-min against the cluster's limits") from None
    print(f"submitted {len(jobs)} runs as {executor.cluster} job(s) {jobs[0].job_id.split('_')[0]}; logs in {folder}",
          flush=True)
    index = {id(job): i for i, job in enumerate(jobs)}
    rows: list[dict | None] = [None] * len(specs)
    for done, job in enumerate(as_completed(jobs, poll_frequency=1), 1):
        i = index[id(job)]
        try:
            rows[i] = job.result()
        except Exception as err:                     # the job itself failed: timeout, node failure, ...
            rows[i] = _failed(specs[i], err)
        _report(done, len(specs), rows[i])
    return rows


def run_ray(specs: list[RunSpec], *, address: str | None = None, gpus_per_run: float = 0,
            cpus_per_run: float = 1) -> list[dict]:
    """Each run as a Ray task asking for ``gpus_per_run`` of a GPU (0.25: four runs share one)."""
    import ray
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    gpus = ray.cluster_resources().get("GPU", 0)
    if gpus_per_run > gpus:
        raise ValueError(f"--gpus-per-run {gpus_per_run:g} but the Ray cluster has {gpus:g} GPU(s): "
                         f"the runs would wait forever. Use --gpus-per-run 0 on a CPU-only cluster.")
    task = ray.remote(num_gpus=gpus_per_run, num_cpus=cpus_per_run)(execute)
    refs = {task.remote(spec): i for i, spec in enumerate(specs)}
    rows: list[dict | None] = [None] * len(specs)
    pending, done = list(refs), 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        i = refs[ready[0]]
        try:
            rows[i] = ray.get(ready[0])
        except Exception as err:
            rows[i] = _failed(specs[i], err)
        done += 1
        _report(done, len(specs), rows[i])
    return rows
