"""Ready-made callbacks for :func:`tutorial_lib.trainer.fit`.

    SampleGrid(n)           after every epoch, samples from the same fixed noise (history.samples)
    EpochMetric(fn)         after every epoch, fn(method) -> {name: value} added to history.epochs
    StepMetric(fn, every)   every few steps, fn(method) -> {name: value} appended to history.logs

Measuring never changes the course of training: metrics run in eval mode on a forked RNG.
"""
from __future__ import annotations

from typing import Callable

import torch

from tutorial_lib import data
from tutorial_lib.trainer import Callback, FitState, Method


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
    """Every ``every`` steps, log ``fn(method) -> {name: float}`` (one host sync each time)."""

    def __init__(self, fn: Callable[[Method], dict[str, float]], every: int = 50, grad: bool = False):
        self.fn, self.every, self.grad = fn, every, grad

    def on_step_end(self, state: FitState) -> None:
        if state.step % self.every == 0:
            state.history.logs.append({"step": state.step, **_measure(self.fn, state, self.grad)})


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


def _measure(fn: Callable[[Method], dict[str, float]], state: FitState, grad: bool) -> dict[str, float]:
    devices = [state.device.index or 0] if state.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), eval_mode(state.method), torch.set_grad_enabled(grad):
        return {k: float(v) for k, v in fn(state.method).items()}
