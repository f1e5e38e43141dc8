"""The one training loop: resume, interruption, non-finite losses, bad arguments, phases."""
import copy
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from tutorial_lib import data, methods, training
from tutorial_lib.training import callbacks, checkpoints
from tutorial_lib.methods.base import Method, Phase


@pytest.fixture(scope="module")
def tiny():
    return data.load("mnist-sample", limit=256)


def params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class StopAt(training.Callback):
    """Simulates Ctrl-C at the end of a given step."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, state):
        if state.step == self.step:
            raise KeyboardInterrupt


def vae():
    return methods.build("vae", latent_dim=4, width=8)


def test_interrupted_and_resumed_run_equals_uninterrupted(tiny, tmp_path, capsys):
    kwargs = dict(epochs=2, batch_size=32, seed=3, progress=False)          # 8 steps an epoch
    torch.manual_seed(0)
    a = vae()
    training.fit(a, tiny, checkpoint_dir=tmp_path / "a", **kwargs)

    torch.manual_seed(0)
    b = vae()
    with pytest.raises(KeyboardInterrupt):
        training.fit(b, tiny, checkpoint_dir=tmp_path / "b", callbacks=[StopAt(5)], **kwargs)
    assert "checkpoint saved" in capsys.readouterr().out
    saved = checkpoints.load(tmp_path / "b" / checkpoints.LAST)
    assert (saved["epoch"], saved["iteration"], saved["step"]) == (0, 5, 5)

    torch.manual_seed(123)                                # a different init: the checkpoint must win
    c = vae()
    history = training.fit(c, tiny, checkpoint_dir=tmp_path / "b", **kwargs)
    assert "Resuming vae" in capsys.readouterr().out
    assert same(params(a), params(c))
    assert [r["epoch"] for r in history.epochs] == [1, 2]
    assert not same(params(a), params(vae()))             # and training did change something


def test_a_finished_run_is_not_trained_again(tiny, tmp_path, capsys):
    m = vae()
    training.fit(m, tiny, epochs=1, batch_size=64, checkpoint_dir=tmp_path, progress=False)
    again = vae()
    history = training.fit(again, tiny, epochs=1, batch_size=64, checkpoint_dir=tmp_path, progress=False)
    assert "nothing to do" in capsys.readouterr().out
    assert same(params(m), params(again)) and len(history.epochs) == 1


def test_auto_checkpoint_folder_depends_on_the_configuration(tiny, runs_dir):
    training.fit(vae(), tiny, epochs=1, batch_size=64, progress=False)
    training.fit(methods.build("vae", latent_dim=4, width=8, kl_weight=0.5), tiny, epochs=1, batch_size=64,
                progress=False)
    folders = sorted((runs_dir / "smoke" / "checkpoints").iterdir())
    assert len(folders) == 2 and all(f.name.startswith("vae-") for f in folders)
    assert all(sorted(p.name for p in f.iterdir() if p.name != ".lock") == ["config.json", "last.pt"]
               for f in folders)


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys, torch
    from tutorial_lib import data, methods, training
    kill_at = int(sys.argv[2])
    class Kill(training.Callback):
        def on_step_end(self, state):
            if state.step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)        # no chance to clean up
    torch.manual_seed(0)
    model = methods.build("gan", width=8, latent_dim=8)
    train = data.load("mnist-sample", limit=320)
    training.fit(model, train, epochs=2, batch_size=32, seed=1, checkpoint_dir=sys.argv[1],
                checkpoint_seconds=0, callbacks=[Kill()], progress=False)
    torch.save(model.state_dict(), os.path.join(sys.argv[1], "final.pt"))
""")


def test_killed_training_process_resumes_to_the_same_result(tmp_path):
    def run(folder, kill_at):
        return subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(folder), str(kill_at)],
                              capture_output=True, text=True, timeout=300)

    ref = run(tmp_path / "ref", -1)
    assert ref.returncode == 0, ref.stderr
    killed = run(tmp_path / "run", 13)                   # 10 steps an epoch: killed mid-epoch 2
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "run" / "final.pt").exists()
    # killed inside step 13's callbacks, before its checkpoint: the last one on disk is step 12's
    assert checkpoints.load(tmp_path / "run" / checkpoints.LAST)["step"] == 12
    resumed = run(tmp_path / "run", -1)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming gan" in resumed.stdout
    a = torch.load(tmp_path / "ref" / "final.pt", weights_only=True)
    b = torch.load(tmp_path / "run" / "final.pt", weights_only=True)
    assert same(a, b)


class Exploding(Method):
    name = "exploding"
    noise_dim = 1

    def __init__(self, bad_step):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.bad_step, self.calls = bad_step, 0

    def config(self):
        return {}

    def make_optimizers(self):
        return {"opt": torch.optim.SGD(self.parameters(), lr=0.01)}

    def phases(self):
        return [Phase("fine", self.optimizers()["opt"], lambda batch: ((self.w * batch.x).mean() ** 2, {})),
                Phase("boom", self.optimizers()["opt"], self.boom)]

    def boom(self, batch):
        self.calls += 1
        scale = float("nan") if self.calls == self.bad_step else 1.0
        return (self.w * scale).sum(), {}


def test_non_finite_loss_stops_training_naming_phase_and_step(tiny):
    with pytest.raises(training.NonFiniteLoss, match=r"Phase 'boom' of exploding .* at step 3 "):
        training.fit(Exploding(bad_step=3), tiny, epochs=1, batch_size=16, log_every=100,
                    checkpoint_dir=None, progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0, "batch_size": 8}, "epochs=0 must be a positive integer"),
    ({"epochs": -1, "batch_size": 8}, "epochs=-1"),
    ({"epochs": 1, "batch_size": 0}, "batch_size=0"),
    ({"epochs": 1, "batch_size": 10_000}, "larger than the dataset"),
])
def test_bad_fit_arguments_raise_value_error(tiny, kwargs, match):
    with pytest.raises(ValueError, match=match):
        training.fit(vae(), tiny, checkpoint_dir=None, progress=False, **kwargs)


@pytest.mark.parametrize("name, config", [
    ("vae", {"latent_dim": 4, "width": 8, "kl_weight": 0.5}),
    ("vae", {"latent_dim": 4, "width": 8, "likelihood": "gaussian"}),
])
def test_bad_method_configs_raise_value_error(name, config):
    methods.build(name, **config)                         # these are fine
    with pytest.raises(ValueError, match="kl_weight=-1"):
        methods.build(name, **{**config, "kl_weight": -1})


def test_sample_grid_callback_records_fixed_noise_samples(tiny):
    history = training.fit(vae(), tiny, epochs=2, batch_size=64, checkpoint_dir=None, progress=False,
                          callbacks=[callbacks.SampleGrid(n=8)])
    assert sorted(history.samples) == [1, 2]
    assert history.samples[1].shape == (8, 1, 28, 28) and history.samples[1].dtype == torch.uint8
    assert not torch.equal(history.samples[1], history.samples[2])


def test_metrics_do_not_change_the_course_of_training(tiny):
    def run(callbacks):
        torch.manual_seed(0)
        m = vae()
        training.fit(m, tiny, epochs=2, batch_size=64, seed=0, checkpoint_dir=None, progress=False,
                    callbacks=callbacks)
        return params(m)
    plain = run([])
    measured = run([callbacks.EpochMetric(lambda m: {"r": torch.randn(()).item()}),
                    callbacks.StepMetric(lambda m: {"r": torch.randn(()).item()}, every=2)])
    assert same(plain, measured)


def test_linear_lr_decay_follows_training_progress(tiny):
    model = methods.build("wgan", width=8, latent_dim=8, lr_decay=True, critic_steps=1)
    seen = []
    original = model.critic_loss
    model.critic_loss = lambda batch: (seen.append(model.optimizers()["critic"].param_groups[0]["lr"]),
                                       original(batch))[1]
    training.fit(model, tiny.take(128), epochs=2, batch_size=32, checkpoint_dir=None, progress=False)
    # 4 iterations an epoch, 8 in all: progress 0, 1/8, ..., 7/8 -> lr 1e-4 · (1 − progress)
    assert seen == pytest.approx([1e-4 * (1 - k / 8) for k in range(8)])


def test_a_train_mode_metric_sees_batch_statistics_and_changes_nothing(tiny):
    seen = []

    def probe(model):
        seen.append(model.training)
        model.discriminator(model.sample(32))              # a forward pass that would move running stats
        return {"x": 0.0}

    def run(cbs):
        torch.manual_seed(0)
        m = methods.build("gan", latent_dim=8, width=8)
        training.fit(m, tiny, epochs=1, batch_size=32, seed=0, checkpoint_dir=None, progress=False, callbacks=cbs)
        return params(m)
    plain = run([])
    probed = run([callbacks.StepMetric(probe, every=2, grad=True, train_mode=True)])
    assert seen and all(seen)                              # measured in training mode
    assert same(plain, probed)                             # weights and batch-norm running stats untouched
