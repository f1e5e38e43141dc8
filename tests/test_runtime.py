"""The runtime module: smoke switch, device choice, parameter checks, atomic writes."""
import json

import pytest
import torch

from tutorial_lib import checks, files, runtime


def test_pick_follows_the_smoke_switch(monkeypatch):
    monkeypatch.setenv("TUTORIAL_SMOKE", "1")
    assert runtime.smoke_mode() and runtime.pick(full=10, smoke=1) == 1
    monkeypatch.setenv("TUTORIAL_SMOKE", "0")
    assert not runtime.smoke_mode() and runtime.pick(full=10, smoke=1) == 10


def test_smoke_runs_live_apart_from_real_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("TUTORIAL_RUNS", str(tmp_path))
    monkeypatch.setenv("TUTORIAL_SMOKE", "0")
    assert files.runs_dir() == tmp_path
    monkeypatch.setenv("TUTORIAL_SMOKE", "1")
    assert files.runs_dir() == tmp_path / "smoke"


def test_device_choice(capsys):
    assert runtime.get_device("cpu").type == "cpu"
    assert "CPU" in capsys.readouterr().out
    auto = runtime.get_device("auto", quiet=True)
    assert auto.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device='tpu' is not one of"):
        runtime.get_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_asking_for_cuda_without_a_gpu_fails_fast():
    with pytest.raises(ValueError, match="no CUDA GPU is visible"):
        runtime.get_device("cuda")


@pytest.mark.parametrize("check, value, match", [
    (checks.check_positive_int, 0, "must be a positive integer"),
    (checks.check_positive_int, 2.5, "must be a positive integer"),
    (checks.check_positive_int, True, "must be a positive integer"),
    (checks.check_positive, -1e-3, "must be a positive number"),
    (checks.check_non_negative, -1, "must be a number >= 0"),
    (checks.check_non_negative_int, -1, "must be an integer >= 0"),
])
def test_checks_reject_bad_values(check, value, match):
    with pytest.raises(ValueError, match=match):
        check("x", value)


def test_checks_accept_good_values():
    checks.check_positive_int("x", 3)
    checks.check_positive("x", 0.5)
    checks.check_non_negative("x", 0)
    checks.check_choice("x", "a", ("a", "b"))


def test_seed_everything_makes_torch_repeatable():
    runtime.seed_everything(7)
    a = torch.randn(3)
    runtime.seed_everything(7)
    assert torch.equal(a, torch.randn(3))


def test_write_results_is_atomic_and_skips_empty_paths(tmp_path):
    files.write_results("", {"a": 1})                     # no path: nothing written, no error
    path = tmp_path / "sub" / "r.json"
    files.write_results(path, {"nelbo": 99.5})
    assert json.loads(path.read_text()) == {"nelbo": 99.5}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]   # no temp files left behind


def test_headless_unless_a_widget_frontend_is_present(monkeypatch):
    for name in ("TUTORIAL_SMOKE", "TUTORIAL_HEADLESS", "CI", "GITHUB_ACTIONS", "JPY_SESSION_NAME",
                 "VSCODE_PID", "TUTORIAL_WIDGETS"):
        monkeypatch.delenv(name, raising=False)
    assert runtime.headless()                                 # plain papermill / script: static figures
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/notebooks/04_vae.ipynb")   # started by JupyterLab
    assert not runtime.headless()
    monkeypatch.setenv("TUTORIAL_HEADLESS", "1")              # the explicit switch wins
    assert runtime.headless()
    monkeypatch.delenv("TUTORIAL_HEADLESS")
    monkeypatch.setenv("TUTORIAL_SMOKE", "1")
    assert runtime.headless()
