"""Build it yourself: the student's model, trained at a small setting and judged against the library's.

Each training notebook (04–07) ends with a model of the student's own: a subclass of the library's
method whose losses (and, in 06, whose update phases) the student writes. :func:`judge` trains it with
``training.fit`` at the notebook's small :class:`Setting` and scores it on the chapter's figures, each of
which must be no more than a tolerance above the library's own model trained at the same setting:

    04  test negative ELBO, nats per image
    05  FD: Fréchet distance of samples to test digits, in the shipped evaluator's features
    06  FD; and, without a bar, the critic's median ‖∇f(x̂)‖ at interpolates within a factor 4 of 1, and
        its estimate E f(x) − E f(x̃) above 0
    07  FD; and FD of the samples to the reconstructions x′ of the test digits (how well G1 samples the
        codes, seen through the decoder: the autoencoder's own blur cancels)

A :class:`Bar` is the library model's mean over seeds (and, where the solution in ``solutions/`` does not
retrace the library's seed-0 run exactly, over the solution's run too: both are correct models), measured
once and stored here, with the tolerance max(3 standard deviations, the whole range) over those runs. When
the notebook's data are not those a bar was measured on, the library's model is trained here too, at the
same setting and seed, and the stored tolerance is used. An untouched stub (a loss that raises
NotImplementedError) prints "not attempted" and returns None without training anything, so the notebook runs on.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace
from typing import Callable

import torch

from tutorial_lib import data, methods, metrics, runtime, training
from tutorial_lib.evaluator import load_evaluator
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
    hint: Callable[[dict], str] = lambda figures: ""
    """What to look at when a judged figure is too high (a question, never the answer)."""
    solution: str = ""
    extra: Callable[[dict], str] | None = None
    """Conditions without a bar: '' when met, else what is wrong."""


@dataclass
class Verdict:
    passed: bool
    figures: dict[str, float]
    bars: dict[str, Bar]
    live: bool
    """True when the library's model was trained here (no stored bars for these data)."""
    seconds: float
    problem: str = ""


# ============================================================================ the figures

@torch.no_grad()
def _nelbo(model: Method, test: data.Split, evaluator) -> dict[str, float]:
    runtime.seed_everything(0)                        # the one z sample per image, the same for every model
    model.eval()
    return {"test −ELBO": methods.test_nelbo(model, test)}


def _samples(model: Method, test: data.Split, evaluator) -> tuple[dict[str, float], metrics.Embedding]:
    model.eval()
    fake = metrics.embed(metrics.draw(model, len(test), seed=0), evaluator)
    return {"FD": metrics.frechet_distance(metrics.embed(test.x, evaluator), fake),
            "largest class share": float(metrics.class_histogram(fake).max())}, fake


def _fd(model: Method, test: data.Split, evaluator) -> dict[str, float]:
    return _samples(model, test, evaluator)[0]


GRADIENT_BAND = (0.25, 4.0)
"""06: where the critic's median ‖∇f(x̂)‖ must lie. The penalty holds each example's norm near 1: the library's
critic measured 1.44–1.45 at the full setting (seeds 0–2) and 0.52–1.04 at the smoke setting (seeds 0–4). A
penalty on the whole batch's gradient holds each example's near 1/√B, 0.125 at B = 64 (measured: 0.129, 0.130)."""


def _critic_figures(model: Method, test: data.Split, evaluator) -> dict[str, float]:
    out = _fd(model, test, evaluator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        x_real = data.as_float(test.x[:256].to(next(model.parameters()).device))
        out["median ‖∇f(x̂)‖"] = model.critic_gradient_norms(x_real).median().item()
        with torch.no_grad():
            out["W₁ estimate"] = (model.critic(x_real).mean() - model.critic(model.sample(256)).mean()).item()
    return out


def _critic_checks(figures: dict[str, float]) -> str:
    g, w = figures["median ‖∇f(x̂)‖"], figures["W₁ estimate"]
    if not GRADIENT_BAND[0] <= g <= GRADIENT_BAND[1]:
        return (f"the critic's median gradient norm at the interpolates is {g:.3g}, outside [{GRADIENT_BAND[0]}, "
                f"{GRADIENT_BAND[1]}]: the penalty should hold each example's ‖∇f(x̂)‖ near 1.")
    if not w > 0:
        return (f"your critic scores generated images above real ones (E f(x) − E f(x̃) = {w:.3g} on test digits): "
                f"which of the two expectations should its loss push up?")
    return ""


def _aegan_figures(model: Method, test: data.Split, evaluator) -> dict[str, float]:
    out, fake = _samples(model, test, evaluator)
    device = next(model.parameters()).device
    with torch.no_grad():
        recon = torch.cat([model.reconstruct(data.as_float(test.x[i:i + 1000].to(device)))
                           for i in range(0, len(test), 1000)])
    out["FD to x′"] = metrics.frechet_distance(metrics.embed(recon, evaluator), fake)
    return out


# ============================================================================ the tasks

def _vae_hint(figures: dict[str, float]) -> str:
    if figures["test −ELBO"] > 1e4:
        return ("It exploded: the encoder was rewarded for moving its posteriors away from the prior. Does your loss "
                "add the KL term, or subtract it?")
    return ("Is each term summed over its own axis (the pixels, the latent dimensions) before the mean over the batch? "
            "A reconstruction averaged over the pixels lets the KL weigh 784 times too much, and the encoder gives up "
            "its code. And does z carry the encoder's noise?")


def _gan_hint(figures: dict[str, float]) -> str:
    return ("Which images does each loss see, with which label? D: the real batch as real, fakes held fixed as fake. "
            "G: fresh fakes, and a loss whose gradient stays large while D rejects them.")


def _wgan_hint(figures: dict[str, float]) -> str:
    return ("Does the critic's loss push its scores on real images up and on fakes down, and does the penalty reach "
            "the critic's weights (a gradient kept in the graph)?")


def _aegan_hint(figures: dict[str, float]) -> str:
    return ("Do G1's codes have to look like the encoder's? Check that L_G1 includes D1's verdict on h̃ as well as "
            "D2's on Dec(h̃), and that D1 takes the codes Enc(x) as real and G1's as fake.")


_CPU = "this course's 2-core CPU, one thread, 2026-12-04"

TASKS = {
    "04": Task("04", methods.VAE, methods.VAEConfig,
               full=Setting("mnist", 60_000, 1, 128, {}, 10_000),
               smoke=Setting("mnist-sample", 512, 8, 64, {}, 1_000),
               measure=_nelbo, judged=("test −ELBO",), hint=_vae_hint,
               solution="solutions/04_vae.py, class MyVAE", bars={
                   "full": {"test −ELBO": Bar.from_seeds([111.3459, 111.8529, 111.4731], f"seeds 0–2, {_CPU}")},
                   "smoke": {"test −ELBO": Bar.from_seeds([195.806, 197.579, 194.367, 192.832, 198.686],
                                                         f"seeds 0–4, {_CPU}")}}),
    "05": Task("05", methods.GAN, methods.GANConfig,
               full=Setting("mnist", 60_000, 1, 128, {"width": 32}, 5_000),
               smoke=Setting("mnist-sample", 512, 8, 64, {"width": 16}, 1_000),
               measure=_fd, judged=("FD",), hint=_gan_hint,
               solution="solutions/05_gan.py, class MyGAN", bars={
                   "full": {"FD": Bar.from_seeds([281.60, 263.73, 283.35, 300.45],
                                                 f"seeds 0–2 and the solution, {_CPU}")},
                   "smoke": {"FD": Bar.from_seeds([1243.92, 1273.34, 1269.66, 1578.46, 1294.93],
                                                        f"seeds 0–4, {_CPU}")}}),
    "06": Task("06", methods.WGAN, methods.WGANConfig,
               full=Setting("mnist", 60_000, 1, 64, {"width": 32, "constraint": "gp"}, 5_000),
               smoke=Setting("mnist-sample", 320, 40, 64, {"width": 16, "constraint": "gp"}, 1_000),
               measure=_critic_figures, extra=_critic_checks, judged=("FD",), hint=_wgan_hint,
               solution="solutions/06_wgan_gp.py, class MyWGANGP", bars={
                   "full": {"FD": Bar.from_seeds([653.81, 747.59, 726.51], f"seeds 0–2, {_CPU}")},
                   "smoke": {"FD": Bar.from_seeds([1168.23, 1538.46, 1301.16, 1742.82, 1164.69],
                                                        f"seeds 0–4, {_CPU}")}}),
    "07": Task("07", methods.AEGAN, methods.AEGANConfig,
               full=Setting("mnist", 60_000, 1, 128, {"d_width": 32, "code_norm": "batch", "g1_output_norm": True},
                            5_000),
               smoke=Setting("mnist-sample", 384, 10, 64, {"d_width": 16, "code_norm": "batch",
                                                           "g1_output_norm": True}, 1_000),
               measure=_aegan_figures, judged=("FD", "FD to x′"), hint=_aegan_hint,
               solution="solutions/07_aegan.py, class MyAEGAN", bars={
                   "full": {"FD": Bar.from_seeds([111.08, 111.40, 109.04, 110.23],
                                                 f"seeds 0–2 and the solution, {_CPU}"),
                            "FD to x′": Bar.from_seeds([23.671, 21.650, 18.242, 21.874],
                                                       f"seeds 0–2 and the solution, {_CPU}")},
                   "smoke": {"FD": Bar.from_seeds([645.42, 522.41, 493.14, 638.91, 533.23], f"seeds 0–4, {_CPU}"),
                             "FD to x′": Bar.from_seeds([7.168, 21.831, 22.623, 10.381, 22.784],
                                                       f"seeds 0–4, {_CPU}")}}),
}


def setting(notebook: str, mode: str | None = None) -> Setting:
    """The notebook's build-it setting: 'full' normally, 'smoke' in smoke mode (or as ``mode`` says)."""
    task = TASKS[notebook[:2]]
    mode = mode or ("smoke" if runtime.smoke_mode() else "full")
    return task.full if mode == "full" else task.smoke


def _mode_of(task: Task, s: Setting) -> str:
    return "full" if replace(s, seed=0) == replace(task.full, seed=0) else "smoke"


def make(cls: type, notebook: str, s: Setting, device: torch.device | str = "cpu") -> Method:
    """``cls`` (the student's class, or the library's) built for setting ``s``, its weights seeded."""
    torch.manual_seed(s.seed)
    return cls(TASKS[notebook[:2]].config(**s.config)).to(device)


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
    problem = attempt(make(cls, notebook, s, device), first)
    if problem == "stub":
        say(f"Build it yourself ({notebook[:2]}): not attempted yet. Fill in the class above and run this cell again.")
        return None
    if evaluator is None and task.measure is not _nelbo:
        evaluator = load_evaluator("fashion-mnist" if "fashion" in train_split.name else "mnist", device)
    start, figures = time.perf_counter(), {}
    if not problem:
        say(f"Training your model: {s.epochs} epoch(s) on {s.n_train:,} images, batch {s.batch_size} ...")
        model = make(cls, notebook, s, device)                 # fresh weights, as the library's model starts
        problem = train(model, train_split, s, progress)
        figures = task.measure(model, test, evaluator) if not problem else {}
    seconds = time.perf_counter() - start
    bars, live = bars_for(notebook, train_split, s), False
    if bars is None and problem:
        bars = {}
    elif bars is None:
        say("No stored figures of the library's model for these data: training it here at the same setting ...")
        library = make(task.library, notebook, s, device)
        train(library, train_split, s, progress)
        stored, theirs = task.bars.get(_mode_of(task, s), {}), task.measure(library, test, evaluator)
        bars = {k: Bar(theirs[k], stored[k].tolerance if k in stored else 0.1 * abs(theirs[k]), (theirs[k],),
                       f"trained here, seed {s.seed}" + ("" if k in stored else "; tolerance 10 %, not measured"))
                for k in task.judged}
        live = True
    if not problem:
        worse = [k for k, bar in bars.items() if not figures[k] <= bar.mean + bar.tolerance]
        problem = (f"your {' and '.join(worse)} is more than the tolerance above the library's. {task.hint(figures)}"
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
    measured = "; ".join(sorted({bar.measured for bar in v.bars.values()}))
    lines.append(f"library's model: {measured}")
    if v.passed:
        lines.append(f"✓ Your model is as good as the library's at this setting ({v.seconds:.0f} s).")
    else:
        lines.append(f"✗ Not yet: {v.problem}")
    return "\n".join(lines)


__all__ = ["Bar", "GRADIENT_BAND", "Setting", "TASKS", "Task", "Verdict", "attempt", "bars_for", "judge", "make",
           "report", "setting", "train"]
