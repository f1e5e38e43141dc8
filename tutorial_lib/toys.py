"""2-D toy problems for mode collapse: the 8-Gaussian ring and the 25-Gaussian grid.

The coverage metric is the one VEEGAN and PacGAN report. A generated point is **high
quality** if it lies within ``n_sigma`` (3) standard deviations of its nearest mode. A mode is
**covered** if at least one high-quality point falls on it. The usual protocol draws 2,500
samples.

Settings follow those papers: the ring has 8 modes on a circle of radius 2 with σ = 0.02; the
grid has 25 modes at {−4, −2, 0, 2, 4}² with σ = 0.05.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tutorial_lib import checks, data

Tensor = torch.Tensor
PROBLEMS = ("ring", "grid")


def ring_modes(n_modes: int = 8, radius: float = 2.0) -> Tensor:
    """Mode centres evenly spaced on a circle, shape (n_modes, 2)."""
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_modes(side: int = 5, spacing: float = 2.0) -> Tensor:
    """Mode centres on a side×side grid centred at 0, shape (side², 2)."""
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(ticks, ticks)


@dataclass(frozen=True)
class Toy:
    """A mixture of equal-weight isotropic Gaussians."""
    name: str
    modes: Tensor
    std: float

    def sample(self, n: int, generator: torch.Generator | None = None) -> data.Split:
        """``n`` points (N, 2) with the index of their mode as the label."""
        checks.check_positive_int("n", n)
        which = torch.randint(len(self.modes), (n,), generator=generator)
        points = self.modes[which] + self.std * torch.randn(n, 2, generator=generator)
        return data.Split(self.name, points, which)


def make(problem: str) -> Toy:
    """``"ring"`` (8 modes, σ = 0.02) or ``"grid"`` (25 modes, σ = 0.05)."""
    checks.check_choice("problem", problem, PROBLEMS)
    if problem == "ring":
        return Toy("ring", ring_modes(8, 2.0), 0.02)
    return Toy("grid", grid_modes(5, 2.0), 0.05)


@dataclass(frozen=True)
class Coverage:
    modes_covered: int
    n_modes: int
    high_quality: float          # fraction of samples within n_sigma·σ of their nearest mode
    per_mode: tuple[int, ...]    # high-quality samples on each mode

    def __str__(self) -> str:
        return f"{self.modes_covered}/{self.n_modes} modes, {self.high_quality:.1%} high-quality"


def mode_coverage(samples: Tensor, toy: Toy, n_sigma: float = 3.0) -> Coverage:
    """VEEGAN/PacGAN mode coverage of ``samples`` (N, 2) for ``toy``."""
    samples = samples.detach().float().cpu()
    dist = torch.cdist(samples, toy.modes)                 # (N, n_modes)
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= n_sigma * toy.std
    per_mode = torch.bincount(nearest[good], minlength=len(toy.modes))
    return Coverage(int((per_mode > 0).sum()), len(toy.modes), good.float().mean().item(),
                    tuple(per_mode.tolist()))
