"""Walking through a latent space: interpolation, and finding the z that generates a given image.

Works for any decoder or generator given as a function ``z -> images``.
"""
from __future__ import annotations

from typing import Callable

import torch

from tutorial_lib import checks

Tensor = torch.Tensor


def lerp(z1: Tensor, z2: Tensor, steps: int) -> Tensor:
    """Linear interpolation z = (1 − α) z1 + α z2 for α = 0, …, 1 in ``steps`` points: (steps, d)."""
    checks.check_positive_int("steps", steps)
    alpha = torch.linspace(0, 1, steps, device=z1.device, dtype=z1.dtype).unsqueeze(1)
    return (1 - alpha) * z1 + alpha * z2


def slerp(z1: Tensor, z2: Tensor, steps: int) -> Tensor:
    """Spherical interpolation (Shoemake 1985): along the great circle between z1 and z2, with the norm
    interpolated linearly. In high dimensions N(0, I) samples live near a sphere of radius √d, and
    the straight line between two of them passes through the low-density region near the origin.

        z(α) = [sin((1 − α)Ω) u1 + sin(αΩ) u2] / sin Ω · ((1 − α)‖z1‖ + α‖z2‖),   cos Ω = u1·u2

    Falls back to :func:`lerp` when z1 and z2 point the same way. -> (steps, d)
    """
    checks.check_positive_int("steps", steps)
    n1, n2 = z1.norm(), z2.norm()
    u1, u2 = z1 / n1, z2 / n2
    omega = torch.arccos((u1 * u2).sum().clamp(-1, 1))
    if omega.abs() < 1e-4:
        return lerp(z1, z2, steps)
    alpha = torch.linspace(0, 1, steps, device=z1.device, dtype=z1.dtype).unsqueeze(1)
    direction = (torch.sin((1 - alpha) * omega) * u1 + torch.sin(alpha * omega) * u2) / torch.sin(omega)
    return direction * ((1 - alpha) * n1 + alpha * n2)


def invert(generate: Callable[[Tensor], Tensor], x: Tensor, z0: Tensor, *, steps: int = 500,
           lr: float = 0.05) -> tuple[Tensor, list[float]]:
    """Find z with generate(z) ≈ x by gradient descent on ‖x − generate(z)‖² (the primary source's
    procedure for AEGAN's interpolation), starting from ``z0``. Only z changes; the networks do not.

    x: (B, 1, 28, 28), z0: (B, d) -> (z, loss per step: mean squared error per pixel)
    """
    checks.check_positive_int("steps", steps)
    z = z0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    trace = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = (generate(z) - x).pow(2).mean()
        loss.backward()
        opt.step()
        trace.append(loss.detach())
    return z.detach(), torch.stack(trace).tolist()
