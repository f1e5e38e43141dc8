"""Sample-quality metrics in the 128-d feature space of the offline evaluator (:mod:`tutorial_lib.evaluator`).

FD (our FID analogue) and KID via torchmetrics; precision/recall (Kynkäänniemi et al. 2019), the
classifier score (Inception-Score analogue, at most 10), the predicted-class histogram. Protocol
(:func:`evaluate`): N generated vs N real test images per sampling seed, mean ± std over seeds,
next to the real-vs-real floor. Images: ``(N, 1, 28, 28)`` in [-1, 1] (uint8 converted); embed a
set once with :func:`embed` and pass the :class:`Embedding` wherever images are accepted.
"""
from __future__ import annotations

import contextlib
import io
import random
import statistics
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Union

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from tutorial_lib import checks, data, runtime

BATCH = 1000
SEEDS = (0, 1, 2)
KEYS = ("FD", "KID", "precision", "recall", "classifier score")


@dataclass
class Embedding:
    """An image set seen by the evaluator: ``features`` (N, 128) and class ``probs`` (N, 10), float64."""
    features: Tensor
    probs: Tensor

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, idx) -> "Embedding":
        return Embedding(self.features[idx], self.probs[idx])


Images = Union[Tensor, Embedding, data.Split]


def _images(x: Images) -> Tensor | Embedding:
    return x.x if isinstance(x, data.Split) else x


class EvaluatorFeatures(nn.Module):
    """Feature extractor handed to torchmetrics: images -> the evaluator's features as float64.

    torchmetrics calls a custom extractor directly on what ``update`` receives (its ``normalize``
    flag only applies to Inception) and reads ``num_features`` to size its float64 states.
    """

    def __init__(self, evaluator: nn.Module) -> None:
        super().__init__()
        self.evaluator = evaluator.eval()
        self.num_features = evaluator.num_features

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        device = next(self.evaluator.parameters()).device
        return self.evaluator.features(data.as_float(x.to(device)).clamp(-1, 1)).double()


@torch.no_grad()
def embed(images: Images, evaluator: nn.Module | None, *, batch_size: int = BATCH) -> Embedding:
    """Features and softmax probabilities of ``images`` (clamped to [-1, 1]), ``batch_size`` at a
    time on the evaluator's device, where the result stays. An Embedding passes through."""
    if isinstance(images, Embedding):
        return images
    if evaluator is None:
        raise ValueError("images were given without the evaluator to embed them: pass evaluator=...")
    images, feats = _images(images), EvaluatorFeatures(evaluator)
    f = torch.cat([feats(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    return Embedding(f, torch.softmax(evaluator.head(f.float()), dim=1).double())


def _filled(metric_cls: type, real: Images, fake: Images, evaluator: nn.Module | None,
            batch_size: int, **kwargs: Any):
    """A torchmetrics image metric updated with both sets (features in float64, as torchmetrics does)."""
    real, fake = _images(real), _images(fake)
    if isinstance(real, Embedding) or isinstance(fake, Embedding):
        real, fake = embed(real, evaluator, batch_size=batch_size), embed(fake, evaluator, batch_size=batch_size)
        module, real, fake, device = nn.Identity(), real.features, fake.features, real.features.device
        module.num_features = real.shape[1]   # features computed already: torchmetrics passes them through
    else:
        module, device = EvaluatorFeatures(evaluator), next(evaluator.parameters()).device
    with warnings.catch_warnings():   # KID's notice that it keeps all features (that is intended here)
        warnings.simplefilter("ignore", UserWarning)
        metric = metric_cls(feature=module, **kwargs).to(device)
    for x, is_real in ((real, True), (fake, False)):
        for i in range(0, len(x), batch_size):
            metric.update(x[i:i + batch_size].to(device), real=is_real)
    return metric


def frechet_distance(real: Images, fake: Images, evaluator: nn.Module | None = None, *,
                     batch_size: int = BATCH) -> float:
    """FD = ‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2 (Σ_r Σ_f)^½) of Gaussians fitted to the two feature sets.

    torchmetrics' FrechetInceptionDistance: per-set sums of features and outer products in float64,
    unbiased covariances (divide by N − 1), Tr((Σ_r Σ_f)^½) as the sum of square roots of the
    eigenvalues of Σ_r Σ_f. Depends on N (biased upwards for small N): compare at equal N only.
    """
    return float(_filled(FrechetInceptionDistance, real, fake, evaluator, batch_size).compute())


def kernel_inception_distance(real: Images, fake: Images, evaluator: nn.Module | None = None, *,
                              subsets: int = 100, subset_size: int = 1000, seed: int = 0,
                              batch_size: int = BATCH) -> tuple[float, float]:
    """KID = unbiased MMD² with kernel k(a, b) = (aᵀb / d + 1)³, d = 128; (mean, std) over subsets.

    torchmetrics' KernelInceptionDistance: ``subsets`` times, draw ``subset_size`` features from each
    set (capped at the set sizes; the draw is seeded by ``seed``) and compute MMD² on them. Unbiased,
    so it can be slightly negative, and its mean does not depend on N.
    """
    size = min(subset_size, len(real), len(fake))
    metric = _filled(KernelInceptionDistance, real, fake, evaluator, batch_size, subsets=subsets, subset_size=size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def _field(x: Embedding | Tensor, name: str) -> Tensor:   # x.features / x.probs, or a tensor of them
    return (getattr(x, name) if isinstance(x, Embedding) else x).double()


def _knn_radii(f: Tensor, k: int, chunk: int) -> Tensor:
    """Distance from each row of ``f`` to its k-th nearest neighbour in ``f``, itself excluded."""
    return torch.cat([torch.cdist(f[i:i + chunk], f).topk(k + 1, largest=False).values[:, -1]
                      for i in range(0, len(f), chunk)])


def _coverage(points: Tensor, centres: Tensor, radii: Tensor, chunk: int) -> float:
    """Fraction of ``points`` inside at least one ball (``centres``, ``radii``)."""
    inside = [(torch.cdist(points[i:i + chunk], centres) <= radii).any(dim=1) for i in range(0, len(points), chunk)]
    return torch.cat(inside).double().mean().item()


def precision_recall(real: Embedding | Tensor, fake: Embedding | Tensor, *, k: int = 3,
                     chunk: int = BATCH) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) on features (or Embeddings).

    Each set's manifold is the union of balls around its points with radius = distance to the
    point's k-th nearest neighbour in the same set. precision = fraction of fake points inside the
    real manifold (fidelity); recall = fraction of real points inside the fake manifold (diversity).
    Distances are computed ``chunk`` rows at a time, so 10,000 x 10,000 needs ~80 MB at once.
    """
    checks.check_positive_int("k", k)
    r = _field(real, "features")
    f = _field(fake, "features").to(r.device)
    precision = _coverage(f, r, _knn_radii(r, k, chunk), chunk)
    recall = _coverage(r, f, _knn_radii(f, k, chunk), chunk)
    return precision, recall


def classifier_score(probs: Embedding | Tensor) -> float:
    """exp(E_x KL(p(y|x) ‖ p(y))), p(y) = E_x p(y|x): high when each image is confidently one class
    and all classes occur. Between 1 and 10 (the number of classes); one value over all N images."""
    p = _field(probs, "probs")
    p_y = p.mean(dim=0, keepdim=True)
    kl = (torch.special.xlogy(p, p) - torch.special.xlogy(p, p_y)).sum(dim=1)
    return float(kl.mean().exp())


def class_histogram(probs: Embedding | Tensor) -> Tensor:
    """Fraction of images the evaluator assigns to each class (argmax), shape (10,), sums to 1."""
    p = _field(probs, "probs")
    return torch.bincount(p.argmax(dim=1).cpu(), minlength=p.shape[1]).double() / len(p)


# ----------------------------------------------------------------------------- the protocol

@dataclass
class Report:
    """Per-seed values of each metric in :data:`KEYS` for one model (or the real floor)."""
    name: str
    n: int
    values: dict[str, list[float]] = field(default_factory=lambda: {key: [] for key in KEYS})
    histogram: Tensor | None = None   # class histogram, mean over seeds

    def mean(self, key: str) -> float:
        return statistics.fmean(self.values[key])

    def std(self, key: str) -> float:
        """Sample standard deviation over seeds (0 for a single seed)."""
        return statistics.stdev(self.values[key]) if len(self.values[key]) > 1 else 0.0

@contextlib.contextmanager
def _seeded(seed: int, source: Any):
    """Seed Python, NumPy and torch for one draw, no autograd, a module in eval mode; restore all after."""
    states, module = (random.getstate(), np.random.get_state()), isinstance(source, nn.Module)
    training = module and source.training
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())), torch.no_grad():
        runtime.seed_everything(seed)
        if module:
            source.eval()
        try:
            yield
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
            if module:
                source.train(training)


def draw(source: Any, n: int, seed: int, *, batch_size: int = BATCH) -> Tensor:
    """n images from ``source``, seeded: a model with ``.sample(n)``, a function ``n -> images``,
    or a tensor / ``data.Split`` of images (a random subset of n, without replacement)."""
    source = _images(source)
    with _seeded(seed, source):
        if isinstance(source, Tensor):
            if len(source) < n:
                raise ValueError(f"asked for n={n} images from a set of only {len(source)}")
            return source[torch.randperm(len(source))[:n].to(source.device)]
        sample: Callable[[int], Tensor] = source.sample if hasattr(source, "sample") else source
        return torch.cat([sample(min(batch_size, n - i)).detach() for i in range(0, n, batch_size)])


def evaluate(source: Any, reference: Images, evaluator: nn.Module, *, n: int = 10_000, seeds=SEEDS,
             name: str = "model", k: int = 3, kid_subsets: int = 100, kid_subset_size: int = 1000,
             batch_size: int = BATCH) -> Report:
    """For each seed, draw n images from ``source`` (see :func:`draw`) and score them against the
    first n images of ``reference`` (the test set, or its :func:`embed`); return a :class:`Report`."""
    checks.check_positive_int("n", n)
    reference = _images(reference)
    if len(reference) < n:
        raise ValueError(f"reference has {len(reference)} images, fewer than n={n}: use the same n for every set")
    ref = embed(reference[:n], evaluator, batch_size=batch_size)
    report, hists = Report(name, n), []
    for seed in seeds:
        fake = embed(draw(source, n, seed, batch_size=batch_size), evaluator, batch_size=batch_size)
        kid, _ = kernel_inception_distance(ref, fake, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
        values = (frechet_distance(ref, fake), kid, *precision_recall(ref, fake, k=k), classifier_score(fake))
        for key, value in zip(KEYS, values):
            report.values[key].append(value)
        hists.append(class_histogram(fake))
    report.histogram = torch.stack(hists).mean(dim=0)
    return report


def epoch_quality(reference: Images, evaluator: nn.Module, *, n: int = 10_000, seed: int = 0,
                  batch_size: int = BATCH) -> Callable[[Any], dict[str, float]]:
    """A measure for :class:`tutorial_lib.training.callbacks.EpochMetric`: ``fn(model)`` draws n images
    (seeded) and returns their FD against the first n of ``reference`` and the class histogram's
    largest share ("top class share"; 0.1 when all ten digits are equally common, 1 when every
    sample is one digit) with that class ("top class"), and each class's share ("share of 0" ...
    "share of 9"). Cheap enough to run after every epoch."""
    checks.check_positive_int("n", n)
    reference = _images(reference)
    if len(reference) < n:
        raise ValueError(f"reference has {len(reference)} images, fewer than n={n}")
    ref = embed(reference[:n], evaluator, batch_size=batch_size)

    def measure(model: Any) -> dict[str, float]:
        fake = embed(draw(model, n, seed, batch_size=batch_size), evaluator, batch_size=batch_size)
        hist = class_histogram(fake)
        return {"FD": frechet_distance(ref, fake), "top class share": float(hist.max()),
                "top class": float(hist.argmax()), **{f"share of {k}": float(v) for k, v in enumerate(hist)}}
    return measure


def real_floor(train: Any, reference: Images, evaluator: nn.Module, *, n: int = 10_000, **kwargs: Any) -> Report:
    """The same metrics for n real training images (a random subset per seed) against the reference:
    the best score a model can expect at this N."""
    return evaluate(train, reference, evaluator, n=n, name="real (train vs test)", **kwargs)


def format_table(reports: list[Report], floor: Report | None = None) -> str:
    """One row per report (mean ± std over seeds), the floor first, FD also as a multiple of the floor."""
    rows = ([floor] if floor is not None else []) + list(reports)
    width = max(len(r.name) for r in rows) + 2
    head = f"{'':{width}}" + "".join(f"  {key:>17}" for key in KEYS) + ("   FD/floor" if floor else "")
    lines = [head]
    for r in rows:
        cells = "".join(f"  {f'{r.mean(key):.4g} ± {r.std(key):.2g}':>17}" for key in KEYS)
        ratio = f"{r.mean('FD') / floor.mean('FD'):>11.1f}" if floor else ""
        lines.append(f"{r.name:{width}}{cells}{ratio}")
    return "\n".join(lines)


def sharpness(images: Tensor) -> float:
    """Mean absolute Laplacian of images (in [-1, 1], shown as intensities in [0, 1]): how much edge they have.

    Divide by the same number for real digits to read it as a fraction of real sharpness; a blurred
    image has smaller second differences than the original.
    """
    laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=images.device)
    unit = data.to_unit(images.clamp(-1, 1).float())
    return torch.nn.functional.conv2d(unit, laplacian.view(1, 1, 3, 3)).abs().mean().item()


def interpret(reports: dict[str, Report], floor: Report) -> str:
    """A reading of this run's table, in words, from its own numbers (one paragraph per model).

    FD is put against the real floor; precision against recall says whether a model leans to
    fidelity (samples that look real) or to coverage (samples that span the real variety); the
    class histogram says whether some digits are missing. Differences smaller than the seeds'
    spread are called ties.
    """
    lines = []
    ranked = sorted(reports.values(), key=lambda r: r.mean("FD"))
    best = ranked[0]
    for r in ranked:
        fd, ratio = r.mean("FD"), r.mean("FD") / floor.mean("FD")
        p, rec = r.mean("precision"), r.mean("recall")
        if p > rec + 0.1:
            lean = (f"precision {p:.2f} > recall {rec:.2f}: its samples mostly look like real digits, but they cover "
                    f"less of the real variety (fidelity over coverage)")
        elif rec > p + 0.1:
            lean = (f"recall {rec:.2f} > precision {p:.2f}: it spans the real variety, but more of its samples fall "
                    f"outside the real data (blur or artefacts: coverage over fidelity)")
        elif max(p, rec) < 0.2:
            lean = (f"precision {p:.2f} and recall {rec:.2f} are both low: few samples look real and little of the "
                    f"real variety is there")
        else:
            lean = f"precision {p:.2f} and recall {rec:.2f} are balanced"
        text = f"{r.name}: FD {fd:.3g} = {ratio:.1f} × the real floor; {lean}."
        if r.histogram is not None:
            share, digit = float(r.histogram.max()), int(r.histogram.argmax())
            if share > 0.2:
                text += f" Its most common digit, {digit}, takes {share:.0%} of the samples (10 % if even): some digits are under-made."
        if r is not best:
            spread = max(r.std("FD"), best.std("FD"))
            if fd - best.mean("FD") <= 2 * spread:
                text += f" Its FD is within two seed standard deviations of {best.name}'s: call it a tie."
        lines.append(text)
    lines.append(f"Lowest FD: {best.name}. Read FD with precision and recall: one number cannot say whether a model "
                 f"fails by making unrealistic samples or by leaving parts of the data out.")
    return "\n".join(lines)


def compare(sources: dict[str, Any], reference: Images, evaluator: nn.Module, *, floor: Report | None = None,
            n: int = 10_000, **kwargs: Any) -> dict[str, Report]:
    """:func:`evaluate` each named source at the same n and seeds; print the table with the floor."""
    ref = embed(_images(reference)[:n], evaluator)
    reports = {name: evaluate(src, ref, evaluator, n=n, name=name, **kwargs) for name, src in sources.items()}
    print(format_table(list(reports.values()), floor))
    return reports


def inception_fid(real: Tensor, fake: Tensor, *, device: str | torch.device = "cpu",
                  batch_size: int = 100) -> float | None:
    """Standard FID with torchmetrics' Inception-v3 (needs torch-fidelity and its downloadable weights).

    Grey [-1, 1] images become RGB in [0, 1]; torchmetrics resizes them to 299 x 299. Slow on a CPU.
    Returns None, after one printed note, when the network cannot be had (offline, not installed).
    """
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            fid = FrechetInceptionDistance(feature=2048, normalize=True).to(device)
    except Exception as err:  # noqa: BLE001 - any failure to get the network means "skip", never a traceback
        print(f"Standard Inception FID skipped ({type(err).__name__}: {(str(err) or 'no detail').splitlines()[0]}); "
              f"it needs `pip install torch-fidelity` and internet once. The evaluator's FD needs neither.")
        return None
    for x, is_real in ((real, True), (fake, False)):
        for i in range(0, len(x), batch_size):
            batch = data.to_unit(data.as_float(x[i:i + batch_size].to(device)).clamp(-1, 1))
            fid.update(batch.expand(-1, 3, -1, -1), real=is_real)
    return float(fid.compute())
