"""Solutions to the exercises of 04 · VAE."""
import torch


def reparameterise(mu, logvar, eps):
    """Exercise 04.1: z = μ + σ ε with σ = exp(½ logvar)."""
    return mu + torch.exp(0.5 * logvar) * eps


def kl_to_prior(mu, logvar):
    """Exercise 04.2: KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ (μ² + σ² − 1 − log σ²), one value per row."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)
