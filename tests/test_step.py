"""fit() runs each iteration as a static step; it trains exactly what a plain per-batch loop trains."""
import sys
from pathlib import Path

import pytest
import torch

from tutorial_lib import data, methods, runtime, training
from tutorial_lib.training import checkpoints, step
from tutorial_lib.methods.base import Batch, Phase, linear_decay


@pytest.fixture(scope="module")
def tiny():
    return data.load("mnist-sample", limit=320)


def plain_loop(method, train, *, epochs, batch_size, seed):
    """The loop fit() had before the static step: Python slices the batch, each phase steps in turn."""
    runtime.seed_everything(seed)
    phases = method.phases()
    method.train()
    n_batches = data.batches_per_epoch(len(train), batch_size)
    for epoch in range(epochs):
        active = [p for p in phases if p.active(epoch)]
        per_iter = max(p.repeats for p in active)
        n_iter = n_batches // per_iter
        perm = data.epoch_permutation(len(train), seed=seed, epoch=epoch)
        for it in range(n_iter):
            for phase in active:
                if phase.lr_factor is not None:
                    training.scale_lr(phase.optimizer, phase.lr_factor((epoch + it / n_iter) / epochs))
                for r in range(phase.repeats):
                    index = it * per_iter + r
                    batch = Batch(data.get_batch(train.x, perm, index, batch_size),
                                  train.y[perm[index * batch_size:(index + 1) * batch_size]])
                    loss, _ = phase.loss_fn(batch)
                    grads = torch.autograd.grad(loss, phase.params, allow_unused=True)
                    for p, g in zip(phase.params, grads):
                        p.grad = g
                    phase.optimizer.step()
                    if phase.after_step is not None:
                        phase.after_step()


CASES = {
    "vae": ("vae", {"latent_dim": 4, "width": 8}),
    "dcgan": ("gan", {"latent_dim": 8, "width": 8}),
    "wgan-gp, 5 critic steps, lr decay": ("wgan", {"latent_dim": 8, "width": 8, "lr_decay": True}),
    "wgan, clipping": ("wgan", {"latent_dim": 8, "width": 8, "constraint": "clip", "lr": 5e-5}),
    "aegan, sequential schedule": ("aegan", {"latent_dim": 4, "noise_dim": 4, "width": 8, "d_width": 8,
                                             "latent_hidden": 16, "schedule": "sequential", "ae_epochs": 1}),
}


@pytest.mark.parametrize("name, config", CASES.values(), ids=CASES.keys())
def test_fit_with_the_static_step_equals_the_plain_loop(tiny, name, config):
    torch.manual_seed(0)
    a = methods.build(name, **config)
    plain_loop(a, tiny, epochs=2, batch_size=32, seed=5)
    torch.manual_seed(0)
    b = methods.build(name, **config)
    training.fit(b, tiny, epochs=2, batch_size=32, seed=5, checkpoint_dir=None, progress=False)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa), [k for k in sa if not torch.equal(sa[k], sb[k])][:5]
    torch.manual_seed(0)
    untrained = methods.build(name, **config)
    assert not all(torch.equal(sa[k], v) for k, v in untrained.state_dict().items())


def test_the_step_draws_the_batches_of_the_plain_loop_from_a_device_counter(tiny):
    model = methods.build("wgan", latent_dim=8, width=8)
    phases = model.phases()
    s = step.StaticStep(phases, tiny, 16)
    perm = data.epoch_permutation(len(tiny), seed=1, epoch=0)
    s.start_epoch(perm, 3)
    assert s.per_iter == 5 and int(s.counter) == 3
    for r in range(5):
        batch = s.batch(r)
        assert torch.equal(batch.x, data.get_batch(tiny.x, perm, 3 * 5 + r, 16))
        assert torch.equal(batch.y, tiny.y[perm[(3 * 5 + r) * 16:(3 * 5 + r + 1) * 16]])   # labels of those images
        assert batch.y.dtype == torch.int64
    s()                                                    # one iteration: the counter moves on the device
    assert int(s.counter) == 4


def test_on_the_cpu_no_graph_is_recorded_even_when_asked(tiny):
    model = methods.build("gan", latent_dim=8, width=8)
    s = step.StaticStep(model.phases(), tiny, 16, graph=True)
    s.start_epoch(data.epoch_permutation(len(tiny), seed=0, epoch=0), 0)
    for _ in range(step.WARMUP + 2):
        out = s()
    assert s.graph is None and [name for name, *_ in out] == ["discriminator", "generator"]


def test_a_failed_graph_capture_stops_with_a_clear_error_instead_of_training_on(tiny, monkeypatch):
    """After a failed capture the CUDA generator stays marked as capturing (an H200 showed the next
    noise draw failing), so the step must not pretend to carry on eagerly."""
    model = methods.build("gan", latent_dim=8, width=8)
    s = step.StaticStep(model.phases(), tiny, 16, graph=True)
    s.start_epoch(data.epoch_permutation(len(tiny), seed=0, epoch=0), 0)
    s.use_graph, s.runs = True, step.WARMUP          # as on a GPU after the warm-up iterations

    def capture_fails():
        raise RuntimeError("operation failed due to a previous error during capture")
    monkeypatch.setattr(s, "_record", capture_fails)
    with pytest.raises(step.GraphCaptureFailed, match=r"graph=False.*resumes"):
        s()
    assert s.graph is None and not s.use_graph


def test_a_tensor_learning_rate_follows_the_schedule_in_place():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([p], lr=0.5)
    phase = Phase("x", opt, lambda batch: (p.sum(), {}), lr_factor=linear_decay)
    step.prepare_optimizers([phase], torch.device("cpu"))
    lr = opt.param_groups[0]["lr"]
    assert torch.is_tensor(lr) and float(lr) == 0.5
    training.scale_lr(opt, 0.25)
    assert opt.param_groups[0]["lr"] is lr and float(lr) == 0.125      # same tensor, new value


OPTIM = str(Path(torch.optim.__file__).parent)


class HostRead(RuntimeError):
    """A tensor's value was read into Python inside a training iteration."""


@pytest.fixture
def no_host_reads(monkeypatch):
    """Within the block, reading a tensor's value into Python (``if t:``, ``int(t)``, ``t.item()``...)
    raises. On a GPU each such read waits for the device, and inside ``torch.cuda.graph`` it is refused
    ("operation not permitted when stream is capturing", as 10's CVAE-GAN hit on an H100, 2026-12-05,
    from its label check). This makes the same mistake visible on the CPU. The optimizers are let be:
    on the CPU they read their step count, on a GPU ``fit`` makes them capturable (step.prepare_optimizers)."""
    names = ("__bool__", "__int__", "__float__", "__index__", "item", "tolist")
    saved = {n: getattr(torch.Tensor, n) for n in names}

    def guarded(name):
        def read(self, *args, **kwargs):
            frame = sys._getframe(1)
            while frame is not None:
                if OPTIM in frame.f_code.co_filename:
                    return saved[name](self, *args, **kwargs)
                frame = frame.f_back
            raise HostRead(f"a tensor's value was read into Python ({name}) inside the iteration")
        return read

    class Block:
        def __enter__(self):
            for n in names:
                monkeypatch.setattr(torch.Tensor, n, guarded(n))

        def __exit__(self, *exc):
            for n, f in saved.items():
                monkeypatch.setattr(torch.Tensor, n, f)
    return Block()


def test_the_guard_catches_a_host_read(no_host_reads):
    y = torch.tensor([1, 2])
    with pytest.raises(HostRead), no_host_reads:
        bool(y.min() < 0)
    assert int(y.max()) == 2                                 # restored after the block


CAPTURABLE = {**CASES,
              "wgan-gp, one critic step, lr_d, average": ("wgan", {"latent_dim": 8, "width": 8, "critic_steps": 1,
                                                                   "lr_d": 3e-4, "polyak_decay": 0.999}),
              "dcgan, average": ("gan", {"latent_dim": 8, "width": 8, "polyak_decay": 0.999}),
              "cvae": ("cvaegan", {"variant": "cvae", "latent_dim": 4, "width": 4}),
              "cgan": ("cvaegan", {"variant": "cgan", "latent_dim": 4, "width": 4}),
              "cvae-gan": ("cvaegan", {"variant": "cvaegan", "latent_dim": 4, "width": 4}),
              "ip-gan": ("ipgan", {"latent_dim": 4, "width": 4}),
              "semi-supervised gan": ("ssgan", {"n_labels": 20}),
              "labels only": ("ssgan", {"n_labels": 20, "gan": False})}


@pytest.mark.parametrize("name, config", CAPTURABLE.values(), ids=CAPTURABLE.keys())
def test_an_iteration_reads_no_tensor_value_into_python(tiny, name, config, no_host_reads):
    """What a CUDA graph can record: an iteration that never asks the device for a value."""
    torch.manual_seed(0)
    model = methods.build(name, **config)
    if name == "ssgan":
        model.attach_labels(tiny)
    s = step.StaticStep(model.phases(), tiny, 16)
    s.start_epoch(data.epoch_permutation(len(tiny), seed=0, epoch=0), 0)
    s()                                                        # first iteration: lazy state (optimizers, centres)
    with no_host_reads:
        out = s()
    assert out and all(torch.isfinite(loss) for _, loss, _ in out)


def test_a_run_recorded_as_cuda_graphs_resumes_eagerly_on_the_cpu(tiny, tmp_path):
    """A GPU run with graphs saves capturable optimizers (step counts on the device) and tensor rates;
    the same run must go on where graphs are off (an H100 run of 06 went on here, 2026-12-05: Adam
    refused capturable=True on the CPU). Emulated on the CPU by saving such settings."""
    config = {"latent_dim": 8, "width": 8, "critic_steps": 1, "polyak_decay": 0.999}
    torch.manual_seed(0)
    model = methods.build("wgan", **config)
    training.fit(model, tiny, epochs=1, batch_size=32, seed=1, checkpoint_dir=tmp_path, progress=False)
    ckpt = checkpoints.load(tmp_path / checkpoints.LAST)
    for saved in ckpt["optimizers"].values():
        for group in saved["param_groups"]:
            group["capturable"], group["lr"] = True, torch.tensor(float(group["lr"]))
    ckpt["history"]["run"].update(device="cuda:0", device_type="cuda", device_name="NVIDIA H100 80GB HBM3")
    ckpt["history"]["run"].pop("devices")                      # as a run saved before the list existed
    checkpoints.save(tmp_path / checkpoints.LAST, ckpt)
    torch.manual_seed(0)
    again = methods.build("wgan", **config)
    history = training.fit(again, tiny, epochs=2, batch_size=32, seed=1, checkpoint_dir=tmp_path, progress=False)
    assert [row["epoch"] for row in history.epochs] == [1, 2]
    assert history.run["devices"] == [{"device": "NVIDIA H100 80GB HBM3", "from_epoch": 0},
                                      {"device": "CPU", "from_epoch": 1}]          # the record says both
    for opt in again.optimizers().values():
        group = opt.param_groups[0]
        assert group["capturable"] is False and isinstance(group["lr"], float)
        assert all(s["step"].device.type == "cpu" for s in opt.state.values())


def test_an_eager_run_resumed_for_graphs_gets_capturable_optimizers():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.Adam([p], lr=0.5)
    p.grad = torch.ones(2)
    opt.step()                                                  # eager state: step count on the CPU
    phase = Phase("x", opt, lambda batch: (p.sum(), {}), lr_factor=linear_decay)
    step.prepare_optimizers([phase], torch.device("cpu"), graph=True)
    assert opt.param_groups[0]["capturable"] is True and torch.is_tensor(opt.param_groups[0]["lr"])
    step.prepare_optimizers([phase], torch.device("cpu"), graph=False)
    assert opt.param_groups[0]["capturable"] is False and opt.param_groups[0]["lr"] == 0.5
