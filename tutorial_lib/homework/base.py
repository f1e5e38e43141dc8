"""The build-it-yourself records: a small training :class:`Setting`, the library's :class:`Bar` at it, a
:class:`Task` (a notebook's model, figures and bars) and the :class:`Verdict` on a student's model."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Callable

import torch

from tutorial_lib import data
from tutorial_lib.methods.base import Batch, Method


@dataclass(frozen=True)
class Setting:
    """One small training run: the first ``n_train`` images, ``epochs`` passes, the method's config."""
    dataset: str
    n_train: int
    epochs: int
    batch_size: int
    config: dict
    eval_n: int
    """Test images the figures are measured on (and, for FD, as many samples)."""
    seed: int = 0


@dataclass(frozen=True)
class Bar:
    """The library's model at a setting: its figure over seeds, and the tolerance a student's model gets."""
    mean: float
    tolerance: float
    seeds: tuple[float, ...]
    measured: str

    @classmethod
    def from_seeds(cls, values: list[float], measured: str) -> "Bar":
        spread = max(3 * statistics.stdev(values), max(values) - min(values))
        return cls(statistics.fmean(values), spread, tuple(values), measured)


@dataclass(frozen=True)
class Task:
    notebook: str
    library: type
    config: type
    full: Setting
    smoke: Setting
    measure: Callable[[Method, data.Split, torch.nn.Module | None], dict[str, float]]
    judged: tuple[str, ...]
    """The figures compared with the library's."""
    bars: dict
    """'full' / 'smoke' -> {figure: Bar}: the figures judged against the library's."""
    hint: Callable[[dict, list], str] = lambda figures, worse: ""
    """What to look at when judged figures (``worse``, their names) are too high: a question, never the answer."""
    solution: str = ""
    extra: Callable[[dict], str] | None = None
    """Conditions without a bar: '' when met, else what is wrong."""
    uses_evaluator: bool = True
    """Whether ``measure`` reads the digits through the shipped evaluator (04's −ELBO does not)."""
    prepare: Callable[[Method, data.Split], None] | None = None
    """What a fresh model needs before ``fit`` (11: ``attach_labels`` on the training images it will see)."""
    check: Callable[[Method, Batch], str] | None = None
    """A check on one batch before training: '' when met, else what is wrong (11: the loss never reads batch.y)."""


@dataclass
class Verdict:
    passed: bool
    figures: dict[str, float]
    bars: dict[str, Bar]
    live: bool
    """True when the library's model was trained here (no stored bars for these data)."""
    seconds: float
    problem: str = ""


