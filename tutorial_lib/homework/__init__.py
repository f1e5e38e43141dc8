"""Build it yourself: the student's model, trained at a small setting and judged against the library's.

Each training notebook (04–07, 10, 11) has a model of the student's own: a subclass of the library's
method whose losses (and, in 06, whose update phases) the student writes. :func:`judge` trains it with
``training.fit`` at the notebook's small :class:`Setting` and scores it on the chapter's figures, each of
which must be no more than a tolerance above the library's own model trained at the same setting:

    04  test negative ELBO, nats per image; checks on one batch (the noise in z, the KL per unit of λ_KL, the
        reconstruction term from the decoder's logits)
    05  FD: Fréchet distance of samples to test digits, in the shipped evaluator's features; checks on one
        batch (G's z drawn as sampling draws it; D's and G's losses from the logits D gave)
    06  FD; and, without a bar, the critic's median ‖∇f(x̂)‖ at interpolates within a factor 4 of 1, and
        its estimate E f(x) − E f(x̃) above 0; checks on one batch (critic steps per G step, z, one mixing weight
        α per interpolate, the penalty's value at the interpolates and its gradient reaching the critic)
    07  FD; and FD of the samples to the reconstructions x′ of the test digits (how well G1 samples the
        codes, seen through the decoder: the autoencoder's own blur cancels); checks on one batch (z, L_AE, what
        D2 takes as real, D1's and D2's losses from their logits, how G1's loss moves with λ_img, whether its
        image term reaches G1)
    10  FD of class-conditional samples, the reconstruction error ½‖x − G(μ(x, c), c)‖² per test digit and KL
        per image (reported beside them: the share of samples read as another class); checks on one batch
    11  test error of the averaged weights; and, without a bar, D's mean p(real | x) over test digits at least
        0.15 above its mean over as many of G's samples (the error alone cannot tell a broken D early on);
        checks on one batch (the labels D's loss reads, what G's loss reads and whether it reaches G)

A :class:`Bar` is the library model's mean over seeds (and, where the solution in ``solutions/`` does not
retrace the library's seed-0 run exactly, over the solution's run too: both are correct models), measured
once and stored here, with the tolerance max(3 standard deviations, the whole range) over those runs. When
the notebook's data are not those a bar was measured on, the library's model is trained here too, at the
same setting and seed, and the stored tolerance is used. An untouched stub (a loss that raises
NotImplementedError) prints "not attempted" and returns None without training anything, so the notebook runs on.
"""
from __future__ import annotations

import time
from dataclasses import replace

import torch

from tutorial_lib import data, runtime, training
from tutorial_lib.evaluator import load_evaluator
from tutorial_lib.homework.base import Bar, Setting, Task, Verdict
from tutorial_lib.homework.tasks import GRADIENT_BAND, TASKS
from tutorial_lib.methods.base import Batch, Method


def setting(notebook: str, mode: str | None = None) -> Setting:
    """The notebook's build-it setting: 'full' normally, 'smoke' in smoke mode (or as ``mode`` says)."""
    task = TASKS[notebook[:2]]
    mode = mode or ("smoke" if runtime.smoke_mode() else "full")
    return task.full if mode == "full" else task.smoke


def _mode_of(task: Task, s: Setting) -> str:
    return "full" if replace(s, seed=0) == replace(task.full, seed=0) else "smoke"


def make(cls: type, notebook: str, s: Setting, device: torch.device | str = "cpu",
         train_split: data.Split | None = None) -> Method:
    """``cls`` (the student's class, or the library's) built for setting ``s``, its weights seeded; prepared
    on the first n_train images of ``train_split`` where the task needs it (11: its labelled subset)."""
    task = TASKS[notebook[:2]]
    torch.manual_seed(s.seed)
    model = cls(task.config(**s.config)).to(device)
    if task.prepare is not None:
        if train_split is None:
            raise ValueError(f"the model of {notebook[:2]} needs its training images: pass train_split")
        task.prepare(model, train_split.take(s.n_train))
    return model


def attempt(model: Method, batch: Batch) -> str | None:
    """None when every phase's loss runs on ``batch``; "stub" for an untouched stub; else what is wrong."""
    try:
        for phase in model.phases():
            out = phase.loss_fn(batch)
            if not (isinstance(out, tuple) and len(out) == 2 and torch.is_tensor(out[0]) and out[0].dim() == 0):
                return (f"phase '{phase.name}' returned {type(out).__name__}: a loss returns (loss, logs), a scalar "
                        f"tensor and a dict (which may be empty)")
            if not out[0].requires_grad:
                return f"the loss of phase '{phase.name}' carries no gradient: is it detached, or built from .item()?"
    except NotImplementedError:
        return "stub"
    except Exception as err:                                   # the student's code: say what, never stop
        return f"your code raised {type(err).__name__}: {err}"
    return None


def train(model: Method, split: data.Split, s: Setting, progress: bool = True) -> str:
    """Train ``model`` at setting ``s`` on the first n_train images of ``split``; "" or what stopped it."""
    try:
        training.fit(model, split.take(s.n_train), epochs=s.epochs, batch_size=s.batch_size, seed=s.seed,
                    checkpoint_dir=None, progress=progress)
    except training.NonFiniteLoss as err:
        return str(err)
    except RuntimeError as err:                                # e.g. a loss that reaches none of its phase's weights
        return f"training raised RuntimeError: {err}"
    return ""


def bars_for(notebook: str, split: data.Split, s: Setting) -> dict[str, Bar] | None:
    """The stored bars for setting ``s``, if the notebook's data are the ones they were measured on."""
    task = TASKS[notebook[:2]]
    if split.name.split("/")[0] != s.dataset or len(split) < s.n_train:
        return None
    return task.bars.get(_mode_of(task, s))


def judge(notebook: str, cls: type, train_split: data.Split, test: data.Split, *, device="cpu",
          evaluator: torch.nn.Module | None = None, progress: bool = True, quiet: bool = False) -> Verdict | None:
    """Train the student's ``cls`` at the notebook's setting and judge it; print the verdict (module doc)."""
    say = (lambda *a: None) if quiet else print
    task, s = TASKS[notebook[:2]], setting(notebook)
    test = data.Split(test.name, test.x[:s.eval_n], test.y[:s.eval_n])
    first = Batch(data.as_float(train_split.x[:s.batch_size].to(device)), train_split.y[:s.batch_size].to(device))
    probe = make(cls, notebook, s, device, train_split)
    problem = attempt(probe, first)
    if problem == "stub":
        say(f"Build it yourself ({notebook[:2]}): not attempted yet. Fill in the class above and run this cell again.")
        return None
    if not problem and task.check is not None:
        problem = task.check(probe, first)
    if _mode_of(task, s) == "smoke":
        say("Smoke mode: a short run that catches gross mistakes only; the real check is the full setting.")
    if evaluator is None and task.uses_evaluator:
        evaluator = load_evaluator("fashion-mnist" if "fashion" in train_split.name else "mnist", device)
    start, figures = time.perf_counter(), {}
    if not problem:
        say(f"Training your model: {s.epochs} epoch(s) on {s.n_train:,} images, batch {s.batch_size} ...")
        model = make(cls, notebook, s, device, train_split)    # fresh weights, as the library's model starts
        problem = train(model, train_split, s, progress)
        figures = task.measure(model, test, evaluator) if not problem else {}
    seconds = time.perf_counter() - start
    bars, live = bars_for(notebook, train_split, s), False
    if bars is None and problem:
        bars = {}
    elif bars is None:
        say("No stored figures of the library's model for these data: training it here at the same setting ...")
        library = make(task.library, notebook, s, device, train_split)
        train(library, train_split, s, progress)
        stored, theirs = task.bars.get(_mode_of(task, s), {}), task.measure(library, test, evaluator)
        bars = {k: Bar(theirs[k], stored[k].tolerance if k in stored else 0.1 * abs(theirs[k]), (theirs[k],),
                       f"trained here, seed {s.seed}" + ("" if k in stored else "; tolerance 10 %, not measured"))
                for k in task.judged}
        live = True
    if not problem:
        worse = [k for k, bar in bars.items() if not figures[k] <= bar.mean + bar.tolerance]
        problem = (f"your {' and '.join(worse)} is more than the tolerance above the library's. "
                   f"{task.hint(figures, worse)}"
                   if worse else (task.extra(figures) if task.extra else ""))
    verdict = Verdict(not problem, figures, bars, live, seconds, problem)
    say(report(notebook, verdict))
    if not verdict.passed:
        say(f"  Stuck? The solution is in {task.solution} (try first).")
    return verdict


def report(notebook: str, v: Verdict) -> str:
    """The verdict as a small table and one line that says what it means."""
    if not v.figures:                                          # stopped before there was anything to measure
        return f"✗ Not yet: {v.problem}"
    lines = [f"{'':<22}{'yours':>12}{'library':>14}{'pass if at most':>18}"]
    for k, x in v.figures.items():
        bar = v.bars.get(k)
        lines.append(f"{k:<22}{x:>12.4g}" + (f"{bar.mean:>14.4g}{bar.mean + bar.tolerance:>18.4g}" if bar else ""))
    sources = {bar.measured for bar in v.bars.values()}
    measured = "; ".join(sorted(m for m in sources if not any(m != other and m in other for other in sources)))
    lines.append(f"library's model: {measured}")
    if v.passed:
        lines.append(f"✓ No gross mistake found by this short smoke run ({v.seconds:.0f} s); the real check is the "
                     "full setting." if runtime.smoke_mode() else
                     f"✓ Your model is as good as the library's at this setting ({v.seconds:.0f} s).")
    else:
        lines.append(f"✗ Not yet: {v.problem}")
    return "\n".join(lines)


__all__ = ["Bar", "GRADIENT_BAND", "Setting", "TASKS", "Task", "Verdict", "attempt", "bars_for", "judge", "make",
           "report", "setting", "train"]
