"""Solutions to the exercises of 08 · comparison."""
import numpy as np
import torch
from scipy import linalg


def frechet(mu1, cov1, mu2, cov2):
    """Exercise 08.1: ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½)."""
    root = linalg.sqrtm(cov1 @ cov2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1 + cov2 - 2 * root))


def precision(real, fake, k):
    """Exercise 08.2: the fraction of fake points inside some real point's k-NN ball."""
    d_real = torch.cdist(real, real)
    radii = d_real.kthvalue(k + 1, dim=1).values           # the point itself is the nearest, at 0
    inside = torch.cdist(fake, real) <= radii[None, :]
    return inside.any(dim=1).double().mean().item()
