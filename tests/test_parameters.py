"""Invalid notebook parameters stop the run in the validation cell, with one clear message."""
import json

import pytest
import torch

from tutorial_lib import runtime
from tutorial_lib.commands import jobs

NOTEBOOK = runtime.REPO_ROOT / "notebooks" / "04_vae.ipynb"

CASES = [
    ({"dataset": "cifar10"}, "dataset='cifar10' is not one of the allowed values: 'mnist', 'fashion-mnist', 'mnist-sample'"),
    ({"likelihood": "poisson"}, "likelihood='poisson' is not one of the allowed values: 'bernoulli', 'gaussian'"),
    ({"epochs": 0}, "epochs=0 must be a positive integer"),
    ({"latent_dim": -4}, "latent_dim=-4 must be a positive integer"),
    ({"kl_weight": float("inf")}, "kl_weight=inf must be a number >= 0, and finite"),
    ({"lr": float("nan")}, "lr=nan must be a positive number, and finite"),
]
if not torch.cuda.is_available():
    CASES.append(({"device": "cuda"}, "device='cuda' was requested but no CUDA GPU is visible"))


def validation_cell_index(nb):
    """The first code cell after papermill's injected-parameters cell."""
    cells = nb["cells"]
    injected = next(i for i, c in enumerate(cells) if "injected-parameters" in c["metadata"].get("tags", []))
    return next(i for i in range(injected + 1, len(cells)) if cells[i]["cell_type"] == "code")


@pytest.mark.parametrize("params, message", CASES, ids=[f"{k}={v}" for p, _ in CASES for k, v in p.items()])
def test_bad_parameter_fails_in_the_validation_cell(tmp_path, params, message):
    outcome = jobs.run_notebook(NOTEBOOK, tmp_path / "out.ipynb", params)
    assert not outcome.ok
    assert message in outcome.error, outcome.error
    nb = json.loads(outcome.output.read_text())
    failing = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
               and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert failing == [validation_cell_index(nb)]
    later = nb["cells"][validation_cell_index(nb) + 1:]
    assert all(c.get("execution_count") is None for c in later if c["cell_type"] == "code"), "work started anyway"


def test_the_kernel_keeps_its_transport_warning_off_the_console(tmp_path, capfd):
    """ipykernel 7 warns on every start that a local TCP kernel is unencrypted; `make series` would print it
    once per notebook, between the lines a user reads. Kernel errors still get through (log level ERROR)."""
    outcome = jobs.run_notebook(NOTEBOOK, tmp_path / "out.ipynb", {"epochs": 0})
    assert not outcome.ok and "epochs=0" in outcome.error     # the kernel ran and reported the bad parameter
    assert "without encryption" not in capfd.readouterr().err


def test_the_lecture_preset_never_lengthens_and_reads_a_zero_limit_as_all(capsys):
    from tutorial_lib import parameters
    namespace = {"train_limit": 0, "epochs": 20, "eval_seeds": 1, "counts": [20, 50, 100], "draws": [0]}
    changed = parameters.lecture_preset(namespace, {"train_limit": 5120, "epochs": 2, "eval_seeds": 3,
                                                    "counts": [100], "draws": [0, 1]}, models_shrink=True)
    assert namespace == {"train_limit": 5120, "epochs": 2, "eval_seeds": 1, "counts": [100], "draws": [0]}
    assert changed == {"train_limit": (0, 5120), "epochs": (20, 2), "counts": ([20, 50, 100], [100])}
    out = capsys.readouterr().out
    assert out.startswith("LECTURE PRESET: smaller models and shorter runs for a live class (train_limit 0 -> 5120")
    assert "not its quality" in out
    small = {"train_limit": 256, "epochs": 1}                   # smoke mode: already smaller, left alone
    assert parameters.lecture_preset(small, {"train_limit": 5120, "epochs": 2}) == {}
    assert small == {"train_limit": 256, "epochs": 1}
    assert "shorter extra runs" in capsys.readouterr().out
