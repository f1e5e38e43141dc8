"""CVAE-GAN (Bao et al. 2017) on digits, with the class as the condition, and its two ablations.

Four networks (the primary source's names):

    E(x, c) -> μ, log σ²     conditional encoder, q(z | x, c) = N(μ, diag σ²)
    G(z, c) -> x̃             generator (decoder), tanh output in [-1, 1]
    D(x)    -> logit          real or fake; f_D(x) its last hidden layer
    C(x)    -> 10 logits      digit classifier; f_C(x) its last hidden layer

The losses as the source writes them, with D's fakes as the paper's Algorithm 1 has them (weights λ
are ours to set; see :class:`CVAEGANConfig`):

    L_D  = −E_x log D(x) − E_x log(1 − D(x′)) − E_z log(1 − D(G(z, c)))   (reconstructions and prior samples)
    L_C  = −E_(x,c) log P(c | x)                                     (C on real images only)
    L_KL = KL(q(z | x, c) ‖ N(0, I))
    L_G  = ½ (‖x − x′‖² + ‖f_D(x) − f_D(x′)‖²),  x′ = G(z, c), z ~ q(z | x, c)   (pairwise)
    L_GD = ½ ‖f̄_D − E_z f_D(G(z, c))‖²                              (feature-centre matching)
    L_GC = ½ Σ_c ‖f̄_C,c − E_z f_C(G(z, c))‖²                        (per-class centres)

f̄_D and f̄_C,c are the real images' feature centres, kept as moving averages over batches as the paper
does (see :func:`moving_centres`); the fakes' centres are the batch's own.

One iteration: (1) D on L_D, (2) C on L_C, (3) E and G together on λ_KL·L_KL + λ_G·L_G +
λ_GD·L_GD + λ_GC·L_GC. E only sees L_KL and L_G (the other two terms decode prior noise, not E's
codes), so one step over both networks is the paper's separate E and G updates: with Adam, which
rescales every parameter's step by its own gradient size, E's update depends only on λ_KL : λ_G and
G's only on λ_G : λ_GD : λ_GC.

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

from tutorial_lib import checks, losses, nets
from tutorial_lib.losses import pairwise_loss, class_centre_matching_loss, centres_by_class, moving_centres, centre_gap_loss  # the source's losses (re-exported)
from tutorial_lib.methods.base import Batch, Method, Phase, gradient_norms, reparameterize

Tensor = torch.Tensor
NUM_CLASSES = nets.NUM_CLASSES
VARIANTS = ("cvaegan", "cvae", "cgan")
GENERATOR_LOSSES = ("feature_matching", "nonsaturating")


# ============================================================================ the losses

def gradient_shares(terms: dict[str, Tensor], params) -> dict[str, dict[str, float]]:
    """How much of a network's gradient each (weighted) loss term supplies.

    For every term L_k: norm_k = ‖∇_θ L_k‖₂ over all of ``params`` together, and
    share_k = norm_k / Σ_j norm_j (the shares add up to 1; all 0 if every norm is 0). A term that
    does not depend on θ has norm 0. Needs a graph from each term to ``params`` (gradients enabled).
    terms: name -> scalar tensor -> name -> {"norm": float, "share": float}
    """
    norms = gradient_norms(terms, params)
    total = sum(norms.values())
    return {name: {"norm": norm, "share": norm / total if total > 0 else 0.0} for name, norm in norms.items()}


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

    The weights are chosen by what each term contributes to G's gradient (:meth:`CVAEGAN.generator_gradient_shares`),
    not copied. Bao et al. 2017 give λ_KL = 3, λ_G = 1 and 10⁻³; taken as λ_GD = λ_GC = 10⁻³ beside λ_G = 1,
    the centre terms get ~10⁻⁵ of G's gradient at initialisation (width 64, batch 128: 2.0e3 from λ_G·L_G,
    7.7e-3 and 1.4e-2 from the other two), so the paper's remedy would be off. The paper cannot have
    meant that: its pixel sum runs over 128 × 128 × 3 = 49,152 values (63 × our 784), which tilts G
    further towards L_G, yet it credits the centre terms with G's realism and class. The centre terms'
    gradients grow 100–400 × as D and C learn (an untrained D's features carry no signal), so the
    defaults balance the shares *in training*: λ_GD = 3 and λ_GC = 0.3 give L_G, L_GD and L_GC 32 %, 32 %
    and 36 % of G's gradient after a short CPU run (docs/cvaegan_results.md); weights that give each a
    third at initialisation (300, 150) leave L_G 0.2 % after the same run. With Adam only the ratios
    λ_G : λ_GD : λ_GC matter for G and λ_KL : λ_G for E, which stays the paper's 3 : 1.
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
    """λ_KL, the weight of L_KL (the source gives no weights; Bao et al. 2017: 3)."""
    pairwise_weight: float = 1.0
    """λ_G, the weight of the pairwise loss L_G (Bao et al. 2017: 1 in E's update)."""
    centre_weight: float = 3.0
    """λ_GD, the weight of L_GD: ~⅓ of G's gradient in training (see above); with Adam only its ratio to λ_G matters."""
    class_centre_weight: float = 0.3
    """λ_GC, the weight of L_GC: ~⅓ of G's gradient in training (see above)."""
    centre_momentum: float = 0.9
    """α of the real images' moving feature centres f̄_D and f̄_C,c (see :func:`moving_centres`); 0: per-batch centres."""
    nonsaturating_weight: float = 1.0
    """Weight of −log D(G(z, c)) when generator_loss='nonsaturating' (in place of λ_GD·L_GD)."""
    pairwise_classifier_features: bool = False
    """Add ‖f_C(x) − f_C(x′)‖² to L_G, as the paper does (the source's L_G has f_D only)."""
    lr: float = 2e-4
    """Adam learning rate, every network."""
    beta1: float = 0.5
    """Adam β1 (DCGAN: 0.5)."""

    def __post_init__(self):
        checks.check_choice("variant", self.variant, VARIANTS)
        checks.check_choice("generator_loss", self.generator_loss, GENERATOR_LOSSES)
        checks.check_positive_int("latent_dim", self.latent_dim)
        checks.check_positive_int("width", self.width)
        for name in ("kl_weight", "pairwise_weight", "centre_weight", "class_centre_weight", "nonsaturating_weight"):
            checks.check_non_negative(name, getattr(self, name))
        checks.check_positive("lr", self.lr)
        checks.check_fraction("beta1", self.beta1)
        if isinstance(self.centre_momentum, bool) or not isinstance(self.centre_momentum, (int, float)) or not (
                0 <= self.centre_momentum < 1):
            raise ValueError(f"centre_momentum={self.centre_momentum!r} must be a number in [0, 1)")
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
        # the real images' moving feature centres: f̄_D (1, F_D) and f̄_C,c (10, F_C), with whether each is set
        if cfg.has_discriminator and cfg.generator_loss == "feature_matching":
            self.register_buffer("real_centre", torch.zeros(1, self.discriminator.net.head.in_features))
            self.register_buffer("real_centre_seen", torch.zeros(1, dtype=torch.bool))
        if cfg.has_classifier:
            self.register_buffer("class_centres", torch.zeros(NUM_CLASSES, self.classifier.net.head.in_features))
            self.register_buffer("class_centre_seen", torch.zeros(NUM_CLASSES, dtype=torch.bool))

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

    def fake(self, y: Tensor) -> Tensor:
        """G(z_p, c) for a batch's own classes ``y``, z_p ~ N(0, I): what the losses draw. Unlike
        :meth:`sample` it does not check ``y`` (labels from the data are valid), since the check reads
        values back from the device, which a CUDA graph cannot record."""
        return self.generator(self.noise(len(y)), y)

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
        checks.check_positive_int("iterations", iterations)
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
        """(1) update D on real images against fakes of the batch's classes.

        CVAE-GAN (Algorithm 1 of Bao et al. 2017, and both public re-implementations): the fakes are the
        reconstructions x′ = G(z, c), z ~ q(z | x, c), and the prior samples G(z_p, c), z_p ~ N(0, I),
        each term with weight 1 and a mean over the batch:

            L_D = −E log D(x) − E log(1 − D(x′)) − E log(1 − D(G(z_p, c)))

        CGAN has no encoder: its D sees prior samples only, −E log D(x, c) − E log(1 − D(G(z_p, c), c)).
        """
        x_real, y = batch
        logs = {}
        with torch.no_grad():
            if self.cfg.has_encoder:                           # the same draws, in order, as generator_terms
                mu, logvar = self.encoder(x_real, y)
                x_rec = self.generator(reparameterize(mu, logvar), y)
            x_fake = self.fake(y)
        real_logits, fake_logits = self.discriminator(x_real, y), self.discriminator(x_fake, y)
        loss = losses.discriminator_loss(real_logits, fake_logits)
        if self.cfg.has_encoder:
            rec_logits = self.discriminator(x_rec, y)
            loss = loss + F.binary_cross_entropy_with_logits(rec_logits, torch.zeros_like(rec_logits))
            logs["D(x')"] = torch.sigmoid(rec_logits).mean().detach()
        return loss, {"D(x)": torch.sigmoid(real_logits).mean().detach(),
                      "D(G(z))": torch.sigmoid(fake_logits).mean().detach(), **logs}

    def classifier_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """(2) update C: L_C = −E log P(c | x), on real images and their labels."""
        logits = self.classifier(batch.x)
        loss = F.cross_entropy(logits, batch.y)
        return loss, {"accuracy": (logits.argmax(dim=1) == batch.y).float().mean().detach()}

    def generator_terms(self, batch: Batch, update_centres: bool = True) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The weighted terms of E's and G's loss on one batch, and the unweighted values to log.

        Terms: 'kl' λ_KL·L_KL and 'pairwise' λ_G·L_G (with an encoder: :meth:`reconstruction_terms`);
        'centre' λ_GD·L_GD or 'nonsaturating', and 'class_centre' λ_GC·L_GC (with a discriminator:
        :meth:`adversarial_terms`), in that order, so the random draws are always made in the same order.
        """
        terms, logs = self.reconstruction_terms(batch) if self.cfg.has_encoder else ({}, {})
        if self.cfg.has_discriminator:
            more, more_logs = self.adversarial_terms(batch, update_centres)
            terms, logs = {**terms, **more}, {**logs, **more_logs}
        return terms, logs

    def reconstruction_terms(self, batch: Batch) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """E's and G's terms on the batch's own images: λ_KL·L_KL and λ_G·L_G, with x′ = G(z, c), z ~ q(z | x, c)
        drawn with the encoder's noise, and f_D(x) (and f_C(x), with ``pairwise_classifier_features``) held
        fixed: E and G move x′ towards x, never the other way round."""
        cfg, (x_real, y) = self.cfg, batch
        mu, logvar = self.encoder(x_real, y)
        x_rec = self.generator(reparameterize(mu, logvar), y)
        real_f, rec_f = [], []
        if cfg.has_discriminator:
            real_f.append(self.discriminator.features(x_real).detach())
            rec_f.append(self.discriminator.features(x_rec))
        if cfg.has_classifier and cfg.pairwise_classifier_features:
            real_f.append(self.classifier.features(x_real).detach())
            rec_f.append(self.classifier.features(x_rec))
        kl = losses.kl_normal_standard(mu, logvar).mean()
        pairwise = pairwise_loss(x_real, x_rec, real_f, rec_f)
        return ({"kl": cfg.kl_weight * kl, "pairwise": cfg.pairwise_weight * pairwise},
                {"kl": kl.detach(), "pairwise": pairwise.detach()})

    def adversarial_terms(self, batch: Batch, update_centres: bool = True) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """G's terms on prior samples G(z_p, c) of the batch's classes: λ_GD·L_GD (or the non-saturating loss)
        and, with a classifier, λ_GC·L_GC. The real centres of L_GD and L_GC first take this batch into their
        moving averages (see :func:`moving_centres`); ``update_centres=False`` uses the updated centres without
        storing them."""
        cfg, (x_real, y) = self.cfg, batch
        terms, logs = {}, {}
        x_fake = self.fake(y)
        if cfg.generator_loss == "feature_matching":
            one_class = torch.zeros_like(y)
            centre, seen = moving_centres(self.real_centre, self.real_centre_seen,
                                          self.discriminator.features(x_real, y), one_class, cfg.centre_momentum)
            value = centre_gap_loss(centre, seen, self.discriminator.features(x_fake, y), one_class)
            if update_centres:
                self.real_centre.copy_(centre)
                self.real_centre_seen.copy_(seen)
            terms["centre"], logs["centre"] = cfg.centre_weight * value, value.detach()
        else:
            value = losses.generator_loss_nonsaturating(self.discriminator(x_fake, y))
            terms["nonsaturating"], logs["nonsaturating"] = cfg.nonsaturating_weight * value, value.detach()
        if cfg.has_classifier:
            centres, seen = moving_centres(self.class_centres, self.class_centre_seen,
                                           self.classifier.features(x_real), y, cfg.centre_momentum)
            value = centre_gap_loss(centres, seen, self.classifier.features(x_fake), y)
            if update_centres:
                self.class_centres.copy_(centres)
                self.class_centre_seen.copy_(seen)
            terms["class_centre"], logs["class_centre"] = cfg.class_centre_weight * value, value.detach()
        return terms, logs

    def generator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """(3) update E and G: λ_KL·L_KL + λ_G·L_G + (λ_GD·L_GD or the non-saturating loss) + λ_GC·L_GC."""
        terms, logs = self.generator_terms(batch)
        return torch.stack(list(terms.values())).sum(), logs

    def generator_gradient_shares(self, x_real: Tensor, y: Tensor) -> dict[str, dict[str, float]]:
        """Each weighted term's gradient norm w.r.t. G's parameters and its share of their sum
        (:func:`gradient_shares`), on one batch, leaving the moving centres as they are.

        λ_KL·L_KL is left out: it reaches E only. Needs gradients enabled.
        """
        terms, _ = self.generator_terms(Batch(x_real, y), update_centres=False)
        terms.pop("kl", None)
        return gradient_shares(terms, self.generator.parameters())

    def generator_gradient_norms(self, x_real: Tensor, y: Tensor) -> dict[str, float]:
        """‖∇_θG‖ of three adversarial losses for G on the same z, classes and D: L_GD (feature
        centres), the non-saturating −log D(G(z, c)) and the minimax log(1 − D(G(z, c))).

        Needs gradients enabled; shows which of them vanishes as D learns to reject the fakes.
        """
        if not self.cfg.has_discriminator:
            raise ValueError(f"variant={self.cfg.variant!r} has no discriminator")
        x_fake = self.fake(y)
        fake_logits = self.discriminator(x_fake, y)
        centre = losses.feature_matching_loss(self.discriminator.features(x_real, y).detach(),
                                              self.discriminator.features(x_fake, y))
        norms = gradient_norms({"feature_matching": centre,
                                "nonsaturating": losses.generator_loss_nonsaturating(fake_logits),
                                "saturating": losses.generator_loss_saturating(fake_logits)}, self.generator.parameters())
        out = {f"grad_norm/{name}": norm for name, norm in norms.items()}
        out["D(G(z))"] = float(torch.sigmoid(fake_logits.detach()).mean())
        return out
