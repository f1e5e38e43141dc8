"""The exercises of 08 (comparison) and 09 (latent exploration): each one's cases, the library function that
gives the right answer, its nudge and formula, and the mistakes it recognises."""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy import linalg

from tutorial_lib import features, latent, metrics
from tutorial_lib.exercises.catalogue_common import gen, randn, rng
from tutorial_lib.exercises.checker import add, case
from tutorial_lib.exercises.mistakes import Mistake, _as_array, like, nonfinite, swapped

Tensor = torch.Tensor


# ============================================================================ 08 comparison

def _frechet(mu1, cov1, mu2, cov2) -> float:
    covmean = linalg.sqrtm(np.asarray(cov1) @ np.asarray(cov2)).real
    return float(np.sum((np.asarray(mu1) - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))


def _fd_cases():
    out = []
    for seed in (0, 1):
        r = rng(seed)
        a, b = r.normal(size=(5, 5)), r.normal(size=(5, 5))
        out.append(case(r.normal(size=5), a @ a.T + np.eye(5), r.normal(size=5), b @ b.T + np.eye(5)))
    r = rng(5)
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
        g = gen(seed)
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
    return ([case(*randn(seed, (16,), (16,), dtype=torch.float64), 7) for seed in (0, 1)]
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
    return [case(*randn(seed, (10,), (10,), dtype=torch.float64)) for seed in (0, 1)]


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
                swapped(features.decorrelate)),
    ])


