"""Measured image attributes and TL-GAN feature axes, against hand-computed values."""
import math

import pytest
import torch

from tutorial_lib import features

BLACK, WHITE = -1.0, 1.0


def canvas(n: int = 1) -> torch.Tensor:
    return torch.full((n, 1, 28, 28), BLACK)


def ink_at(pixels, intensity: float = WHITE) -> torch.Tensor:
    """One 28×28 image with the given (row, col) pixels set to ``intensity``."""
    x = canvas()
    for r, c in pixels:
        x[0, 0, r, c] = intensity
    return x


def sheared_bar(shear: float, bar_width: float = 3.0) -> torch.Tensor:
    """Ink where |x − 14 − shear·y| ≤ bar_width/2, y measured up from row 14, for rows 4..23."""
    rows = torch.arange(28).view(28, 1).float()
    cols = torch.arange(28).view(1, 28).float()
    y = 14 - rows
    inside = ((cols - 14 - shear * y).abs() <= bar_width / 2) & (rows >= 4) & (rows <= 23)
    return torch.where(inside, WHITE, BLACK).view(1, 1, 28, 28)


# ----------------------------------------------------------------------------- ink

def test_ink_of_black_white_and_half_images():
    x = canvas(3)
    x[1] = WHITE
    x[2, :, :14] = WHITE
    assert features.ink(x).tolist() == pytest.approx([0.0, 1.0, 0.5])


def test_ink_accepts_uint8_and_grey_levels():
    u8 = torch.full((1, 1, 28, 28), 255, dtype=torch.uint8)
    assert features.ink(u8).item() == pytest.approx(1.0)
    assert features.ink(torch.zeros(1, 1, 28, 28)).item() == pytest.approx(0.5)   # mid-grey x = 0


# ----------------------------------------------------------------------------- slant

def test_vertical_bar_has_zero_slant():
    x = ink_at([(r, c) for r in range(4, 24) for c in (12, 13, 14)])
    assert features.slant(x).item() == pytest.approx(0.0, abs=1e-6)


def test_staircase_slant_by_hand():
    # rows 0..3 at cols 1, 1, 0, 0: y = 0, −1, −2, −3; x = 1, 1, 0, 0
    # x̄ = 0.5, ȳ = −1.5; μ11 = (0.75 + 0.25 + 0.25 + 0.75)/4 = 0.5; μ02 = (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25
    x = ink_at([(0, 1), (1, 1), (2, 0), (3, 0)])
    m = features.moments(x)
    assert m["mu11"].item() == pytest.approx(0.5) and m["mu02"].item() == pytest.approx(1.25)
    assert features.slant(x).item() == pytest.approx(0.4)


def test_diagonal_leaning_right_is_positive_and_mirror_is_negative():
    right = ink_at([(r, 27 - r) for r in range(28)])          # bottom-left to top-right: /
    assert features.slant(right).item() == pytest.approx(1.0)
    assert features.slant(right.flip(-1)).item() == pytest.approx(-1.0)


@pytest.mark.parametrize("shear", [-0.5, -0.2, 0.3, 0.6])
def test_sheared_bar_slant_matches_the_shear(shear):
    assert features.slant(sheared_bar(shear)).item() == pytest.approx(shear, abs=0.03)


def test_intensity_weighting():
    # full ink at (0, 0) and (2, 2) (slope −1), a quarter of it at (2, 0): the weighted fit tilts less
    x = ink_at([(0, 0), (2, 2)])
    x[0, 0, 2, 0] = -0.5                                       # I = 0.25
    # weights 1, 1, 0.25 at (x, y) = (0, 0), (2, −2), (0, −2): x̄ = 2/2.25, ȳ = −2.5/2.25
    w = torch.tensor([1.0, 1.0, 0.25])
    px, py = torch.tensor([0.0, 2.0, 0.0]), torch.tensor([0.0, -2.0, -2.0])
    xb, yb = (w * px).sum() / w.sum(), (w * py).sum() / w.sum()
    expected = (w * (px - xb) * (py - yb)).sum() / (w * (py - yb) ** 2).sum()
    assert features.slant(x).item() == pytest.approx(expected.item(), rel=1e-5)


def test_empty_image_gives_finite_values():
    a = features.attributes(canvas(2))
    for v in a.values():
        assert torch.isfinite(v).all()
    assert a["slant"].tolist() == [0.0, 0.0] and a["thickness"].tolist() == [0.0, 0.0]


# ----------------------------------------------------------------------------- width

@pytest.mark.parametrize("w", [1, 3, 6])
def test_width_of_an_upright_bar_is_its_column_count(w):
    x = ink_at([(r, c) for r in range(4, 24) for c in range(10, 10 + w)])
    assert features.width(x).item() == pytest.approx(w, rel=1e-5)


@pytest.mark.parametrize("shear", [-1, 1, 2])
def test_width_ignores_slant(shear):
    # 3 pixels per row, shifted by `shear` columns per row: x = c + shear·y + u, u ∈ {−1, 0, 1}
    # independent of y, so μ20 − μ11²/μ02 = Var(u) = 2/3 and the width is √(12·2/3 + 1) = 3
    pixels = [(r, 14 + shear * (14 - r) + u) for r in range(8, 21) for u in (-1, 0, 1)]
    x = ink_at(pixels)
    assert features.width(x).item() == pytest.approx(3.0, rel=1e-4)
    assert features.slant(x).item() == pytest.approx(shear, rel=1e-4)


def test_attributes_shapes_and_names():
    a = features.attributes(torch.rand(5, 1, 28, 28) * 2 - 1)
    assert set(a) == set(features.ATTRIBUTES) and all(v.shape == (5,) for v in a.values())


def test_rejects_images_without_a_channel_axis():
    with pytest.raises(ValueError, match="shape"):
        features.ink(torch.zeros(2, 28, 28))


# ----------------------------------------------------------------------------- axes

def planted(n=4000, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g)
    w = torch.randn(d, generator=g)
    return z, w / w.norm(), g


def test_linear_regression_recovers_a_planted_direction():
    z, u, g = planted()
    y = 3.0 * z @ u + 0.1 * torch.randn(len(z), generator=g) + 5.0
    fa = features.feature_axes(z, {"y": y})
    assert fa["y"].norm().item() == pytest.approx(1.0)
    assert (fa["y"] @ u).item() > 0.999
    assert fa.score["y"] > 0.99


def test_negated_labels_flip_the_axis():
    z, u, _ = planted()
    fa = features.feature_axes(z, {"up": z @ u, "down": -(z @ u)})
    assert fa.cosine("up", "down") == pytest.approx(-1.0, abs=1e-6)


def test_logistic_regression_recovers_class_directions():
    # class k = argmax_j 3·u_j·z for orthonormal u_0, u_1, u_2: the multinomial coefficients are
    # w_k ∝ u_k − ū (softmax only fixes them up to a shared vector; the L2 penalty centres them)
    z, _, g = planted(n=6000, d=8)
    u, _ = torch.linalg.qr(torch.randn(8, 3, generator=g))
    u = u.T                                                    # (3, 8), orthonormal rows
    classes = (3 * z @ u.T).argmax(dim=1)
    fa = features.feature_axes(z, classes=classes)
    assert set(fa.axes) == {"digit 0", "digit 1", "digit 2"}
    for k in range(3):
        assert (fa[f"digit {k}"] @ features.unit(u[k] - u.mean(dim=0))).item() > 0.98
        assert (u @ fa[f"digit {k}"]).argmax().item() == k
    assert fa.score["digit 0"] > 0.9
    assert all(a.norm().item() == pytest.approx(1.0) for a in fa.axes.values())


def test_two_classes_give_opposite_axes():
    z, u, _ = planted(n=1000, d=4)
    fa = features.feature_axes(z, classes=(z @ u > 0).long())
    assert fa.cosine("digit 0", "digit 1") == pytest.approx(-1.0, abs=1e-6)
    assert (fa["digit 1"] @ u).item() > 0.95


def test_feature_axes_needs_something_to_fit():
    with pytest.raises(ValueError, match="labels"):
        features.feature_axes(torch.randn(10, 3))


def test_decorrelate_is_orthogonal_unit_and_keeps_the_rest():
    a = torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2)
    b = torch.tensor([1.0, 0.0, 0.0])
    d = features.decorrelate(a, 5 * b)
    assert torch.allclose(d, torch.tensor([0.0, 1.0, 0.0]))
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(32, generator=g), torch.randn(32, generator=g)
    d = features.decorrelate(a, b)
    assert (d @ b).abs().item() < 1e-5 and d.norm().item() == pytest.approx(1.0)
    assert (d @ features.unit(a)).item() > 0                   # still points the same way, minus b


def test_decorrelate_refuses_parallel_axes():
    with pytest.raises(ValueError, match="zero"):
        features.decorrelate(torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.0]))


# ----------------------------------------------------------------------------- sweeps

def test_move_and_sweep_shapes_and_values():
    z0 = torch.zeros(3, 4)
    axis = torch.tensor([1.0, 0.0, 0.0, 0.0])
    lambdas = torch.tensor([-1.0, 0.0, 2.0])
    zs = features.move(z0, axis, lambdas)
    assert zs.shape == (3, 3, 4) and zs[2, 1, 0].item() == 2.0 and zs[0, 0, 1].item() == 0.0
    generate = lambda z: z[:, :1].view(-1, 1, 1, 1).expand(-1, 1, 2, 2)
    images = features.sweep(generate, z0, axis, lambdas, batch_size=2)
    assert images.shape == (3, 3, 1, 2, 2)
    assert images[:, 0, 0, 0, 0].tolist() == [-1.0, 0.0, 2.0]


def test_slope_of_a_line_per_column():
    lambdas = torch.linspace(-2, 2, 9)
    values = torch.stack([3 * lambdas + 1, -0.5 * lambdas, torch.zeros(9)], dim=1)
    assert features.slope(lambdas, values).tolist() == pytest.approx([3.0, -0.5, 0.0], abs=1e-6)
