"""The sweep command: runs a notebook over a grid, keeps going past failures, collects a CSV."""
import csv
import json

import nbformat
import pytest

from tutorial_lib import runtime, series, sweep


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
        "from tutorial_lib import runtime\n"
        "runtime.check_positive('x', x)\n"
        "runtime.write_results(results_json, {'headline': 'y', 'y': x * 10 + seed})")]
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


def test_vae_sweep_over_a_2x2_grid_in_smoke_mode_writes_the_csv(tmp_path):
    out = tmp_path / "sweep"
    nb = runtime.REPO_ROOT / "notebooks" / "04_vae.ipynb"
    code = sweep.main([str(nb), "--grid", "kl_weight=0.5,2", "--grid", "seed=0,1", "-p", "train_limit=256",
                       "--smoke", "--out", str(out)])
    assert code == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["kl_weight"], r["seed"]) for r in rows] == [("0.5", "0"), ("0.5", "1"), ("2", "0"), ("2", "1")]
    assert all(r["status"] == "ok" and float(r["test_nelbo"]) > 0 for r in rows)
    # the override reached the run: the notebook recorded the kl_weight it trained with
    recorded = json.loads((out / "results" / "kl_weight=2_seed=1.json").read_text())
    assert recorded["kl_weight"] == 2 and recorded["epochs"] == 1
    assert (out / "sweep.png").exists()


def test_declared_parameters_are_read_from_the_tagged_cell(tmp_path):
    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    assert series.declared_parameters(nb) == ["x", "seed", "results_json", "figures_dir"]
