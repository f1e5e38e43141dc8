"""Checked exercises: the student writes a function, :func:`check` says whether it is right.

In a notebook::

    def kl_diag(mu_q, logvar_q, mu_p, logvar_p):
        raise NotImplementedError          # your code here

    exercises.check("02.2", kl_diag)

:func:`check` calls the function on a few fixed test cases and compares each answer with the
library's own (the code the rest of the series runs). It prints one of

- ``not attempted yet`` (the stub still raises NotImplementedError): the notebook goes on;
- ``correct`` on all cases;
- ``not yet``: which case differs, what was expected, and a hint aimed at the usual mistake.

It returns True, False, or None (not attempted) and never raises, so a notebook with untouched
exercises still runs top to bottom under papermill and nbval. The solutions live apart, in
``solutions/<notebook>.py``; ``tests/test_exercises.py`` checks that every solution is accepted,
a typical wrong answer rejected, and an untouched stub reported as not attempted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from scipy import linalg

from tutorial_lib import features, latent, losses, metrics, theory
from tutorial_lib.methods import cvaegan

Tensor = torch.Tensor


@dataclass(frozen=True)
class Exercise:
    key: str
    title: str
    reference: Callable[..., Any]
    cases: Callable[[], list[tuple]]
    hint: str
    rtol: float = 1e-5
    atol: float = 1e-6


EXERCISES: dict[str, Exercise] = {}


def add(key: str, title: str, reference: Callable[..., Any], cases: Callable[[], list[tuple]], hint: str,
        rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Register exercise ``key``: ``cases()`` gives argument tuples, ``reference(*args)`` the right answer."""
    EXERCISES[key] = Exercise(key, title, reference, cases, hint, rtol, atol)


def _as_array(value: Any) -> np.ndarray:
    if torch.is_tensor(value):
        return value.detach().cpu().double().numpy()
    if isinstance(value, (tuple, list)):
        return np.stack([_as_array(v) for v in value]) if value else np.zeros(0)
    return np.asarray(value, dtype=float)


def _same(expected: Any, got: Any, ex: Exercise) -> str:
    """"" when ``got`` matches ``expected``; else what differs."""
    e, g = _as_array(expected), _as_array(got)
    if e.shape != g.shape:
        return f"expected shape {e.shape}, got {g.shape}"
    if not np.allclose(g, e, rtol=ex.rtol, atol=ex.atol, equal_nan=False):
        where = np.argmax(np.abs(np.nan_to_num(g - e, nan=np.inf)).ravel()) if e.size else 0
        return f"expected {e.ravel()[where]:.6g}, got {g.ravel()[where]:.6g} (entry {where} of {e.size})"
    return ""


def check(key: str, attempt: Callable[..., Any], *, quiet: bool = False) -> bool | None:
    """Run ``attempt`` on exercise ``key``'s test cases; print and return the verdict (see module doc)."""
    ex = EXERCISES[key]
    say = (lambda *a: None) if quiet else print
    cases = ex.cases()
    for i, args in enumerate(cases, 1):
        try:
            got = attempt(*args)
        except NotImplementedError:
            say(f"Exercise {key} ({ex.title}): not attempted yet. Fill in the function above and run this cell again.")
            return None
        except Exception as err:                         # the student's code failed: say so, do not stop
            say(f"✗ Exercise {key} ({ex.title}): your function raised {type(err).__name__}: {err}\n  Hint: {ex.hint}")
            return False
        problem = _same(ex.reference(*args), got, ex)
        if problem:
            say(f"✗ Exercise {key} ({ex.title}): not yet. On test case {i} of {len(cases)}, {problem}.\n"
                f"  Hint: {ex.hint}")
            return False
    say(f"✓ Exercise {key} ({ex.title}): correct on all {len(cases)} test cases.")
    return True


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(seed: int, *shapes: tuple, scale: float = 1.0, dtype: torch.dtype = torch.float32) -> tuple:
    """One test case: a standard-normal tensor (times ``scale``) per shape, from generator ``seed``."""
    g = _gen(seed)
    return tuple(scale * torch.randn(*shape, generator=g, dtype=dtype) for shape in shapes)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ============================================================================ 01 maximum likelihood

def _gmm_cases():
    out = []
    for seed, k in ((0, 2), (1, 3)):
        r = _rng(seed)
        out.append((r.normal(size=50) * 2, r.dirichlet(np.ones(k)), r.normal(size=k) * 2, r.uniform(0.3, 2, size=k)))
    out.append((np.array([-40.0, 0.0, 40.0]), np.array([0.5, 0.5]), np.array([-1.0, 1.0]), np.array([0.1, 0.1])))
    return out


add("01.1", "E-step: the responsibilities of a Gaussian mixture", theory.gmm_responsibilities, _gmm_cases,
    "r_ik = π_k N(x_i; μ_k, σ_k²) / Σ_j π_j N(x_i; μ_j, σ_j²); the last test puts points 40 σ away, "
    "where the densities underflow to 0: work with log densities and subtract the row maximum "
    "(scipy.special.logsumexp) before exponentiating. The arguments are variances, not standard deviations.")


def _kl_cases():
    r = _rng(2)
    p, q = r.dirichlet(np.ones(6), size=4), r.dirichlet(np.ones(6), size=4)
    p0 = p.copy()
    p0[:, 0] = 0.0
    p0 /= p0.sum(axis=1, keepdims=True)
    return [(p, q), (q, p), (p0, q)]


add("01.2", "KL divergence between categorical distributions", theory.kl_categorical, _kl_cases,
    "KL(p‖q) = Σ_k p_k log(p_k / q_k), summed over the last axis; the order matters (the second test "
    "swaps p and q), and a term with p_k = 0 contributes 0, not nan (scipy.special.rel_entr does both).")


# ============================================================================ 02 ELBO

def _ppca_cases():
    out = []
    for seed in (0, 1):
        g = _gen(seed)
        D, d = 5, 2
        W, b = torch.randn(D, d, generator=g, dtype=torch.float64), torch.randn(D, generator=g, dtype=torch.float64)
        x = torch.randn(4, D, generator=g, dtype=torch.float64)
        mu, logvar = torch.randn(4, d, generator=g, dtype=torch.float64), torch.randn(4, d, generator=g, dtype=torch.float64)
        out.append((x, mu, logvar, W, b, 0.3 + seed))
    return out


add("02.1", "the ELBO of the linear-Gaussian (PPCA) bench, in closed form", theory.ppca_elbo, _ppca_cases,
    "ELBO = E_q[log p(x|z)] − KL(q‖N(0,I)). With z = μ + σε, E_q‖x − Wz − b‖² = ‖x − Wμ − b‖² + "
    "Σ_k σ_k² ‖W_{:,k}‖², and log p(x|z) = −D/2 log(2π s²) − ‖x − Wz − b‖²/(2 s²); noise_var is s².",
         rtol=1e-8, atol=1e-8)


def _kl_diag_cases():
    return [_randn(seed, *[(3, 4)] * 4, dtype=torch.float64) for seed in (0, 1, 2)]


add("02.2", "KL between diagonal Gaussians", theory.kl_diag_gaussians, _kl_diag_cases,
    "½ Σ_k [log(σ_p²/σ_q²) + (σ_q² + (μ_q − μ_p)²)/σ_p² − 1], summed over the last dimension; the inputs are "
    "log-variances, so σ² = exp(logvar).", rtol=1e-8, atol=1e-8)


# ============================================================================ 03 GAN divergences

def _dstar_cases():
    x = np.linspace(-4, 4, 81)
    from scipy import stats
    pr, pg = stats.norm.pdf(x, -1, 1), stats.norm.pdf(x, 1.5, 0.5)
    return [(pr, pg), (pg, pr), (np.array([0.0, 0.2, 0.0]), np.array([0.0, 0.0, 0.3]))]


add("03.1", "the optimal discriminator D*", theory.optimal_discriminator, _dstar_cases,
    "D*(x) = p_r(x) / (p_r(x) + p_g(x)): the probability that x came from the data. Where both densities "
    "are 0 any value is optimal; the series uses ½ there (the third test has such a point).")


def _value_cases():
    from scipy import stats
    x = np.linspace(-6, 6, 2001)
    pr, pg = stats.norm.pdf(x, -1, 1), stats.norm.pdf(x, 1.0, 1.0)
    return [(theory.optimal_discriminator(pr, pg), pr, pg, x), (np.full_like(x, 0.5), pr, pg, x),
            (1 / (1 + np.exp(-x)), pr, pg, x)]


add("03.2", "the GAN value V(D, G) by quadrature", theory.gan_value, _value_cases,
    "V = ∫ [p_r log D + p_g log(1 − D)] dx: evaluate the integrand on the grid and integrate with the "
    "trapezoid rule (scipy.integrate.trapezoid). With D ≡ ½ the answer is −2 log 2.", rtol=1e-6)


# ============================================================================ 04 VAE

def _reparam(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    return mu + (0.5 * logvar).exp() * eps


def _reparam_cases():
    return [_randn(seed, (5, 3), (5, 3), (5, 3)) for seed in (0, 1)]


add("04.1", "the reparameterisation z = μ + σ ε", _reparam, _reparam_cases,
    "σ = exp(½ · logvar), not exp(logvar) and not logvar itself; ε is given, do not draw a new one.")


def _kl_std_cases():
    return [_randn(seed, (6, 4), (6, 4)) for seed in (0, 1)]


add("04.2", "the VAE's KL term against the standard normal prior", losses.kl_normal_standard, _kl_std_cases,
    "KL(N(μ, σ²) ‖ N(0, 1)) = ½ Σ_k (μ_k² + σ_k² − 1 − log σ_k²), summed over latent dimensions, one "
    "value per image: shape (B,).")


# ============================================================================ 05 GAN

def _logit_pairs():
    return ([_randn(seed, (16,), (16,), scale=3.0) for seed in (0, 1)]
            + [(torch.full((4,), -120.0), torch.full((4,), 120.0))])   # D is sure, and wrong


add("05.1", "the discriminator's loss from logits", losses.discriminator_loss, _logit_pairs,
    "L_D = −E log D(x) − E log(1 − D(G(z))) with D = sigmoid(logit). Use the logits directly: "
    "−log sigmoid(a) = softplus(−a) and −log(1 − sigmoid(a)) = softplus(a) stay finite at ±120 (the third "
    "test), where sigmoid rounds to exactly 0 or 1 and log gives −inf.")


add("05.2", "the non-saturating generator loss", losses.generator_loss_nonsaturating, lambda: [(args[1],) for args in _logit_pairs()],
    "L_G = −E log D(G(z)) = mean softplus(−logit): a minus sign short gives the saturating loss "
    "log(1 − D), whose gradient vanishes exactly when D rejects the fakes.")


# ============================================================================ 06 WGAN-GP

def _interp_cases():
    out = []
    for seed in (0, 1):
        g = _gen(seed)
        out.append((torch.randn(6, 1, 4, 4, generator=g), torch.randn(6, 1, 4, 4, generator=g),
                    torch.rand(6, generator=g)))
    return out


add("06.1", "the interpolates x̂ = ε x_r + (1 − ε) x_g", losses.interpolate, _interp_cases,
    "One ε per example, shape (B,): reshape it to (B, 1, 1, 1) so it broadcasts over the image, and weight "
    "the real image by ε.")


def _critic(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    return lambda x: net(x).squeeze(1)


def _gp_cases():
    out = []
    for seed in (0, 1):
        g = _gen(seed)
        out.append((_critic(seed), torch.randn(6, 1, 4, 4, generator=g), 10.0))
    return out


def _gp_reference(critic, x_hat, weight):
    return losses.gradient_penalty(critic, x_hat, weight).detach()


add("06.2", "the gradient penalty λ E(‖∇f(x̂)‖ − 1)²", _gp_reference, _gp_cases,
    "Take the gradient of critic(x̂).sum() with respect to x̂ (torch.autograd.grad, create_graph=True so the "
    "penalty can be trained), flatten each example's gradient, take its 2-norm, then the mean of "
    "(norm − 1)² times λ. It is two-sided: (norm − 1)², not max(0, norm − 1)².")


# ============================================================================ 07 AEGAN

def _g1_cases():
    return [(*_randn(seed, (8,), (8,), scale=2.0), lam) for seed, lam in ((0, 1.0), (1, 0.5))]


add("07.1", "the latent generator's loss L_G1", losses.aegan_generator_loss, _g1_cases,
    "L_G1 = −E log D1(G1(z)) − λ E log D2(Dec(G1(z))): the non-saturating loss on the latent "
    "discriminator's logits plus λ times the same on the image discriminator's.")


def _mse_cases():
    out = []
    for seed in (0, 1):
        g = _gen(seed)
        out.append((torch.rand(4, 1, 6, 6, generator=g) * 2 - 1, torch.rand(4, 1, 6, 6, generator=g) * 2 - 1))
    return out


add("07.2", "the autoencoder's reconstruction loss", losses.reconstruction_mse, _mse_cases,
    "The mean squared error per pixel, averaged over every pixel of every image in the batch: a scalar.")


# ============================================================================ 08 comparison

def _frechet(mu1, cov1, mu2, cov2) -> float:
    covmean = linalg.sqrtm(np.asarray(cov1) @ np.asarray(cov2)).real
    return float(np.sum((np.asarray(mu1) - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))


def _fd_cases():
    out = []
    for seed in (0, 1):
        r = _rng(seed)
        a, b = r.normal(size=(5, 5)), r.normal(size=(5, 5))
        out.append((r.normal(size=5), a @ a.T + np.eye(5), r.normal(size=5), b @ b.T + np.eye(5)))
    return out


add("08.1", "the Fréchet distance between two Gaussians", _frechet, _fd_cases,
    "FD = ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½) with the matrix square root (scipy.linalg.sqrtm; keep "
    "its real part), not the element-wise square root.", rtol=1e-6)


def _pr_cases():
    out = []
    for seed in (0, 1):
        g = _gen(seed)
        real = torch.randn(120, 3, generator=g, dtype=torch.float64)
        fake = 1.5 * torch.randn(100, 3, generator=g, dtype=torch.float64) + 0.7
        out.append((real, fake, 3))
    return out


add("08.2", "improved precision (Kynkäänniemi et al.)", lambda real, fake, k: metrics.precision_recall(real, fake, k=k)[0], _pr_cases,
    "For each real point, its radius is the distance to its k-th nearest *other* real point (the point "
    "itself is at distance 0, so take the (k+1)-th smallest distance, or torch.kthvalue with k + 1). "
    "Precision is the fraction of fake points within the radius of at least one real point.")


# ============================================================================ 09 latent exploration

def _slerp_cases():
    return [(*_randn(seed, (16,), (16,), dtype=torch.float64), 7) for seed in (0, 1)]


add("09.1", "spherical interpolation (slerp)", latent.slerp, _slerp_cases,
    "Interpolate the directions along the great circle, sin((1−α)Ω) u1 + sin(αΩ) u2 over sin Ω with "
    "cos Ω = u1·u2 for unit vectors u, and the norms linearly; α runs over torch.linspace(0, 1, steps), "
    "one row per step.", rtol=1e-6, atol=1e-9)


def _decorrelate_cases():
    return [_randn(seed, (10,), (10,), dtype=torch.float64) for seed in (0, 1)]


add("09.2", "remove one feature axis from another (TL-GAN's projection)", features.decorrelate, _decorrelate_cases,
    "Subtract from u its component along the unit vector v̂ = v/‖v‖, u − (u·v̂) v̂, then normalise the "
    "result to length 1.")


# ============================================================================ 10 conditional GANs

def _class_centre_cases():
    out = []
    for seed, (b, b_fake, k) in enumerate(((12, 10, 4), (9, 9, 3))):
        g = _gen(seed)
        out.append((torch.randn(b, 5, generator=g), torch.randint(0, k, (b,), generator=g),
                    torch.randn(b_fake, 5, generator=g), torch.randint(0, k, (b_fake,), generator=g), k))
    # class 2 only among the fakes, class 0 only among the real images: neither counts
    out.append((torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]]), torch.tensor([0, 1, 1]),
                torch.tensor([[1.0, 2.0], [3.0, 1.0]]), torch.tensor([1, 2]), 3))
    return out


add("10.1", "CVAE-GAN's per-class feature-centre matching L_GC", cvaegan.class_centre_matching_loss,
    _class_centre_cases,
    "For each class c, average the real features of class c and, separately, the fake features of class c, "
    "then add up ½‖real centre − fake centre‖² over the classes. A class missing from either batch adds nothing "
    "(an empty mean is not zero). Average within a class: not one centre for the whole batch, not the sum.")


def _blend_cases():
    out = []
    for seed in (0, 1):
        g = _gen(seed)
        x, x_gen = torch.rand(3, 1, 6, 6, generator=g) * 2 - 1, torch.rand(3, 1, 6, 6, generator=g) * 2 - 1
        out.append((x, x_gen, (torch.rand(3, 1, 6, 6, generator=g) < 0.3).float()))
    return out


add("10.2", "one inpainting step x ← M ⊙ x′ + (1 − M) ⊙ x", cvaegan.inpaint_blend, _blend_cases,
    "M is 1 on the missing pixels (the source's convention): those take the generated x′, every other pixel "
    "keeps the image's own value. The generated image goes where M = 1, not where M = 0.")


# ============================================================================ 11 semi-supervised GAN

def _log_p_real(class_logits: Tensor) -> Tensor:
    return torch.nn.functional.logsigmoid(losses.real_logit(class_logits))


def _class_logit_cases():
    return ([_randn(seed, (6, 10), scale=3.0) for seed in (0, 1)]
            + [(torch.tensor([[100.0] * 10, [-120.0] * 10, [0.0] * 10]),)])   # Z overflows, underflows, is 10


add("11.1", "log p(real | x) from the K class logits", _log_p_real, _class_logit_cases,
    "With the fake logit fixed at 0, p(real|x) = Z/(Z + 1), Z = Σ_k exp(l_k): that is sigmoid(log Z), so "
    "log p(real|x) = logsigmoid(logsumexp_k l_k), one value per row, shape (B,). Never form Z itself: at logits "
    "100 it overflows to inf (inf/inf is nan), at −120 it underflows to 0 (log 0 is −inf).")


def _unsupervised_cases():
    return ([_randn(seed, (8, 10), (5, 10), scale=3.0) for seed in (0, 1)]
            + [(torch.full((2, 10), 100.0), torch.full((3, 10), -120.0))])   # D sure, and right


add("11.2", "the semi-supervised GAN's unsupervised loss", losses.ssgan_unsupervised_loss, _unsupervised_cases,
    "L = −E_x log(Z(x)/(Z(x) + 1)) − E_z log(1/(Z(G(z)) + 1)), each expectation the mean over its own batch. "
    "With l = logsumexp of a row's logits: −log(Z/(Z + 1)) = softplus(−l) for the real images and "
    "−log(1/(Z + 1)) = softplus(l) for the generated ones; the first argument holds the real images' logits.")


def keys_for(notebook: str) -> list[str]:
    """The exercise keys of a notebook, e.g. ``keys_for("02")``."""
    return [k for k in EXERCISES if k.startswith(f"{notebook[:2]}.")]


__all__ = ["EXERCISES", "Exercise", "check", "keys_for"]
