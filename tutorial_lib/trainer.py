"""One training loop for every model: ``fit()`` runs the update phases a method declares.

A method (VAE, GAN, WGAN-GP, AEGAN) says *what* to update — a list of :class:`Phase`
(which optimizer, which loss, how many times per iteration) — and ``fit`` does the rest:
batches from the device-resident dataset, progress, loss history, checkpoints, resume,
and stopping on a non-finite loss. For example WGAN-GP declares

    [Phase("critic", critic_opt, critic_loss, repeats=5), Phase("generator", gen_opt, gen_loss)]

and one iteration then draws five fresh real batches, one per critic step.

Losses are accumulated on the device and read once per log interval (no ``.item()`` per
step), so the GPU never waits for Python. Ready-made callbacks (fixed-noise sample grids,
metrics per epoch or per step) live in :mod:`tutorial_lib.callbacks`.
"""
from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from tutorial_lib import checkpoints, data, runtime

Tensor = torch.Tensor
LossFn = Callable[[Tensor], "tuple[Tensor, dict[str, Tensor]]"]


@dataclass
class Phase:
    """One update rule: ``optimizer`` takes a step on ``loss_fn(x_real) -> (loss, logs)``.

    repeats     steps per iteration, each on a fresh real batch (WGAN-GP's critic: 5)
    start_epoch, stop_epoch   the epochs [start, stop) in which the phase runs (schedules)
    after_step  called after each step (WGAN's weight clipping)
    lr_factor   learning rate = initial rate × lr_factor(progress), progress in [0, 1] over the
                requested epochs (e.g. linear decay to 0); None keeps the rate fixed

    Only the parameters held by ``optimizer`` receive gradients from ``loss_fn``: a
    generator's loss never changes the discriminator, AEGAN's G1 loss never changes Dec.
    """
    name: str
    optimizer: torch.optim.Optimizer
    loss_fn: LossFn
    repeats: int = 1
    start_epoch: int = 0
    stop_epoch: int | None = None
    after_step: Callable[[], None] | None = None
    lr_factor: Callable[[float], float] | None = None

    def active(self, epoch: int) -> bool:
        return epoch >= self.start_epoch and (self.stop_epoch is None or epoch < self.stop_epoch)

    @property
    def params(self) -> list[Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]


def batches_per_iteration(phases: list[Phase]) -> int:
    """Real batches one iteration of ``phases`` draws: each repeat of a phase gets a fresh one,
    and the phases share them (a DCGAN's D and G steps use one batch; WGAN-GP's critic, five)."""
    return max(p.repeats for p in phases)


class Method(nn.Module):
    """Base class of the generative models: declares phases, samples, describes its config."""
    name = "method"
    noise_dim: int
    """Size of the noise z that :meth:`sample` decodes."""

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def sample(self, n: int, z: Tensor | None = None) -> Tensor:
        """``n`` images in [-1, 1] (from ``z`` when given)."""
        raise NotImplementedError

    def noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Noise z ~ N(0, I) on the method's device, shape (n, noise_dim)."""
        device = next(self.parameters()).device
        return torch.randn(n, self.noise_dim, generator=generator, device=device)

    def config(self) -> dict:
        """The settings that define this model (its config dataclass as a dict)."""
        return dataclasses.asdict(self.cfg)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Built on first use, after the model has been moved to its device."""
        if not hasattr(self, "_optimizers"):
            self._optimizers = self.make_optimizers()
        return self._optimizers

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError


class NonFiniteLoss(FloatingPointError):
    """A loss became NaN or inf; the message names the phase and the step."""


@dataclass
class History:
    """What a run recorded: averaged logs per interval, per-epoch summaries, sample grids."""
    logs: list[dict] = field(default_factory=list)     # {"epoch": float, "step": int, "<phase>/<key>": mean}
    epochs: list[dict] = field(default_factory=list)   # {"epoch": int, "seconds": float, ...callback figures}
    samples: dict[int, Tensor] = field(default_factory=dict)  # epoch -> samples from fixed noise

    def series(self, key: str) -> tuple[list[float], list[float]]:
        rows = [r for r in self.logs if key in r]
        return [r["epoch"] for r in rows], [r[key] for r in rows]

    def last(self, key: str) -> float:
        for row in reversed(self.epochs):
            if key in row:
                return row[key]
        raise KeyError(key)

    def seconds_per_epoch(self) -> float:
        """Median wall time of the recorded epochs (the first, with warm-up, included)."""
        times = sorted(row["seconds"] for row in self.epochs if "seconds" in row)
        return times[len(times) // 2] if times else math.nan

    def state(self) -> dict:
        return {"logs": self.logs, "epochs": self.epochs, "samples": self.samples}


@dataclass
class FitState:
    """Passed to callbacks: the method, where the run is, and what it has recorded."""
    method: Method
    epoch: int
    step: int
    history: History
    device: torch.device


class Callback:
    """Hook into ``fit`` at named events; override what you need (see tutorial_lib.callbacks)."""

    def on_step_end(self, state: FitState) -> None: ...

    def on_epoch_end(self, state: FitState) -> None: ...


class _LossMeter:
    """Sums each phase's logged values on the device; one host read per :meth:`read`.

    It also remembers, on the device, the first step at which each phase's loss was not finite.
    """

    def __init__(self, phases: list[Phase], step: int, device: torch.device):
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}
        self.step = torch.full((), step, dtype=torch.long, device=device)
        self.first_bad = {p.name: torch.full((), -1, dtype=torch.long, device=device) for p in phases}

    def add(self, phase: str, loss: Tensor, logs: dict[str, Tensor]) -> None:
        bad = self.first_bad[phase]
        self.first_bad[phase] = torch.where((bad < 0) & ~torch.isfinite(loss), self.step, bad)
        for k, v in {"loss": loss, **logs}.items():
            key = f"{phase}/{k}"
            self.sums[key] = self.sums.get(key, 0) + v.detach().float()
            self.counts[key] = self.counts.get(key, 0) + 1

    def read(self, method_name: str, epoch: int) -> dict[str, float]:
        """Means since the last read; raises :class:`NonFiniteLoss` naming the earliest bad step."""
        keys = list(self.sums)
        values = torch.stack([self.sums[k] for k in keys] + list(self.first_bad.values())).tolist()
        bad = [(at, name) for name, at in zip(self.first_bad, values[len(keys):]) if at >= 0]
        if bad:
            at, name = min(bad)          # the earliest failure; later phases only inherit its NaNs
            raise NonFiniteLoss(f"Phase '{name}' of {method_name} produced a non-finite loss at step "
                                f"{int(at)} (epoch {epoch}). Training stopped; the last checkpoint "
                                f"(if any) predates it. Try a lower learning rate.")
        means = {k: v / self.counts[k] for k, v in zip(keys, values)}
        self.sums.clear()
        self.counts.clear()
        return means


def fit(method: Method, train: data.Split, *, epochs: int, batch_size: int, seed: int = 0,
        callbacks: tuple[Callback, ...] | list[Callback] = (), checkpoint_dir: str | Path | None = "auto",
        resume: bool = True, log_every: int = 50, checkpoint_seconds: float = 120.0,
        progress: bool = True) -> History:
    """Train ``method`` on ``train`` for ``epochs`` passes; returns the :class:`History`.

    The dataset is moved to the method's device once, as uint8. Each epoch visits a seeded
    permutation of it; the last ragged batch is dropped. With ``checkpoint_dir="auto"`` the
    run lives in ``<runs>/checkpoints/<method>-<config hash>/``: it is checkpointed at every
    epoch end and every ``checkpoint_seconds`` (atomically), on interrupt (Ctrl-C / the
    notebook's stop button), and a later call with the same configuration resumes from there.
    """
    runtime.check_positive_int("epochs", epochs)
    runtime.check_positive_int("batch_size", batch_size)
    runtime.check_positive_int("log_every", log_every)
    device = next(method.parameters()).device
    images = train.x.to(device)
    if batch_size > len(images):
        raise ValueError(f"batch_size={batch_size} is larger than the dataset ({len(images)} examples)")
    phases = method.phases()
    n_batches = data.batches_per_epoch(len(images), batch_size)

    # ---------------------------------------------------------------- where the run lives; resume
    folder = None
    if checkpoint_dir:
        run_config = {"method": method.config(), "dataset": train.name, "n_train": len(images),
                      "batch_size": batch_size, "seed": seed}
        folder = (checkpoints.run_dir(method.name, run_config) if checkpoint_dir == "auto"
                  else Path(checkpoint_dir))
        folder.mkdir(parents=True, exist_ok=True)
        checkpoints.write_config(folder, run_config)
    history, epoch, it, step = History(), 0, 0, 0
    if folder is not None and resume and (folder / checkpoints.LAST).exists():
        saved = checkpoints.load_training(folder, method, device)
        history = History(**saved["history"])
        epoch, it, step = saved["epoch"], saved["iteration"], saved["step"]
        print(f"Resuming {method.name} from {folder} at epoch {epoch}"
              + (f", iteration {it}" if it else "") + f" (step {step}).")
        if epoch >= epochs:
            print(f"Already trained for {epoch} epochs (asked for {epochs}): nothing to do.")
            return history
    else:
        runtime.seed_everything(seed)

    def save() -> None:
        if folder is not None:
            checkpoints.save_training(folder, method, history.state(), epoch, it, step)

    meter = _LossMeter(phases, step, device)

    def record() -> None:
        """Read the losses (one host sync), append their means to the history, show them."""
        if meter.sums:
            means = meter.read(method.name, epoch)
            history.logs.append({"epoch": epoch + it / max(n_iter, 1), "step": step, **means})
            bar.set_postfix({k.replace("/", " "): f"{v:.3g}" for k, v in means.items() if k.endswith("/loss")},
                            refresh=False)

    # First Ctrl-C (the notebook's stop button): finish the iteration, save, stop. A second: stop now.
    interrupted = threading.Event()

    def on_sigint(*_):
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()

    old_handler = None
    if threading.current_thread() is threading.main_thread():
        old_handler = signal.signal(signal.SIGINT, on_sigint)

    # ---------------------------------------------------------------- the loop
    n_iter = 0
    method.train()
    bar = tqdm(total=epochs, initial=epoch, desc=method.name, unit="epoch", disable=not progress,
               dynamic_ncols=True)
    last_save, boundary = time.monotonic(), True
    try:
        while epoch < epochs:
            active = [p for p in phases if p.active(epoch)]
            if not active:
                raise ValueError(f"no phase of {method.name} is active in epoch {epoch}")
            per_iter = batches_per_iteration(active)
            n_iter = n_batches // per_iter
            if n_iter == 0:
                raise ValueError(f"an iteration needs {per_iter} batches of {batch_size}, "
                                 f"more than the {len(images)} training images")
            perm = data.epoch_permutation(len(images), seed=seed, epoch=epoch, device=device)
            t0 = time.perf_counter()
            while it < n_iter:
                boundary = False
                meter.step += 1                  # steps count from 1: the iteration now running
                for phase in active:
                    if phase.lr_factor is not None:
                        _set_lr(phase, phase.lr_factor((epoch + it / n_iter) / epochs))
                    for r in range(phase.repeats):
                        x_real = data.get_batch(images, perm, it * per_iter + r, batch_size)
                        meter.add(phase.name, *_step(phase, x_real))
                it, step, boundary = it + 1, step + 1, True
                for cb in callbacks:
                    cb.on_step_end(FitState(method, epoch, step, history, device))
                if step % log_every == 0:
                    record()
                if interrupted.is_set():
                    raise KeyboardInterrupt
                if folder is not None and time.monotonic() - last_save >= checkpoint_seconds:
                    record()
                    save()
                    last_save = time.monotonic()
            record()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            history.epochs.append({"epoch": epoch + 1, "seconds": time.perf_counter() - t0,
                                   "images": n_iter * per_iter * batch_size})
            epoch, it = epoch + 1, 0
            for cb in callbacks:
                cb.on_epoch_end(FitState(method, epoch, step, history, device))
            save()
            last_save = time.monotonic()
            bar.update(1)
    except KeyboardInterrupt:
        if boundary and folder is not None:
            record()
            save()
            print(f"\nInterrupted at epoch {epoch}, step {step}: checkpoint saved in {folder}. "
                  f"Run the same cell again to resume.")
        elif folder is not None:
            print(f"\nInterrupted mid-step: the last checkpoint in {folder} is kept. Run the cell again to resume.")
        raise
    finally:
        bar.close()
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)
    return history


def _set_lr(phase: Phase, factor: float) -> None:
    for group in phase.optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * factor


def linear_decay(progress: float) -> float:
    """Learning-rate factor falling linearly from 1 at the start to 0 at the end of training."""
    return max(0.0, 1.0 - progress)


def _step(phase: Phase, x_real: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """One optimizer step of one phase. Gradients go only to the phase's own parameters."""
    loss, logs = phase.loss_fn(x_real)
    params = phase.params
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    for p, g in zip(params, grads):
        p.grad = g
    phase.optimizer.step()
    if phase.after_step is not None:
        phase.after_step()
    return loss.detach(), logs
