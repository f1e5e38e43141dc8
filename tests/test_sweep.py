"""The sweep command: runs a notebook over a grid, keeps going past failures, collects a CSV."""
import csv
import json

import nbformat
import pytest
import torch

from tutorial_lib import files, runtime
from tutorial_lib.commands import series, sweep


def test_parse_assignment_reads_numbers_strings_and_bools():
    assert sweep.parse_assignment("kl_weight=0.5,1,2", many=True) == ("kl_weight", [0.5, 1, 2])
    assert sweep.parse_assignment("likelihood=bernoulli,gaussian", many=True)[1] == ["bernoulli", "gaussian"]
    assert sweep.parse_assignment("flag=true", many=False) == ("flag", [True])
    with pytest.raises(ValueError, match="expected name=value"):
        sweep.parse_assignment("kl_weight", many=True)


def tiny_notebook(path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1\nseed = 0\nresults_json = ''\nfigures_dir = ''")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "from tutorial_lib import checks, files\n"
        "checks.check_positive('x', x)\n"
        "files.write_results(results_json, {'headline': 'y', 'y': x * 10 + seed})")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_sweep_reports_a_failed_run_and_goes_on(tmp_path, capsys):
    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    code = sweep.main([str(nb), "--grid", "x=1,-1,2", "--grid", "seed=0,1", "--out", str(tmp_path / "out")])
    assert code == 1                                          # some runs failed
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    status = {(r["x"], r["seed"]): r["status"] for r in rows}
    assert status == {("1", "0"): "ok", ("1", "1"): "ok", ("-1", "0"): "failed", ("-1", "1"): "failed",
                      ("2", "0"): "ok", ("2", "1"): "ok"}
    assert {r["y"] for r in rows if r["status"] == "ok"} == {"10", "11", "20", "21"}
    assert "must be a positive number" in next(r["error"] for r in rows if r["status"] == "failed")
    assert (tmp_path / "out" / "sweep.png").stat().st_size > 1000
    assert (tmp_path / "out" / "notebooks" / "tiny_x=-1_seed=0.failed.ipynb").exists()
    assert "4/6 runs succeeded" in capsys.readouterr().out


def test_sweep_rejects_parameters_the_notebook_does_not_have(tmp_path):
    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    assert sweep.main([str(nb), "--grid", "lr=1,2", "--out", str(tmp_path / "out")]) == 2


TIMING = {"seconds", "seconds_per_epoch", "model.started_at", "model.finished_at", "model.train_seconds"}


def vae_sweep(out, *extra):
    nb = runtime.REPO_ROOT / "notebooks" / "04_vae.ipynb"
    code = sweep.main([str(nb), "--grid", "epochs=2,1", "--grid", "seed=0,1", "-p", "train_limit=256",
                       "-p", "latent2d_epochs=1", "--smoke", "--out", str(out), *extra])
    assert code == 0
    return list(csv.DictReader((out / "results.csv").open()))


def without(rows, columns, out):
    """Rows minus timing columns, with the sweep's own folder written as <out>."""
    return [{k: v.replace(str(out), "<out>") for k, v in r.items() if k not in columns} for r in rows]


def test_a_2x2_vae_sweep_gives_the_same_csv_through_a_local_pool_and_submitit(tmp_path, capsys):
    pooled = vae_sweep(tmp_path / "pool", "--jobs", "2")
    assert "(2 at a time, smoke mode)" in capsys.readouterr().out
    assert [(r["epochs"], r["seed"]) for r in pooled] == [("2", "0"), ("2", "1"), ("1", "0"), ("1", "1")]
    assert all(r["status"] == "ok" and float(r["test_nelbo"]) > 0 for r in pooled)
    # every row names the model that produced it: the epochs it actually trained, its settings, device
    assert [r["model.epochs_trained"] for r in pooled] == ["2", "2", "1", "1"]
    assert all(r["model.config.kl_weight"] == "1.0" and r["model.device"] == "cpu" for r in pooled)
    # --grid epochs=2,1 gives two different rows (once it gave the 2-epoch model twice)
    assert pooled[0]["test_nelbo"] != pooled[2]["test_nelbo"]
    # each run's checkpoints and model live with that run, not in the series' models folder
    for r in pooled:
        assert list((tmp_path / "pool" / "runs" / r["run"] / "smoke" / "models").rglob("vae*.pt"))
        assert list((tmp_path / "pool" / "runs" / r["run"] / "smoke" / "checkpoints").glob("vae-*/last.pt"))
    assert not (files.runs_dir() / "models" / "variants").exists()

    submitted = vae_sweep(tmp_path / "submitit", "--executor", "submitit-local")
    assert list(submitted[0]) == list(pooled[0])
    a, b = without(submitted, TIMING, tmp_path / "submitit"), without(pooled, TIMING, tmp_path / "pool")
    assert [{k: (x[k], y[k]) for k in x if x[k] != y[k]} for x, y in zip(a, b)] == [{}] * 4
    assert list((tmp_path / "submitit" / "submitit").iterdir()), "submitit kept its job logs"


@pytest.mark.parametrize("argv, message", [
    (["--grid", "x=1,,2"], "has an empty value"),
    (["--grid", "x="], "has an empty value"),
    (["--grid", "=1,2"], "no name"),
    (["--grid", "x=1", "-p", "seed="], "has an empty value"),
    (["--grid", "x=1", "--jobs", "0"], "must be at least 1"),
])
def test_bad_grids_are_rejected_before_any_kernel_starts(tmp_path, capsys, argv, message):
    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    with pytest.raises(SystemExit) as exit_:
        sweep.main([str(nb), *argv, "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, content, message", [
    ("notes.txt", "x = 1", "is not a notebook (expected a .ipynb file)"),
    ("broken.ipynb", "{not json", "is not a readable Jupyter notebook"),
    ("missing.ipynb", None, "no such notebook"),
])
def test_files_that_are_not_notebooks_are_rejected(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit):
        sweep.main([str(path), "--grid", "x=1,2", "--out", str(tmp_path / "out")])
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_ray_is_optional_and_used_when_installed(tmp_path):
    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    try:
        import ray  # noqa: F401
    except ImportError:
        assert sweep.main([str(nb), "--grid", "x=1,2", "--executor", "ray", "--out", str(tmp_path / "out")]) == 2
        pytest.skip("Ray is not installed (pip install ray): checked only that it says so")
    code = sweep.main([str(nb), "--grid", "x=1,2", "--executor", "ray", "--out", str(tmp_path / "out")])
    assert code == 0
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    assert [r["y"] for r in rows] == ["10", "20"]
    if not torch.cuda.is_available():                    # asking a GPU-less cluster for GPUs: refused, no hang
        assert sweep.main([str(nb), "--grid", "x=1", "--executor", "ray", "--gpus-per-run", "0.5",
                           "--out", str(tmp_path / "gpu")]) == 2


def test_declared_parameters_are_read_from_the_tagged_cell(tmp_path):
    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    assert series.declared_parameters(nb) == ["x", "seed", "results_json", "figures_dir"]
