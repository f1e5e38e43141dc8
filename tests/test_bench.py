"""The benchmark compares like with like: the classic loop takes as many optimizer steps as fit()."""
import pytest
import torch

from tutorial_lib import data, methods, training
from tutorial_lib.commands import bench

SMALL = {"gan": {"latent_dim": 8, "width": 8},
         "wgan": {"latent_dim": 8, "width": 8, "critic_steps": 5},
         "aegan": {"latent_dim": 4, "noise_dim": 4, "width": 8, "d_width": 8, "latent_hidden": 16}}


def optimizer_steps(model) -> dict[str, int]:
    """Adam's own step counter of each optimizer (its first parameter's state)."""
    out = {}
    for name, opt in model.optimizers().items():
        state = opt.state.get(opt.param_groups[0]["params"][0], {})
        out[name] = int(state["step"]) if "step" in state else 0
    return out


@pytest.mark.parametrize("name", list(SMALL))
def test_classic_loop_takes_the_same_steps_as_fit(name):
    train = data.load("mnist-sample", limit=640)
    batch = 32
    torch.manual_seed(0)
    classic = methods.build(name, **SMALL[name])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(train.floats(), train.y),
                                         batch_size=batch, shuffle=True, drop_last=True)
    bench.classic_epoch(classic, loader, torch.device("cpu"))
    ours = methods.build(name, **SMALL[name])
    training.fit(ours, train, epochs=1, batch_size=batch, checkpoint_dir=None, progress=False)
    steps = optimizer_steps(classic)
    assert steps == optimizer_steps(ours)
    assert min(steps.values()) > 0


def test_time_to_quality_records_an_fd_curve_against_training_seconds():
    train = data.load("mnist-sample", "train", limit=512)
    test = data.load("mnist-sample", "test")
    bench.MODELS["tiny_dcgan"] = ("gan", SMALL["gan"])
    try:
        r = bench.time_to_quality("tiny_dcgan", train, test, device=torch.device("cpu"), batch_size=32, epochs=2,
                                  n=200, every=4, fd_factor=1e9)
    finally:
        del bench.MODELS["tiny_dcgan"]
    steps = [p["step"] for p in r["curve"]]
    assert steps == [4, 8, 12, 16, 20, 24, 28, 32]                 # 16 iterations an epoch, every 4th
    seconds = [p["seconds"] for p in r["curve"]]
    assert all(b > a for a, b in zip(seconds, seconds[1:]))         # training time only ever grows
    assert r["floor"] > 0 and r["threshold"] == pytest.approx(1e9 * r["floor"])
    assert r["reached_s"] == seconds[0]                             # a huge threshold is met at once
    assert len({round(p["fd"], 6) for p in r["curve"]}) > 1          # the model changed between measurements
