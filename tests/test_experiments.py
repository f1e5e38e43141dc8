"""experiments/aegan_stability.py and its report, and gan_start_average.py, end to end on the shipped sample."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from tutorial_lib import data, methods, runtime, training
from tutorial_lib.training import callbacks


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


def test_an_average_started_mid_run_leaves_the_players_as_they_were_and_averages_what_follows(tmp_path, one_thread):
    """05's shipped DCGAN: the constant-rate run's state at the end of an epoch, its moving average of G started
    there by gan_start_average.py, then resumed by fit. G and D must train exactly as the run without the average
    does, and the average must be the bias-corrected moving average of G's weights after each later G step."""
    train = data.load("mnist-sample", "train").take(256)
    small = {"width": 8, "latent_dim": 8}

    def fit(folder, polyak, epochs, steps=None):
        gan = methods.build("gan", **small, polyak_decay=polyak)
        record = [Record(steps)] if steps is not None else []
        training.fit(gan, train, epochs=epochs, batch_size=64, seed=0, checkpoint_dir=str(folder), progress=False,
                     callbacks=record)
        return gan

    class Record(callbacks.Callback):
        def __init__(self, steps):
            self.steps = steps

        def on_step_end(self, state):
            self.steps.append([p.detach().clone() for p in state.method.generator.parameters()])

    fit(tmp_path / "plain", 0.0, 1)                                    # epoch 1, no average
    folder = load("gan_start_average").main([str(tmp_path / "plain"), "--decay", "0.5", "--runs", str(tmp_path)])
    with pytest.raises(SystemExit):                                    # never over a run that is there
        load("gan_start_average").main([str(tmp_path / "plain"), "--decay", "0.5", "--runs", str(tmp_path)])
    steps = []
    averaged = fit(folder, 0.5, 2, steps)                              # resumes at epoch 1: epoch 2 with the average
    plain = fit(tmp_path / "plain", 0.0, 2)                            # the same run, epoch 2 without it
    assert len(steps) == 4 and averaged.average_steps.item() == 4     # 256 images in batches of 64
    for name in ("generator", "discriminator"):
        for a, b in zip(getattr(averaged, name).parameters(), getattr(plain, name).parameters()):
            torch.testing.assert_close(a, b, rtol=0, atol=0)           # the average never feeds back
    by_hand = [p.clone() for p in steps[0]]                            # α_1 = 1: the first step copies G
    for t, now in enumerate(steps[1:], start=2):
        alpha = 0.5 / (1 - 0.5 ** t)
        by_hand = [m + alpha * (p - m) for m, p in zip(by_hand, now)]
    for mean, expected, last in zip(averaged.averaged.parameters(), by_hand, steps[-1]):
        torch.testing.assert_close(mean, expected)
    assert any(not torch.equal(m, last) for m, last in zip(averaged.averaged.parameters(), steps[-1]))
