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
import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import filelock
import torch
from torch import nn
from tqdm.auto import tqdm

from tutorial_lib import checkpoints, data, runtime
from tutorial_lib.step import StaticStep, batches_per_iteration, prepare_optimizers, take_step

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


class RunInUse(RuntimeError):
    """Another process is training the same run (same folder) right now."""


@dataclass
class History:
    """What a run recorded: averaged logs per interval, per-epoch summaries, sample grids."""
    logs: list[dict] = field(default_factory=list)     # {"epoch": float, "step": int, "<phase>/<key>": mean}
    epochs: list[dict] = field(default_factory=list)   # {"epoch": int, "seconds": float, ...callback figures}
    samples: dict[int, Tensor] = field(default_factory=dict)  # epoch -> samples from fixed noise
    run: dict = field(default_factory=dict)
    """What trained the model: method, config, data, batch size, seed, epochs asked and actually
    trained, device, start and finish times, run folder. Results and exported models carry it."""

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
        return {"logs": self.logs, "epochs": self.epochs, "samples": self.samples, "run": self.run}


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
        progress: bool = True, graph: bool = False) -> History:
    """Train ``method`` on ``train`` for ``epochs`` passes; returns the :class:`History`.

    The dataset is moved to the method's device once, as uint8. Each epoch visits a seeded
    permutation of it; the last ragged batch is dropped. With ``checkpoint_dir="auto"`` the
    run lives in ``<runs>/checkpoints/<method>-<hash>/``: it is checkpointed at every epoch end
    and every ``checkpoint_seconds`` (atomically), on interrupt (Ctrl-C / the notebook's stop
    button), and a later call with the same settings resumes from there.

    Resume never hands back a model trained for other settings. The folder's hash covers
    everything that decides the trajectory: the method's config, the data, batch size, seed, and
    the number of epochs too when a phase's learning rate follows the run's progress. Asking for
    more epochs than a saved run has extends it (exactly what one longer run would have done);
    asking for fewer starts a separate run of that length, and says so. ``history.run`` records
    the epochs actually trained. Two processes never train in the same folder at once.

    Each iteration is a :class:`tutorial_lib.step.StaticStep`: driven by device tensors only.
    With ``graph=True`` on a CUDA device it is recorded once as a CUDA graph and replayed (falling
    back to eager execution, with one line, if recording fails); on the CPU it always runs eagerly.
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
    run_config = {"method": method.config(), "dataset": train.name, "n_train": len(images),
                  "batch_size": batch_size, "seed": seed}
    if any(p.lr_factor is not None for p in phases):
        run_config["epochs"] = epochs      # a schedule over the run: its length is part of the trajectory

    graph = graph and device.type == "cuda"
    if graph:
        prepare_optimizers(phases, device)     # before any optimizer state exists or is loaded
    with _RunFolder(method.name, run_config, checkpoint_dir) as run:
        history, epoch, it, step = History(), 0, 0, 0
        saved = run.read(device, epochs) if resume else None
        if saved is not None:
            state = checkpoints.restore_training(run.folder, method, saved)
            history = History(**state["history"])
            epoch, it, step = state["epoch"], state["iteration"], state["step"]
            print(f"Resuming {method.name} from {run.folder} at epoch {epoch}"
                  + (f", iteration {it}" if it else "") + f" (step {step}).")
            if history.run.get("device_type") not in (None, device.type):
                print(f"Note: this run was trained on {history.run['device_type']} so far and continues on "
                      f"{device.type}; the record says both.")
        else:
            runtime.seed_everything(seed)
        history.run = {**history.run, **_run_record(method, run_config, epochs, device, run.folder)}
        history.run.setdefault("started_at", datetime.now().isoformat(timespec="seconds"))
        history.run["epochs_trained"] = epoch
        if epoch >= epochs:
            print(f"Already trained for {epoch} epochs, as asked: nothing to do.")
            return history
        _train(method, images, phases, history, epoch, it, step, epochs=epochs, batch_size=batch_size,
               n_batches=n_batches, seed=seed, callbacks=callbacks, log_every=log_every,
               checkpoint_seconds=checkpoint_seconds, progress=progress, device=device, save=run.save, graph=graph)
    return history


def _run_record(method: Method, run_config: dict, epochs: int, device: torch.device, folder: Path | None) -> dict:
    """The run's settings (from ``run_config``) plus what it was asked for and where it runs."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    settings = {k: v for k, v in run_config.items() if k not in ("method", "epochs")}
    return {"method": method.name, "config": run_config["method"], **settings, "epochs_asked": epochs,
            "device": str(device), "device_type": device.type, "device_name": name,
            "run_dir": str(folder) if folder is not None else None}


class _RunFolder:
    """Where a run lives: picks the folder, holds its lock, reads what is saved, saves.

    ``checkpoint_dir=None`` keeps nothing on disk; ``"auto"`` is ``<runs>/checkpoints/<method>-<hash>``.
    """

    def __init__(self, method_name: str, run_config: dict, checkpoint_dir):
        self.method_name, self.config = method_name, run_config
        self.folder = None
        if checkpoint_dir == "auto":
            self.folder = checkpoints.run_dir(method_name, run_config)
        elif checkpoint_dir:
            self.folder = Path(checkpoint_dir)
        self.lock = None

    def __enter__(self) -> "_RunFolder":
        if self.folder is not None:
            self._open(self.folder)
        return self

    def __exit__(self, *exc) -> None:
        if self.lock is not None:
            self.lock.release()

    def _open(self, folder: Path) -> None:
        if self.lock is not None:
            self.lock.release()
        runtime.ensure_dir(folder)
        self.lock = filelock.FileLock(str(folder / ".lock"), timeout=0)
        try:
            self.lock.acquire()
        except filelock.Timeout:
            self.lock = None
            raise RunInUse(f"Another process is training this same run in {folder} right now. Wait for it to "
                           f"finish (then run again: it resumes from that run), or change a setting.") from None
        saved = checkpoints.read_config(folder)
        if saved is not None and saved != json_safe(self.config):
            raise ValueError(f"{folder} holds a run with other settings ({_diff(saved, json_safe(self.config))}); "
                             f"give fit() another checkpoint_dir, or delete that folder to start over.")
        self.folder = folder
        checkpoints.write_config(folder, self.config)

    def read(self, device: torch.device, epochs: int) -> dict | None:
        """The saved state to resume from, or None. A run saved past ``epochs`` is not cut back:
        this run moves to a folder of its own length (its model at ``epochs`` was not kept)."""
        if self.folder is None or not (self.folder / checkpoints.LAST).exists():
            return None
        saved = checkpoints.read_training(self.folder, device)
        if saved["epoch"] <= epochs:
            return saved
        longer = self.folder
        self.config = {**self.config, "epochs": epochs}
        self._open(self.folder.with_name(f"{self.folder.name}-e{epochs}"))
        print(f"The run in {longer} has trained {saved['epoch']} epochs, more than the {epochs} asked for, and "
              f"its model after {epochs} was not kept. Training a separate {epochs}-epoch run in {self.folder}.")
        return self.read(device, epochs)

    def save(self, method: Method, history: History, epoch: int, it: int, step: int) -> None:
        if self.folder is not None:
            history.run["epochs_trained"] = epoch
            history.run["finished_at"] = datetime.now().isoformat(timespec="seconds")
            checkpoints.save_training(self.folder, method, history.state(), epoch, it, step)


def json_safe(config: dict) -> dict:
    """``config`` as it reads back from config.json (tuples become lists, ...)."""
    return json.loads(json.dumps(config, sort_keys=True, default=str))


def _diff(saved: dict, now: dict) -> str:
    keys = sorted(set(saved) | set(now), key=str)
    return "; ".join(f"{k}: saved {saved.get(k)!r}, now {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k))


def _train(method: Method, images: Tensor, phases: list[Phase], history: History, epoch: int, it: int,
           step: int, *, epochs: int, batch_size: int, n_batches: int, seed: int, callbacks, log_every: int,
           checkpoint_seconds: float, progress: bool, device: torch.device, save, graph: bool = False) -> None:
    """The loop of :func:`fit`, from (epoch, iteration, step) to ``epochs``; ``save`` checkpoints."""
    meter = _LossMeter(phases, step, device)
    n_iter = 0
    steps: dict[tuple[str, ...], StaticStep] = {}     # one static step (one graph) per set of active phases

    def record() -> None:
        """Read the losses (one host sync), append their means to the history, show them."""
        if meter.sums:
            means = meter.read(method.name, epoch)
            history.logs.append({"epoch": epoch + it / max(n_iter, 1), "step": step, **means})
            bar.set_postfix({k.replace("/", " "): f"{v:.3g}" for k, v in means.items() if k.endswith("/loss")},
                            refresh=False)

    method.train()
    bar = tqdm(total=epochs, initial=epoch, desc=method.name, unit="epoch", disable=not progress,
               dynamic_ncols=True)
    last_save, boundary = time.monotonic(), True
    try:
        with _StopButton() as stop:
            while epoch < epochs:
                active = [p for p in phases if p.active(epoch)]
                if not active:
                    raise ValueError(f"no phase of {method.name} is active in epoch {epoch}")
                per_iter = batches_per_iteration(active)
                n_iter = n_batches // per_iter
                if n_iter == 0:
                    raise ValueError(f"an iteration needs {per_iter} batches of {batch_size}, "
                                     f"more than the {len(images)} training images")
                key = tuple(p.name for p in active)
                if key not in steps:
                    steps[key] = StaticStep(active, images, batch_size, graph=graph)
                iteration = steps[key]
                iteration.start_epoch(data.epoch_permutation(len(images), seed=seed, epoch=epoch, device=device), it)
                t0 = time.perf_counter()
                while it < n_iter:
                    boundary = False
                    meter.step += 1                  # steps count from 1: the iteration now running
                    for phase in active:
                        if phase.lr_factor is not None:
                            scale_lr(phase.optimizer, phase.lr_factor((epoch + it / n_iter) / epochs))
                    for name, loss, logs in iteration():
                        meter.add(name, loss, logs)
                    it, step, boundary = it + 1, step + 1, True
                    for cb in callbacks:
                        cb.on_step_end(FitState(method, epoch, step, history, device))
                    if step % log_every == 0:
                        record()
                    if stop.pressed:
                        raise KeyboardInterrupt
                    if time.monotonic() - last_save >= checkpoint_seconds:
                        record()
                        save(method, history, epoch, it, step)
                        last_save = time.monotonic()
                record()
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                history.epochs.append({"epoch": epoch + 1, "seconds": time.perf_counter() - t0,
                                       "images": n_iter * per_iter * batch_size})
                epoch, it = epoch + 1, 0
                history.run["epochs_trained"] = epoch
                history.run["train_seconds"] = sum(r.get("seconds", 0.0) for r in history.epochs)
                for cb in callbacks:
                    cb.on_epoch_end(FitState(method, epoch, step, history, device))
                save(method, history, epoch, it, step)
                last_save = time.monotonic()
                bar.update(1)
    except KeyboardInterrupt:
        folder = history.run.get("run_dir")
        if boundary and folder is not None:
            record()
            save(method, history, epoch, it, step)
            print(f"\nInterrupted at epoch {epoch}, step {step}: checkpoint saved in {folder}. "
                  f"Run the same cell again to resume.")
        elif folder is not None:
            print(f"\nInterrupted mid-step: the last checkpoint in {folder} is kept. Run the cell again to resume.")
        raise
    finally:
        bar.close()
    history.run["finished_at"] = datetime.now().isoformat(timespec="seconds")


class _StopButton:
    """First Ctrl-C (the notebook's stop button): finish the iteration, save, stop. A second: stop now."""

    def __init__(self):
        self.event = threading.Event()
        self.old = None

    @property
    def pressed(self) -> bool:
        return self.event.is_set()

    def _handler(self, *_):
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()

    def __enter__(self) -> "_StopButton":
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)


def scale_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Learning rate = the rate the optimizer was made with × ``factor`` (a schedule's value now).

    A tensor learning rate (a recorded CUDA graph reads it) is updated in place."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        if torch.is_tensor(group["lr"]):
            group["lr"].fill_(float(group["initial_lr"]) * factor)
        else:
            group["lr"] = group["initial_lr"] * factor


def linear_decay(progress: float) -> float:
    """Learning-rate factor falling linearly from 1 at the start to 0 at the end of training."""
    return max(0.0, 1.0 - progress)
