"""The benchmark covers every model of the series, 10's and 11's too, and still compares like with like."""
import dataclasses

import pytest
import torch

from tutorial_lib import data, methods, parameters, training
from tutorial_lib.commands import bench


def optimizer_steps(model) -> dict[str, int]:
    """How many steps each optimizer took (Adam counts them in the state of each parameter)."""
    counts = {}
    for name, optimizer in model.optimizers().items():
        state = optimizer.state.get(optimizer.param_groups[0]["params"][0], {})
        counts[name] = int(state.get("step", 0))
    return counts


def test_10s_and_11s_models_are_those_their_notebooks_train():
    models = bench.notebook_models()
    assert set(models) == {"cvae", "cgan", "cvaegan", "ipgan", "ssgan", "ssgan_labels"}
    p10 = parameters.notebook_defaults("10_conditional_gans")
    method, config = models["cvaegan"]
    assert method == "cvaegan" and config["variant"] == "cvaegan"
    assert config["generator_loss"] == p10["cvaegan_generator_loss"] and config["centre_weight"] == p10["centre_weight"]
    assert models["cgan"][1]["generator_loss"] == p10["cgan_generator_loss"]
    assert models["ipgan"][1]["latent_dim"] == p10["ipgan_latent_dim"] and models["ipgan"][1]["width"] == p10["width"]
    assert models["ssgan"][1]["lr_decay"] == parameters.notebook_defaults("11_semi_supervised_gan")["lr_decay"]
    assert models["ssgan_labels"][1]["gan"] is False
    for method, config in models.values():
        methods.build(method, **config)                          # every setting is one the config knows


@pytest.mark.parametrize("name", ["cvae", "cgan", "cvaegan", "ipgan", "ssgan", "ssgan_labels"])
def test_the_classic_loop_takes_fits_steps_epoch_by_epoch(name, monkeypatch, one_thread):
    method, config = bench.notebook_models()[name]
    if name == "ipgan":
        config = {**config, "identity_epochs": 1}                # the identity network alone in epoch 0, as at full size
    monkeypatch.setitem(bench.MODELS, name, (method, config))
    train = data.load("mnist-sample", limit=320)
    batch = 32
    classic = bench.build(name, torch.device("cpu"), train)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(train.floats(), train.y),
                                         batch_size=batch, shuffle=True, drop_last=True)
    for epoch in range(2):
        bench.classic_epoch(classic, loader, torch.device("cpu"), epoch)
    ours = bench.build(name, torch.device("cpu"), train)
    training.fit(ours, train, epochs=2, batch_size=batch, checkpoint_dir=None, progress=False)
    steps = optimizer_steps(classic)
    assert steps == optimizer_steps(ours)
    assert [n for n, k in steps.items() if k] == [n for n, k in optimizer_steps(ours).items() if k]
    assert sum(steps.values()) > 0


def test_the_table_has_a_row_per_model_on_the_shipped_sample(capsys, one_thread):
    assert bench.main(["--models", "cvae", "ssgan_labels", "--dataset", "mnist-sample", "--limit", "256",
                       "--batch-size", "32", "--epochs", "1", "--warmup", "0", "--device", "cpu", "--graph"]) == 0
    out = capsys.readouterr().out
    assert "mnist-sample, 256 images" in out and "eager (CUDA graphs need a GPU)" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in (["cvae"], ["ssgan_labels"])}
    assert set(rows) == {"cvae", "ssgan_labels"}
    assert all(float(row[1]) > 0 and float(row[2]) > 0 for row in rows.values())   # classic and ours, s per epoch


def test_every_model_of_the_series_is_offered():
    names = [*bench.MODELS, *bench.notebook_models()]
    assert set(methods.SERIES) <= set(names) and len(names) == len(set(names)) == 10
    assert all(dataclasses.is_dataclass(methods.REGISTRY[m][1]) for m, _ in bench.notebook_models().values())
