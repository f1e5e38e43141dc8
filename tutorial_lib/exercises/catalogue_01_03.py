"""The exercises of 01 (maximum likelihood), 02 (the ELBO) and 03 (GAN divergences): each one's cases, the
library function that gives the right answer, its nudge and formula, and the mistakes it recognises."""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy import integrate, special

from tutorial_lib import losses, theory
from tutorial_lib.exercises.catalogue_common import gen, randn, rng
from tutorial_lib.exercises.checker import _inputs, add, case
from tutorial_lib.exercises.mistakes import Mistake, like, nonfinite, scaled, swapped


def _row_softmax_log(log_joint: np.ndarray, axis: int = 1) -> np.ndarray:
    return np.exp(log_joint - special.logsumexp(log_joint, axis=axis, keepdims=True))


# ============================================================================ 01 maximum likelihood

def _kl_cases():
    r = rng(2)
    p, q = r.dirichlet(np.ones(6), size=4), r.dirichlet(np.ones(6), size=4)
    p0 = p.copy()
    p0[:, 0] = 0.0
    p0 /= p0.sum(axis=1, keepdims=True)
    return [case(p, q), case(q, p, note="the first case with p and q swapped"), case(p0, q, note="some p_k = 0")]


add("01.1", "KL divergence between categorical distributions", theory.kl_categorical, _kl_cases,
    nudge="The divergence is an expectation of a log-ratio under one of the two distributions, one number per row; "
          "it is not symmetric, and a category one distribution never visits needs care.",
    formula="KL(p‖q) = Σ_k p_k log(p_k / q_k), summed over the last axis; the order matters (the second test "
            "swaps p and q), and a term with p_k = 0 contributes 0, not nan (scipy.special.rel_entr does both).",
    mistakes=[
        Mistake("swapped", "Your numbers are the divergence taken the other way round: KL is not symmetric. Which of "
                "the two distributions is the expectation taken under?",
                swapped(theory.kl_categorical)),
        Mistake("zero-terms", "You get nan where some p_k = 0: in floating point 0 · log 0 is nan. What should a "
                "category that p never visits contribute?", nonfinite),
        Mistake("upside-down", "Your numbers are negative, and a KL divergence never is: which way up is the ratio "
                "inside the log?", like(lambda p, q: -theory.kl_categorical(p, q))),
        Mistake("axis", "Your answer adds up along the wrong axis: one divergence per row, so along which axis do the "
                "categories run?", like(lambda p, q: special.rel_entr(p, q).sum(axis=0),
                                        lambda p, q: special.rel_entr(p, q).sum())),
        Mistake("bits", "Your numbers are the right ones divided by log 2: that is the divergence in bits; the series "
                "measures in nats, with the natural logarithm.",
                like(lambda p, q: theory.kl_categorical(p, q) / math.log(2))),
    ])


def _gmm_cases():
    out = []
    for seed, k in ((0, 2), (1, 3)):
        r = rng(seed)
        out.append(case(r.normal(size=50) * 2, r.dirichlet(np.ones(k)), r.normal(size=k) * 2, r.uniform(0.3, 2, size=k)))
    out.append(case(np.array([-40.0, 0.0, 40.0]), np.array([0.5, 0.5]), np.array([-1.0, 1.0]), np.array([0.1, 0.1]),
                    note="points 40 standard deviations from every component"))
    return out


def _gmm_no_normaliser(x, w, m, v):
    x = np.asarray(x)[:, None]
    return _row_softmax_log(np.log(w) - (x - m) ** 2 / (2 * v))


add("01.2", "E-step: the responsibilities of a Gaussian mixture", theory.gmm_responsibilities, _gmm_cases,
    nudge="Each row is one point's posterior over the components, by Bayes' rule: prior times likelihood, "
          "normalised so the row sums to 1. Far from every component each density rounds to 0, so think about "
          "where you can keep logarithms.",
    formula="r_ik = π_k N(x_i; μ_k, σ_k²) / Σ_j π_j N(x_i; μ_j, σ_j²); the last test puts points 40 σ away, "
            "where the densities underflow to 0: work with log densities and subtract the row maximum "
            "(scipy.special.logsumexp) before exponentiating. The arguments are variances, not standard deviations.",
    mistakes=[
        Mistake("underflow", "Your rows are nan for points far from every component: there each density underflows to "
                "exactly 0, and the row becomes 0/0. Can you carry the whole computation in logarithms, and shift each "
                "row before you leave them?", nonfinite),
        Mistake("std-for-variance", "Your numbers match a mixture whose standard deviations are the numbers in "
                "`variances`: what does that argument hold?",
                like(lambda x, w, m, v: theory.gmm_responsibilities(x, w, m, np.asarray(v) ** 2))),
        Mistake("no-weights", "Your answer does not change with the mixing weights: shouldn't a component that is "
                "a priori more likely claim more of each point?",
                like(lambda x, w, m, v: theory.gmm_responsibilities(x, np.full_like(w, 1 / len(w)), m, v))),
        Mistake("columns", "Your columns sum to 1, not your rows: each point's responsibilities are a distribution "
                "over the components.",
                like(lambda x, w, m, v: _row_softmax_log(theory.gmm_log_joint(x, w, m, v), axis=0))),
        Mistake("no-normaliser", "Your numbers match densities without their normalising constant: when the "
                "components have different widths, does it still cancel between them?", like(_gmm_no_normaliser)),
    ])


# ============================================================================ 02 ELBO

def _ppca_cases():
    out = []
    for seed in (0, 1):
        g = gen(seed)
        D, d = 5, 2
        W, b = torch.randn(D, d, generator=g, dtype=torch.float64), torch.randn(D, generator=g, dtype=torch.float64)
        x = torch.randn(4, D, generator=g, dtype=torch.float64)
        mu, logvar = torch.randn(4, d, generator=g, dtype=torch.float64), torch.randn(4, d, generator=g, dtype=torch.float64)
        out.append(case(x, mu, logvar, W, b, 0.3 + seed))
    return out


def _ppca_parts(x, mu, logvar, W, b, noise_var, spread=True):
    """(E_q log p(x|z) without its constant, the constant, the KL) of the PPCA bench."""
    sq = (x - b - mu @ W.T).pow(2).sum(1) + spread * (logvar.exp() * W.pow(2).sum(0)).sum(1)
    const = -0.5 * x.shape[1] * math.log(2 * math.pi * noise_var)
    return -sq / (2 * noise_var), const, losses.kl_normal_standard(mu, logvar)


add("02.1", "the ELBO of the linear-Gaussian (PPCA) bench, in closed form", theory.ppca_elbo, _ppca_cases,
    nudge="Two terms: the expected log-likelihood of x under z drawn from q, and the divergence of q from the prior. "
          "The expectation of a squared error over a Gaussian is more than the squared error at its mean.",
    formula="ELBO = E_q[log p(x|z)] − KL(q‖N(0,I)). With z = μ + σε, E_q‖x − Wz − b‖² = ‖x − Wμ − b‖² + "
            "Σ_k σ_k² ‖W_{:,k}‖², and log p(x|z) = −D/2 log(2π s²) − ‖x − Wz − b‖²/(2 s²); noise_var is s².",
    mistakes=[
        Mistake("at-the-mean", "Your ELBO matches one that puts z at the encoder's mean: averaged over q, the squared "
                "error is larger than at q's mean. What does q's spread add, through W?",
                like(lambda *a: (lambda e, c, kl: e + c - kl)(*_ppca_parts(*a, spread=False)))),
        Mistake("no-kl", "Your number is the expected log-likelihood alone: the ELBO has a second term, the one that "
                "pulls q towards the prior.", like(lambda *a: (lambda e, c, kl: e + c)(*_ppca_parts(*a)))),
        Mistake("kl-sign", "Your KL term has the wrong sign: the ELBO is a lower bound on log p(x), so does the "
                "divergence from the prior raise it or lower it?",
                like(lambda *a: (lambda e, c, kl: e + c + kl)(*_ppca_parts(*a)))),
        Mistake("noise-as-std", "Your numbers match a decoder whose variance is noise_var squared: noise_var already "
                "is the variance s².", like(lambda x, mu, lv, W, b, s2: theory.ppca_elbo(x, mu, lv, W, b, s2 ** 2))),
        Mistake("no-constant", "Your numbers miss the Gaussian's normalising constant: log p(x|z) is a log density, "
                "not only a scaled squared error.", like(lambda *a: (lambda e, c, kl: e - kl)(*_ppca_parts(*a)))),
    ],
    trainable=_inputs(1, 2), rtol=1e-8, atol=1e-8)


def _kl_diag_cases():
    return [case(*randn(seed, *[(3, 4)] * 4, dtype=torch.float64)) for seed in (0, 1, 2)]


add("02.2", "KL between diagonal Gaussians", theory.kl_diag_gaussians, _kl_diag_cases,
    nudge="The Gaussians factorise, so the divergence is a sum of one-dimensional divergences, one per dimension. "
          "The inputs are log-variances. A divergence of a distribution from itself is 0: test yours on q = p.",
    formula="½ Σ_k [log(σ_p²/σ_q²) + (σ_q² + (μ_q − μ_p)²)/σ_p² − 1], summed over the last dimension; the inputs are "
            "log-variances, so σ² = exp(logvar).",
    mistakes=[
        Mistake("factor-2", "Your numbers are exactly twice the right ones: check the constant in front of the sum.",
                scaled(2.0)),
        Mistake("swapped", "Your numbers are the divergence of p from q, the other way round: which distribution is "
                "the expectation taken under?",
                like(lambda mq, lq, mp, lp: theory.kl_diag_gaussians(mp, lp, mq, lq))),
        Mistake("log-std", "Your numbers match inputs read as log standard deviations: they are log-variances.",
                like(lambda mq, lq, mp, lp: theory.kl_diag_gaussians(mq, 2 * lq, mp, 2 * lp))),
        Mistake("averaged", "Your numbers are the right ones divided by the number of dimensions: for independent "
                "dimensions, divergences add up.",
                like(lambda mq, lq, mp, lp: theory.kl_diag_gaussians(mq, lq, mp, lp) / mq.shape[-1])),
        Mistake("offset", "Every one of your numbers is too large by the same constant: the divergence of a "
                "distribution from itself must be 0. Try yours with q = p.",
                like(lambda mq, lq, mp, lp: theory.kl_diag_gaussians(mq, lq, mp, lp) + 0.5 * mq.shape[-1])),
    ],
    trainable=_inputs(0, 1, 2, 3), rtol=1e-8, atol=1e-8)


# ============================================================================ 03 GAN divergences

def _value_cases():
    from scipy import stats
    x = np.linspace(-6, 6, 2001)
    pr, pg = stats.norm.pdf(x, -1, 1), stats.norm.pdf(x, 1.0, 1.0)
    pg_far = stats.norm.pdf(x, 1.5, 0.7)
    xs = np.linspace(-3, 3, 601)
    ur, ug = ((xs >= -2) & (xs <= -1)).astype(float), ((xs >= 1) & (xs <= 2)).astype(float)
    return [case(theory.optimal_discriminator(pr, pg), pr, pg, x), case(np.full_like(x, 0.5), pr, pg, x),
            case(1 / (1 + np.exp(-x)), pr, pg_far, x, note="a D that is not optimal, densities of different shapes"),
            case(theory.optimal_discriminator(ur, ug), ur, ug, xs,
                 note="disjoint supports: D* is exactly 1 or 0 where one density is 0")]


def _integrand(d, pr, pg, fake_log):
    d = np.clip(np.asarray(d, dtype=float), np.finfo(float).tiny, np.nextafter(1.0, 0.0))
    return special.xlogy(pr, d) + special.xlogy(pg, fake_log(d))


add("03.1", "the GAN value V(D, G) by quadrature", theory.gan_value, _value_cases,
    nudge="V is an integral over x of two terms, each a density times the log of what D says about points of that "
          "kind; approximate the integral on the grid you are given. Where a density is 0, its term must vanish.",
    formula="V = ∫ [p_r log D + p_g log(1 − D)] dx: evaluate the integrand on the grid and integrate with the "
            "trapezoid rule (scipy.integrate.trapezoid). With D ≡ ½ the answer is −2 log 2.",
    mistakes=[
        Mistake("sum-not-integral", "Your number is the sum of the integrand's values on the grid, not its integral: "
                "how much of the x axis does each grid point stand for?",
                like(lambda d, pr, pg, x: float(np.sum(_integrand(d, pr, pg, lambda d: 1 - d))))),
        Mistake("fake-term", "Your generated-data term rewards D for calling generated points real: what should D say "
                "about them, and which log-probability measures that?",
                like(lambda d, pr, pg, x: float(integrate.trapezoid(_integrand(d, pr, pg, lambda d: d), x)))),
        Mistake("swapped", "Your answer weights each log term with the other distribution's density: which density "
                "goes with which term?",
                like(lambda d, pr, pg, x: float(integrate.trapezoid(_integrand(d, pg, pr, lambda d: 1 - d), x)))),
        Mistake("zero-times-log-zero", "Your V is nan: where D is exactly 0 or 1 the log is −inf, and the density it "
                "multiplies is 0 there. What should such a term contribute to the integral?", nonfinite),
    ], rtol=1e-6)


def _dstar_cases():
    x = np.linspace(-4, 4, 81)
    from scipy import stats
    pr, pg = stats.norm.pdf(x, -1, 1), stats.norm.pdf(x, 1.5, 0.5)
    return [case(pr, pg), case(pg, pr, note="the densities swapped"),
            case(np.array([0.0, 0.2, 0.0]), np.array([0.0, 0.0, 0.3]), note="both densities 0 at the first point")]


def _dstar_zero_where_empty(pr, pg):
    return np.where((pr + pg) > 0, theory.optimal_discriminator(pr, pg), 0.0)


add("03.2", "the optimal discriminator D*", theory.optimal_discriminator, _dstar_cases,
    nudge="D*(x) is the probability that a point x came from the data rather than the generator, when both are "
          "equally likely a priori. Where neither density puts any mass, every value is optimal: pick one.",
    formula="D*(x) = p_r(x) / (p_r(x) + p_g(x)): the probability that x came from the data. Where both densities "
            "are 0 any value is optimal; the series uses ½ there (the third test has such a point).",
    mistakes=[
        Mistake("swapped", "Your D* is the probability that x was generated: D outputs the probability that x came "
                "from the data.", swapped(theory.optimal_discriminator)),
        Mistake("zero-over-zero", "Your D* is nan where both densities are 0: any value is optimal there, but it has "
                "to be a number. Which one favours neither side?", nonfinite),
        Mistake("zero-where-empty", "Where both densities are 0 your D* is 0, a verdict of 'generated' for a point "
                "neither distribution produces: any value is optimal there; which one favours neither side?",
                like(_dstar_zero_where_empty)),
        Mistake("ratio", "Your numbers match a ratio of the two densities, which can exceed 1: D* is a probability.",
                like(lambda pr, pg: np.asarray(pr) / pg)),
    ])


