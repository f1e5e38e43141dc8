"""Attributes measured from the image itself, and feature axes in latent space (TL-GAN).

**Measured attributes.** Images are ``(N, 1, 28, 28)`` in [-1, 1] (uint8 is converted), white ink
on black. Each pixel's ink is I = (x + 1)/2 in [0, 1]. Pixel coordinates are x = column (to the
right) and y = −row (*up*, as on paper). With the ink as weights, the centroid is (x̄, ȳ) and the
second-order central moments are

    μ_pq = Σ I · (x − x̄)^p (y − ȳ)^q / Σ I.

* ``ink``:   mean of I over the image, in [0, 1] (0 all black, 1 all white). At a fixed digit
  size it grows with stroke thickness, so it is our *thickness* attribute.
* ``slant``: μ11 / μ02, the least-squares slope of x against y: how far the ink moves right per
  pixel upwards. **Positive = leaning right** (like /), 0 = upright, negative = leaning left.
* ``width``: √(12 (μ20 − μ11²/μ02) + 1), the horizontal spread left once the slant is taken out
  (the residual variance of x given y), expressed as the width in pixels of a uniform bar with the
  same spread (w columns of a bar have variance (w² − 1)/12, hence the 12 and the + 1).

**Feature axes** (Shaobo Guan's TL-GAN, 2018): generate many x = G(z), label every image (here:
the evaluator's predicted digit and the measured attributes), fit a generalized linear model of
each label on z — linear regression y ≈ w·z + b for a continuous attribute, multinomial logistic
regression p(k | z) ∝ exp(w_k·z + b_k) for the digit — and take the normalised coefficient vector
u = w / ‖w‖ as the axis of that feature. Moving z → z + λu changes the feature, and, when two axes
are not orthogonal, the other feature too; :func:`decorrelate` removes that by projection.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from tutorial_lib import checks, data

Tensor = torch.Tensor
ATTRIBUTES = ("slant", "thickness", "width")
_EPS = 1e-8


def _ink_map(images: Tensor) -> Tensor:
    """I = (x + 1)/2 clamped to [0, 1], as float (N, H, W)."""
    x = data.as_float(images).float()
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"images must have shape (N, 1, H, W), got {tuple(x.shape)}")
    return data.to_unit(x.clamp(-1, 1))[:, 0]


def moments(images: Tensor) -> dict[str, Tensor]:
    """Ink-weighted centroid and central moments: keys x̄ 'xbar', ȳ 'ybar', 'mu20', 'mu02', 'mu11'.

    Coordinates: x = column, y = −row (up). An image without ink gives zeros (no NaN).
    """
    ink = _ink_map(images)
    n, h, w = ink.shape
    ys = -torch.arange(h, dtype=ink.dtype, device=ink.device).view(1, h, 1)
    xs = torch.arange(w, dtype=ink.dtype, device=ink.device).view(1, 1, w)
    mass = ink.sum(dim=(1, 2)).clamp_min(_EPS)

    def mean(f: Tensor) -> Tensor:
        return (ink * f).sum(dim=(1, 2)) / mass

    xbar, ybar = mean(xs), mean(ys)
    dx, dy = xs - xbar.view(n, 1, 1), ys - ybar.view(n, 1, 1)
    return {"xbar": xbar, "ybar": ybar, "mu20": mean(dx * dx), "mu02": mean(dy * dy), "mu11": mean(dx * dy)}


def ink(images: Tensor) -> Tensor:
    """Mean ink (1/HW) Σ I per image, in [0, 1]: our thickness attribute. -> (N,)"""
    return _ink_map(images).mean(dim=(1, 2))


def slant(images: Tensor) -> Tensor:
    """μ11 / μ02: horizontal shift of the ink per pixel upwards; > 0 leans right. -> (N,)"""
    m = moments(images)
    return m["mu11"] / m["mu02"].clamp_min(_EPS)


def width(images: Tensor) -> Tensor:
    """√(12 (μ20 − μ11²/μ02) + 1) pixels: the de-slanted horizontal spread as a bar width. -> (N,)"""
    m = moments(images)
    residual = m["mu20"] - m["mu11"] ** 2 / m["mu02"].clamp_min(_EPS)
    return torch.sqrt(12 * residual.clamp_min(0) + 1)


def attributes(images: Tensor) -> dict[str, Tensor]:
    """{'slant', 'thickness', 'width'}: each (N,), as :func:`slant`, :func:`ink`, :func:`width`."""
    return {"slant": slant(images), "thickness": ink(images), "width": width(images)}


# ----------------------------------------------------------------------------- feature axes

@dataclass
class FeatureAxes:
    """Unit-norm axes in z-space by name, and how well each GLM fits its labels.

    ``score[name]``: R² of the linear fit (continuous attributes) or the accuracy of the logistic
    fit (digit axes ``'digit 0'`` … ``'digit 9'`` share one multinomial model), on held-out samples
    (on the fitted ones when ``holdout=0``).
    """
    axes: dict[str, Tensor]
    score: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Tensor:
        return self.axes[name]

    def cosine(self, a: str, b: str) -> float:
        """u_a · u_b: 0 for orthogonal axes, ±1 for the same direction."""
        return float(self.axes[a] @ self.axes[b])


def unit(v: Tensor) -> Tensor:
    """v / ‖v‖ (an error for the zero vector, which has no direction)."""
    norm = v.norm()
    if not norm > 0:
        raise ValueError("cannot normalise a zero vector")
    return v / norm


def feature_axes(z: Tensor, labels: dict[str, Tensor] | None = None, classes: Tensor | None = None, *,
                 holdout: float = 0.2, seed: int = 0) -> FeatureAxes:
    """Fit one GLM per label on z and return the normalised coefficients as axes.

    z: (N, d). labels: name -> (N,) continuous values, each fitted by least squares
    (``sklearn.linear_model.LinearRegression``). classes: (N,) integer labels (e.g. the evaluator's
    argmax), fitted by multinomial ``LogisticRegression``; one axis 'digit k' per class seen.
    A random ``holdout`` fraction is kept out of the fit to compute ``score``.
    """
    from sklearn.linear_model import LinearRegression, LogisticRegression

    if not labels and classes is None:
        raise ValueError("feature_axes needs labels and/or classes to regress on z")
    checks.check_fraction("holdout", holdout)
    Z = z.detach().double().cpu().numpy()
    n = len(Z)
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(holdout * n))
    fit_idx, test_idx = order[n_test:], (order[:n_test] if n_test else order)
    out = FeatureAxes({})
    for name, y in (labels or {}).items():
        y = y.detach().double().cpu().numpy()
        if y.shape != (n,):
            raise ValueError(f"label {name!r} has shape {y.shape}, expected ({n},)")
        reg = LinearRegression().fit(Z[fit_idx], y[fit_idx])
        out.axes[name] = unit(torch.as_tensor(reg.coef_, dtype=z.dtype, device=z.device))
        out.score[name] = float(reg.score(Z[test_idx], y[test_idx]))
    if classes is not None:
        c = classes.detach().cpu().numpy().astype(int)
        clf = LogisticRegression(max_iter=1000).fit(Z[fit_idx], c[fit_idx])
        coef = torch.as_tensor(clf.coef_, dtype=z.dtype, device=z.device)
        if len(clf.classes_) == 2:               # sklearn keeps one row: the second class vs the first
            coef = torch.cat([-coef, coef])
        accuracy = float(clf.score(Z[test_idx], c[test_idx]))
        for k, w in zip(clf.classes_, coef):
            out.axes[f"digit {k}"] = unit(w)
            out.score[f"digit {k}"] = accuracy
    return out


def decorrelate(axis: Tensor, other: Tensor) -> Tensor:
    """``axis`` with its component along ``other`` removed, renormalised (TL-GAN's projection):

        u' = (u − (u·v̂) v̂) / ‖u − (u·v̂) v̂‖,   v̂ = v / ‖v‖,

    so u'·v = 0: moving along u' leaves the linear prediction of the other feature unchanged.
    """
    v = unit(other)
    return unit(axis - (axis @ v) * v)


# ----------------------------------------------------------------------------- moving along axes

def move(z0: Tensor, axis: Tensor, lambdas: Tensor) -> Tensor:
    """z0 + λ·axis for every λ: z0 (B, d) or (d,), lambdas (S,) -> (S, B, d)."""
    z0 = z0.unsqueeze(0) if z0.dim() == 1 else z0
    lambdas = torch.as_tensor(lambdas, dtype=z0.dtype, device=z0.device)
    return z0.unsqueeze(0) + lambdas.view(-1, 1, 1) * axis.view(1, 1, -1)


@torch.no_grad()
def sweep(generate: Callable[[Tensor], Tensor], z0: Tensor, axis: Tensor, lambdas: Tensor,
          batch_size: int = 1000) -> Tensor:
    """Images G(z0 + λ·axis) for every λ and every start: -> (S, B, 1, H, W)."""
    zs = move(z0, axis, lambdas)
    flat = zs.flatten(0, 1)
    images = torch.cat([generate(flat[i:i + batch_size]) for i in range(0, len(flat), batch_size)])
    return images.view(*zs.shape[:2], *images.shape[1:])


def slope(lambdas: Tensor, values: Tensor) -> Tensor:
    """Least-squares slope d(value)/dλ of each column: lambdas (S,), values (S, B) -> (B,)."""
    lam = torch.as_tensor(lambdas, dtype=values.dtype, device=values.device).view(-1, 1)
    lam = lam - lam.mean()
    return (lam * (values - values.mean(dim=0))).sum(dim=0) / (lam * lam).sum()
