"""CVAE-GAN (Bao et al. 2017) on digits, with the class as the condition, and its two ablations.

Four networks (the primary source's names):

    E(x, c) -> μ, log σ²     conditional encoder, q(z | x, c) = N(μ, diag σ²)
    G(z, c) -> x̃             generator (decoder), tanh output in [-1, 1]
    D(x)    -> logit          real or fake; f_D(x) its last hidden layer
    C(x)    -> 10 logits      digit classifier; f_C(x) its last hidden layer

The losses as the source writes them (weights λ are ours to set; see :class:`CVAEGANConfig`):

    L_D  = −E_x log D(x) − E_z log(1 − D(G(z, c)))                  (the GAN's own D loss)
    L_C  = −E_(x,c) log P(c | x)                                     (C on real images only)
    L_KL = KL(q(z | x, c) ‖ N(0, I))
    L_G  = ½ (‖x − x′‖² + ‖f_D(x) − f_D(x′)‖²),  x′ = G(z, c), z ~ q(z | x, c)   (pairwise)
    L_GD = ½ ‖E_x f_D(x) − E_z f_D(G(z, c))‖²                        (feature-centre matching)
    L_GC = ½ Σ_c ‖E_{x of class c} f_C(x) − E_z f_C(G(z, c))‖²       (per-class centres)

One iteration: (1) D on L_D, (2) C on L_C, (3) E and G together on λ_KL·L_KL + λ_G·L_G +
λ_GD·L_GD + λ_GC·L_GC. E only sees L_KL and L_G (the other two terms decode prior noise, not E's
codes), so one step over both networks is the paper's separate E and G updates.

``variant`` gives the ablations with the same code: 'cvae' (E and G only: L_KL and the pixel term
of L_G), 'cgan' (G and a D that is itself told the class, as in Mirza & Osindero; no E, no C) and
'cvaegan' (all four). ``generator_loss`` puts the non-saturating −log D(G(z, c)) in place of L_GD.

The source's f_D is "the last fully connected layer of D"; here, as in 05, it is the flattened
output of D's last convolution (the input of its one linear layer). D has no batch norm: batch
norm would normalise the real and the fake batch separately, and so erase most of the difference
between their feature centres that L_GD measures. The networks are in :mod:`tutorial_lib.nets`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tutorial_lib import losses, nets, runtime
from tutorial_lib.methods.base import Batch, Method, Phase

Tensor = torch.Tensor
NUM_CLASSES = nets.NUM_CLASSES
VARIANTS = ("cvaegan", "cvae", "cgan")
GENERATOR_LOSSES = ("feature_matching", "nonsaturating")


# ============================================================================ the losses

def pairwise_loss(x: Tensor, x_rec: Tensor, real_features: list[Tensor] = (),
                  rec_features: list[Tensor] = ()) -> Tensor:
    """CVAE-GAN's pairwise pixel and feature loss (primary source):

        L_G = ½ (‖x − x′‖² + Σ_f ‖f(x) − f(x′)‖²)

    with f over the given feature maps (the source: f_D only; the paper adds f_C).
    x, x_rec (B, ...); features (B, F) each -> scalar   [sum over pixels / features, mean over batch]
    """
    loss = (x - x_rec).pow(2).flatten(1).sum(dim=1)
    for f_real, f_rec in zip(real_features, rec_features, strict=True):
        loss = loss + (f_real - f_rec).pow(2).flatten(1).sum(dim=1)
    return 0.5 * loss.mean()


def class_centre_matching_loss(real_features: Tensor, real_labels: Tensor, fake_features: Tensor,
                               fake_labels: Tensor, num_classes: int = NUM_CLASSES) -> Tensor:
    """CVAE-GAN's per-class feature-centre matching against the classifier (primary source):

        L_GC = ½ Σ_c ‖ E_{x of class c} f_C(x) − E_{z} f_C(G(z, c)) ‖²₂

    Each centre is the batch mean of its class's features; a class missing from either batch
    adds nothing. features (B, F), (B', F); labels (B,), (B',) int in [0, num_classes) -> scalar
    [mean over each class's examples inside the norm, sum over features and classes]
    """
    def centres(features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        sums = features.new_zeros(num_classes, features.shape[1]).index_add(0, labels, features)
        counts = torch.bincount(labels, minlength=num_classes).to(features.dtype)
        return sums / counts.clamp_min(1).unsqueeze(1), counts > 0

    real_centre, real_seen = centres(real_features, real_labels)
    fake_centre, fake_seen = centres(fake_features, fake_labels)
    gaps = (real_centre - fake_centre).pow(2).sum(dim=1)                      # (num_classes,)
    return 0.5 * (gaps * (real_seen & fake_seen).to(gaps.dtype)).sum()


def inpaint_blend(x: Tensor, x_generated: Tensor, mask: Tensor) -> Tensor:
    """The source's repair step  x ← M ⊙ x′ + (1 − M) ⊙ x,  M = 1 on the missing pixels, 0 elsewhere.

    Written as a selection, so the known pixels (M = 0) are copied bit for bit. mask: bool or
    {0, 1}, broadcastable to x.
    """
    return torch.where(mask.bool(), x_generated, x)


# ============================================================================ networks

def class_labels(n: int, y: Tensor | None, device: torch.device) -> Tensor:
    """The classes for ``sample(n, y=y)`` on ``device``: ``y`` checked (int64, shape (n,), values in
    [0, 10)), or n classes drawn uniformly when ``y`` is None."""
    if y is None:
        return torch.randint(0, NUM_CLASSES, (n,), device=device)
    if not torch.is_tensor(y) or y.shape != (n,) or y.dtype != torch.int64:
        shape = tuple(y.shape) if torch.is_tensor(y) else type(y).__name__
        raise ValueError(f"y must be an int64 tensor of shape ({n},), one class per sample; got {shape}"
                         + (f" of {y.dtype}" if torch.is_tensor(y) else ""))
    if len(y) and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise ValueError(f"y holds classes outside [0, {NUM_CLASSES}): min {int(y.min())}, max {int(y.max())}")
    return y.to(device)


# ============================================================================ the method

@dataclass
class CVAEGANConfig:
    """Settings of :class:`CVAEGAN`.

    The four λ defaults are the numbers Bao et al. 2017 give (λ_KL = 3, λ_G = 1, λ_GD = λ_GC = 10⁻³;
    the source gives none), kept as they are rather than rescaled for digits. The same numbers do not
    give the paper's balance between the terms: its pixel sum runs over 128 × 128 × 3 = 49,152 values
    and its L_G also matches f_C, while here the pixel sum runs over 784 values and L_G matches f_D
    only (the source's form, see ``pairwise_classifier_features``), so L_KL weighs relatively more
    against reconstruction here than in the paper.
    """
    variant: str = "cvaegan"
    """'cvaegan' (E, G, D, C), 'cvae' (E and G only) or 'cgan' (G and a class-conditional D)."""
    generator_loss: str = "feature_matching"
    """G's adversarial term: 'feature_matching' (L_GD, the source's) or 'nonsaturating' (−log D(G(z, c)))."""
    latent_dim: int = 64
    """Size of z."""
    width: int = 64
    """Base channel count of every network."""
    kl_weight: float = 3.0
    """λ_KL, the weight of L_KL (the source gives no weights; 3 is our reading of Bao et al. 2017)."""
    pairwise_weight: float = 1.0
    """λ_G, the weight of the pairwise loss L_G (our reading of Bao et al. 2017: 1)."""
    centre_weight: float = 1e-3
    """λ_GD, the weight of L_GD (our reading of Bao et al. 2017: 10⁻³); with Adam only its ratio to λ_G matters."""
    class_centre_weight: float = 1e-3
    """λ_GC, the weight of L_GC (our reading of Bao et al. 2017: 10⁻³)."""
    nonsaturating_weight: float = 1.0
    """Weight of −log D(G(z, c)) when generator_loss='nonsaturating' (in place of λ_GD·L_GD)."""
    pairwise_classifier_features: bool = False
    """Add ‖f_C(x) − f_C(x′)‖² to L_G, as the paper does (the source's L_G has f_D only)."""
    lr: float = 2e-4
    """Adam learning rate, every network."""
    beta1: float = 0.5
    """Adam β1 (DCGAN: 0.5)."""

    def __post_init__(self):
        runtime.check_choice("variant", self.variant, VARIANTS)
        runtime.check_choice("generator_loss", self.generator_loss, GENERATOR_LOSSES)
        runtime.check_positive_int("latent_dim", self.latent_dim)
        runtime.check_positive_int("width", self.width)
        for name in ("kl_weight", "pairwise_weight", "centre_weight", "class_centre_weight", "nonsaturating_weight"):
            runtime.check_non_negative(name, getattr(self, name))
        runtime.check_positive("lr", self.lr)
        if not 0 <= self.beta1 < 1:
            raise ValueError(f"beta1={self.beta1!r} must be in [0, 1)")
        if self.variant == "cvae" and self.generator_loss != "feature_matching":
            raise ValueError("variant='cvae' has no discriminator, so generator_loss does not apply: leave it "
                             "at 'feature_matching' (the default)")

    @property
    def has_encoder(self) -> bool:
        return self.variant in ("cvaegan", "cvae")

    @property
    def has_discriminator(self) -> bool:
        return self.variant in ("cvaegan", "cgan")

    @property
    def has_classifier(self) -> bool:
        return self.variant == "cvaegan"


class CVAEGAN(Method):
    name = "cvaegan"

    def __init__(self, cfg: CVAEGANConfig = CVAEGANConfig()):
        super().__init__()
        self.cfg = cfg
        self.noise_dim = cfg.latent_dim
        self.generator = nets.ConditionalGenerator(cfg.latent_dim, cfg.width)
        if cfg.has_encoder:
            self.encoder = nets.ConditionalEncoder(cfg.latent_dim, cfg.width)
        if cfg.has_discriminator:
            self.discriminator = nets.FeatureDiscriminator(cfg.width, conditional=cfg.variant == "cgan")
        if cfg.has_classifier:
            self.classifier = nets.Classifier(cfg.width)

    def make_optimizers(self):
        def adam(params):
            return torch.optim.Adam(params, self.cfg.lr, betas=(self.cfg.beta1, 0.999))
        generator_params = list(self.generator.parameters())
        if self.cfg.has_encoder:
            generator_params += list(self.encoder.parameters())
        opts = {"generator": adam(generator_params)}
        if self.cfg.has_discriminator:
            opts["discriminator"] = adam(self.discriminator.parameters())
        if self.cfg.has_classifier:
            opts["classifier"] = adam(self.classifier.parameters())
        return opts

    def phases(self) -> list[Phase]:
        opt = self.optimizers()
        phases = []
        if self.cfg.has_discriminator:
            phases.append(Phase("discriminator", opt["discriminator"], self.discriminator_loss))
        if self.cfg.has_classifier:
            phases.append(Phase("classifier", opt["classifier"], self.classifier_loss))
        phases.append(Phase("generator", opt["generator"], self.generator_loss))
        return phases

    # ------------------------------------------------------------------ sampling
    def labels(self, n: int, y: Tensor | None = None) -> Tensor:
        """``y`` checked (int64 (n,) in [0, 10)), or n classes drawn uniformly when None."""
        return class_labels(n, y, next(self.parameters()).device)

    def sample(self, n: int, z: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """G(z, c), z ~ N(0, I); classes ``y`` (n,) when given, else drawn uniformly."""
        z = self.noise(n) if z is None else z
        return self.generator(z, self.labels(len(z), y))

    def encode(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """μ, log σ² of q(z | x, c), each (B, d)."""
        if not self.cfg.has_encoder:
            raise ValueError(f"variant={self.cfg.variant!r} has no encoder")
        return self.encoder(x, y)

    def reconstruct(self, x: Tensor, y: Tensor) -> Tensor:
        """x′ = G(μ(x, c), c): decode the posterior mean."""
        return self.generator(self.encode(x, y)[0], y)

    @torch.no_grad()
    def inpaint(self, x: Tensor, mask: Tensor, iterations: int = 1, y: Tensor | None = None) -> Tensor:
        """Repair the pixels where ``mask`` is 1 (the source's M: 1 = missing, 0 = known), iterating

            z = μ(E(x, c)),  x′ = G(z, c),  x ← M ⊙ x′ + (1 − M) ⊙ x

        ``iterations`` times. The known pixels (M = 0) come back exactly as given. The class c is
        ``y`` when given; else C reads it from the current image at every iteration (no label is
        taken from the data).
        """
        runtime.check_positive_int("iterations", iterations)
        if mask.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"mask {tuple(mask.shape)} does not cover the images {tuple(x.shape)}")
        if y is None and not self.cfg.has_classifier:
            raise ValueError(f"variant={self.cfg.variant!r} has no classifier: pass the classes y")
        given = None if y is None else self.labels(len(x), y)
        for _ in range(iterations):
            c = self.classifier(x).argmax(dim=1) if given is None else given
            x = inpaint_blend(x, self.reconstruct(x, c), mask)
        return x

    # ------------------------------------------------------------------ the losses
    def discriminator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """(1) update D: −E log D(x) − E log(1 − D(G(z, c))), the fakes of the batch's classes."""
        x_real, y = batch
        x_fake = self.sample(len(x_real), y=y).detach()
        real_logits, fake_logits = self.discriminator(x_real, y), self.discriminator(x_fake, y)
        loss = losses.discriminator_loss(real_logits, fake_logits)
        return loss, {"D(x)": torch.sigmoid(real_logits).mean().detach(),
                      "D(G(z))": torch.sigmoid(fake_logits).mean().detach()}

    def classifier_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """(2) update C: L_C = −E log P(c | x), on real images and their labels."""
        logits = self.classifier(batch.x)
        loss = F.cross_entropy(logits, batch.y)
        return loss, {"accuracy": (logits.argmax(dim=1) == batch.y).float().mean().detach()}

    def generator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """(3) update E and G: λ_KL·L_KL + λ_G·L_G + (λ_GD·L_GD or the non-saturating loss) + λ_GC·L_GC."""
        cfg, (x_real, y) = self.cfg, batch
        loss, logs = x_real.new_zeros(()), {}
        if cfg.has_encoder:
            mu, logvar = self.encoder(x_real, y)
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
            x_rec = self.generator(z, y)
            real_f, rec_f = [], []
            if cfg.has_discriminator:
                real_f.append(self.discriminator.features(x_real).detach())
                rec_f.append(self.discriminator.features(x_rec))
            if cfg.has_classifier and cfg.pairwise_classifier_features:
                real_f.append(self.classifier.features(x_real).detach())
                rec_f.append(self.classifier.features(x_rec))
            kl = losses.kl_normal_standard(mu, logvar).mean()
            pairwise = pairwise_loss(x_real, x_rec, real_f, rec_f)
            loss = loss + cfg.kl_weight * kl + cfg.pairwise_weight * pairwise
            logs.update(kl=kl.detach(), pairwise=pairwise.detach())
        if cfg.has_discriminator:
            x_fake = self.sample(len(x_real), y=y)
            if cfg.generator_loss == "feature_matching":
                real_f = self.discriminator.features(x_real, y).detach()
                centre = losses.feature_matching_loss(real_f, self.discriminator.features(x_fake, y))
                loss = loss + cfg.centre_weight * centre
                logs["centre"] = centre.detach()
            else:
                nonsat = losses.generator_loss_nonsaturating(self.discriminator(x_fake, y))
                loss = loss + cfg.nonsaturating_weight * nonsat
                logs["nonsaturating"] = nonsat.detach()
            if cfg.has_classifier:
                class_centre = class_centre_matching_loss(self.classifier.features(x_real).detach(), y,
                                                          self.classifier.features(x_fake), y)
                loss = loss + cfg.class_centre_weight * class_centre
                logs["class_centre"] = class_centre.detach()
        return loss, logs

    def generator_gradient_norms(self, x_real: Tensor, y: Tensor) -> dict[str, float]:
        """‖∇_θG‖ of three adversarial losses for G on the same z, classes and D: L_GD (feature
        centres), the non-saturating −log D(G(z, c)) and the minimax log(1 − D(G(z, c))).

        Needs gradients enabled; shows which of them vanishes as D learns to reject the fakes.
        """
        if not self.cfg.has_discriminator:
            raise ValueError(f"variant={self.cfg.variant!r} has no discriminator")
        x_fake = self.sample(len(x_real), y=y)
        fake_logits = self.discriminator(x_fake, y)
        centre = losses.feature_matching_loss(self.discriminator.features(x_real, y).detach(),
                                              self.discriminator.features(x_fake, y))
        params = list(self.generator.parameters())
        out = {}
        for name, value in (("feature_matching", centre),
                            ("nonsaturating", losses.generator_loss_nonsaturating(fake_logits)),
                            ("saturating", losses.generator_loss_saturating(fake_logits))):
            grads = torch.autograd.grad(value, params, retain_graph=True)
            out[f"grad_norm/{name}"] = float(torch.nn.utils.get_total_norm(grads))
        out["D(G(z))"] = float(torch.sigmoid(fake_logits.detach()).mean())
        return out
