"""AEGAN (primary source): an autoencoder without a KL term, a GAN in its latent space, and an
image discriminator.

    Enc: x -> h            Dec: h -> x            (trained only by L_AE)
    G1:  z ~ N(0, I) -> h̃   D1: latent codes, real h = Enc(x) vs fake h̃
    D2:  images, real x' vs fake x̃ = Dec(G1(z))

    L_AE = 1/(n·H·W) Σ ‖x − Dec(Enc(x))‖²
    L_D1 = −E log D1(h) − E log(1 − D1(h̃))
    L_D2 = −E log D2(x') − E log(1 − D2(x̃))
    L_G1 = −E log D1(h̃) − λ_img · E log D2(x̃)

The source leaves open what x' is: ``d2_real="reconstruction"`` takes x' = Dec(Enc(x)) (as
written), ``"data"`` takes x' = x. ``image_weight`` is λ_img; 0 drops D2 (a plain latent GAN).
Schedules: ``"joint"`` trains every network from the first epoch; ``"sequential"`` trains the
autoencoder alone for ``ae_epochs``, then freezes it and trains the latent GAN.

Remedies for the latent GAN's early collapse (notebook 07 measures each; :data:`REMEDIES`). The
config's defaults are the source's AEGAN as written; notebook 07 trains :data:`SERIES_REMEDY`:

    code_norm="batch"        h = BN(Enc(x)): each code coordinate standardised over the batch
                             (no learned scale or shift), so the target of G1 has a fixed scale
                             and centre while the autoencoder trains; still no KL term
    g1_output_norm=True      h̃ = BN(G1(z)) likewise, so G1 need not learn the scale either
    latent_critic="wgan-gp"  D1 becomes a critic f with a gradient penalty:
                             L_D1 = E f(h̃) − E f(h) + 10·E(‖∇f(ĥ)‖ − 1)²,  L_G1 = −E f(h̃) − λ_img E log D2(x̃)
    d1_spectral_norm=True    spectral normalisation of D1's layers (Miyato et al. 2018)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tutorial_lib import checks, data, losses, nets
from tutorial_lib.methods.base import Batch, Method, Phase

Tensor = torch.Tensor
D2_REAL = ("reconstruction", "data")
SCHEDULES = ("joint", "sequential")
CODE_NORMS = ("none", "batch")
LATENT_CRITICS = ("gan", "wgan-gp")
_SOURCE = {"code_norm": "none", "g1_output_norm": False, "latent_critic": "gan", "d1_spectral_norm": False}
REMEDIES = {                        # candidate fixes for the early collapse, each a full set of these four options
    "source": _SOURCE,
    "batch-normalised code": {**_SOURCE, "code_norm": "batch"},
    "batch-normalised code and G1": {**_SOURCE, "code_norm": "batch", "g1_output_norm": True},
    "latent WGAN-GP critic": {**_SOURCE, "latent_critic": "wgan-gp"},
    "spectral norm in D1": {**_SOURCE, "d1_spectral_norm": True},
}
SERIES_REMEDY = "batch-normalised code and G1"
"""The remedy notebook 07 trains by default (its measurements: docs/aegan_stability_h200.md)."""


@dataclass
class AEGANConfig:
    latent_dim: int = 16
    """Size of the autoencoder's code h."""
    noise_dim: int = 16
    """Size of G1's input z ~ N(0, I)."""
    width: int = 32
    """Channels of the autoencoder's first convolution."""
    d_width: int = 64
    """Channels of D2's first convolution."""
    latent_hidden: int = 256
    """Hidden units of G1 and D1 (MLPs)."""
    image_weight: float = 1.0
    """λ_img: weight of the image discriminator D2 in G1's loss; 0 disables D2."""
    d2_real: str = "reconstruction"
    """What D2 sees as real: 'reconstruction' (x' = Dec(Enc(x)), the source) or 'data' (x' = x)."""
    schedule: str = "joint"
    """'joint' (all at once; the better one in our H100 run) or 'sequential' (autoencoder first)."""
    ae_epochs: int = 5
    """'sequential' only: epochs of autoencoder training before the GAN phases start."""
    lr_ae: float = 1e-3
    """Adam learning rate of Enc/Dec."""
    lr_gan: float = 2e-4
    """Adam learning rate of G1, D1 and D2 (β1 = 0.5)."""
    code_norm: str = "none"
    """'none' (the source: h = Enc(x), free scale) or 'batch' (h standardised per coordinate over the batch)."""
    latent_critic: str = "gan"
    """'gan' (the source: D1 a classifier, the JS game) or 'wgan-gp' (D1 a critic with a gradient penalty)."""
    latent_gp_weight: float = 10.0
    """'wgan-gp' only: weight of D1's gradient penalty."""
    d1_spectral_norm: bool = False
    """Spectral normalisation of D1's linear layers."""
    g1_output_norm: bool = False
    """G1's output standardised per coordinate over the batch (no learned scale or shift)."""

    def __post_init__(self):
        for name in ("latent_dim", "noise_dim", "width", "d_width", "latent_hidden"):
            checks.check_positive_int(name, getattr(self, name))
        checks.check_non_negative("image_weight", self.image_weight)
        checks.check_choice("d2_real", self.d2_real, D2_REAL)
        checks.check_choice("schedule", self.schedule, SCHEDULES)
        checks.check_non_negative_int("ae_epochs", self.ae_epochs)
        checks.check_positive("lr_ae", self.lr_ae)
        checks.check_positive("lr_gan", self.lr_gan)
        checks.check_choice("code_norm", self.code_norm, CODE_NORMS)
        checks.check_choice("latent_critic", self.latent_critic, LATENT_CRITICS)
        checks.check_non_negative("latent_gp_weight", self.latent_gp_weight)
        checks.check_choice("d1_spectral_norm", self.d1_spectral_norm, (False, True))
        checks.check_choice("g1_output_norm", self.g1_output_norm, (False, True))


class AEGAN(Method):
    name = "aegan"

    def __init__(self, cfg: AEGANConfig = AEGANConfig()):
        super().__init__()
        self.cfg = cfg
        self.noise_dim = cfg.noise_dim
        self.encoder = nets.ConvEncoder(cfg.latent_dim, cfg.width)                       # Enc
        if cfg.code_norm == "batch":                     # h = BN(Enc(x)) without a learned scale or shift
            self.encoder = nn.Sequential(self.encoder, nn.BatchNorm1d(cfg.latent_dim, affine=False))
        self.decoder = nets.ConvDecoder(cfg.latent_dim, cfg.width)                       # Dec (tanh applied below)
        self.latent_generator = nets.MLP(cfg.noise_dim, cfg.latent_dim, cfg.latent_hidden)   # G1
        if cfg.g1_output_norm:
            self.latent_generator = nn.Sequential(self.latent_generator,
                                                  nn.BatchNorm1d(cfg.latent_dim, affine=False))
        self.latent_discriminator = nets.MLP(cfg.latent_dim, 1, cfg.latent_hidden)           # D1
        if cfg.d1_spectral_norm:
            for layer in self.latent_discriminator.net:
                if isinstance(layer, nn.Linear):
                    nn.utils.parametrizations.spectral_norm(layer)
        self.image_discriminator = nets.DCGANDiscriminator(cfg.d_width, batchnorm=True)      # D2
        nets.dcgan_init(self.image_discriminator)

    @property
    def uses_d2(self) -> bool:
        return self.cfg.image_weight > 0

    def make_optimizers(self):
        adam = lambda module: torch.optim.Adam(module.parameters(), self.cfg.lr_gan, betas=(0.5, 0.999))
        ae_params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return {"autoencoder": torch.optim.Adam(ae_params, self.cfg.lr_ae),
                "latent_generator": adam(self.latent_generator),
                "latent_discriminator": adam(self.latent_discriminator),
                "image_discriminator": adam(self.image_discriminator)}

    def phases(self) -> list[Phase]:
        opt = self.optimizers()
        sequential = self.cfg.schedule == "sequential"
        gan_start = self.cfg.ae_epochs if sequential else 0
        ae_stop = self.cfg.ae_epochs if sequential else None
        phases = [Phase("autoencoder", opt["autoencoder"], self.autoencoder_loss, stop_epoch=ae_stop),
                  Phase("latent_discriminator", opt["latent_discriminator"], self.latent_discriminator_loss,
                        start_epoch=gan_start)]
        if self.uses_d2:
            phases.append(Phase("image_discriminator", opt["image_discriminator"], self.image_discriminator_loss,
                                start_epoch=gan_start))
        phases.append(Phase("latent_generator", opt["latent_generator"], self.latent_generator_loss,
                            start_epoch=gan_start))
        return phases

    # ------------------------------------------------------------------ the networks
    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, h: Tensor) -> Tensor:
        return torch.tanh(self.decoder(h))

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def sample(self, n: int, z: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """x̃ = Dec(G1(z))."""
        self.check_no_labels(y)
        return self.decode(self.latent_generator(self.noise(n) if z is None else z))

    # ------------------------------------------------------------------ the four losses
    def autoencoder_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        x = batch.x
        return losses.reconstruction_mse(x, self.reconstruct(x)), {}

    def latent_discriminator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        x = batch.x
        h_real = self.encode(x).detach()
        h_fake = self.latent_generator(self.noise(len(x))).detach()
        real_logits, fake_logits = self.latent_discriminator(h_real), self.latent_discriminator(h_fake)
        if self.cfg.latent_critic == "wgan-gp":
            gp = losses.gradient_penalty(self.latent_discriminator, losses.interpolate(h_real, h_fake),
                                         self.cfg.latent_gp_weight)
            return losses.critic_loss(real_logits, fake_logits) + gp, {
                "f(h)": real_logits.mean().detach(), "f(G1(z))": fake_logits.mean().detach(), "gp": gp.detach()}
        return losses.discriminator_loss(real_logits, fake_logits), {
            "D1(h)": torch.sigmoid(real_logits).mean().detach(),
            "D1(G1(z))": torch.sigmoid(fake_logits).mean().detach()}

    def image_discriminator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        x = batch.x
        with torch.no_grad():
            x_prime = self.reconstruct(x) if self.cfg.d2_real == "reconstruction" else x
            x_fake = self.sample(len(x))
        real_logits, fake_logits = self.image_discriminator(x_prime), self.image_discriminator(x_fake)
        return losses.discriminator_loss(real_logits, fake_logits), {
            "D2(x')": torch.sigmoid(real_logits).mean().detach(),
            "D2(x~)": torch.sigmoid(fake_logits).mean().detach()}

    def latent_generator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        x = batch.x
        h_fake = self.latent_generator(self.noise(len(x)))
        image_logits = self.image_discriminator(self.decode(h_fake)) if self.uses_d2 else None
        loss = losses.aegan_generator_loss(self.latent_discriminator(h_fake), image_logits, self.cfg.image_weight,
                                           latent_critic=self.cfg.latent_critic)
        return loss, {}

    # ------------------------------------------------------------------ diagnosis
    def code_diagnostics(self, x: Tensor, n: int | None = None) -> dict[str, float]:
        """How far G1's codes are from the autoencoder's, on images ``x`` and as many draws of z.

        code std Enc / G1   mean over coordinates of the per-coordinate standard deviation
        code mean gap       ‖mean Enc(x) − mean G1(z)‖
        D1 real / fake      D1's mean output on each (a probability; for a critic, the score)
        """
        with torch.no_grad():
            h, h_fake = self.encode(x), self.latent_generator(self.noise(n or len(x)))
            out = (lambda v: v) if self.cfg.latent_critic == "wgan-gp" else torch.sigmoid
            return {"code std Enc": h.std(dim=0).mean().item(), "code std G1": h_fake.std(dim=0).mean().item(),
                    "code mean gap": (h.mean(dim=0) - h_fake.mean(dim=0)).norm().item(),
                    "D1 real": out(self.latent_discriminator(h)).mean().item(),
                    "D1 fake": out(self.latent_discriminator(h_fake)).mean().item()}


class ExPostGMM:
    """The fair baseline for a latent GAN: a Gaussian mixture fitted to Enc(x) after training
    (ex-post density estimation, Ghosh et al. 2020, "From variational to deterministic autoencoders").

    ``sample`` decodes draws from the mixture with the same decoder, so the only difference
    from AEGAN is how the latent codes are sampled. It holds the model but is not a module that
    owns it: evaluating the mixture (which puts a module in eval mode and back) must never switch
    the AEGAN it shares into training mode, where its batch norms would update their statistics.
    """

    def __init__(self, model: AEGAN, train: data.Split, n_components: int = 10, seed: int = 0,
                 batch_size: int = 1000):
        from sklearn.mixture import GaussianMixture
        self.model = model
        device = next(model.parameters()).device
        with torch.no_grad():
            codes = torch.cat([model.encode(data.as_float(train.x[i:i + batch_size].to(device))).cpu()
                               for i in range(0, len(train), batch_size)])
        self.gmm = GaussianMixture(n_components, covariance_type="full", random_state=seed).fit(codes.numpy())
        self.gmm.random_state = None      # from now on draw from NumPy's global RNG, which callers seed

    def sample(self, n: int) -> Tensor:
        device = next(self.model.parameters()).device
        h, _ = self.gmm.sample(n)                     # grouped by mixture component ...
        h = h[np.random.permutation(n)]               # ... so shuffle
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return self.model.decode(torch.as_tensor(h, dtype=torch.float32, device=device))
        finally:
            self.model.train(was_training)
