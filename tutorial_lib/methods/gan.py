"""GANs: the original game (DCGAN nets) and the Wasserstein GAN with clipping or gradient penalty.

GAN (Goodfellow et al. 2014), each iteration:
  (1) update D: maximise log D(x) + log(1 − D(G(z)))      [minimise losses.discriminator_loss]
  (2) update G: minimise −log D(G(z))  (non-saturating; or the minimax log(1 − D(G(z))),
      or the primary source's feature-centre matching ½‖E f_D(x) − E f_D(G(z))‖²)

WGAN (Arjovsky et al. 2017) / WGAN-GP (Gulrajani et al. 2017), each iteration:
  (1) ×n_critic, each on a fresh real batch: update the critic f to maximise
      E_x f(x) − E_z f(G(z)), keeping f 1-Lipschitz by weight clipping or by the penalty
      λ·E(‖∇f(x̂)‖ − 1)² at x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1] per example
  (2) update G: minimise −E_z f(G(z))

``arch="dcgan"`` builds 28×28 image networks; ``arch="mlp"`` builds small MLPs for 2-D toy data.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from tutorial_lib import checks, losses, nets
from tutorial_lib.methods.base import Batch, Method, Phase, gradient_norms, linear_decay, polyak_step

Tensor = torch.Tensor
ARCHS = ("dcgan", "mlp")
GENERATOR_LOSSES = ("nonsaturating", "saturating", "feature_matching")
CONSTRAINTS = ("gp", "clip")


def _check_arch(cfg) -> None:
    checks.check_choice("arch", cfg.arch, ARCHS)
    checks.check_positive_int("latent_dim", cfg.latent_dim)
    checks.check_positive_int("width", cfg.width)
    checks.check_positive_int("data_dim", cfg.data_dim)
    checks.check_positive("lr", cfg.lr)


def _build_nets(cfg, batchnorm: bool) -> tuple[nn.Module, nn.Module]:
    if cfg.arch == "dcgan":
        generator = nets.DCGANGenerator(cfg.latent_dim, cfg.width)
        discriminator = nets.DCGANDiscriminator(cfg.width, batchnorm=batchnorm)
        nets.dcgan_init(generator)
        nets.dcgan_init(discriminator)
    else:
        generator = nets.MLP(cfg.latent_dim, cfg.data_dim, hidden=cfg.width, activation=nn.ReLU)
        discriminator = nets.MLP(cfg.data_dim, 1, hidden=cfg.width, activation=nn.ReLU)
    return generator, discriminator


@dataclass
class GANConfig:
    arch: str = "dcgan"
    """'dcgan' (28×28 images) or 'mlp' (2-D toy points)."""
    latent_dim: int = 64
    """Size of z ~ N(0, I)."""
    width: int = 64
    """dcgan: base channel count; mlp: hidden units."""
    data_dim: int = 2
    """mlp only: dimension of a data point."""
    generator_loss: str = "nonsaturating"
    """'nonsaturating' (−log D(G(z))), 'saturating' (log(1 − D(G(z)))) or 'feature_matching'."""
    lr: float = 2e-4
    """Adam learning rate of G, and of D unless ``lr_d`` is set (DCGAN: 2e-4 for both)."""
    lr_d: float = 0.0
    """D's learning rate; 0: the same as ``lr``. Two time-scales (Heusel et al. 2017): D faster than G."""
    beta1: float = 0.5
    """Adam β1 (DCGAN: 0.5)."""
    polyak_decay: float = 0.0
    """β of a Polyak (exponential moving) average of G's weights and batch-norm statistics, updated after
    every G update (:func:`tutorial_lib.methods.base.polyak_step`); in eval mode :meth:`GAN.sample` draws
    from it. 0: no average, sample from the trained weights."""

    def __post_init__(self):
        _check_arch(self)
        checks.check_choice("generator_loss", self.generator_loss, GENERATOR_LOSSES)
        checks.check_fraction("beta1", self.beta1)
        checks.check_non_negative("lr_d", self.lr_d)
        checks.check_fraction("polyak_decay", self.polyak_decay)    # 0: no average
        if self.generator_loss == "feature_matching" and self.arch != "dcgan":
            raise ValueError("generator_loss='feature_matching' needs arch='dcgan' (it matches f_D features)")


class AveragedGenerator(Method):
    """A generator ``self.generator`` with, when ``cfg.polyak_decay > 0``, a Polyak average of its weights
    and batch-norm statistics (``self.averaged``) that gradients never train and that eval-mode sampling
    uses (Yazıcı et al. 2019, "The unusual effectiveness of averaging in GAN training")."""

    def keep_average(self) -> None:
        """Call after building ``self.generator``: starts the average as a copy of it (if the config keeps one)."""
        if self.cfg.polyak_decay > 0:
            self.averaged = copy.deepcopy(self.generator).requires_grad_(False)
            self.register_buffer("average_steps", torch.zeros((), dtype=torch.float32))

    def average_hook(self):
        """The generator phase's ``after_step``: :meth:`update_average`, or None when there is no average."""
        return self.update_average if self.cfg.polyak_decay > 0 else None

    def update_average(self) -> None:
        """After each G update: one step of the average of G's weights and batch-norm statistics."""
        polyak_step(self.averaged, self.generator, self.average_steps, self.cfg.polyak_decay, buffers=True)

    def sampler(self) -> nn.Module:
        """The G that :meth:`sample` uses: in training mode (the losses) the trained one; in eval mode the
        average when there is one and it has been updated."""
        averaged = not self.training and self.cfg.polyak_decay > 0 and bool(self.average_steps > 0)
        return self.averaged if averaged else self.generator

    def sample(self, n: int, z: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """G(z), z ~ N(0, I) (in eval mode from the averaged G, if the config keeps one). Unconditional: no ``y``."""
        self.check_no_labels(y)
        return self.sampler()(self.noise(n) if z is None else z)


class GAN(AveragedGenerator):
    name = "gan"

    def __init__(self, cfg: GANConfig = GANConfig()):
        super().__init__()
        self.cfg = cfg
        self.noise_dim = cfg.latent_dim
        self.generator, self.discriminator = _build_nets(cfg, batchnorm=True)
        self.keep_average()

    def make_optimizers(self):
        betas = (self.cfg.beta1, 0.999)
        return {"discriminator": torch.optim.Adam(self.discriminator.parameters(), self.cfg.lr_d or self.cfg.lr,
                                                  betas=betas),
                "generator": torch.optim.Adam(self.generator.parameters(), self.cfg.lr, betas=betas)}

    def phases(self) -> list[Phase]:
        opt = self.optimizers()
        return [Phase("discriminator", opt["discriminator"], self.discriminator_loss),
                Phase("generator", opt["generator"], self.generator_loss, after_step=self.average_hook())]

    def discriminator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """(1) update D: −E log D(x) − E log(1 − D(G(z)))."""
        x_real = batch.x
        x_fake = self.sample(len(x_real)).detach()
        real_logits, fake_logits = self.discriminator(x_real), self.discriminator(x_fake)
        loss = losses.discriminator_loss(real_logits, fake_logits)
        return loss, {"D(x)": torch.sigmoid(real_logits).mean().detach(),
                      "D(G(z))": torch.sigmoid(fake_logits).mean().detach()}

    def generator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """(2) update G with the configured generator loss."""
        x_real = batch.x
        x_fake = self.sample(len(x_real))
        kind = self.cfg.generator_loss
        if kind == "feature_matching":
            real_features = self.discriminator.features(x_real).detach()
            loss = losses.feature_matching_loss(real_features, self.discriminator.features(x_fake))
            return loss, {}
        fake_logits = self.discriminator(x_fake)
        if kind == "saturating":
            loss = losses.generator_loss_saturating(fake_logits)
        else:
            loss = losses.generator_loss_nonsaturating(fake_logits)
        return loss, {"D(G(z))": torch.sigmoid(fake_logits).mean().detach()}

    def generator_gradient_norms(self, n: int = 256) -> dict[str, float]:
        """‖∇_θG L_G‖ for the saturating and the non-saturating loss on the same z and D.

        Needs gradients enabled; used to show the minimax loss's gradient vanishing.
        """
        fake_logits = self.discriminator(self.sample(n))
        norms = gradient_norms({"saturating": losses.generator_loss_saturating(fake_logits),
                                "nonsaturating": losses.generator_loss_nonsaturating(fake_logits)},
                               self.generator.parameters())
        out = {f"grad_norm/{name}": norm for name, norm in norms.items()}
        out["D(G(z))"] = float(torch.sigmoid(fake_logits.detach()).mean())
        return out


@dataclass
class WGANConfig:
    arch: str = "dcgan"
    """'dcgan' (28×28 images; the critic has no batch norm) or 'mlp' (2-D toy points)."""
    latent_dim: int = 64
    """Size of z ~ N(0, I)."""
    width: int = 64
    """dcgan: base channel count; mlp: hidden units."""
    data_dim: int = 2
    """mlp only: dimension of a data point."""
    constraint: str = "gp"
    """How the critic is kept 1-Lipschitz: 'gp' (gradient penalty) or 'clip' (weight clipping)."""
    gp_weight: float = 10.0
    """λ_GP, the weight of the gradient penalty (Gulrajani et al.: 10)."""
    clip_value: float = 0.01
    """c of weight clipping: every critic weight is clamped to [−c, c] (Arjovsky et al.: 0.01)."""
    critic_steps: int = 5
    """Critic updates per generator update, each on a fresh real batch."""
    lr: float = 1e-4
    """Learning rate of G, and of the critic unless ``lr_d`` is set (gp: Adam, 1e-4; clip: RMSprop, the
    paper's 5e-5)."""
    lr_d: float = 0.0
    """The critic's learning rate; 0: the same as ``lr``. Two time-scales (Heusel et al. 2017, who also ran
    WGAN-GP with one critic step per G step, each network at its own rate)."""
    betas: tuple[float, float] = (0.5, 0.9)
    """Adam's (β1, β2) for 'gp' (Gulrajani et al.: (0, 0.9) or (0.5, 0.9))."""
    lr_decay: bool = False
    """Decay both learning rates linearly to 0 over the run (Gulrajani et al.'s CIFAR-10 recipe)."""
    polyak_decay: float = 0.0
    """β of a Polyak average of G's weights and batch-norm statistics that eval-mode sampling uses, as in
    :class:`GANConfig`. 0: no average."""

    def __post_init__(self):
        _check_arch(self)
        checks.check_choice("constraint", self.constraint, CONSTRAINTS)
        checks.check_non_negative("lr_d", self.lr_d)
        checks.check_fraction("polyak_decay", self.polyak_decay)
        checks.check_non_negative("gp_weight", self.gp_weight)
        checks.check_positive("clip_value", self.clip_value)
        checks.check_positive_int("critic_steps", self.critic_steps)
        self.betas = tuple(self.betas)


class WGAN(AveragedGenerator):
    name = "wgan"

    def __init__(self, cfg: WGANConfig = WGANConfig()):
        super().__init__()
        self.cfg = cfg
        self.noise_dim = cfg.latent_dim
        self.generator, self.critic = _build_nets(cfg, batchnorm=False)
        self.keep_average()

    def make_optimizers(self):
        lr_critic = self.cfg.lr_d or self.cfg.lr
        if self.cfg.constraint == "clip":
            return {"critic": torch.optim.RMSprop(self.critic.parameters(), lr=lr_critic),
                    "generator": torch.optim.RMSprop(self.generator.parameters(), lr=self.cfg.lr)}
        return {"critic": torch.optim.Adam(self.critic.parameters(), lr_critic, betas=self.cfg.betas),
                "generator": torch.optim.Adam(self.generator.parameters(), self.cfg.lr, betas=self.cfg.betas)}

    def phases(self) -> list[Phase]:
        opt = self.optimizers()
        clip = self.clip_critic if self.cfg.constraint == "clip" else None
        decay = linear_decay if self.cfg.lr_decay else None
        return [Phase("critic", opt["critic"], self.critic_loss, repeats=self.cfg.critic_steps, after_step=clip,
                      lr_factor=decay),
                Phase("generator", opt["generator"], self.generator_loss, lr_factor=decay,
                      after_step=self.average_hook())]

    @torch.no_grad()
    def clip_critic(self) -> None:
        """Weight clipping: every critic parameter clamped to [−c, c]."""
        for p in self.critic.parameters():
            p.clamp_(-self.cfg.clip_value, self.cfg.clip_value)

    def critic_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """(1) update f: E f(G(z)) − E f(x)  [+ λ_GP E(‖∇f(x̂)‖ − 1)²]."""
        x_real = batch.x
        x_fake = self.sample(len(x_real)).detach()
        loss = losses.critic_loss(self.critic(x_real), self.critic(x_fake))
        logs = {"wasserstein": -loss.detach()}   # the critic's estimate of W1 (before the penalty)
        if self.cfg.constraint == "gp":
            gp = losses.gradient_penalty(self.critic, losses.interpolate(x_real, x_fake), self.cfg.gp_weight)
            loss = loss + gp
            logs["gp"] = gp.detach()
        return loss, logs

    def generator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """(2) update G: −E f(G(z))."""
        return losses.wasserstein_generator_loss(self.critic(self.sample(len(batch.x)))), {}

    def critic_gradient_norms(self, x_real: Tensor) -> Tensor:
        """‖∇_x̂ f(x̂)‖ at interpolates of x_real and fresh fakes, (B,) (the GP's target is 1)."""
        x_hat = losses.interpolate(x_real, self.sample(len(x_real)).detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.critic(x_hat).sum(), x_hat)
        return grad.flatten(1).norm(2, dim=1)
