"""Latent interpolation and inversion."""
import math

import pytest
import torch

from tutorial_lib import latent


def test_lerp_endpoints_and_midpoint():
    z1, z2 = torch.tensor([0.0, 2.0]), torch.tensor([4.0, -2.0])
    path = latent.lerp(z1, z2, 5)
    assert path.shape == (5, 2)
    assert torch.equal(path[0], z1) and torch.allclose(path[-1], z2) and torch.allclose(path[2], torch.tensor([2.0, 0.0]))


def test_slerp_follows_the_arc_between_orthogonal_vectors():
    z1, z2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    path = latent.slerp(z1, z2, 3)
    assert torch.allclose(path[0], z1, atol=1e-6) and torch.allclose(path[-1], z2, atol=1e-6)
    assert torch.allclose(path[1], torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]), atol=1e-6)
    assert torch.allclose(path.norm(dim=1), torch.ones(3), atol=1e-6)       # stays on the circle


def test_slerp_keeps_the_norm_where_lerp_shrinks_it():
    torch.manual_seed(0)
    z1, z2 = torch.randn(256), torch.randn(256)
    mid_lerp, mid_slerp = latent.lerp(z1, z2, 3)[1], latent.slerp(z1, z2, 3)[1]
    assert mid_lerp.norm() < 0.8 * (z1.norm() + z2.norm()) / 2              # ≈ 1/√2 of it
    assert mid_slerp.norm().item() == pytest.approx(((z1.norm() + z2.norm()) / 2).item(), rel=1e-4)


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    z = torch.tensor([1.0, 1.0])
    assert torch.allclose(latent.slerp(z, 2 * z, 3), latent.lerp(z, 2 * z, 3))


def test_invert_recovers_the_code_of_a_linear_generator():
    torch.manual_seed(0)
    w = torch.randn(8, 3)
    generate = lambda z: (z @ w.T).view(-1, 1, 2, 4)
    z_true = torch.randn(2, 3)
    z, trace = latent.invert(generate, generate(z_true), torch.zeros(2, 3), steps=800, lr=0.05)
    assert trace[-1] < 1e-4 * trace[0]
    assert torch.allclose(z, z_true, atol=1e-2)
