"""Solutions to the exercises of 02 · the ELBO."""
import math

import torch


def elbo_ppca(x, mu, logvar, W, b, noise_var):
    """Exercise 02.1: E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I)) for p(x|z) = N(Wz + b, s² I), q = N(μ, diag σ²)."""
    D = x.shape[-1]
    var = logvar.exp()
    residual = x - mu @ W.T - b                                  # x − Wμ − b
    expected_sq = residual.pow(2).sum(-1) + (var * W.pow(2).sum(0)).sum(-1)   # E_q ‖x − Wz − b‖²
    expected_loglik = -0.5 * D * math.log(2 * math.pi * noise_var) - expected_sq / (2 * noise_var)
    kl = 0.5 * (mu.pow(2) + var - 1 - logvar).sum(-1)
    return expected_loglik - kl


def kl_diag(mu_q, logvar_q, mu_p, logvar_p):
    """Exercise 02.2: KL(N(μ_q, diag σ_q²) ‖ N(μ_p, diag σ_p²)), summed over the last dimension."""
    var_q, var_p = logvar_q.exp(), logvar_p.exp()
    return 0.5 * (logvar_p - logvar_q + (var_q + (mu_q - mu_p).pow(2)) / var_p - 1).sum(-1)
