"""experiments/aegan_stability.py and its report, end to end on the shipped sample."""
import importlib.util
import json
from pathlib import Path

from tutorial_lib import runtime


def load(name):
    spec = importlib.util.spec_from_file_location(name, runtime.REPO_ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_stability_run_and_its_report(runs_dir, tmp_path):
    out = tmp_path / "run.json"
    load("aegan_stability").main(["--remedy", "batch-normalised code and G1", "--epochs", "2", "--eval-n", "100",
                                  "--dataset", "mnist-sample", "--train-limit", "256", "--final",
                                  "--set", "d_width=8", "--out", str(out)])
    run = json.loads(out.read_text())
    assert [row["epoch"] for row in run["epochs"]] == [1, 2] and run["run"]["epochs_trained"] == 2
    assert run["config"]["code_norm"] == "batch" and run["config"]["g1_output_norm"] and run["config"]["d_width"] == 8
    for row in run["epochs"]:
        assert 0.1 <= row["top class share"] <= 1 and row["FD"] > 0 and row["code std Enc"] > 0
    assert set(run["final"]) == {"aegan", "ae+gmm"} and len(run["final"]["aegan"]["values"]["FD"]) == 3
    folders = [Path(run["run"]["run_dir"])]
    assert folders[0].is_relative_to(runs_dir), folders
    assert len(folders) == 1
    report = tmp_path / "report"
    load("aegan_stability_report").main(["--runs", str(folders[0]), "--finals", str(out), "--goal-epochs", "3",
                                         "--out", str(report)])
    text = report.with_suffix(".md").read_text()
    assert "| batch-normalised code and G1 | 0 | 2 (cut short) |" in text   # 2 of the 3 epochs asked for
    assert f"{run['final']['aegan']['mean']['FD']:.1f}" in text
    assert report.with_suffix(".png").stat().st_size > 10_000
    again = tmp_path / "again"
    load("aegan_stability_report").main(["--from-json", str(report.with_suffix(".json")), "--out", str(again)])
    assert again.with_suffix(".md").read_text() == text.replace(report.name + ".png", again.name + ".png")
