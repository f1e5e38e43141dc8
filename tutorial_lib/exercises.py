"""Checked exercises: the student writes a function, :func:`check` says whether it is right.

In a notebook::

    def kl_diag(mu_q, logvar_q, mu_p, logvar_p):
        raise NotImplementedError          # your code here

    exercises.check("02.2", kl_diag)

:func:`check` calls the function on a few fixed test cases and compares each answer with the
library's own (the code the rest of the series runs). A loss the series trains is also checked for
a gradient: it must reach the inputs (or, for 06.2, the critic's weights) and equal the library's.
It prints one of

- ``not attempted yet`` (the stub still raises NotImplementedError): the notebook goes on;
- ``correct`` on all cases;
- ``not yet``: which case differs, what was expected, and a hint that answers the mistake it sees.

The hint never gives the formula. Each exercise knows its common mistakes (a sign, a factor 2,
swapped arguments, a wrong axis or reduction, a missing reshape, the form that overflows at extreme
inputs, no gradient path): the checker runs the known wrong variants on the same inputs, and when
the answer matches one it names that mistake with a question that nudges. An answer it does not
recognise gets the exercise's general nudge. The formula comes only when asked for::

    exercises.hint("04.1")              # what to think about (the general nudge)
    exercises.hint("04.1", level=2)     # the formula

:func:`check` returns True, False, or None (not attempted) and never raises, so a notebook with
untouched exercises still runs top to bottom under papermill and nbval. The solutions live apart,
in ``solutions/<notebook>.py``; ``tests/test_exercises.py`` checks that every solution is accepted,
that each recognised mistake is answered with its own nudge, and that no nudge holds the formula.
"""
from __future__ import annotations

import inspect
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy import integrate, linalg, special

from tutorial_lib import features, latent, losses, metrics, theory
from tutorial_lib.methods import cvaegan

Tensor = torch.Tensor


# ============================================================================ the checker

class Case(tuple):
    """One test case: the arguments, and a note that says what the case probes (shown when it fails)."""
    note: str = ""


def case(*args: Any, note: str = "") -> Case:
    out = Case(args)
    out.note = note
    return out


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


def _as_array(value: Any) -> np.ndarray:
    if torch.is_tensor(value):
        return value.detach().cpu().double().numpy()
    if isinstance(value, (tuple, list)):
        return np.stack([_as_array(v) for v in value]) if value else np.zeros(0)
    array = np.asarray(value)
    return array if np.iscomplexobj(array) else array.astype(float)


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


def _fresh(args: tuple) -> tuple:
    """A copy of a case's arguments, so no call sees what another call did to them."""
    def copy(a):
        if torch.is_tensor(a):
            return a.detach().clone()
        return a.copy() if isinstance(a, np.ndarray) else a
    return tuple(copy(a) for a in args)


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
    """Run ``attempt`` on exercise ``key``'s test cases; print and return the verdict (see module doc)."""
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


# ============================================================================ recognising mistakes

def _close(got: Any, wrong: Any, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    g, w = _as_array(got), _as_array(wrong)
    return g.shape == w.shape and bool(np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True))


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


def _inputs(*indices: int) -> Callable[[tuple], list[tuple[int, Tensor]]]:
    """Trainable inputs: these arguments get requires_grad, and a gradient must reach each of them."""
    def mark(args: tuple) -> list[tuple[int, Tensor]]:
        return [(i, args[i].requires_grad_(True)) for i in indices]
    return mark


# ============================================================================ cases

def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(seed: int, *shapes: tuple, scale: float = 1.0, dtype: torch.dtype = torch.float32) -> tuple:
    """One test case: a standard-normal tensor (times ``scale``) per shape, from generator ``seed``."""
    g = _gen(seed)
    return tuple(scale * torch.randn(*shape, generator=g, dtype=dtype) for shape in shapes)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _row_softmax_log(log_joint: np.ndarray, axis: int = 1) -> np.ndarray:
    return np.exp(log_joint - special.logsumexp(log_joint, axis=axis, keepdims=True))


# ============================================================================ 01 maximum likelihood

def _kl_cases():
    r = _rng(2)
    p, q = r.dirichlet(np.ones(6), size=4), r.dirichlet(np.ones(6), size=4)
    p0 = p.copy()
    p0[:, 0] = 0.0
    p0 /= p0.sum(axis=1, keepdims=True)
    return [case(p, q), case(q, p, note="the first case with p and q swapped"), case(p0, q, note="some p_k = 0")]


add("01.1", "KL divergence between categorical distributions", theory.kl_categorical, _kl_cases,
    nudge="The divergence is an expectation of a log-ratio under one of the two distributions, one number per row; "
          "it is not symmetric, and a category one distribution never visits needs care.",
    formula="KL(p‖q) = Σ_k p_k log(p_k / q_k), summed over the last axis; the order matters (the second test "
            "swaps p and q), and a term with p_k = 0 contributes 0, not nan (scipy.special.rel_entr does both).",
    mistakes=[
        Mistake("swapped", "Your numbers are the divergence taken the other way round: KL is not symmetric. Which of "
                "the two distributions is the expectation taken under?",
                like(lambda p, q: theory.kl_categorical(q, p))),
        Mistake("zero-terms", "You get nan where some p_k = 0: in floating point 0 · log 0 is nan. What should a "
                "category that p never visits contribute?", nonfinite),
        Mistake("upside-down", "Your numbers are negative, and a KL divergence never is: which way up is the ratio "
                "inside the log?", like(lambda p, q: -theory.kl_categorical(p, q))),
        Mistake("axis", "Your answer adds up along the wrong axis: one divergence per row, so along which axis do the "
                "categories run?", like(lambda p, q: special.rel_entr(p, q).sum(axis=0),
                                        lambda p, q: special.rel_entr(p, q).sum())),
        Mistake("bits", "Your numbers are the right ones divided by log 2: that is the divergence in bits; the series "
                "measures in nats, with the natural logarithm.",
                like(lambda p, q: theory.kl_categorical(p, q) / math.log(2))),
    ])


def _gmm_cases():
    out = []
    for seed, k in ((0, 2), (1, 3)):
        r = _rng(seed)
        out.append(case(r.normal(size=50) * 2, r.dirichlet(np.ones(k)), r.normal(size=k) * 2, r.uniform(0.3, 2, size=k)))
    out.append(case(np.array([-40.0, 0.0, 40.0]), np.array([0.5, 0.5]), np.array([-1.0, 1.0]), np.array([0.1, 0.1]),
                    note="points 40 standard deviations from every component"))
    return out


def _gmm_no_normaliser(x, w, m, v):
    x = np.asarray(x)[:, None]
    return _row_softmax_log(np.log(w) - (x - m) ** 2 / (2 * v))


add("01.2", "E-step: the responsibilities of a Gaussian mixture", theory.gmm_responsibilities, _gmm_cases,
    nudge="Each row is one point's posterior over the components, by Bayes' rule: prior times likelihood, "
          "normalised so the row sums to 1. Far from every component each density rounds to 0, so think about "
          "where you can keep logarithms.",
    formula="r_ik = π_k N(x_i; μ_k, σ_k²) / Σ_j π_j N(x_i; μ_j, σ_j²); the last test puts points 40 σ away, "
            "where the densities underflow to 0: work with log densities and subtract the row maximum "
            "(scipy.special.logsumexp) before exponentiating. The arguments are variances, not standard deviations.",
    mistakes=[
        Mistake("underflow", "Your rows are nan for points far from every component: there each density underflows to "
                "exactly 0, and the row becomes 0/0. Can you carry the whole computation in logarithms, and shift each "
                "row before you leave them?", nonfinite),
        Mistake("std-for-variance", "Your numbers match a mixture whose standard deviations are the numbers in "
                "`variances`: what does that argument hold?",
                like(lambda x, w, m, v: theory.gmm_responsibilities(x, w, m, np.asarray(v) ** 2))),
        Mistake("no-weights", "Your answer does not change with the mixing weights: shouldn't a component that is "
                "a priori more likely claim more of each point?",
                like(lambda x, w, m, v: theory.gmm_responsibilities(x, np.full_like(w, 1 / len(w)), m, v))),
        Mistake("columns", "Your columns sum to 1, not your rows: each point's responsibilities are a distribution "
                "over the components.",
                like(lambda x, w, m, v: _row_softmax_log(theory.gmm_log_joint(x, w, m, v), axis=0))),
        Mistake("no-normaliser", "Your numbers match densities without their normalising constant: when the "
                "components have different widths, does it still cancel between them?", like(_gmm_no_normaliser)),
    ])


# ============================================================================ 02 ELBO

def _ppca_cases():
    out = []
    for seed in (0, 1):
        g = _gen(seed)
        D, d = 5, 2
        W, b = torch.randn(D, d, generator=g, dtype=torch.float64), torch.randn(D, generator=g, dtype=torch.float64)
        x = torch.randn(4, D, generator=g, dtype=torch.float64)
        mu, logvar = torch.randn(4, d, generator=g, dtype=torch.float64), torch.randn(4, d, generator=g, dtype=torch.float64)
        out.append(case(x, mu, logvar, W, b, 0.3 + seed))
    return out


def _ppca_parts(x, mu, logvar, W, b, noise_var, spread=True):
    """(E_q log p(x|z) without its constant, the constant, the KL) of the PPCA bench."""
    sq = (x - b - mu @ W.T).pow(2).sum(1) + spread * (logvar.exp() * W.pow(2).sum(0)).sum(1)
    const = -0.5 * x.shape[1] * math.log(2 * math.pi * noise_var)
    return -sq / (2 * noise_var), const, losses.kl_normal_standard(mu, logvar)


add("02.1", "the ELBO of the linear-Gaussian (PPCA) bench, in closed form", theory.ppca_elbo, _ppca_cases,
    nudge="Two terms: the expected log-likelihood of x under z drawn from q, and the divergence of q from the prior. "
          "The expectation of a squared error over a Gaussian is more than the squared error at its mean.",
    formula="ELBO = E_q[log p(x|z)] − KL(q‖N(0,I)). With z = μ + σε, E_q‖x − Wz − b‖² = ‖x − Wμ − b‖² + "
            "Σ_k σ_k² ‖W_{:,k}‖², and log p(x|z) = −D/2 log(2π s²) − ‖x − Wz − b‖²/(2 s²); noise_var is s².",
    mistakes=[
        Mistake("at-the-mean", "Your ELBO matches one that puts z at the encoder's mean: averaged over q, the squared "
                "error is larger than at q's mean. What does q's spread add, through W?",
                like(lambda *a: (lambda e, c, kl: e + c - kl)(*_ppca_parts(*a, spread=False)))),
        Mistake("no-kl", "Your number is the expected log-likelihood alone: the ELBO has a second term, the one that "
                "pulls q towards the prior.", like(lambda *a: (lambda e, c, kl: e + c)(*_ppca_parts(*a)))),
        Mistake("kl-sign", "Your KL term has the wrong sign: the ELBO is a lower bound on log p(x), so does the "
                "divergence from the prior raise it or lower it?",
                like(lambda *a: (lambda e, c, kl: e + c + kl)(*_ppca_parts(*a)))),
        Mistake("noise-as-std", "Your numbers match a decoder whose variance is noise_var squared: noise_var already "
                "is the variance s².", like(lambda x, mu, lv, W, b, s2: theory.ppca_elbo(x, mu, lv, W, b, s2 ** 2))),
        Mistake("no-constant", "Your numbers miss the Gaussian's normalising constant: log p(x|z) is a log density, "
                "not only a scaled squared error.", like(lambda *a: (lambda e, c, kl: e - kl)(*_ppca_parts(*a)))),
    ],
    trainable=_inputs(1, 2), rtol=1e-8, atol=1e-8)


def _kl_diag_cases():
    return [case(*_randn(seed, *[(3, 4)] * 4, dtype=torch.float64)) for seed in (0, 1, 2)]


add("02.2", "KL between diagonal Gaussians", theory.kl_diag_gaussians, _kl_diag_cases,
    nudge="The Gaussians factorise, so the divergence is a sum of one-dimensional divergences, one per dimension. "
          "The inputs are log-variances. A divergence of a distribution from itself is 0: test yours on q = p.",
    formula="½ Σ_k [log(σ_p²/σ_q²) + (σ_q² + (μ_q − μ_p)²)/σ_p² − 1], summed over the last dimension; the inputs are "
            "log-variances, so σ² = exp(logvar).",
    mistakes=[
        Mistake("factor-2", "Your numbers are exactly twice the right ones: check the constant in front of the sum.",
                scaled(2.0)),
        Mistake("swapped", "Your numbers are the divergence of p from q, the other way round: which distribution is "
                "the expectation taken under?",
                like(lambda mq, lq, mp, lp: theory.kl_diag_gaussians(mp, lp, mq, lq))),
        Mistake("log-std", "Your numbers match inputs read as log standard deviations: they are log-variances.",
                like(lambda mq, lq, mp, lp: theory.kl_diag_gaussians(mq, 2 * lq, mp, 2 * lp))),
        Mistake("averaged", "Your numbers are the right ones divided by the number of dimensions: for independent "
                "dimensions, divergences add up.",
                like(lambda mq, lq, mp, lp: theory.kl_diag_gaussians(mq, lq, mp, lp) / mq.shape[-1])),
        Mistake("offset", "Every one of your numbers is too large by the same constant: the divergence of a "
                "distribution from itself must be 0. Try yours with q = p.",
                like(lambda mq, lq, mp, lp: theory.kl_diag_gaussians(mq, lq, mp, lp) + 0.5 * mq.shape[-1])),
    ],
    trainable=_inputs(0, 1, 2, 3), rtol=1e-8, atol=1e-8)


# ============================================================================ 03 GAN divergences

def _value_cases():
    from scipy import stats
    x = np.linspace(-6, 6, 2001)
    pr, pg = stats.norm.pdf(x, -1, 1), stats.norm.pdf(x, 1.0, 1.0)
    pg_far = stats.norm.pdf(x, 1.5, 0.7)
    xs = np.linspace(-3, 3, 601)
    ur, ug = ((xs >= -2) & (xs <= -1)).astype(float), ((xs >= 1) & (xs <= 2)).astype(float)
    return [case(theory.optimal_discriminator(pr, pg), pr, pg, x), case(np.full_like(x, 0.5), pr, pg, x),
            case(1 / (1 + np.exp(-x)), pr, pg_far, x, note="a D that is not optimal, densities of different shapes"),
            case(theory.optimal_discriminator(ur, ug), ur, ug, xs,
                 note="disjoint supports: D* is exactly 1 or 0 where one density is 0")]


def _integrand(d, pr, pg, fake_log):
    d = np.clip(np.asarray(d, dtype=float), np.finfo(float).tiny, np.nextafter(1.0, 0.0))
    return special.xlogy(pr, d) + special.xlogy(pg, fake_log(d))


add("03.1", "the GAN value V(D, G) by quadrature", theory.gan_value, _value_cases,
    nudge="V is an integral over x of two terms, each a density times the log of what D says about points of that "
          "kind; approximate the integral on the grid you are given. Where a density is 0, its term must vanish.",
    formula="V = ∫ [p_r log D + p_g log(1 − D)] dx: evaluate the integrand on the grid and integrate with the "
            "trapezoid rule (scipy.integrate.trapezoid). With D ≡ ½ the answer is −2 log 2.",
    mistakes=[
        Mistake("sum-not-integral", "Your number is the sum of the integrand's values on the grid, not its integral: "
                "how much of the x axis does each grid point stand for?",
                like(lambda d, pr, pg, x: float(np.sum(_integrand(d, pr, pg, lambda d: 1 - d))))),
        Mistake("fake-term", "Your generated-data term rewards D for calling generated points real: what should D say "
                "about them, and which log-probability measures that?",
                like(lambda d, pr, pg, x: float(integrate.trapezoid(_integrand(d, pr, pg, lambda d: d), x)))),
        Mistake("swapped", "Your answer weights each log term with the other distribution's density: which density "
                "goes with which term?",
                like(lambda d, pr, pg, x: float(integrate.trapezoid(_integrand(d, pg, pr, lambda d: 1 - d), x)))),
        Mistake("zero-times-log-zero", "Your V is nan: where D is exactly 0 or 1 the log is −inf, and the density it "
                "multiplies is 0 there. What should such a term contribute to the integral?", nonfinite),
    ], rtol=1e-6)


def _dstar_cases():
    x = np.linspace(-4, 4, 81)
    from scipy import stats
    pr, pg = stats.norm.pdf(x, -1, 1), stats.norm.pdf(x, 1.5, 0.5)
    return [case(pr, pg), case(pg, pr, note="the densities swapped"),
            case(np.array([0.0, 0.2, 0.0]), np.array([0.0, 0.0, 0.3]), note="both densities 0 at the first point")]


def _dstar_zero_where_empty(pr, pg):
    return np.where((pr + pg) > 0, theory.optimal_discriminator(pr, pg), 0.0)


add("03.2", "the optimal discriminator D*", theory.optimal_discriminator, _dstar_cases,
    nudge="D*(x) is the probability that a point x came from the data rather than the generator, when both are "
          "equally likely a priori. Where neither density puts any mass, every value is optimal: pick one.",
    formula="D*(x) = p_r(x) / (p_r(x) + p_g(x)): the probability that x came from the data. Where both densities "
            "are 0 any value is optimal; the series uses ½ there (the third test has such a point).",
    mistakes=[
        Mistake("swapped", "Your D* is the probability that x was generated: D outputs the probability that x came "
                "from the data.", like(lambda pr, pg: theory.optimal_discriminator(pg, pr))),
        Mistake("zero-over-zero", "Your D* is nan where both densities are 0: any value is optimal there, but it has "
                "to be a number. Which one favours neither side?", nonfinite),
        Mistake("zero-where-empty", "Where both densities are 0 your D* is 0, a verdict of 'generated' for a point "
                "neither distribution produces: any value is optimal there; which one favours neither side?",
                like(_dstar_zero_where_empty)),
        Mistake("ratio", "Your numbers match a ratio of the two densities, which can exceed 1: D* is a probability.",
                like(lambda pr, pg: np.asarray(pr) / pg)),
    ])


# ============================================================================ 04 VAE

_UNSTABLE = ("at logits this large sigmoid rounds to exactly 0 or 1, and the log of that is −inf. Can you write "
             "each term as a function of the logit itself, never forming D = sigmoid(logit)?")
_CAPPED = ("Your loss is right at moderate logits but too small here: it looks clamped (torch's binary_cross_entropy "
           "caps each log at −100; an ε inside the log caps it sooner). A clamp also kills the gradient where it "
           "bites. Can you compute each term from the logit itself?")


def _reparam(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    return mu + (0.5 * logvar).exp() * eps


def _reparam_cases():
    return [case(*_randn(seed, (5, 3), (5, 3), (5, 3))) for seed in (0, 1)]


add("04.1", "the reparameterisation z = μ + σ ε", _reparam, _reparam_cases,
    nudge="Shift and scale the given standard-normal noise ε so that z has the encoder's mean and spread. The "
          "encoder gives the log of the variance; ε is given, so the same inputs must give the same z, with a "
          "gradient to μ and logvar.",
    formula="z = μ + σ ε with σ = exp(½ · logvar), not exp(logvar) and not logvar itself; ε is given, do not draw "
            "a new one.",
    mistakes=[
        Mistake("variance-as-sigma", "Your ε is scaled by the variance, not by the standard deviation: what turns a "
                "log-variance into a standard deviation?", like(lambda mu, lv, eps: mu + lv.exp() * eps)),
        Mistake("logvar-as-sigma", "You scale ε by the log-variance itself: it can be negative, a standard deviation "
                "cannot.", like(lambda mu, lv, eps: mu + lv * eps)),
        Mistake("no-mean", "Your z is centred at 0: where does the encoder's mean go?",
                like(lambda mu, lv, eps: (0.5 * lv).exp() * eps)),
        Mistake("new-noise", "Your answer changes from one call to the next: you draw fresh noise. ε is given as an "
                "argument; use it.", random_answer),
        Mistake("no-gradient", "Your z has the right values, but no gradient reaches {missing}: that gradient is the "
                "whole point of the trick. Did you detach, call .item() or numpy, or sample with a function that "
                "does not backpropagate?", no_gradient),
    ],
    trainable=_inputs(0, 1))


def _vae_batch_cases():
    out = []
    for seed, weight in ((0, 1.0), (1, 0.5)):
        g = _gen(seed)
        out.append(case(3 * torch.randn(5, 1, 4, 4, generator=g), torch.rand(5, 1, 4, 4, generator=g) * 2 - 1,
                        torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g), weight,
                        note="λ_KL = 0.5" if weight != 1 else ""))
    x = torch.tensor([-1.0, 1.0, -1.0, 1.0]).repeat(2, 1).view(2, 1, 2, 2)
    logits = torch.tensor([120.0, -120.0, -120.0, 120.0]).repeat(2, 1).view(2, 1, 2, 2)
    out.append(case(logits, x, torch.zeros(2, 3), torch.zeros(2, 3), 1.0,
                    note="logits ±120, the decoder sure and wrong on half the pixels"))
    return out


def _vae_batch_loss(logits, x, mu, logvar, kl_weight):
    recon = losses.bernoulli_nll(logits, (x + 1) / 2)
    return losses.vae_loss(recon, losses.kl_normal_standard(mu, logvar), kl_weight)


def _vae_with(logits, x, mu, logvar, kl_weight, *, pixels="sum", latents="sum", kl_sign=1.0, weight_on="kl",
              batch="mean", target=None):
    """The batch loss, or a wrong variant: another reduction, sign, target, or place for λ_KL."""
    t = (x + 1) / 2 if target is None else target(x)
    bce = F.binary_cross_entropy_with_logits(logits, t, reduction="none").flatten(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)
    recon = bce.sum(1) if pixels == "sum" else bce.mean(1)
    kl = kl_sign * (kl.sum(1) if latents == "sum" else kl.mean(1))
    per_image = recon + kl_weight * kl if weight_on == "kl" else kl_weight * recon + kl if weight_on else recon + kl
    return per_image.mean() if batch == "mean" else per_image.sum()


add("04.2", "the VAE's loss of a batch", _vae_batch_loss, _vae_batch_cases,
    nudge="Two terms per image, each in nats: how badly the decoder's Bernoulli explains every pixel's intensity, "
          "and how far the posterior is from the prior, weighted by λ_KL; then one number for the batch. Decide "
          "for each term what you add up and what you average, and what the Bernoulli's targets are.",
    formula="L = mean over the batch of [Σ_j BCE(logit_j, (x_j + 1)/2) + λ_KL · ½ Σ_k (μ_k² + σ_k² − 1 − log σ_k²)]: "
            "the cross-entropy from the logits (F.binary_cross_entropy_with_logits, reduction='none'), summed over "
            "the pixels of each image, with the targets mapped from [−1, 1] to [0, 1]; the KL summed over the latent "
            "dimensions; only then the mean over the images.",
    mistakes=[
        Mistake("pixel-mean", "Your reconstruction term is averaged over the pixels while the KL is summed over the "
                "latent dimensions: the two no longer share a unit, and the KL weighs 784 times too much on an MNIST "
                "image. Is each term in nats per image?", like(lambda *a: _vae_with(*a, pixels="mean"))),
        Mistake("latent-mean", "Your KL term is averaged over the latent dimensions: for independent dimensions "
                "divergences add up, and an average weighs it d times too little.",
                like(lambda *a: _vae_with(*a, latents="mean"))),
        Mistake("both-means", "You average each term over its own axis, the pixels and the latent dimensions: the "
                "two denominators differ (784 and d), which silently re-weights the KL. Is each term in nats per "
                "image?", like(lambda *a: _vae_with(*a, pixels="mean", latents="mean"))),
        Mistake("target-range", "The targets of your cross-entropy are the images as given, in [−1, 1]: the "
                "Bernoulli's mean ρ is a probability. Which intensities should it be compared with?",
                like(lambda *a: _vae_with(*a, target=lambda x: x))),
        Mistake("kl-sign", "Your KL term is subtracted: the loss is the negative ELBO, so does the divergence from "
                "the prior raise it or lower it?", like(lambda *a: _vae_with(*a, kl_sign=-1.0))),
        Mistake("weight-on-recon", "λ_KL multiplies the reconstruction term: which term does the β-VAE's weight "
                "scale?", like(lambda *a: _vae_with(*a, weight_on="recon"))),
        Mistake("weight-ignored", "Your loss does not change with kl_weight: where does λ_KL enter?",
                like(lambda *a: _vae_with(*a, weight_on=None))),
        Mistake("summed-batch", "Your loss is the right one times the batch size: the images of a batch are "
                "averaged, so that the loss is in nats per image.", like(lambda *a: _vae_with(*a, batch="sum"))),
        Mistake("unstable", "Your loss is inf or nan at logits ±120: there sigmoid rounds to exactly 0 or 1, "
                "and the log of that is −inf. Can you compute the cross-entropy from the logits themselves, "
                "never forming ρ = sigmoid(logit)?", nonfinite),
        Mistake("capped", _CAPPED, capped),
        Mistake("no-gradient", "Your loss has the right value, but no gradient reaches {missing}, so the VAE could "
                "not be trained on it. Did you detach, call .item() or numpy?", no_gradient),
    ],
    trainable=_inputs(0, 2, 3))


# ============================================================================ 05 GAN

def _logit_pairs():
    return ([case(*_randn(seed, (16,), (16,), scale=3.0)) for seed in (0, 1)]
            + [case(torch.full((4,), -120.0), torch.full((4,), 120.0), note="logits ±120: D is sure, and wrong")])


def _fake_logits():
    return ([case(args[1]) for args in _logit_pairs()[:2]]
            + [case(torch.full((4,), 120.0), note="logits +120: D is fooled"),
               case(torch.full((4,), -120.0), note="logits −120: D rejects the fakes, the case the loss is for")])


add("05.1", "the discriminator's loss from logits", losses.discriminator_loss, _logit_pairs,
    nudge="D is trained as a binary classifier: real images labelled 1, generated ones 0, the cross-entropy averaged "
          "over each batch. You are given logits, not probabilities, and the loss must stay finite when D is very "
          "sure of itself.",
    formula="L_D = −E log D(x) − E log(1 − D(G(z))) with D = sigmoid(logit). Use the logits directly: "
            "−log sigmoid(a) = softplus(−a) and −log(1 − sigmoid(a)) = softplus(a) stay finite at ±120 (the third "
            "test), where sigmoid rounds to exactly 0 or 1 and log gives −inf.",
    mistakes=[
        Mistake("unstable", "Your loss is inf or nan at logits ±120: " + _UNSTABLE, nonfinite),
        Mistake("capped", _CAPPED, capped),
        Mistake("labels-swapped", "Your loss is smallest when D calls the real images fake and the generated ones "
                "real: which label belongs to which batch?",
                like(lambda r, f: losses.discriminator_loss(f, r))),
        Mistake("summed", "Your loss is the right one times the batch size: average each term over its batch "
                "instead of adding up.", like(lambda r, f: len(r) * losses.discriminator_loss(r, f))),
        Mistake("no-gradient", "Your loss has the right value, but no gradient reaches {missing}, so D could not be "
                "trained on it. Did you detach, call .item() or numpy?", no_gradient),
    ],
    trainable=_inputs(0, 1))


add("05.2", "the non-saturating generator loss", losses.generator_loss_nonsaturating, _fake_logits,
    nudge="The generator wants D to call its samples real. Of the two losses that share this fixed point, use the "
          "one whose gradient stays large when D confidently rejects the fakes, written from the logits so it "
          "stays finite there.",
    formula="L_G = −E log D(G(z)) = mean softplus(−logit): a minus sign short gives the saturating loss "
            "log(1 − D), whose gradient vanishes exactly when D rejects the fakes.",
    mistakes=[
        Mistake("unstable", "Your loss is inf or nan at logits −120, where D rejects the fakes, the very case this "
                "loss is for: " + _UNSTABLE, nonfinite),
        Mistake("capped", _CAPPED, capped),
        Mistake("saturating", "Your loss is the saturating one, the generator minimising log(1 − D(G(z))): its "
                "gradient vanishes exactly when D rejects the fakes. Which probability should the generator push up "
                "instead?", like(lambda f: -F.softplus(f).mean())),
        Mistake("sign", "Your loss has the wrong sign: minimising it would teach the generator to make D even surer "
                "that its samples are fake.", like(lambda f: F.logsigmoid(f).mean())),
        Mistake("summed", "Your loss is the right one times the batch size: average over the batch instead of adding "
                "up.", like(lambda f: F.softplus(-f).sum())),
        Mistake("no-gradient", "Your loss has the right value, but no gradient reaches {missing}, so the generator "
                "could not be trained on it. Did you detach, call .item() or numpy?", no_gradient),
    ],
    trainable=_inputs(0))


# ============================================================================ 06 WGAN-GP

def _interp_cases():
    out = []
    for seed in (0, 1):
        g = _gen(seed)
        out.append(case(torch.randn(6, 1, 4, 4, generator=g), torch.randn(6, 1, 4, 4, generator=g),
                        torch.rand(6, generator=g)))
    g = _gen(2)
    out.append(case(torch.randn(4, 1, 4, 4, generator=g), torch.randn(4, 1, 4, 4, generator=g),
                    torch.tensor([0.0, 1.0, 0.25, 0.7]), note="4 examples of width 4, α = 0 and α = 1 among them"))
    return out


def _over_width(xr, xf, e):
    return e * xr + (1 - e) * xf


add("06.1", "the interpolates x̂ = α x + (1 − α) x̃", losses.interpolate, _interp_cases,
    nudge="Each example gets its own weight α, a point on the segment between its real and its generated image: "
          "α = 1 gives the real image, α = 0 the generated one. The weights are one number per example; the images "
          "have more axes.",
    formula="x̂ = α x + (1 − α) x̃ with one α per example, shape (B,): reshape it to (B, 1, 1, 1) so it "
            "broadcasts over the image, and weight the real image x by α.",
    mistakes=[
        Mistake("weights-swapped", "You weight the generated image by α: at α = 1 your interpolate is the generated "
                "image. Which one should it be?", like(lambda xr, xf, e: losses.interpolate(xf, xr, e))),
        Mistake("no-reshape", "Your α, of shape (B,), does not line up with the batch axis of the images: PyTorch "
                "matches shapes from the last axis, so it broadcasts against the width (or fails). Which shape puts "
                "one weight per example and broadcasts over the other axes?",
                either(raises(r"must match the size of tensor"), like(_over_width))),
        Mistake("one-alpha", "Every example in your batch uses the same weight: one α per example.",
                like(lambda xr, xf, e: losses.interpolate(xr, xf, e[:1].expand(len(e))),
                     lambda xr, xf, e: losses.interpolate(xr, xf, e.mean().expand(len(e))))),
        Mistake("new-alpha", "Your answer changes from one call to the next: you draw new weights. α is given as "
                "an argument; use it.", random_answer),
    ])


class _Critic(torch.nn.Module):
    """A small critic for the checks: images (B, 1, 4, 4) -> scores (B,). ``gain`` scales its gradients."""

    def __init__(self, seed: int, gain: float = 1.0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):          # fixed weights, and the notebook's own RNG left alone
            torch.manual_seed(seed)
            self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.Tanh(),
                                           torch.nn.Linear(8, 1))
        self.gain = gain

    def forward(self, x: Tensor) -> Tensor:
        return self.gain * self.net(x).squeeze(1)


def _gp_cases():
    out = []
    for seed, gain in ((0, 1.0), (1, 2.7)):
        g = _gen(seed)
        out.append(case(_Critic(seed, gain), torch.randn(6, 1, 4, 4, generator=g), 10.0,
                        note="gradient norms on both sides of 1" if gain > 1 else ""))
    return out


def _gp_variant(norms: Callable[[Tensor], Tensor], reduce: Callable[[Tensor], Tensor]) -> Callable:
    def penalty(critic, x_hat, weight):
        x_hat = x_hat.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
        return weight * reduce(norms(grad))
    return penalty


def _gp_weights(args: tuple) -> list[tuple[str, Tensor]]:
    return [("the critic's weights", p) for p in args[0].parameters()]


add("06.2", "the gradient penalty λ_GP E(‖∇f(x̂)‖ − 1)²", losses.gradient_penalty, _gp_cases,
    nudge="Differentiate the critic's scores with respect to the interpolates, measure each example's gradient by "
          "its length, and penalise how far that length is from 1, on either side, averaged over the batch and "
          "weighted. The penalty is trained: it must itself be differentiable in the critic's weights.",
    formula="Take the gradient of critic(x̂).sum() with respect to x̂ (torch.autograd.grad, create_graph=True so the "
            "penalty can be trained), flatten each example's gradient, take its 2-norm, then the mean of "
            "(norm − 1)² times λ_GP. It is two-sided: (norm − 1)², not max(0, norm − 1)².",
    mistakes=[
        Mistake("not-trainable", "Your penalty has the right value, but no gradient from it reaches the critic's "
                "weights, so training on it would leave the critic unchanged. Is the gradient you took itself kept "
                "in a graph that autograd can differentiate again?", no_gradient),
        Mistake("one-sided", "Your penalty ignores gradient norms below 1: the WGAN-GP penalty pulls the norm "
                "towards 1 from both sides.",
                like(_gp_variant(lambda g: g.flatten(1).norm(dim=1), lambda n: F.relu(n - 1).pow(2).mean()))),
        Mistake("batch-norm", "Your norm is taken over the whole batch at once: the penalty wants one gradient norm "
                "per example, then the batch mean.",
                like(_gp_variant(lambda g: g.norm(), lambda n: (n - 1).pow(2)))),
        Mistake("squared-norm", "Your numbers match the squared length of each gradient where its length belongs.",
                like(_gp_variant(lambda g: g.flatten(1).pow(2).sum(1), lambda n: (n - 1).pow(2).mean()))),
        Mistake("no-weight", "Your penalty is the right one divided by λ_GP: where does `weight` go?",
                like(lambda critic, x_hat, weight: losses.gradient_penalty(critic, x_hat, weight) / weight)),
        Mistake("not-scalar", "torch.autograd.grad needs a scalar to differentiate, and the critic gives one score per "
                "example. Each score depends only on its own example: which single number has every example's "
                "gradient as its gradient?", raises(r"grad can be implicitly created only for scalar outputs")),
        Mistake("no-requires-grad", "autograd can only differentiate with respect to a tensor that requires grad, "
                "and x̂ as given does not: what must you do to it before the critic sees it?",
                raises(r"does not require grad")),
    ],
    trainable=_gp_weights)


# ============================================================================ 07 AEGAN

def _g1_cases():
    return ([case(*_randn(seed, (8,), (8,), scale=2.0), lam) for seed, lam in ((0, 1.0), (1, 0.5))]
            + [case(torch.full((4,), -120.0), torch.full((4,), -120.0), 0.25,
                    note="logits −120: both discriminators reject G1's samples")])


def _g1(a, b, lam):
    return losses.aegan_generator_loss(a, b, lam)


add("07.1", "the latent generator's loss L_G1", losses.aegan_generator_loss, _g1_cases,
    nudge="G1 wants both discriminators to call its samples real: the latent one on its codes, the image one on "
          "the decoded images, the second term weighted by image_weight. Use the generator loss that keeps its "
          "gradient when a discriminator is sure, written from the logits.",
    formula="L_G1 = −E log D1(G1(z)) − λ_img E log D2(Dec(G1(z))): the non-saturating loss on the latent "
            "discriminator's logits plus λ_img times the same on the image discriminator's.",
    mistakes=[
        Mistake("lambda-ignored", "Your loss does not change with image_weight: where does λ_img enter?",
                like(lambda a, b, lam: _g1(a, b, 1.0))),
        Mistake("lambda-on-latent", "λ_img scales the wrong term: which discriminator's verdict does image_weight "
                "weigh?",
                like(lambda a, b, lam: lam * F.softplus(-a).mean() + F.softplus(-b).mean())),
        Mistake("saturating", "Your loss is the saturating one, minimising log(1 − D) for each discriminator: its "
                "gradient vanishes when they reject G1's samples. Which probability should G1 push up instead?",
                like(lambda a, b, lam: -F.softplus(a).mean() - lam * F.softplus(b).mean())),
        Mistake("unstable", "Your loss is inf or nan at logits −120: " + _UNSTABLE, nonfinite),
        Mistake("capped", _CAPPED, capped),
        Mistake("no-gradient", "Your loss has the right value, but no gradient reaches {missing}, so G1 could not be "
                "trained on it. Did you detach, call .item() or numpy?", no_gradient),
    ],
    trainable=_inputs(0, 1))


def _standardise_cases():
    out = [case(3 * torch.randn(8, 4, generator=_gen(seed)) + 2) for seed in (0, 1)]
    h = torch.randn(6, 3, generator=_gen(2))
    h[:, 1] = 0.5
    out.append(case(h, note="coordinate 2 is the same in every code"))
    small = torch.randn(8, 3, generator=_gen(3))
    small[:, 2] *= 1e-3
    out.append(case(small, note="coordinate 3 varies, but only by about 0.001"))
    return out


def _standardise(h: Tensor) -> Tensor:
    return F.batch_norm(h, None, None, training=True, eps=1e-5)      # BatchNorm1d(affine=False), training mode


def _spread(h: Tensor, dim: int = 0, unbiased: bool = False) -> Tensor:
    return torch.sqrt(h.var(dim, unbiased=unbiased, keepdim=True) + 1e-5)


add("07.2", "the codes standardised per coordinate, h = BN(Enc(x))", _standardise, _standardise_cases,
    nudge="Each coordinate of the codes on its own: shift it so that its mean over the batch is 0 and scale it so "
          "that its spread over the batch is 1, using the batch's own spread and a small constant that keeps a "
          "constant coordinate finite. That is batch norm with no learned scale or shift.",
    formula="h′ = (h − mean) / √(var + δ) for each coordinate, the mean and the variance taken over the batch "
            "(dim 0); the variance is the batch's own (divided by B: unbiased=False) and δ = 1e-5 (BatchNorm1d's "
            "eps) sits inside the square root.",
    mistakes=[
        Mistake("per-code", "You standardise each code across its own coordinates: the remedy standardises each "
                "coordinate across the batch, so that every coordinate has mean 0 and spread 1 over the codes.",
                like(lambda h: (h - h.mean(1, keepdim=True)) / _spread(h, 1))),
        Mistake("unbiased", "Your spread divides by B − 1, as torch.std and torch.var do unless told otherwise: batch "
                "norm uses the batch's own variance, divided by B.",
                like(lambda h: (h - h.mean(0)) / _spread(h, 0, unbiased=True),
                     lambda h: (h - h.mean(0)) / (h.std(0) + 1e-5))),
        Mistake("no-delta", "Your codes are nan where a coordinate is the same in every code: its spread is 0. Batch "
                "norm adds a small constant before the square root; what does that make of such a coordinate?",
                nonfinite),
        Mistake("not-centred", "Your codes are scaled but not centred: each coordinate's mean over the batch should "
                "be 0.", like(lambda h: h / _spread(h))),
        Mistake("not-scaled", "Your codes are centred but keep their spread: each coordinate's spread over the batch "
                "should be 1.", like(lambda h: h - h.mean(0))),
        Mistake("variance", "You divide by the variance: the spread that becomes 1 is the standard deviation, its "
                "square root.", like(lambda h: (h - h.mean(0)) / (h.var(0, unbiased=False) + 1e-5))),
        Mistake("no-gradient", "Your codes have the right values, but no gradient reaches {missing}, so the encoder "
                "could not be trained through them. Did you detach, call .item() or numpy?", no_gradient),
    ],
    trainable=_inputs(0))


# ============================================================================ 08 comparison

def _frechet(mu1, cov1, mu2, cov2) -> float:
    covmean = linalg.sqrtm(np.asarray(cov1) @ np.asarray(cov2)).real
    return float(np.sum((np.asarray(mu1) - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))


def _fd_cases():
    out = []
    for seed in (0, 1):
        r = _rng(seed)
        a, b = r.normal(size=(5, 5)), r.normal(size=(5, 5))
        out.append(case(r.normal(size=5), a @ a.T + np.eye(5), r.normal(size=5), b @ b.T + np.eye(5)))
    r = _rng(5)
    a, b = r.normal(size=(5, 2)), r.normal(size=(5, 3))
    out.append(case(r.normal(size=5), a @ a.T, r.normal(size=5), b @ b.T,
                    note="singular covariances, as from fewer samples than features"))
    return out


def _fd_with(mu1, cov1, mu2, cov2, *, mean=lambda sq: sq, factor=2.0,
             root=lambda c1, c2: linalg.sqrtm(c1 @ c2).real) -> float:
    """The Fréchet distance, or a wrong variant of it: another mean term, cross-term factor or square root."""
    return float(mean(np.sum((mu1 - mu2) ** 2)) + np.trace(cov1) + np.trace(cov2) - factor * np.trace(root(cov1, cov2)))


add("08.1", "the Fréchet distance between two Gaussians", _frechet, _fd_cases,
    nudge="Two parts: how far apart the means are, and how different the covariances are, where the covariance part "
          "needs the square root of a matrix (not of its entries). The answer is a real number.",
    formula="FD = ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½) with the matrix square root (scipy.linalg.sqrtm; keep "
            "its real part), not the element-wise square root.",
    mistakes=[
        Mistake("elementwise-sqrt", "You take the square root entry by entry: the covariance term needs the square "
                "root of the matrix, a matrix whose square is the product.",
                like(lambda *a: _fd_with(*a, root=lambda c1, c2: np.sqrt(np.abs(c1 @ c2))),
                     lambda *a: _fd_with(*a, root=lambda c1, c2: np.sqrt(c1 @ c2)), nonfinite_too=True)),
        Mistake("mean-not-squared", "Your mean term is the distance between the means, not its square.",
                like(lambda *a: _fd_with(*a, mean=np.sqrt))),
        Mistake("cross-factor", "Your cross term has the wrong weight: compare the factor in front of the trace of "
                "the square root with the two traces beside it.", like(lambda *a: _fd_with(*a, factor=1.0))),
        Mistake("square-root", "Your number is the square root of the right one: the series reports the squared "
                "Fréchet distance, as FID does.", like(lambda *a: math.sqrt(_frechet(*a)))),
        Mistake("product-of-roots", "Your cross term multiplies the two matrices' square roots: that equals the "
                "square root of their product only when Σ1 and Σ2 commute.",
                like(lambda *a: _fd_with(*a, root=lambda c1, c2: linalg.sqrtm(c1).real @ linalg.sqrtm(c2).real))),
        Mistake("complex", "Your answer is complex: rounding leaves a tiny imaginary part in the matrix square root "
                "(here the covariances are singular). A distance is a real number.",
                lambda t: t.stage == "value" and np.iscomplexobj(_as_array(t.got))),
    ], rtol=1e-6)


def _pr_cases():
    out = []
    for seed in (0, 1):
        g = _gen(seed)
        real = torch.randn(120, 3, generator=g, dtype=torch.float64)
        fake = 1.5 * torch.randn(100, 3, generator=g, dtype=torch.float64) + 0.7
        out.append(case(real, fake, 3))
    out.append(case(torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]], dtype=torch.float64),
                    torch.tensor([[-1.0, 0.0], [0.5, 5.0]], dtype=torch.float64), 1,
                    note="a generated point exactly on the edge of one real point's ball (a ball includes its edge)"))
    return out


def _precision(real, fake, k):
    return metrics.precision_recall(real, fake, k=k)[0]


def _precision_nearest_only(real, fake, k):
    radii = torch.cdist(real, real).kthvalue(k + 1, dim=1).values
    d = torch.cdist(fake, real)
    nearest = d.argmin(dim=1)
    return (d.min(dim=1).values <= radii[nearest]).double().mean().item()


add("08.2", "improved precision (Kynkäänniemi et al.)", _precision, _pr_cases,
    nudge="Around every real point draw a ball reaching its k-th nearest real neighbour; the union of the balls "
          "stands for the data's manifold. Precision is the share of generated points that land inside it. Be "
          "careful which points count as a real point's neighbours.",
    formula="For each real point, its radius is the distance to its k-th nearest *other* real point (the point "
            "itself is at distance 0, so take the (k+1)-th smallest distance, or torch.kthvalue with k + 1). "
            "Precision is the fraction of fake points within the radius of at least one real point.",
    mistakes=[
        Mistake("edge", "A generated point exactly on the edge of a real point's ball is left out by your answer: "
                "does a ball include its edge?",
                like(lambda r, f, k: (torch.cdist(f, r) < torch.cdist(r, r).kthvalue(k + 1, dim=1).values[None])
                     .any(1).double().mean().item())),
        Mistake("self-neighbour", "Your radii are too small: among the real points, each real point's nearest "
                "neighbour is itself, at distance 0.",
                like(lambda r, f, k: (torch.cdist(f, r) <= torch.cdist(r, r).kthvalue(k, dim=1).values[None])
                     .any(1).double().mean().item())),
        Mistake("recall", "Your number is recall, the share of real points covered by balls around the generated "
                "ones: precision asks how many generated points land among the real ones.",
                like(lambda r, f, k: metrics.precision_recall(r, f, k=k)[1])),
        Mistake("nearest-only", "You test each generated point against its nearest real point's ball only: it counts "
                "if it lies in any real point's ball.", like(_precision_nearest_only)),
        Mistake("count", "Your answer is a count: precision is the fraction of the generated points.",
                like(lambda r, f, k: len(f) * _precision(r, f, k))),
    ], rtol=1e-6)


# ============================================================================ 09 latent exploration

def _slerp_cases():
    return ([case(*_randn(seed, (16,), (16,), dtype=torch.float64), 7) for seed in (0, 1)]
            + [case(torch.ones(16, dtype=torch.float64), 2 * torch.ones(16, dtype=torch.float64), 5,
                    note="z1 and z2 point the same way")])


def _unit_slerp(z1, z2, steps):
    path = latent.slerp(z1, z2, steps)
    return path / path.norm(dim=1, keepdim=True)


def _textbook_slerp(z1, z2, steps):
    omega = torch.arccos((z1 / z1.norm()) @ (z2 / z2.norm()))
    a = torch.linspace(0, 1, steps, dtype=z1.dtype)[:, None]
    return (torch.sin((1 - a) * omega) * z1 + torch.sin(a * omega) * z2) / torch.sin(omega)


add("09.1", "spherical interpolation (slerp)", latent.slerp, _slerp_cases,
    nudge="Split each point into a direction and a length. Move the direction along the great circle between the "
          "two directions at an even pace, and the length evenly from one norm to the other; the first row is z1, "
          "the last z2. Think about what the path is when both point the same way.",
    formula="Interpolate the directions along the great circle, sin((1−α)Ω) u1 + sin(αΩ) u2 over sin Ω with "
            "cos Ω = u1·u2 for unit vectors u, and the norms linearly; α runs over torch.linspace(0, 1, steps), "
            "one row per step. When u1 = u2 (Ω = 0) the path is the straight line.",
    mistakes=[
        Mistake("straight-line", "Your path is a straight line: halfway between two random points it passes closer "
                "to the origin than either, where the prior has little mass. Follow the sphere instead.",
                like(latent.lerp)),
        Mistake("unit-length", "Your points all have length 1: the direction moves along the great circle, and the "
                "length should go from ‖z1‖ to ‖z2‖.", like(_unit_slerp)),
        Mistake("textbook-slerp", "Your path is the textbook slerp applied to the raw vectors: its lengths do not "
                "run evenly from ‖z1‖ to ‖z2‖. Treat direction and length separately.", like(_textbook_slerp)),
        Mistake("same-direction", "Your path is nan when z1 and z2 point the same way: the angle between them is 0, "
                "and you divide by its sine. What does the path along the sphere become then?", nonfinite),
        Mistake("alpha-grid", "Your rows are not spaced as asked: the first row must be z1, the last z2, in `steps` "
                "rows evenly spaced.",
                like(lambda z1, z2, s: latent.slerp(z1, z2, s + 1)[:-1],
                     lambda z1, z2, s: latent.slerp(z1, z2, s + 1), lambda z1, z2, s: latent.slerp(z1, z2, s + 1)[1:])),
    ], rtol=1e-6, atol=1e-9)


def _decorrelate_cases():
    return [case(*_randn(seed, (10,), (10,), dtype=torch.float64)) for seed in (0, 1)]


def _unit(v: Tensor) -> Tensor:
    return v / v.norm()


add("09.2", "remove one feature axis from another (TL-GAN's projection)", features.decorrelate, _decorrelate_cases,
    nudge="Keep the part of u that is perpendicular to v: whatever of u points along v goes. The result is a "
          "direction, so it has length 1.",
    formula="Subtract from u its component along the unit vector v̂ = v/‖v‖, u − (u·v̂) v̂, then normalise the "
            "result to length 1.",
    mistakes=[
        Mistake("not-unit", "Your vector points the right way but does not have length 1.",
                like(lambda u, v: u - (u @ _unit(v)) * _unit(v))),
        Mistake("v-not-unit", "You project onto v as if it had length 1: it does not.",
                like(lambda u, v: _unit(u - (u @ v) * v))),
        Mistake("kept-the-projection", "Your answer points along v: that is the part of u to remove, not the part to "
                "keep.", like(lambda u, v: _unit((u @ v) * v))),
        Mistake("swapped", "Your answer removes u from v: the first argument is the axis you keep.",
                like(lambda u, v: features.decorrelate(v, u))),
    ])


# ============================================================================ 10 conditional GANs

def _class_centre_cases():
    out = []
    for seed, (b, b_fake, k) in enumerate(((12, 10, 4), (9, 9, 3))):
        g = _gen(seed)
        out.append(case(torch.randn(b, 5, generator=g), torch.randint(0, k, (b,), generator=g),
                        torch.randn(b_fake, 5, generator=g), torch.randint(0, k, (b_fake,), generator=g), k))
    out.append(case(torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]]), torch.tensor([0, 1, 1]),
                    torch.tensor([[1.0, 2.0], [3.0, 1.0]]), torch.tensor([1, 2]), 3,
                    note="class 2 only among the fakes, class 0 only among the real images"))
    return out


def _class_terms(fr, yr, ff, yf, k, empty_as_zero=False):
    """Each class's squared centre gap, for the classes in both batches (or, empty_as_zero, all classes)."""
    out = []
    for c in range(k):
        r, f = fr[yr == c], ff[yf == c]
        if len(r) and len(f) or empty_as_zero:
            rc = r.mean(0) if len(r) else fr.new_zeros(fr.shape[1])
            fc = f.mean(0) if len(f) else ff.new_zeros(ff.shape[1])
            out.append((rc - fc).pow(2).sum())
    return torch.stack(out)


add("10.1", "CVAE-GAN's per-class feature-centre matching L_GC", cvaegan.class_centre_matching_loss,
    _class_centre_cases,
    nudge="Work class by class: the centre of the real images' features of that class, the centre of the generated "
          "ones', and how far apart the two are; then the classes together. A class must be in both batches to "
          "have two centres.",
    formula="For each class c, average the real features of class c and, separately, the fake features of class c, "
            "then add up ½‖real centre − fake centre‖² over the classes. A class missing from either batch adds "
            "nothing (an empty mean is not zero). Average within a class: not one centre for the whole batch, not the "
            "sum.",
    mistakes=[
        Mistake("one-centre", "Your loss compares one centre of all the real features with one of all the generated "
                "ones: the centres are per class.",
                like(lambda fr, yr, ff, yf, k: 0.5 * (fr.mean(0) - ff.mean(0)).pow(2).sum())),
        Mistake("empty-as-zero", "A class missing from one batch still adds to your loss: its centre there is not "
                "the zero vector; it does not exist. What should such a class add?",
                like(lambda *a: 0.5 * _class_terms(*a, empty_as_zero=True).sum())),
        Mistake("empty-nan", "Your loss is nan: the mean of no features is nan, and a class missing from one batch "
                "has none. What should such a class add?", nonfinite),
        Mistake("averaged-classes", "Your loss averages over the classes: it adds them up.",
                like(lambda *a: 0.5 * _class_terms(*a).mean(), lambda *a: 0.5 * _class_terms(*a).sum() / a[4])),
        Mistake("factor-2", "Your loss is exactly twice the right one: check the constant in front.", scaled(2.0)),
        Mistake("not-squared", "Your class terms are distances between centres, not squared distances.",
                like(lambda *a: 0.5 * _class_terms(*a).sqrt().sum())),
        Mistake("no-gradient", "Your loss has the right value, but no gradient reaches {missing}, so the generator "
                "could not be trained on it. Did you detach, call .item(), or fill a new tensor in place?",
                no_gradient),
    ],
    trainable=_inputs(2))            # the generated features; the real ones are constants for G (detaching them is fine)


def _repair(x, mask, iterations, reconstruct, classify, *, reclassify=True, blend_each=True, reverse=False,
            steps=None):
    """The source's iterated repair, and (through the switches) the usual ways to get it wrong."""
    known = x
    c = classify(x).argmax(dim=1)
    for _ in range(iterations if steps is None else steps):
        if reclassify:
            c = classify(x).argmax(dim=1)
        x_generated = reconstruct(x, c)
        if not blend_each:
            x = x_generated
        elif reverse:
            x = torch.where(mask.bool(), x, x_generated)
        else:
            x = cvaegan.inpaint_blend(x, x_generated, mask)
    return x if blend_each else cvaegan.inpaint_blend(known, x, mask)


def _toy_networks(seed: int, pixels: int = 16, classes: int = 3):
    """A fixed 'encoder-decoder' and 'classifier' on 4 × 4 images: small, smooth and class-dependent."""
    g = _gen(seed)
    a, b = torch.randn(pixels, pixels, generator=g) / 2, torch.randn(classes, pixels, generator=g)
    w = torch.randn(pixels, classes, generator=g)

    def reconstruct(x, c):
        return torch.tanh(x.flatten(1) @ a + b[c]).view_as(x)

    def classify(x):
        return x.flatten(1) @ w
    return reconstruct, classify


def _repair_cases():
    out = []
    for seed, iterations in ((0, 3), (1, 5), (2, 1)):
        g = _gen(10 + seed)
        x = torch.rand(6, 1, 4, 4, generator=g) * 2 - 1
        mask = torch.zeros(1, 1, 4, 4)
        mask[..., 1:3, 1:3] = 1.0
        x = torch.where(mask.bool(), torch.full_like(x, -1.0), x)          # the hole set to background
        out.append(case(x, mask, iterations, *_toy_networks(seed)))
    return out


add("10.2", "the source's iterated repair of a masked image", _repair, _repair_cases,
    nudge="Each iteration is the same three steps as the section above describes: read the class of the image as it "
          "is now, rebuild the image from that class, and keep only what the rebuilt image says about the hole. "
          "The next iteration starts from the repaired image, not from the generated one.",
    formula="Repeat `iterations` times: c = classify(x).argmax(dim=1); x′ = reconstruct(x, c); x ← M ⊙ x′ + (1 − M) ⊙ x "
            "(M = mask, 1 on the missing pixels). The class is read again at every iteration, from the current x; "
            "the known pixels are put back after every step.",
    mistakes=[
        Mistake("mask-reversed", "Your generated pixels went where the image is known: the mask is 1 on the missing "
                "pixels.", like(lambda *a: _repair(*a, reverse=True))),
        Mistake("blend-at-the-end", "You decode the generated image again and again and put the known pixels back "
                "only at the end: each iteration should start from an image whose known pixels are the real ones.",
                like(lambda *a: _repair(*a, blend_each=False))),
        Mistake("class-read-once", "You read the class once, from the masked image: as the hole fills in, the class "
                "C reads can change. Where in the loop should it be read?", like(lambda *a: _repair(*a, reclassify=False))),
        Mistake("one-iteration", "Your answer is one repair step, whatever `iterations` says.",
                like(lambda *a: _repair(*a, steps=1))),
        Mistake("no-blend", "Your known pixels changed: only the missing pixels (mask 1) may take the generated values.",
                like(lambda x, m, k, rec, cls: _repair(x, torch.ones_like(m), k, rec, cls))),
    ])


# ============================================================================ 11 semi-supervised GAN

def _log_p_real(class_logits: Tensor) -> Tensor:
    return F.logsigmoid(losses.real_logit(class_logits))


def _class_logit_cases():
    return ([case(*_randn(seed, (6, 10), scale=3.0)) for seed in (0, 1)]
            + [case(torch.tensor([[100.0] * 10, [-120.0] * 10, [0.0] * 10]),
                    note="logits 100, −120 and 0: Z overflows, underflows, is 10")])


_NEVER_Z = ("Z = Σ exp(l_k) overflows to inf at logits 100 and underflows to 0 at −120. Can you keep every step in "
            "logarithms, never forming Z itself?")

add("11.1", "log p(real | x) from the K class logits", _log_p_real, _class_logit_cases,
    nudge="The K real classes and the fake class, whose logit is fixed at 0, share one softmax; 'real' is any of the "
          "K classes. Write log p(real | x) from the logits without ever exponentiating them one by one: one value "
          "per row.",
    formula="With the fake logit fixed at 0, p(real|x) = Z/(Z + 1), Z = Σ_k exp(l_k): that is sigmoid(log Z), so "
            "log p(real|x) = logsigmoid(logsumexp_k l_k), one value per row, shape (B,). Never form Z itself: at "
            "logits 100 it overflows to inf (inf/inf is nan), at −120 it underflows to 0 (log 0 is −inf).",
    mistakes=[
        Mistake("overflow", "Your answer is nan or −inf at extreme logits: " + _NEVER_Z, nonfinite),
        Mistake("log-z", "Your answer is log Z itself, which can be positive: p(real | x) is a probability, so its "
                "log is at most 0. Where does the fake class, with its logit fixed at 0, come in?",
                like(lambda l: torch.logsumexp(l, 1))),
        Mistake("sum-of-logits", "Your numbers use the sum of the logits where Z adds up their exponentials.", like(lambda l: F.logsigmoid(l.sum(1)))),
        Mistake("max-logit", "Your numbers use only the largest class logit: Z adds up every class's exponential.",
                like(lambda l: F.logsigmoid(l.max(1).values))),
        Mistake("fake", "Your numbers are log p(fake | x), the log-probability that x was generated.",
                like(lambda l: F.logsigmoid(-torch.logsumexp(l, 1)))),
        Mistake("axis", "Your answer has one value per class, not one per row: over which axis do the classes run?",
                like(lambda l: F.logsigmoid(torch.logsumexp(l, 0)))),
        Mistake("no-gradient", "Your answer has the right values, but no gradient reaches {missing}, so the "
                "discriminator could not be trained on it. Did you detach, call .item() or numpy?", no_gradient),
    ],
    trainable=_inputs(0))


def _unsupervised_cases():
    return ([case(*_randn(seed, (8, 10), (5, 10), scale=3.0)) for seed in (0, 1)]
            + [case(torch.full((2, 10), 100.0), torch.full((3, 10), -120.0), note="D sure, and right"),
               case(torch.full((2, 10), -120.0), torch.full((3, 10), 100.0), note="D sure, and wrong")])


add("11.2", "the semi-supervised GAN's unsupervised loss", losses.ssgan_unsupervised_loss, _unsupervised_cases,
    nudge="The real images should be judged real and the generated ones fake, with p(real | x) from the K class "
          "logits and the fake logit fixed at 0; each expectation is the mean over its own batch. Keep it finite "
          "when D is sure of itself: never exponentiate the logits one by one.",
    formula="L = −E_x log(Z(x)/(Z(x) + 1)) − E_z log(1/(Z(G(z)) + 1)), each expectation the mean over its own batch. "
            "With l = logsumexp of a row's logits: −log(Z/(Z + 1)) = softplus(−l) for the real images and "
            "−log(1/(Z + 1)) = softplus(l) for the generated ones; the first argument holds the real images' logits.",
    mistakes=[
        Mistake("roles-swapped", "Your loss is smallest when D calls the real images fake and the generated ones "
                "real: the first argument holds the real images' logits.",
                like(lambda r, f: losses.ssgan_unsupervised_loss(f, r))),
        Mistake("overflow", "Your loss is inf or nan at extreme logits: " + _NEVER_Z, nonfinite),
        Mistake("capped", _CAPPED, capped),
        Mistake("pooled", "You average over both batches pooled together: each expectation is the mean over its own "
                "batch (here the two batches differ in size).",
                like(lambda r, f: torch.cat([F.softplus(-torch.logsumexp(r, 1)),
                                             F.softplus(torch.logsumexp(f, 1))]).mean())),
        Mistake("max-logit", "Your numbers use only each row's largest class logit: Z adds up every class's "
                "exponential.", like(lambda r, f: losses.discriminator_loss(r.max(1).values, f.max(1).values))),
        Mistake("no-gradient", "Your loss has the right value, but no gradient reaches {missing}, so the "
                "discriminator could not be trained on it. Did you detach, call .item() or numpy?", no_gradient),
    ],
    trainable=_inputs(0, 1))


def keys_for(notebook: str) -> list[str]:
    """The exercise keys of a notebook, e.g. ``keys_for("02")``."""
    return [k for k in EXERCISES if k.startswith(f"{notebook[:2]}.")]


__all__ = ["EXERCISES", "Case", "Exercise", "Mistake", "Trial", "check", "diagnose", "hint", "hint_text", "keys_for"]
