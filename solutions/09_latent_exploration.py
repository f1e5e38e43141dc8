"""Solutions to the exercises of 09 · latent exploration."""
import torch


def slerp(z1, z2, steps):
    """Exercise 09.1: along the great circle between the directions, norms interpolated linearly."""
    alpha = torch.linspace(0, 1, steps, dtype=z1.dtype)[:, None]
    n1, n2 = z1.norm(), z2.norm()
    u1, u2 = z1 / n1, z2 / n2
    omega = torch.arccos(torch.clamp(u1 @ u2, -1, 1))
    if omega < 1e-4:                      # the same direction: the arc is a point, sin Ω = 0; the path is the line
        return (1 - alpha) * z1 + alpha * z2
    direction = (torch.sin((1 - alpha) * omega) * u1 + torch.sin(alpha * omega) * u2) / torch.sin(omega)
    return direction * ((1 - alpha) * n1 + alpha * n2)


def decorrelate(u, v):
    """Exercise 09.2: u without its component along v, normalised."""
    v_hat = v / v.norm()
    w = u - (u @ v_hat) * v_hat
    return w / w.norm()
