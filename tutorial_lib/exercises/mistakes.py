"""Recognising mistakes: what the checker saw on a failing case (:class:`Trial`), a recognised mistake
(:class:`Mistake`), the detectors an exercise builds its mistakes from (:func:`like`, :func:`scaled`,
:func:`raises`, …), and the mistakes every exercise recognises (:data:`GENERIC`).

A detector is a function of the trial that says whether the answer shows the mistake; a catalogue entry
pairs it with a nudge, a question that points at the mistake without giving the formula.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch


@dataclass
class Trial:
    """What the checker saw on one failing case, handed to each :class:`Mistake` to recognise.

    ``stage`` is "error" (the function raised: ``got`` is the exception), "value" (the answer differs
    from ``expected``) or "gradient" (the value is right, the gradient is not; ``missing`` names the
    inputs no gradient reached).
    """
    attempt: Callable[..., Any]
    args: tuple
    got: Any
    expected: Any
    stage: str
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mistake:
    """A mistake the checker recognises: ``seen(trial)`` says whether the answer shows it."""
    name: str
    nudge: str                      # a question or a pointer at the mistake, never the formula
    seen: Callable[[Trial], bool]


def _as_array(value: Any) -> np.ndarray:
    if torch.is_tensor(value):
        return value.detach().cpu().double().numpy()
    if isinstance(value, (tuple, list)):
        return np.stack([_as_array(v) for v in value]) if value else np.zeros(0)
    array = np.asarray(value)
    return array if np.iscomplexobj(array) else array.astype(float)


def _fresh(args: tuple) -> tuple:
    """A copy of a case's arguments, so no call sees what another call did to them."""
    def copy(a):
        if torch.is_tensor(a):
            return a.detach().clone()
        return a.copy() if isinstance(a, np.ndarray) else a
    return tuple(copy(a) for a in args)


def _close(got: Any, wrong: Any, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    g, w = _as_array(got), _as_array(wrong)
    return g.shape == w.shape and bool(np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True))


# ============================================================================ detectors

def like(*variants: Callable[..., Any], rtol: float = 1e-4, atol: float = 1e-6,
         nonfinite_too: bool = False) -> Callable[[Trial], bool]:
    """Seen when the answer equals one of these wrong variants, run on the same inputs.

    A variant that gives inf or nan on this case is no evidence (any overflowing answer would match it),
    unless ``nonfinite_too``: then its infs and nans must sit where the answer's do.
    """
    def seen(t: Trial) -> bool:
        if t.stage != "value":
            return False
        for variant in variants:
            try:
                wrong = variant(*_fresh(t.args))
            except Exception:
                continue
            if not nonfinite_too and not np.isfinite(_as_array(wrong)).all():
                continue
            if _close(t.got, wrong, rtol, atol):
                return True
        return False
    return seen


def swapped(reference: Callable[..., Any]) -> Callable[[Trial], bool]:
    """Seen when the answer is ``reference``'s with its first two arguments exchanged."""
    return like(lambda a, b, *rest: reference(b, a, *rest))


def scaled(factor: float) -> Callable[[Trial], bool]:
    """Seen when the answer is ``factor`` times the right one (where the right one is not 0)."""
    def seen(t: Trial) -> bool:
        e = _as_array(t.expected)
        return t.stage == "value" and bool(np.abs(e).max() > 1e-9) and _close(t.got, factor * e)
    return seen


def raises(pattern: str) -> Callable[[Trial], bool]:
    """Seen when the function raised an error whose message matches ``pattern``."""
    return lambda t: t.stage == "error" and re.search(pattern, str(t.got)) is not None


def nonfinite(t: Trial) -> bool:
    """Seen when the answer has inf or nan where the right one is finite."""
    if t.stage != "value":
        return False
    g, e = _as_array(t.got), _as_array(t.expected)
    return g.shape == e.shape and bool((~np.isfinite(g) & np.isfinite(e)).any())


def capped(t: Trial) -> bool:
    """Seen when, at logits of size 100 or more, the loss is finite but well short of the right one (a clamp)."""
    if t.stage != "value" or max(float(a.abs().max()) for a in t.args if torch.is_tensor(a)) < 100:
        return False
    g, e = _as_array(t.got), _as_array(t.expected)
    return g.shape == e.shape and bool(np.isfinite(g).all() and (g < e - 1).any())


def random_answer(t: Trial) -> bool:
    """Seen when the same inputs give another answer on a second call: the function draws its own noise."""
    if t.stage != "value":
        return False
    again = t.attempt(*_fresh(t.args))
    return not _close(t.got, again, rtol=1e-9, atol=1e-12)


def no_gradient(t: Trial) -> bool:
    """Seen when the value is right but no gradient reaches an input (or weight) that the library's reaches."""
    return t.stage == "gradient" and bool(t.missing)


def either(*tests: Callable[[Trial], bool]) -> Callable[[Trial], bool]:
    """Seen when any of ``tests`` sees it: one mistake that shows two ways."""
    return lambda t: any(test(t) for test in tests)


# ============================================================================ the mistakes of every exercise

GENERIC: tuple[Mistake, ...] = (
    Mistake("returns-nothing", "Your function returned None: is there a `return` at its end?",
            lambda t: t.stage == "value" and t.got is None),
    Mistake("numpy-on-tensor", "A numpy function received a tensor that carries a gradient: numpy cannot follow "
            "gradients. Use torch's own functions (torch.log, torch.exp, …) on tensors.",
            raises(r"numpy\(\) on Tensor that requires grad")),
    Mistake("in-place", "Your function changes one of its inputs in place (an operation ending in _, or an "
            "assignment into it): in training that input comes out of a network, and autograd still needs it. "
            "Compute a new tensor instead.", raises(r"leaf Variable that requires grad is being used in an in-place")),
    Mistake("transposed", "Your numbers are right but transposed: which axis should hold what? Read the shapes in "
            "the function's docstring.",
            lambda t: t.stage == "value" and _as_array(t.got).ndim == 2 and _as_array(t.got).shape[0] > 1
            and _close(_as_array(t.got).T, t.expected) and not _close(t.got, t.expected)),
    Mistake("reshaped", "Your numbers are right but arranged in another shape: compare the shape you return with the "
            "one in the function's docstring.",
            lambda t: t.stage == "value" and _as_array(t.got).shape != _as_array(t.expected).shape
            and _as_array(t.got).size == _as_array(t.expected).size
            and _close(_as_array(t.got).ravel(), _as_array(t.expected).ravel())),
    Mistake("sign", "Your answer is the right one with the opposite sign: look for a minus sign too many or too few, "
            "or a ratio turned upside down inside a log.", scaled(-1.0)),
    Mistake("double", "Your answer is exactly twice the right one: look for a factor of 2, or a ½ left out.",
            scaled(2.0)),
    Mistake("half", "Your answer is exactly half the right one: look for a factor ½ too many.", scaled(0.5)),
    Mistake("imprecise", "Your answer is close to the right one but outside the tolerance: is there an "
            "approximation in it, such as an ε added inside a log, a clamp, or a step that loses precision?",
            lambda t: t.stage == "value" and _close(t.got, t.expected, rtol=1e-3, atol=1e-5)),
    Mistake("nonfinite", "Your answer has inf or nan where the right one is finite: which step overflows, "
            "underflows, or divides 0 by 0 at this case's inputs? Logarithms of sums can often be kept as logarithms.",
            nonfinite),
    Mistake("no-gradient", "Your answer has the right values, but no gradient reaches {missing}, so nothing could be "
            "trained on it. Did you detach, call .item() or numpy, or build a new tensor from the numbers?",
            no_gradient),
    Mistake("gradient", "Your values are right but their gradient is not: is part of the computation detached, "
            "or replaced by a constant that happens to have the same value?", lambda t: t.stage == "gradient"),
)
