"""python -m tutorial_lib.commands.series as one command: notebooks side by side in dependency order, a deadline
that interrupts training with checkpoints, a second call that resumes, and one line per expected failure.

Most tests replace ``series.run_notebook`` (the only papermill caller) by a stand-in that sleeps, so
they check the schedule in a second; the first test executes real notebooks in smoke mode.
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from tutorial_lib import data, methods, parameters, runtime, training
from tutorial_lib.training import checkpoints
from tutorial_lib.commands import jobs, series


def code_of(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def summary_of(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    return {r["name"]: r for r in summary["notebooks"] + summary["parts"]}


def test_a_deadline_interrupts_training_and_the_same_command_resumes(tmp_path, runs_dir, monkeypatch, capsys):
    """The smoke version of the one command, twice: 04's kernel starts before the deadline and its first fit
    after it, so the fit stops with a checkpoint; the same command then keeps 00 and resumes 04's fit."""
    out = tmp_path / "run"
    command = ["--smoke", "--only", "00", "04", "--jobs", "2", "--out", str(out)]
    real = jobs.run_notebook

    def late(source, output, parameters=None, progress=False, env=None):
        if source.stem == "04_vae":                              # the kernel starts just after the deadline
            time.sleep(max(0.0, float(env[training.DEADLINE_ENV]) + 0.5 - time.time()))
        return real(source, output, parameters, progress, env=env)

    monkeypatch.setattr(jobs, "run_notebook", late)
    assert series.main([*command, "--deadline-min", "0.1"]) == 3
    first = capsys.readouterr()
    records = summary_of(out)
    assert records["00_setup_and_data"]["status"] == "ok"
    assert records["04_vae"]["status"] == "interrupted" and records["04_vae"]["interrupted"]
    assert "interrupted (resume by running the same command again)" in first.out
    assert "run the same command again to resume" in first.err and "Traceback" not in first.err
    stopped = (out / "04_vae.interrupted.ipynb").read_text()
    assert "DeadlineReached" in stopped and "checkpoint saved" in stopped
    assert not (out / "04_vae.ipynb").exists()
    assert list((runs_dir / "smoke" / "checkpoints").glob(f"vae-*/{checkpoints.LAST}"))
    assert training.DEADLINE_ENV not in os.environ                 # set for the kernels only

    monkeypatch.setattr(jobs, "run_notebook", real)
    assert series.main(command) == 0
    second = capsys.readouterr().out
    assert re.search(r"complete +00_setup_and_data", second) and not re.search(r"start +00_setup_and_data", second)
    resumed = (out / "04_vae.ipynb").read_text()
    assert "Resuming vae from" in resumed
    assert not (out / "04_vae.interrupted.ipynb").exists()
    again = summary_of(out)
    assert all(r["status"] == "ok" for r in again.values())
    assert again["04_vae"]["seconds"] > records["04_vae"]["seconds"]     # both calls' time on it
    assert again["00_setup_and_data"] == records["00_setup_and_data"]
    assert json.loads((out / "summary.json").read_text())["calls"] == 2


def test_fit_stops_at_the_deadline_with_a_checkpoint_and_the_same_call_resumes(tmp_path, monkeypatch, capsys):
    tiny = data.load("mnist-sample", limit=256)
    kwargs = dict(epochs=1, batch_size=32, seed=0, progress=False, checkpoint_dir=tmp_path / "vae")   # 8 steps
    torch.manual_seed(0)
    whole = methods.build("vae", latent_dim=4, width=8)
    training.fit(whole, tiny, **{**kwargs, "checkpoint_dir": None})
    monkeypatch.setenv(training.DEADLINE_ENV, repr(time.time() - 1))          # already past: one iteration, then stop
    torch.manual_seed(0)
    with pytest.raises(training.DeadlineReached, match=training.DEADLINE_ENV):
        try:
            training.fit(methods.build("vae", latent_dim=4, width=8), tiny, **kwargs)
        except Exception:                                                    # a notebook's try/except lets it through
            pytest.fail("DeadlineReached was caught as an Exception")
    saved = checkpoints.load(tmp_path / "vae" / checkpoints.LAST)
    assert (saved["epoch"], saved["iteration"], saved["step"]) == (0, 1, 1)
    assert "checkpoint saved" in capsys.readouterr().out
    monkeypatch.delenv(training.DEADLINE_ENV)
    resumed = methods.build("vae", latent_dim=4, width=8)
    training.fit(resumed, tiny, **kwargs)
    assert "Resuming vae" in capsys.readouterr().out
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()))


def test_the_sessions_smoke_run_is_the_one_command_side_by_side(smoke_series):
    """conftest's smoke run of the whole series (which the site and output tests read) is the one command,
    python -m tutorial_lib.commands.series --smoke, at its default --jobs auto."""
    run, code = smoke_series
    summary = json.loads((run / "summary.json").read_text())
    assert code == 0 and summary["mode"] == "smoke" and summary["calls"] == 1
    notebooks = sorted(nb.stem for nb in runtime.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert [r["name"] for r in summary["notebooks"]] == notebooks and summary["parts"] == []
    assert all(r["status"] == "ok" and r["seconds"] > 0 for r in summary["notebooks"])
    if not os.environ.get("TUTORIAL_SMOKE_RUN"):
        assert summary["arguments"]["jobs"] == "auto"
        assert summary["jobs_at_once"] == series.jobs_at_once("auto")
    if summary["jobs_at_once"] > 1:
        assert summary["wall_seconds"] < summary["seconds"]                  # they did run side by side


class StandIn:
    """Plays ``series.run_notebook``: sleeps, writes the executed copy (or a failed one), remembers when."""

    def __init__(self, seconds=0.3, failing=(), interrupted=()):
        self.seconds, self.failing, self.interrupted = seconds, failing, interrupted
        self.calls, self.lock = {}, threading.Lock()

    def __call__(self, source, output, parameters=None, progress=False, env=None):
        start = time.monotonic()
        deadline = (env or {}).get(training.DEADLINE_ENV)
        time.sleep(self.seconds)
        with self.lock:
            self.calls[output.stem] = (start, time.monotonic(), deadline, parameters)
        ok = source.stem not in self.failing and source.stem not in self.interrupted
        kind = "" if ok else ".interrupted" if source.stem in self.interrupted else ".failed"
        final = output.with_name(f"{output.stem}{kind}.ipynb")
        final.parent.mkdir(parents=True, exist_ok=True)
        final.write_text("{}")
        return jobs.Outcome(source.stem, ok, time.monotonic() - start, final,
                              "" if ok else "PapermillExecutionError: boom", source.stem in self.interrupted)


def test_notebooks_run_side_by_side_and_wait_for_the_models_they_load(tmp_path, monkeypatch, capsys):
    stand_in = StandIn()
    monkeypatch.setattr(jobs, "run_notebook", stand_in)
    out = tmp_path / "run"
    assert series.main(["--smoke", "--only", "03", "04", "05", "06", "07", "08", "09", "--jobs", "3",
                        "--out", str(out)]) == 0
    calls = stand_in.calls
    for notebook, needed in [("07_aegan", ["04_vae"]), ("09_latent_exploration", ["05_gan"]),
                             ("08_compare", ["04_vae", "05_gan", "06_wgan_gp", "07_aegan"])]:
        assert all(calls[notebook][0] >= calls[n][1] for n in needed), notebook
    assert calls["04_vae"][0] < calls["05_gan"][1] and calls["05_gan"][0] < calls["04_vae"][1]     # side by side
    text = capsys.readouterr().out
    assert re.search(r"start +04_vae", text) and re.search(r"ok +08_compare +[\d.]+ s", text)
    assert re.search(r"08_compare +[\d.]+ +ok", text)                      # the summary table with each one's time
    summary = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in summary["notebooks"]][:2] == ["03_gan_divergences", "04_vae"]   # in the series' order
    assert summary["wall_seconds"] < summary["seconds"] and summary["jobs_at_once"] == 3
    assert calls["04_vae"][3]["results_json"] == str(out.resolve() / "results" / "04_vae.json")


def test_a_failed_notebook_stops_what_needs_it_with_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(jobs, "run_notebook", StandIn(seconds=0.05, failing=("05_gan",)))
    out = tmp_path / "run"
    assert series.main(["--smoke", "--only", "04", "05", "09", "--jobs", "2", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert "05_gan.failed.ipynb" in err and "run the same command again" in err
    records = summary_of(out)
    assert records["04_vae"]["status"] == "ok" and records["05_gan"]["status"] == "failed"
    assert records["09_latent_exploration"]["status"] == "not run" and "05_gan" in records["09_latent_exploration"]["error"]


def test_nothing_starts_after_the_deadline_and_the_same_command_finishes_the_rest(tmp_path, monkeypatch, capsys):
    stand_in = StandIn(seconds=1.0)
    monkeypatch.setattr(jobs, "run_notebook", stand_in)
    out = tmp_path / "run"
    command = ["--smoke", "--only", "01", "02", "03", "--jobs", "1", "--out", str(out)]
    before = time.time()
    assert series.main([*command, "--deadline-min", "0.01"]) == 3          # 0.6 s: one notebook starts
    assert list(stand_in.calls) == ["01_maximum_likelihood"]
    assert before + 0.5 < float(stand_in.calls["01_maximum_likelihood"][2]) < time.time()   # the kernels' deadline
    records = summary_of(out)
    assert [r["status"] for r in records.values()] == ["ok", "not started", "not started"]
    assert "the deadline had passed" in records["02_elbo"]["error"] and records["02_elbo"]["interrupted"]
    assert "run the same command again to resume" in capsys.readouterr().err

    stand_in.calls.clear()
    stand_in.seconds = 0.05
    assert series.main(command) == 0
    assert sorted(stand_in.calls) == ["02_elbo", "03_gan_divergences"]       # 01 is kept
    assert all(call[2] is None for call in stand_in.calls.values())          # no deadline this time
    stand_in.calls.clear()
    assert series.main([*command, "--force"]) == 0
    assert len(stand_in.calls) == 3


def test_an_interrupted_notebook_holds_back_what_needs_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(jobs, "run_notebook", StandIn(seconds=0.05, interrupted=("05_gan",)))
    out = tmp_path / "run"
    assert series.main(["--smoke", "--only", "05", "09", "--out", str(out)]) == 3
    records = summary_of(out)
    assert records["05_gan"]["status"] == "interrupted"
    assert records["09_latent_exploration"]["status"] == "not started" and "05_gan" in records["09_latent_exploration"]["error"]
    assert "run the same command again to resume" in capsys.readouterr().err
    monkeypatch.setattr(runtime, "REPO_ROOT", tmp_path)                      # no --out: a new folder under runs/
    assert series.main(["--smoke", "--only", "05"]) == 3
    made = next((tmp_path / "runs").glob("series-*"))
    assert f"run the same command with --out {made} again to resume" in capsys.readouterr().err


def test_11s_runs_are_jobs_of_their_own_before_11_itself(tmp_path, monkeypatch):
    defaults = parameters.notebook_defaults
    monkeypatch.setattr(parameters, "notebook_defaults", lambda name, smoke=None: {**defaults(name, smoke), "label_counts": [20, 50],
                                                                    "label_seeds": [0, 1]}
                        if name.startswith("11") else defaults(name))
    stand_in = StandIn(seconds=0.05)
    monkeypatch.setattr(jobs, "run_notebook", stand_in)
    out = tmp_path / "run"
    assert series.main(["--smoke", "--only", "11", "--jobs", "2", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    parts = [r["name"] for r in summary["parts"]]
    assert parts == [f"11_semi_supervised_gan[label_counts={n}, label_seeds={s}]" for n in (20, 50) for s in (0, 1)]
    assert [r["name"] for r in summary["notebooks"]] == ["11_semi_supervised_gan"]
    merge = stand_in.calls["11_semi_supervised_gan"]
    part = stand_in.calls["11_semi_supervised_gan-label_counts50-label_seeds1"]
    assert merge[0] >= max(call[1] for name, call in stand_in.calls.items() if "-label_counts" in name)
    assert part[3]["label_counts"] == [50] and part[3]["label_seeds"] == [1]
    assert "label_counts" not in merge[3] and Path(part[3]["results_json"]).parent == out.resolve() / "parts" / "results"
    assert not list(out.glob("11_*-label_counts*"))                          # the site sees only 11 itself
    lecture = series.plan([runtime.NOTEBOOKS_DIR / "11_semi_supervised_gan.ipynb"], out, lecture=True)
    assert [j.name for j in lecture] == ["11_semi_supervised_gan"]           # the preset picks its own one run


def test_the_dependency_graph_is_what_the_notebooks_load_and_train():
    sources = {nb.stem: code_of(nb) for nb in sorted(runtime.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))}
    assert {stem for stem, code in sources.items() if "load_series_model(" in code} == set(series.LOADS)
    exports = {name: stem for stem, code in sources.items() for name in re.findall(r'export_model\(\w+, "(\w+)"', code)}
    assert exports == {name: nb for name, (_, nb, _) in methods.SERIES.items()}
    assert all(f'"{name}"' in sources["08_compare"] for name in series.LOADS["08_compare"])
    assert set(series.LOADS["08_compare"]) == set(methods.SERIES)
    assert series.LOADS["09_latent_exploration"] == (parameters.notebook_defaults("09_latent_exploration")["model_name"],)
    # 07 trains a VAE at λ = 1 with 04's settings: the same run folder as 04's VAE
    assert "methods.VAE(" in sources["07_aegan"] and 1.0 in parameters.notebook_defaults("07_aegan")["vae_kl_weights"]
    assert series.needs("08_compare") == ("04_vae", "05_gan", "06_wgan_gp", "07_aegan")
    assert series.needs("09_latent_exploration") == ("05_gan",) and series.needs("07_aegan") == ("04_vae",)
    assert not any(series.needs(nb) for nb in sources if nb[:2] in ("00", "01", "02", "03", "04", "05", "06", "10", "11"))
    for notebook, names in series.SPLITS.items():                          # split over list parameters it declares
        assert all(isinstance(parameters.notebook_defaults(notebook)[n], list) for n in names)


def test_stopping_kernels_presses_the_stop_button_of_this_process_kernels_only(tmp_path):
    """What the deadline's grace period and Ctrl-C do: SIGINT to the kernels this process started."""
    # A kernel installs its own SIGINT handler (a process started in the background inherits SIGINT ignored,
    # and Python then installs none), and says when it is ready: no race with a slow start on a busy machine.
    # 'ready' is printed inside the try, so a SIGINT sent the moment it is read still lands there.
    script = ("import signal, sys, time\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
              "try:\n    print('ready', flush=True)\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    sys.exit(7)\n")
    kernel = subprocess.Popen([sys.executable, "-c", script, "ipykernel_launcher"], stdout=subprocess.PIPE, text=True)
    other = subprocess.Popen([sys.executable, "-c", script, "not-a-kernel"], stdout=subprocess.PIPE, text=True)
    try:
        assert kernel.stdout.readline().strip() == "ready" and other.stdout.readline().strip() == "ready"
        assert jobs.stop_kernels() == 1
        assert kernel.wait(timeout=20) == 7 and other.poll() is None
    finally:
        for process in (kernel, other):
            process.kill()
            process.wait()


@pytest.mark.parametrize("argv, says", [
    (["--jobs", "0"], "0 is not a number of notebooks at once"),
    (["--deadline-min", "soon"], "soon is not a number of minutes"),
    (["--only", "13"], "--only 13 names no notebook 13"),
    (["--only"], "--only selects no notebook"),
    (["--colour"], "unrecognized arguments: --colour"),
])
def test_a_bad_argument_is_one_error_line(argv, says, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(jobs, "run_notebook", StandIn())
    assert series.main(["--smoke", "--out", str(tmp_path / "run"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and len(err.strip().splitlines()) == 1
    with pytest.raises(series.SeriesError):
        series.main(["--smoke", "--out", str(tmp_path / "run"), *argv, "--debug"])


def test_missing_data_and_another_runs_folder_are_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(jobs, "run_notebook", StandIn(seconds=0.01))
    monkeypatch.setenv(runtime.SMOKE_ENV, "1")

    def no_mnist(name, split="train", **_):
        raise data.DatasetUnavailable(f"Dataset '{name}' is not under data/MNIST/raw and could not be downloaded.")

    monkeypatch.setattr(data, "load", no_mnist)
    assert series.main(["--full", "--only", "04", "--out", str(tmp_path / "full")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Dataset 'mnist'") and "--smoke" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "full").exists()                                  # no kernel started
    assert series.main(["--full", "--only", "02", "--out", str(tmp_path / "theory")]) == 0   # 02 needs no data

    assert series.main(["--smoke", "--only", "02", "--out", str(tmp_path / "theory")]) == 2
    err = capsys.readouterr().err
    assert "holds a full run and this one is smoke" in err and "--force" in err
