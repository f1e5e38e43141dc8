"""Small pure functions behind the theory notebooks 01 (MLE), 02 (ELBO) and 03 (GAN divergences).

Each one is checked against a closed form in tests/test_theory.py; the notebooks use them in the
open and assert that the mathematics holds numerically. Symbols as everywhere in the series:
encoder q(z|x) = N(mu, diag exp(logvar)), decoder p(x|z), prior p(z) = N(0, I); data p_r,
model p_g; discriminator D = sigmoid(logits); Wasserstein critic f.
NumPy (float64) for 1-D densities, quadrature and EM; torch where autograd or `losses` is used.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from scipy import integrate, optimize, special, stats

from tutorial_lib import losses, nets

Tensor = torch.Tensor
LOG2 = math.log(2.0)

# ============================================================================ 01 maximum likelihood
def gaussian_mle(x) -> tuple[float, float]:
    """Maximum-likelihood estimate of N(μ, σ²) from samples x (n,):

        μ̂ = (1/n) Σ_i x_i,    σ̂² = (1/n) Σ_i (x_i − μ̂)²      (divides by n, not n − 1)
    """
    x = np.asarray(x, dtype=float)
    return float(x.mean()), float(((x - x.mean()) ** 2).mean())


def entropy(p) -> np.ndarray:
    """H(p) = −Σ_k p_k log p_k in nats, with 0·log 0 = 0.   p: (..., K) -> (...)"""
    return -special.xlogy(p, p).sum(axis=-1)


def kl_categorical(p, q) -> np.ndarray:
    """KL(p ‖ q) = Σ_k p_k log(p_k / q_k) in nats; 0 where p_k = 0, +inf where p_k > 0 = q_k.  (..., K) -> (...)"""
    return special.rel_entr(p, q).sum(axis=-1)


def gmm_log_joint(x, weights, means, variances) -> np.ndarray:
    """log p(x_i, z=k) = log π_k + log N(x_i; μ_k, σ_k²), 1-D mixture. x: (n,); params: (K,) -> (n, K)"""
    return np.log(weights) + stats.norm.logpdf(np.asarray(x, dtype=float)[:, None], means, np.sqrt(variances))


def gmm_log_likelihood(x, weights, means, variances) -> float:
    """Average log-likelihood  (1/n) Σ_i log Σ_k π_k N(x_i; μ_k, σ_k²)  (a float, nats per point)."""
    return float(special.logsumexp(gmm_log_joint(x, weights, means, variances), axis=1).mean())


def gmm_responsibilities(x, weights, means, variances) -> np.ndarray:
    """E-step: the exact posterior over components (Bayes' rule), rows sum to 1.

        r_ik = p(z=k | x_i) = π_k N(x_i; μ_k, σ_k²) / Σ_j π_j N(x_i; μ_j, σ_j²)      -> (n, K)
    """
    log_joint = gmm_log_joint(x, weights, means, variances)
    return np.exp(log_joint - special.logsumexp(log_joint, axis=1, keepdims=True))


def gmm_em(x, weights, means, variances, n_iter: int = 50):
    """EM for a 1-D Gaussian mixture, from the given starting parameters.

    E-step: r = gmm_responsibilities(x, θ_old). M-step: the closed-form maximiser of
    Q(θ, θ_old) = Σ_i Σ_k r_ik log p(x_i, z=k; θ):
        N_k = Σ_i r_ik,  π_k = N_k / n,  μ_k = Σ_i r_ik x_i / N_k,  σ_k² = Σ_i r_ik (x_i − μ_k)² / N_k
    Returns (history, trace): history[t] = (weights, means, variances) after t steps (t = 0..n_iter),
    trace[t] = gmm_log_likelihood at history[t]; EM guarantees trace never decreases.
    """
    x = np.asarray(x, dtype=float)
    theta = tuple(np.array(v, dtype=float) for v in (weights, means, variances))
    history, trace = [theta], [gmm_log_likelihood(x, *theta)]
    for _ in range(n_iter):
        r = gmm_responsibilities(x, *theta)
        n_k = r.sum(axis=0)
        mu = (r * x[:, None]).sum(axis=0) / n_k
        var = (r * (x[:, None] - mu) ** 2).sum(axis=0) / n_k
        theta = (n_k / len(x), mu, var)
        history.append(theta)
        trace.append(gmm_log_likelihood(x, *theta))
    return history, np.array(trace)


# ============================================================================ 02 ELBO
def kl_diag_gaussians(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL( N(μ_q, diag σ_q²) ‖ N(μ_p, diag σ_p²) ) in nats, summed over the last dimension:

        KL = ½ Σ_k [ log(σ_p,k² / σ_q,k²) + (σ_q,k² + (μ_q,k − μ_p,k)²) / σ_p,k² − 1 ]

    Arguments broadcast to (B, d) -> (B,). With μ_p = 0, logvar_p = 0 it is losses.kl_normal_standard.
    """
    var_ratio = (logvar_q - logvar_p).exp()
    return 0.5 * (var_ratio + (mu_q - mu_p).pow(2) / logvar_p.exp() - 1.0 - (logvar_q - logvar_p)).sum(-1)


def kl_gaussians(mu_q: Tensor, cov_q: Tensor, mu_p: Tensor, cov_p: Tensor) -> Tensor:
    """KL( N(μ_q, Σ_q) ‖ N(μ_p, Σ_p) ) with full covariance matrices:

        KL = ½ [ tr(Σ_p⁻¹ Σ_q) + (μ_p − μ_q)ᵀ Σ_p⁻¹ (μ_p − μ_q) − d + log det Σ_p − log det Σ_q ]

    mu: (..., d), cov: (..., d, d), batch dimensions broadcast -> (...)
    """
    d = mu_q.shape[-1]
    chol_p = torch.linalg.cholesky(cov_p)
    diff = (mu_p - mu_q).unsqueeze(-1)
    shape = torch.broadcast_shapes(cov_q.shape, cov_p.shape)
    trace = torch.cholesky_solve(cov_q.expand(shape), chol_p.expand(shape)).diagonal(dim1=-2, dim2=-1).sum(-1)
    maha = (diff * torch.cholesky_solve(diff, chol_p.expand(*diff.shape[:-2], d, d))).sum((-2, -1))
    logdet_p = 2.0 * chol_p.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    return 0.5 * (trace + maha - d + logdet_p - torch.logdet(cov_q))


def ppca_log_marginal(x: Tensor, W: Tensor, b: Tensor, noise_var: float) -> Tensor:
    """Exact log p(x) of the linear-Gaussian decoder (probabilistic PCA):

        z ~ N(0, I_d),  x | z ~ N(W z + b, s² I_D)   ⇒   p(x) = N(x; b, W Wᵀ + s² I_D)

    x: (B, D), W: (D, d), b: (D,), noise_var = s² -> (B,)
    """
    cov = W @ W.T + noise_var * torch.eye(W.shape[0], dtype=W.dtype)
    return torch.distributions.MultivariateNormal(b, covariance_matrix=cov).log_prob(x)


def ppca_posterior(x: Tensor, W: Tensor, b: Tensor, noise_var: float) -> tuple[Tensor, Tensor]:
    """Exact posterior p(z|x) = N(m(x), S) of the same model (Bayes' rule for Gaussians):

        S = (I_d + Wᵀ W / s²)⁻¹,    m(x) = S Wᵀ (x − b) / s²

    x: (B, D) -> m: (B, d), S: (d, d) (the same for every x)
    """
    S = torch.linalg.inv(torch.eye(W.shape[1], dtype=W.dtype) + W.T @ W / noise_var)
    return (x - b) @ W @ S.T / noise_var, S


def ppca_elbo(x: Tensor, mu: Tensor, logvar: Tensor, W: Tensor, b: Tensor, noise_var: float) -> Tensor:
    """Closed-form ELBO of a diagonal encoder q(z|x) = N(mu, diag exp(logvar)) in the same model:

        E_q[log p(x|z)] = −(D/2) log(2π s²) − [ ‖x − b − W μ‖² + Σ_k (WᵀW)_kk σ_k² ] / (2 s²)
        ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I))

    x: (B, D); mu, logvar: (B, d) -> (B,)
    """
    sq = (x - b - mu @ W.T).pow(2).sum(1) + (logvar.exp() * W.pow(2).sum(0)).sum(1)
    expected_loglik = -0.5 * x.shape[1] * math.log(2 * math.pi * noise_var) - sq / (2 * noise_var)
    return expected_loglik - losses.kl_normal_standard(mu, logvar)


def reparam_grad(f: Callable[[Tensor], Tensor], mu: Tensor, logvar: Tensor, eps: Tensor):
    """Per-sample reparameterisation gradients of E_{z~N(μ, diag σ²)}[f(z)] w.r.t. (μ, log σ²):

        z = μ + σ ⊙ ε,   ĝ_i = ∇_{μ, logvar} f(μ + σ ⊙ ε_i)      (needs f differentiable)

    f: (n, d) -> (n,); mu, logvar: (d,); eps: (n, d) ~ N(0, I) -> (g_mu, g_logvar), each (n, d)
    """
    n, d = eps.shape
    m = mu.detach().expand(n, d).clone().requires_grad_(True)      # one copy per sample:
    lv = logvar.detach().expand(n, d).clone().requires_grad_(True)  # per-sample gradients
    return torch.autograd.grad(f(m + (0.5 * lv).exp() * eps).sum(), (m, lv))


def score_function_grad(f: Callable[[Tensor], Tensor], mu: Tensor, logvar: Tensor, eps: Tensor):
    """Per-sample score-function (REINFORCE) gradients, ĝ_i = f(z_i) ∇ log q(z_i), z_i = μ + σ ⊙ ε_i:

        ∂ log q / ∂μ_k = (z_k − μ_k) / σ_k² = ε_k / σ_k,   ∂ log q / ∂logvar_k = ½ (ε_k² − 1)

    Only values of f are needed. Shapes as reparam_grad.
    """
    sigma = (0.5 * logvar).exp()
    fz = f(mu + sigma * eps).detach().unsqueeze(1)
    return fz * eps / sigma, fz * 0.5 * (eps.pow(2) - 1.0)


# ============================================================================ 03 GAN divergences
def optimal_discriminator(p_r, p_g) -> np.ndarray:
    """D*(x) = p_r(x) / (p_r(x) + p_g(x)) from both densities at the same points (½ where both vanish)."""
    total = np.asarray(p_r, dtype=float) + p_g
    return np.divide(p_r, total, out=np.full_like(total, 0.5), where=total > 0)


def gan_value(d, p_r, p_g, x) -> float:
    """V(D, G) = ∫ [ p_r(x) log D(x) + p_g(x) log(1 − D(x)) ] dx by the trapezoid rule on the grid x.

    D is clipped one rounding step inside (0, 1): in far tails D* rounds to exactly 0 or 1.
    """
    d = np.clip(np.asarray(d, dtype=float), np.finfo(float).tiny, np.nextafter(1.0, 0.0))
    return float(integrate.trapezoid(special.xlogy(p_r, d) + special.xlogy(p_g, 1.0 - d), x))


def kl_quadrature(p, q, x) -> float:
    """KL(p ‖ q) = ∫ p log(p / q) dx by the trapezoid rule; p, q densities on the grid x."""
    return float(integrate.trapezoid(special.rel_entr(p, q), x))


def js_divergence_quadrature(p, q, x) -> float:
    """JS(p ‖ q) = ½ KL(p ‖ m) + ½ KL(q ‖ m),  m = (p + q)/2; always 0 ≤ JS ≤ log 2."""
    m = 0.5 * (np.asarray(p, dtype=float) + np.asarray(q, dtype=float))
    return 0.5 * kl_quadrature(p, m, x) + 0.5 * kl_quadrature(q, m, x)


def parallel_lines(theta: float, n: int, generator: torch.Generator | None = None):
    """The WGAN paper's example: P_0 uniform on the segment {0} × [0, 1], P_θ on {θ} × [0, 1].

    Both use the same heights y, so the exact coupling pairs each point with its neighbour. -> (n, 2), (n, 2)
    """
    y = torch.rand(n, 1, generator=generator, dtype=torch.float64)
    return torch.cat([torch.zeros_like(y), y], 1), torch.cat([torch.full_like(y, theta), y], 1)


def parallel_lines_js_w(theta: float) -> tuple[float, float]:
    """Exact (JS, W1) between P_0 and P_θ:  JS = log 2 if θ ≠ 0 else 0,  W1 = |θ|."""
    return (LOG2 if theta != 0 else 0.0), abs(float(theta))


def w1_exact_1d(x, y) -> float:
    """Exact W1 between two 1-D empirical distributions: ∫ |F_x(t) − F_y(t)| dt (scipy)."""
    return float(stats.wasserstein_distance(np.ravel(x), np.ravel(y)))


def w1_exact_discrete(x, y) -> float:
    """Exact W1 between two empirical distributions of n points each, in any dimension:

        W1 = min over permutations π of (1/n) Σ_i ‖x_i − y_π(i)‖₂

    (with equal weights an optimal coupling is a permutation; Hungarian algorithm). x, y: (n, dim)
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"need equal-size samples, got {x.shape} and {y.shape}")
    cost = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=-1)
    rows, cols = optimize.linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def lipschitz_on_points(values, points) -> float:
    """max_{i≠j} |f(x_i) − f(x_j)| / ‖x_i − x_j‖₂: the Lipschitz constant of f on a finite set.

    values: (n,) = f(points); points: (n,) or (n, dim)
    """
    v = np.asarray(values, dtype=float).ravel()
    p = np.asarray(points, dtype=float).reshape(len(v), -1)
    dist = np.linalg.norm(p[:, None] - p[None], axis=-1)
    off = dist > 0
    return float((np.abs(v[:, None] - v[None])[off] / dist[off]).max())


def fit_critic(x_real: Tensor, x_fake: Tensor, constraint: str = "gp", steps: int = 500,
               lr: float | None = None, clip_value: float = 0.01, gp_weight: float = 10.0,
               hidden: int = 64, seed: int = 0):
    """Train a small MLP critic f on fixed samples for the Kantorovich–Rubinstein dual of W1:

        W1(P_r, P_g) = sup_{‖f‖_L ≤ 1} E_{x~P_r}[f(x)] − E_{x̃~P_g}[f(x̃)]

    'gp':   minimise losses.critic_loss + losses.gradient_penalty at losses.interpolate(x_r, x_g)
            (Adam, default lr 3e-3);
    'clip': minimise losses.critic_loss, then clamp every weight to [−c, c] (RMSprop, default lr 5e-3).
    The output layer starts at zero (f ≡ 0): the objective, not the penalty, then picks the sign of
    f's slope. From a random start a 1-D critic can lock into slope −1, where the two-sided penalty
    holds it and the estimate comes out near −W1. Full batch, equal sizes n. x_real, x_fake: (n, dim)
    -> (critic, estimates (steps,) of E_r f − E_g f before each step). Deterministic given ``seed``;
    the global random state is left untouched.
    """
    if constraint not in ("gp", "clip"):
        raise ValueError(f"constraint={constraint!r} is not one of 'gp', 'clip'")
    estimates = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = nets.MLP(x_real.shape[1], 1, hidden=hidden, depth=2)       # LeakyReLU: no dead units
        torch.nn.init.zeros_(critic.net[-1].weight)
        torch.nn.init.zeros_(critic.net[-1].bias)
        if constraint == "gp":
            opt = torch.optim.Adam(critic.parameters(), lr=lr or 3e-3, betas=(0.5, 0.9))
        else:
            opt = torch.optim.RMSprop(critic.parameters(), lr=lr or 5e-3)
        for _ in range(steps):
            loss = losses.critic_loss(critic(x_real), critic(x_fake))
            estimates.append(-loss.item())
            if constraint == "gp":
                loss = loss + losses.gradient_penalty(critic, losses.interpolate(x_real, x_fake), gp_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if constraint == "clip":
                with torch.no_grad():
                    for p in critic.parameters():
                        p.clamp_(-clip_value, clip_value)
    return critic, np.array(estimates)
