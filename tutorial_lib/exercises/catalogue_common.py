"""What the catalogue modules share: seeded test inputs, and the mistakes (with their nudges) that several
exercises recognise in the same words."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from tutorial_lib.exercises.mistakes import Mistake, capped, no_gradient, nonfinite, swapped


# ============================================================================ cases

def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(seed: int, *shapes: tuple, scale: float = 1.0, dtype: torch.dtype = torch.float32) -> tuple:
    """One test case: a standard-normal tensor (times ``scale``) per shape, from generator ``seed``."""
    g = gen(seed)
    return tuple(scale * torch.randn(*shape, generator=g, dtype=dtype) for shape in shapes)


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ============================================================================ shared mistakes

UNSTABLE = ("at logits this large sigmoid rounds to exactly 0 or 1, and the log of that is −inf. Can you write "
            "each term as a function of the logit itself, never forming D = sigmoid(logit)?")
CAPPED = ("Your loss is right at moderate logits but too small here: it looks clamped (torch's binary_cross_entropy "
          "caps each log at −100; an ε inside the log caps it sooner). A clamp also kills the gradient where it "
          "bites. Can you compute each term from the logit itself?")


def through_sigmoid(at: str) -> list[Mistake]:
    """The two ways a GAN loss written through D = sigmoid(logit) fails at the extreme logits ``at``: inf or nan
    ("unstable"), or a clamp that keeps it finite but too small ("capped")."""
    return [Mistake("unstable", f"Your loss is inf or nan at logits {at}: " + UNSTABLE, nonfinite),
            Mistake("capped", CAPPED, capped)]


def real_and_fake_swapped(name: str, pointer: str, loss: Callable[..., Any]) -> Mistake:
    """A discriminator's loss whose first two arguments, the real and the generated batches, are exchanged."""
    return Mistake(name, "Your loss is smallest when D calls the real images fake and the generated ones real: "
                   + pointer, swapped(loss))


def untrained(who: str, *, answer: str = "Your loss has the right value", through: str = "on it",
              ask: str = "Did you detach, call .item() or numpy?") -> Mistake:
    """The "no-gradient" mistake of an exercise the series trains on: right values, but ``who`` could not learn."""
    return Mistake("no-gradient", f"{answer}, but no gradient reaches {{missing}}, so {who} could not be trained "
                   f"{through}. {ask}", no_gradient)
