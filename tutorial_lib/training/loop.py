"""One training loop for every model: ``fit()`` runs the update phases a method declares.

A method (VAE, GAN, WGAN-GP, AEGAN) says *what* to update: a list of
:class:`tutorial_lib.methods.base.Phase` (which optimizer, which loss of a
:class:`~tutorial_lib.methods.base.Batch`, how many times per iteration). ``fit`` does the rest:
batches of images and their labels from the device-resident dataset, progress, loss history,
checkpoints, resume, and stopping on a non-finite loss. The contract itself (``Method``,
``Phase``, ``Batch``) lives in :mod:`tutorial_lib.methods.base`.

Words, as every message and record uses them:

    update      one optimizer step of one phase, on one batch
    iteration   one pass over the phases active in this epoch, every repeat included
                (WGAN-GP: five critic updates on five fresh batches, then one generator update)
    step        the run's count of iterations since it began, 1, 2, ... (history.logs,
                callbacks and checkpoints report it); ``iteration`` is the position in the epoch

Losses are accumulated on the device and read once per log interval (no ``.item()`` per
iteration), so the GPU never waits for Python. Ready-made callbacks (fixed-noise sample grids,
metrics per epoch or per step) live in :mod:`tutorial_lib.training.callbacks`.
"""
from __future__ import annotations

import math
import os
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
from tqdm.auto import tqdm

from tutorial_lib import checks, data, runtime
from tutorial_lib.methods.base import Method, Phase
from tutorial_lib.training import checkpoints, shipped as shipped_models
from tutorial_lib.training.callbacks import Callback, FitState
from tutorial_lib.training.history import History
from tutorial_lib.training.runs import RunFolder
from tutorial_lib.training.step import StaticStep, batches_per_iteration, prepare_optimizers

Tensor = torch.Tensor


class NonFiniteLoss(FloatingPointError):
    """A loss became NaN or inf; the message names the phase and the step."""


DEADLINE_ENV = "TUTORIAL_DEADLINE"
"""Environment variable: a moment (seconds since the epoch, as ``time.time()``) after which every ``fit``
stops at the end of its current iteration, checkpointed (``python -m tutorial_lib.commands.series --deadline-min``)."""


class DeadlineReached(KeyboardInterrupt):
    """The deadline in ``$TUTORIAL_DEADLINE`` passed: the run was checkpointed and stopped, as by the stop
    button (hence a KeyboardInterrupt, which no ``except Exception`` swallows). Run it again to resume."""


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
        progress: bool = True, graph: bool = False, shipped: bool = False) -> History:
    """Train ``method`` on ``train`` for ``epochs`` passes; returns the :class:`History`.

    The dataset (images as uint8, and labels) is moved to the method's device once. Each epoch
    visits a seeded permutation of it, images and labels alike; the last ragged batch is dropped.
    Every phase's loss receives a :class:`Batch` ``(x, y)``. ``log_every`` counts iterations.

    With ``checkpoint_dir="auto"`` the run lives in ``<runs>/checkpoints/<method>-<hash>/``: it is
    checkpointed at every epoch end and every ``checkpoint_seconds`` (atomically), on interrupt
    (Ctrl-C / the notebook's stop button), and a later call with the same settings resumes there.
    When the moment in ``$TUTORIAL_DEADLINE`` passes, the run stops the same way and raises
    :class:`DeadlineReached`.

    Resume never hands back a model trained for other settings. The folder's hash covers
    everything that decides the trajectory: the method's config, the data, batch size, seed, and
    the number of epochs too when a phase's learning rate follows the run's progress. Asking for
    more epochs than a saved run has extends it (exactly what one longer run would have done);
    asking for fewer starts a separate run of that length, and says so. ``history.run`` records
    the epochs actually trained. Two processes never train in the same folder at once.

    Each iteration is a :class:`tutorial_lib.training.step.StaticStep`: driven by device tensors only.
    With ``graph=True`` on a CUDA device it is recorded once as a CUDA graph and replayed; if
    recording fails, :class:`tutorial_lib.training.step.GraphCaptureFailed` says why and how to resume eagerly
    (``graph=False``). On the CPU it always runs eagerly.

    With ``shipped=True`` a model that ships with the series for exactly these settings and this
    number of epochs (:mod:`tutorial_lib.training.shipped`) is loaded instead of training, with one line
    saying so; its history is the shipped run's. Any other setting trains as usual.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("log_every", log_every)):
        checks.check_positive_int(name, value)
    if batch_size > len(train):
        raise ValueError(f"batch_size={batch_size} is larger than the dataset ({len(train)} examples)")
    device = next(method.parameters()).device
    train = train.to(device)
    phases = method.phases()
    run_config = {"method": method.config(), "dataset": train.name, "n_train": len(train),
                  "batch_size": batch_size, "seed": seed}
    if any(p.lr_factor is not None for p in phases):
        run_config["epochs"] = epochs      # a schedule over the run: its length is part of the trajectory
    if shipped:
        record = shipped_models.find(method.name, run_config, epochs)
        if record is not None:
            history = History(**shipped_models.load_into(method, record))
            print(shipped_models.loaded_line(record))
            return history
        if not runtime.smoke_mode():
            print(f"No shipped {method.name} model for these settings and {epochs} epochs: training it here.")
    graph = graph and device.type == "cuda"
    with RunFolder(method.name, run_config, checkpoint_dir) as run:
        history, at = _resume_or_start(method, run, epochs, seed, device, resume)
        prepare_optimizers(phases, device, graph)     # after the saved state, which brings its own settings
        if shipped:
            run.note_asked_shipped()
        if at.epoch >= epochs:
            print(f"Already trained for {at.epoch} epochs, as asked: nothing to do.")
            return history
        loop = _Loop(method, train, phases, history, at, batch_size=batch_size, seed=seed, callbacks=callbacks,
                     log_every=log_every, checkpoint_seconds=checkpoint_seconds, save=run.save, graph=graph)
        loop.run(epochs, progress)
    return history


@dataclass
class _Position:
    """Where a run stands: ``epoch`` epochs done, ``iteration`` iterations into the next, ``step``
    iterations since the run began."""
    epoch: int = 0
    iteration: int = 0
    step: int = 0


def _resume_or_start(method: Method, run: "RunFolder", epochs: int, seed: int, device: torch.device,
                     resume: bool) -> tuple[History, _Position]:
    """The saved run's history and position, its weights and optimizer states restored into
    ``method``; or, with nothing to resume, a fresh history at the start, seeded."""
    saved = run.read(device, epochs) if resume else None
    if saved is None:
        runtime.seed_everything(seed)
        history, at = History(), _Position()
    else:
        state = checkpoints.restore_training(run.folder, method, saved)
        history = History(**state["history"])
        at = _Position(state["epoch"], state["iteration"], state["step"])
        print(f"Resuming {method.name} from {run.folder} at epoch {at.epoch}"
              + (f", iteration {at.iteration}" if at.iteration else "") + f" (step {at.step}).")
        if history.run.get("device_type") not in (None, device.type):
            print(f"Note: this run was trained on {history.run['device_type']} so far and continues on "
                  f"{device.type}; the record says both.")
    before = history.run.get("device_name")
    history.run = {**history.run, **_run_record(method, run.config, epochs, device, run.folder)}
    # where each stretch of the run trained: [{"device": name, "from_epoch": e}, ...] (a run may go on elsewhere)
    devices = list(history.run.get("devices") or ([{"device": before, "from_epoch": 0}] if before else []))
    if not devices or devices[-1]["device"] != history.run["device_name"]:
        devices.append({"device": history.run["device_name"], "from_epoch": at.epoch})
    history.run["devices"] = devices
    history.run.setdefault("started_at", datetime.now().isoformat(timespec="seconds"))
    history.run["epochs_trained"] = at.epoch
    return history, at


def _run_record(method: Method, run_config: dict, epochs: int, device: torch.device, folder: Path | None) -> dict:
    """The run's settings (from ``run_config``) plus what it was asked for and where it runs."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    settings = {k: v for k, v in run_config.items() if k not in ("method", "epochs")}
    return {"method": method.name, "config": run_config["method"], **settings, "epochs_asked": epochs,
            "device": str(device), "device_type": device.type, "device_name": name,
            "run_dir": str(folder) if folder is not None else None}


class _Loop:
    """The loop of :func:`fit`, from a position ``at`` to the last epoch: epochs of iterations,
    the loss record, callbacks, checkpoints (``save``), and what an interrupt leaves behind."""

    def __init__(self, method: Method, train: data.Split, phases: list[Phase], history: History, at: _Position,
                 *, batch_size: int, seed: int, callbacks, log_every: int, checkpoint_seconds: float, save,
                 graph: bool):
        self.method, self.train, self.phases, self.history, self.at = method, train, phases, history, at
        self.batch_size, self.seed, self.callbacks, self.log_every = batch_size, seed, callbacks, log_every
        self.checkpoint_seconds, self.save, self.graph = checkpoint_seconds, save, graph
        self.device = train.x.device
        self.meter = _LossMeter(phases, at.step, self.device)
        self.static_steps: dict[tuple[str, ...], StaticStep] = {}   # one per set of active phases (one graph each)
        self.n_iter = 0                        # iterations in the current epoch
        self.between_iterations = True         # where a checkpoint may be taken
        self.last_save = time.monotonic()
        self.deadline = float(os.environ.get(DEADLINE_ENV) or math.inf)

    def run(self, epochs: int, progress: bool) -> None:
        self.method.train()
        self.bar = tqdm(total=epochs, initial=self.at.epoch, desc=self.method.name, unit="epoch",
                        disable=not progress, dynamic_ncols=True)
        try:
            with _StopButton() as stop:
                while self.at.epoch < epochs:
                    self.epoch(epochs, stop)
                    self.bar.update(1)
        except KeyboardInterrupt:
            self.interrupted()
            raise
        finally:
            self.bar.close()
        self.history.run["finished_at"] = datetime.now().isoformat(timespec="seconds")

    def epoch(self, epochs: int, stop: "_StopButton") -> None:
        """The epoch's remaining iterations (checkpointing every ``checkpoint_seconds``), then its end."""
        active, per_iter, run_iteration = self.start_epoch()
        t0 = time.perf_counter()
        while self.at.iteration < self.n_iter:
            self.iteration(run_iteration, active, epochs)
            if stop.pressed:
                raise KeyboardInterrupt
            if time.time() >= self.deadline:
                raise DeadlineReached(f"the deadline in ${DEADLINE_ENV} has passed; run this again to resume")
            if time.monotonic() - self.last_save >= self.checkpoint_seconds:
                self.checkpoint()
        self.end_epoch(per_iter, t0)

    def start_epoch(self) -> tuple[list[Phase], int, StaticStep]:
        """The phases active in this epoch, the batches one iteration of them draws, and their
        static step, loaded with the epoch's permutation at the current iteration."""
        at = self.at
        active = [p for p in self.phases if p.active(at.epoch)]
        if not active:
            raise ValueError(f"no phase of {self.method.name} is active in epoch {at.epoch}")
        per_iter = batches_per_iteration(active)
        self.n_iter = data.batches_per_epoch(len(self.train), self.batch_size) // per_iter
        if self.n_iter == 0:
            raise ValueError(f"an iteration needs {per_iter} batches of {self.batch_size}, "
                             f"more than the {len(self.train)} training images")
        key = tuple(p.name for p in active)
        if key not in self.static_steps:
            self.static_steps[key] = StaticStep(active, self.train, self.batch_size, graph=self.graph)
        perm = data.epoch_permutation(len(self.train), seed=self.seed, epoch=at.epoch, device=self.device)
        self.static_steps[key].start_epoch(perm, at.iteration)
        return active, per_iter, self.static_steps[key]

    def end_epoch(self, per_iter: int, t0: float) -> None:
        """The epoch's last losses and summary row, ``on_epoch_end``, and a checkpoint."""
        at, history = self.at, self.history
        self.record()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        history.epochs.append({"epoch": at.epoch + 1, "seconds": time.perf_counter() - t0,
                               "images": self.n_iter * per_iter * self.batch_size})
        at.epoch, at.iteration = at.epoch + 1, 0
        history.run["epochs_trained"] = at.epoch
        history.run["train_seconds"] = sum(r.get("seconds", 0.0) for r in history.epochs)
        for cb in self.callbacks:
            cb.on_epoch_end(FitState(self.method, at.epoch, at.step, history, self.device))
        self.checkpoint()

    def iteration(self, run_iteration: StaticStep, active: list[Phase], epochs: int) -> None:
        """One iteration: schedules, every active phase's updates, ``on_step_end``, the log."""
        at = self.at
        self.between_iterations = False
        self.meter.step += 1                   # steps count from 1: the iteration now running
        for phase in active:
            if phase.lr_factor is not None:
                scale_lr(phase.optimizer, phase.lr_factor((at.epoch + at.iteration / self.n_iter) / epochs))
        for name, loss, logs in run_iteration():
            self.meter.add(name, loss, logs)
        at.iteration, at.step, self.between_iterations = at.iteration + 1, at.step + 1, True
        for cb in self.callbacks:
            cb.on_step_end(FitState(self.method, at.epoch, at.step, self.history, self.device))
        if at.step % self.log_every == 0:
            self.record()

    def record(self) -> None:
        """Read the losses (one host sync), append their means to the history, show them."""
        if self.meter.sums:
            means = self.meter.read(self.method.name, self.at.epoch)
            self.history.logs.append({"epoch": self.at.epoch + self.at.iteration / max(self.n_iter, 1),
                                      "step": self.at.step, **means})
            self.bar.set_postfix({k.replace("/", " "): f"{v:.3g}" for k, v in means.items() if k.endswith("/loss")},
                                 refresh=False)

    def checkpoint(self) -> None:
        self.record()
        self.save(self.method, self.history, self.at)
        self.last_save = time.monotonic()

    def interrupted(self) -> None:
        """Ctrl-C or the stop button: between iterations, save and say how to resume; inside one
        (a second Ctrl-C), keep the last checkpoint."""
        folder = self.history.run.get("run_dir")
        if folder is None:
            return
        if self.between_iterations:
            self.checkpoint()
            print(f"\nInterrupted at epoch {self.at.epoch}, step {self.at.step}: checkpoint saved in {folder}. "
                  f"Run the same cell again to resume.")
        else:
            print(f"\nInterrupted mid-iteration: the last checkpoint in {folder} is kept. Run the cell again to resume.")


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

