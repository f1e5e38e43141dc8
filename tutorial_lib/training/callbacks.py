"""Callbacks: the hooks :func:`tutorial_lib.training.fit` calls (:class:`Callback`, given a :class:`FitState`),
and ready-made ones.

    SampleGrid(n)           after every epoch, samples from the same fixed noise (history.samples)
    EpochMetric(fn)         after every epoch, fn(method) -> {name: value} added to history.epochs
    StepMetric(fn, every)   every few steps, fn(method) -> {name: value} appended to history.logs

Measuring never changes the course of training: metrics run on a forked RNG, in eval mode (or in
train mode with the batch-norm running statistics put back afterwards).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from tutorial_lib import data
from tutorial_lib.methods.base import Method
from tutorial_lib.training.history import History


@dataclass
class FitState:
    """Passed to callbacks: the method, where the run is, and what it has recorded."""
    method: Method
    epoch: int
    step: int                          # iterations since the run began (1 after the first)
    history: History
    device: torch.device


class Callback:
    """Hook into ``fit`` at named events; override what you need (see tutorial_lib.training.callbacks)."""

    def on_step_end(self, state: FitState) -> None: ...

    def on_epoch_end(self, state: FitState) -> None: ...



class SampleGrid(Callback):
    """Each epoch, decode the same fixed noise and keep the samples in the history.

    Images are stored as uint8 (64 of them take 50 kB); 2-D toy points as floats. A strip of
    these shows how samples from one z evolve over training.
    """

    def __init__(self, n: int = 64, seed: int = 1234):
        self.n, self.seed = n, seed

    def on_epoch_end(self, state: FitState) -> None:
        gen = torch.Generator(device=state.device).manual_seed(self.seed)
        z = state.method.noise(self.n, generator=gen)
        with eval_mode(state.method), torch.no_grad():
            x = state.method.sample(self.n, z=z)
        state.history.samples[state.epoch] = (data.to_uint8(x) if x.dim() == 4 else x.float()).cpu()


class EpochMetric(Callback):
    """Every ``every`` epochs, add ``fn(method) -> {name: float}`` to that epoch's row.

    ``fn`` runs in eval mode, without gradients (unless ``grad=True``), on a forked RNG.
    """

    def __init__(self, fn: Callable[[Method], dict[str, float]], every: int = 1, grad: bool = False):
        self.fn, self.every, self.grad = fn, every, grad

    def on_epoch_end(self, state: FitState) -> None:
        if state.epoch % self.every == 0:
            state.history.epochs[-1].update(_measure(self.fn, state, self.grad))


class StepMetric(Callback):
    """Every ``every`` steps, log ``fn(method) -> {name: float}`` (one host sync each time).

    ``train_mode=True`` measures in training mode (batch norm on the batch's own statistics, as the
    update step sees it); the running statistics are put back afterwards, so nothing changes.
    """

    def __init__(self, fn: Callable[[Method], dict[str, float]], every: int = 50, grad: bool = False,
                 train_mode: bool = False):
        self.fn, self.every, self.grad, self.train_mode = fn, every, grad, train_mode

    def on_step_end(self, state: FitState) -> None:
        if state.step % self.every == 0:
            state.history.logs.append({"step": state.step,
                                       **_measure(self.fn, state, self.grad, train_mode=self.train_mode)})


class eval_mode:
    """Context manager: ``module.eval()`` inside, the previous mode restored on exit."""

    def __init__(self, module: torch.nn.Module):
        self.module = module

    def __enter__(self):
        self.was_training = self.module.training
        self.module.eval()
        return self.module

    def __exit__(self, *exc):
        self.module.train(self.was_training)
        return False


def _measure(fn: Callable[[Method], dict[str, float]], state: FitState, grad: bool,
             train_mode: bool = False) -> dict[str, float]:
    devices = [state.device.index or 0] if state.device.type == "cuda" else []
    if train_mode:                       # batch statistics, as in training; running statistics restored after
        buffers = {k: v.clone() for k, v in state.method.state_dict().items() if "running" in k or "num_batches" in k}
        with torch.random.fork_rng(devices=devices), torch.set_grad_enabled(grad):
            out = {k: float(v) for k, v in fn(state.method).items()}
        state.method.load_state_dict(buffers, strict=False)
        return out
    with torch.random.fork_rng(devices=devices), eval_mode(state.method), torch.set_grad_enabled(grad):
        return {k: float(v) for k, v in fn(state.method).items()}
