"""The checker: how an answer is run against an exercise's cases, compared with the library's answer (its value
and, where the series trains on it, its gradient), which hint a failing answer gets, and the report printed.

The exercises themselves (their cases, recognised mistakes and nudges) live in the ``catalogue_*`` modules,
which register each one with :func:`add`.
"""
from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from tutorial_lib.exercises.mistakes import GENERIC, Mistake, Trial, _as_array, _fresh

Tensor = torch.Tensor


class Case(tuple):
    """One test case: the arguments, and a note that says what the case probes (shown when it fails)."""
    note: str = ""


def case(*args: Any, note: str = "") -> Case:
    out = Case(args)
    out.note = note
    return out


@dataclass(frozen=True)
class Exercise:
    key: str
    title: str
    reference: Callable[..., Any]
    cases: Callable[[], list[tuple]]
    nudge: str                       # level 1: what to think about, without the answer
    formula: str                     # level 2: the answer, shown only when asked for
    mistakes: tuple[Mistake, ...]    # the mistakes this exercise recognises, tried in order
    trainable: Callable[[tuple], list[tuple[int | str, Tensor]]] | None = None   # what a gradient must reach
    rtol: float = 1e-5
    atol: float = 1e-6

    def mistake(self, name: str) -> Mistake:
        return next(m for m in self.mistakes + GENERIC if m.name == name)


EXERCISES: dict[str, Exercise] = {}


def add(key: str, title: str, reference: Callable[..., Any], cases: Callable[[], list[tuple]], *, nudge: str,
        formula: str, mistakes: list[Mistake], trainable: Callable | None = None,
        rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Register exercise ``key``: ``cases()`` gives argument tuples, ``reference(*args)`` the right answer."""
    EXERCISES[key] = Exercise(key, title, reference, cases, nudge, formula, tuple(mistakes), trainable, rtol, atol)


def _inputs(*indices: int) -> Callable[[tuple], list[tuple[int, Tensor]]]:
    """Trainable inputs: these arguments get requires_grad, and a gradient must reach each of them."""
    def mark(args: tuple) -> list[tuple[int, Tensor]]:
        return [(i, args[i].requires_grad_(True)) for i in indices]
    return mark


# ============================================================================ running an answer

def _same(expected: Any, got: Any, ex: Exercise) -> str:
    """"" when ``got`` matches ``expected``; else what differs."""
    e = _as_array(expected)
    try:
        g = _as_array(got)
    except (TypeError, ValueError):
        return f"expected numbers of shape {e.shape}, got {type(got).__name__} {got!r:.60}"
    if np.iscomplexobj(g) and not np.iscomplexobj(e):
        return f"expected a real number, got a complex one ({g.ravel()[0]:.6g})"
    if e.shape != g.shape:
        return f"expected shape {e.shape}, got {g.shape}"
    if not np.allclose(g, e, rtol=ex.rtol, atol=ex.atol, equal_nan=False):
        where = np.argmax(np.abs(np.nan_to_num(g - e, nan=np.inf)).ravel()) if e.size else 0
        return f"expected {e.ravel()[where]:.6g}, got {g.ravel()[where]:.6g} (entry {where} of {e.size})"
    return ""


def _arg_names(attempt: Callable) -> list[str]:
    """The names of ``attempt``'s positional parameters, up to any ``*args``."""
    try:
        parameters = inspect.signature(attempt).parameters.values()
    except (TypeError, ValueError):
        return []
    names = []
    for p in parameters:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break
        names.append(p.name)
    return names


def _gradients(answer: Any, leaves: list[tuple[int | str, Tensor]]) -> list[Tensor | None] | None:
    """d(sum of answer)/d leaf for each leaf (None where none reaches it); None when the answer has no graph."""
    if not torch.is_tensor(answer) or not answer.requires_grad:
        return None
    return list(torch.autograd.grad(answer.sum(), [t for _, t in leaves], allow_unused=True))


def _gradient_gap(ex: Exercise, attempt: Callable, got: Any, leaves: list, expected: Tensor,
                  ref_leaves: list) -> tuple[str, tuple[str, ...]]:
    """("", ()) when ``got`` carries the library's gradient; else what differs and which inputs it misses."""
    names = _arg_names(attempt)

    def name(label: int | str) -> str:
        if isinstance(label, str):
            return label
        return f"`{names[label]}`" if label < len(names) else f"argument {label + 1}"

    want = _gradients(expected, ref_leaves)
    try:
        have = _gradients(got, leaves)
    except RuntimeError as err:
        return f"the value is right, but its gradient cannot be computed ({err})", ()
    if have is None:
        have = [None] * len(leaves)
    missing, differs = [], []
    for (label, _), h, w in zip(leaves, have, want):
        if w is None or not w.abs().max() > 0:
            continue
        if h is None or not h.abs().max() > 0:
            missing.append(name(label))
        elif not torch.allclose(h.double(), w.double(), rtol=1e-4, atol=1e-6 * max(1.0, w.abs().max().item())):
            differs.append(name(label))
    missing, differs = list(dict.fromkeys(missing)), list(dict.fromkeys(differs))
    if missing:
        return f"the value is right, but no gradient reaches {' or '.join(missing)}", tuple(missing)
    if differs:
        return f"the value is right, but its gradient with respect to {' and '.join(differs)} is not", ()
    return "", ()


def _run(ex: Exercise, attempt: Callable, args: Case) -> tuple[Trial, str] | str | None:
    """None when ``attempt`` is right on this case; "stub" when it is not written yet; else (trial, problem)."""
    ref_args, try_args = _fresh(args), _fresh(args)
    ref_leaves = ex.trainable(ref_args) if ex.trainable else []
    expected = ex.reference(*ref_args)
    leaves = ex.trainable(try_args) if ex.trainable else []
    try:
        got = attempt(*try_args)
    except NotImplementedError:
        return "stub"
    except Exception as err:                         # the student's code failed: say so, do not stop
        return Trial(attempt, args, err, expected, "error"), f"your function raised {type(err).__name__}: {err}"
    problem = _same(expected, got, ex)
    if problem:
        return Trial(attempt, args, got, expected, "value"), problem
    if ex.trainable:
        problem, missing = _gradient_gap(ex, attempt, got, leaves, expected, ref_leaves)
        if problem:
            return Trial(attempt, args, got, expected, "gradient", missing), problem
    return None


# ============================================================================ choosing the hint, the report

def diagnose(ex: Exercise, trial: Trial) -> Mistake | None:
    """The first mistake, the exercise's own before the generic ones, that the trial shows."""
    for mistake in ex.mistakes + GENERIC:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                if mistake.seen(trial):
                    return mistake
        except Exception:                            # a detector that cannot judge this answer does not fire
            continue
    return None


def _nudge(mistake: Mistake | None, ex: Exercise, trial: Trial) -> str:
    if mistake is None:
        return ex.nudge
    return mistake.nudge.replace("{missing}", " or ".join(trial.missing) or "the inputs")


def check(key: str, attempt: Callable[..., Any], *, quiet: bool = False) -> bool | None:
    """Run ``attempt`` on exercise ``key``'s test cases; print and return the verdict (see the package doc)."""
    ex = EXERCISES[key]
    say = (lambda *a: None) if quiet else print
    cases = ex.cases()
    for i, args in enumerate(cases, 1):
        outcome = _run(ex, attempt, args)
        if outcome == "stub":
            say(f"Exercise {key} ({ex.title}): not attempted yet. Fill in the function above and run this cell again.")
            return None
        if outcome is not None:
            trial, problem = outcome
            where = f"test case {i} of {len(cases)}" + (f" ({args.note})" if getattr(args, "note", "") else "")
            say(f"✗ Exercise {key} ({ex.title}): not yet. On {where}, {problem}.\n"
                f"  Hint: {_nudge(diagnose(ex, trial), ex, trial)}\n"
                f"  Stuck? exercises.hint(\"{key}\", level=2) shows the formula.")
            return False
    say(f"✓ Exercise {key} ({ex.title}): correct on all {len(cases)} test cases.")
    return True


def hint_text(key: str, level: int = 1) -> str:
    """Exercise ``key``'s hint: level 1 says what to think about, level 2 (or more) gives the formula."""
    if key not in EXERCISES:
        raise KeyError(f"no exercise {key!r}; the exercises are {', '.join(EXERCISES)}")
    ex = EXERCISES[key]
    if level >= 2:
        return f"Exercise {key} ({ex.title}), the formula: {ex.formula}"
    return f"Exercise {key} ({ex.title}): {ex.nudge} (exercises.hint(\"{key}\", level=2) gives the formula.)"


def hint(key: str, level: int = 1) -> None:
    """Print exercise ``key``'s hint: ``level=1`` a nudge, ``level=2`` the formula."""
    print(hint_text(key, level))


def keys_for(notebook: str) -> list[str]:
    """The exercise keys of a notebook, e.g. ``keys_for("02")``."""
    return [k for k in EXERCISES if k.startswith(f"{notebook[:2]}.")]
