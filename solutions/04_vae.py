"""Solutions to the exercises of 04 · VAE (read them after trying; the notebook's check cells say where an
answer differs)."""
import torch
import torch.nn.functional as F

from tutorial_lib import methods


def reparameterise(mu, logvar, eps):
    """Exercise 04.1: z = μ + σ ε with σ = exp(½ logvar); ε is given, so the same inputs give the same z."""
    return mu + torch.exp(0.5 * logvar) * eps


def vae_batch_loss(logits, x, mu, logvar, kl_weight):
    """Exercise 04.2: the batch's loss, mean over images of [−log p(x|z) + λ_KL · KL(q(z|x) ‖ N(0, I))].

    Both terms are in nats per image: the cross-entropy summed over the pixels (targets mapped from [−1, 1]
    to intensities in [0, 1], computed from the logits so it stays finite), the KL summed over the latent
    dimensions. Only then the mean over the batch.
    """
    target = (x + 1) / 2
    recon = F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(dim=1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)
    return (recon + kl_weight * kl).mean()


class MyVAE(methods.VAE):
    """Build it yourself (04): the VAE with its loss written out, from the two exercises."""

    def loss(self, batch):
        x = batch.x                                          # (B, 1, 28, 28) in [-1, 1]
        mu, logvar = self.encode(x)                          # (B, d) each
        z = reparameterise(mu, logvar, torch.randn_like(mu))
        logits = self.decoder(z)                             # (B, 1, 28, 28)
        return vae_batch_loss(logits, x, mu, logvar, self.cfg.kl_weight), {}
