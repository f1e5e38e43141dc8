"""The variational autoencoder (Kingma & Welling 2014), as the primary source derives it.

    L(x) = E_{z~q(z|x)}[−log p(x|z)] + λ_KL · KL(q(z|x) ‖ N(0, I))

q(z|x) = N(μ(x), diag σ²(x)) is the encoder; z = μ + σ ⊙ ε with ε ~ N(0, I) (reparameterisation);
p(x|z) is the decoder: Bernoulli over pixel intensities in [0, 1] (binary cross-entropy) by
default, or Gaussian with a fixed σ (squared error / 2σ²). λ_KL = 1 gives the negative ELBO.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from tutorial_lib import checks, data, losses, nets
from tutorial_lib.methods.base import Batch, Method, Phase, reparameterize

Tensor = torch.Tensor
LIKELIHOODS = ("bernoulli", "gaussian", "mse")
MSE_SIGMA = 0.5 ** 0.5
"""The 'mse' decoder's σ on the [-1, 1] scale: −log p(x|z) = Σ (x − tanh(logits))² + a constant."""


@dataclass
class VAEConfig:
    latent_dim: int = 16
    """Size of z."""
    likelihood: str = "bernoulli"
    """Decoder distribution p(x|z): 'bernoulli' (BCE), 'gaussian' (fixed σ, squared error on [0, 1]) or 'mse'
    (AEGAN's autoencoder's decoder exactly: tanh output on [-1, 1], summed squared error, i.e. σ² = ½)."""
    sigma: float = 0.1
    """The Gaussian decoder's fixed standard deviation, in [0, 1] intensity units."""
    kl_weight: float = 1.0
    """λ_KL, the weight of the KL term (β in β-VAE); 1 is the true ELBO."""
    width: int = 32
    """Channels of the first convolution (the second has twice as many)."""
    lr: float = 1e-3
    """Adam learning rate."""

    def __post_init__(self):
        checks.check_positive_int("latent_dim", self.latent_dim)
        checks.check_choice("likelihood", self.likelihood, LIKELIHOODS)
        checks.check_positive("sigma", self.sigma)
        checks.check_non_negative("kl_weight", self.kl_weight)
        checks.check_positive_int("width", self.width)
        checks.check_positive("lr", self.lr)


class VAE(Method):
    name = "vae"

    def __init__(self, cfg: VAEConfig = VAEConfig()):
        super().__init__()
        self.cfg = cfg
        self.noise_dim = cfg.latent_dim
        self.encoder = nets.ConvEncoder(2 * cfg.latent_dim, cfg.width)   # -> (μ, log σ²)
        self.decoder = nets.ConvDecoder(cfg.latent_dim, cfg.width)       # -> logits of p(x|z)

    def make_optimizers(self):
        return {"vae": torch.optim.Adam(self.parameters(), lr=self.cfg.lr)}

    def phases(self) -> list[Phase]:
        return [Phase("vae", self.optimizers()["vae"], self.loss)]

    # ------------------------------------------------------------------ the model
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, 1, 28, 28) in [-1, 1] -> μ, log σ² each (B, d)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    reparameterize = staticmethod(reparameterize)    # z = μ + σ ⊙ ε (methods.base)

    def decode_mean(self, z: Tensor) -> Tensor:
        """The decoder's mean image, in [-1, 1]."""
        if self.cfg.likelihood == "mse":
            return torch.tanh(self.decoder(z))
        return data.from_unit(torch.sigmoid(self.decoder(z)))

    def terms(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Per-example reconstruction NLL and KL, both (B,), in nats (one z sample each)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        logits = self.decoder(z)
        target = data.to_unit(x)
        if self.cfg.likelihood == "bernoulli":
            recon = losses.bernoulli_nll(logits, target)
        elif self.cfg.likelihood == "mse":
            recon = losses.gaussian_nll(torch.tanh(logits), x, MSE_SIGMA)
        else:
            recon = losses.gaussian_nll(torch.sigmoid(logits), target, self.cfg.sigma)
        return recon, losses.kl_normal_standard(mu, logvar)

    def loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        recon, kl = self.terms(batch.x)
        loss = losses.vae_loss(recon, kl, self.cfg.kl_weight)
        return loss, {"recon": recon.mean().detach(), "kl": kl.mean().detach()}

    def nelbo(self, x: Tensor) -> Tensor:
        """Negative ELBO per example, (B,), nats (λ_KL = 1 whatever the training λ_KL)."""
        recon, kl = self.terms(x)
        return recon + kl

    def reconstruct(self, x: Tensor) -> Tensor:
        """Decode the posterior mean: x -> μ(x) -> decoder mean, in [-1, 1]."""
        return self.decode_mean(self.encode(x)[0])

    def sample(self, n: int, z: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """Decode z ~ N(0, I): the decoder's mean image (not a Bernoulli draw). Unconditional: no ``y``."""
        self.check_no_labels(y)
        z = self.noise(n) if z is None else z
        return self.decode_mean(z)


@torch.no_grad()
def test_nelbo(vae: VAE, test: data.Split, batch_size: int = 1000) -> float:
    """Mean negative ELBO in nats per image over a whole split (one z sample per image)."""
    device = next(vae.parameters()).device
    total = 0.0
    for i in range(0, len(test), batch_size):
        x = data.as_float(test.x[i:i + batch_size].to(device))
        total += vae.nelbo(x).sum().item()
    return total / len(test)


REFERENCE_NELBO = {1: 127.1, 10: 105.4}
"""pytorch/examples' MLP VAE, run unmodified (full MNIST, Bernoulli decoder, λ_KL = 1, batch 128): test
negative ELBO in nats after 1 and 10 epochs."""


def reference_mismatch(*, dataset: str, train_limit: int, likelihood: str, kl_weight: float, batch_size: int) -> str:
    """Why a run cannot be compared with :data:`REFERENCE_NELBO` ("" when it can, like for like)."""
    differences = [why for bad, why in [
        (dataset != "mnist", f"dataset {dataset!r}, not the full MNIST"),
        (bool(train_limit), f"only {train_limit} training images"),
        (likelihood != "bernoulli", f"a {likelihood} decoder, not Bernoulli"),
        (kl_weight != 1.0, f"λ_KL = {kl_weight:g}, not 1"),
        (batch_size != 128, f"batch size {batch_size}, not 128")] if bad]
    return "; ".join(differences)
