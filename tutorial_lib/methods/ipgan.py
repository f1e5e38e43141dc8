"""IP-GAN (Bao et al. 2018) on digits: the identity of one image, the attributes of another.

Faces in the source; here the "identity" of a digit is its class, and its "attributes" are the rest
(slant, thickness, width, style). Five networks:

    I(x)    -> 10 logits    identity network, a digit classifier; its last hidden layer f_I(x) is the
                            identity vector
    A(x)    -> μ, log σ²    attribute encoder, q(z | x) = N(μ, diag σ²), regularised towards N(0, I)
    G(f, z) -> x′           generator: identity vector f and attribute code z -> image in [-1, 1]
    C(x)    -> 10 logits    classifier that checks G keeps the identity; f_C its last hidden layer
    D(x)    -> logit        real or fake; f_D its last hidden layer

For a pair (x_s, x_a) the generator draws x′ = G(f_I(x_s), z_a), z_a ~ q(z | x_a). The losses as the
source writes them (weights λ are ours to set; see :class:`IPGANConfig`):

    L_I  = −E log P(c_s | x_s)                                  (I on real images)
    L_KL = ½ (μᵀμ + Σ_j (σ²_j − log σ²_j − 1))      (A's code; the usual KL to N(0, I))
    L_GR = ½ ‖x_a − x′‖²  if x_s = x_a,   λ_GR/2 ‖x_a − x′‖²  otherwise
    L_C  = −E log P(c_s | x_s)                                  (C on real images)
    L_GC = ½ ‖f_C(x′) − f_C(x_s)‖²                              (x′ should read as x_s's identity)
    L_D  = −E log D(x_a) − E log(1 − D(x′))
    L_GD = ½ ‖f_D(x′) − f_D(x_a)‖²                              (x′ should look like x_a)

Unlike CVAE-GAN's centres, L_GC and L_GD here compare each x′ with its own x_s and x_a. A and G take one
optimizer step on the sum of their terms, but A receives only the gradients of L_KL and L_GR, as the
source lists them under A: L_GC and L_GD are computed on x′ decoded from the same code cut off from A
(otherwise L_GD would push A's code to carry all of x_a, its digit too, against the split we measure).

The identity network is a classifier trained inside the method, not the shipped evaluator: the
evaluator judges the results (does x′ read as x_s's digit?), and a judge whose own features built
the images would be marking its own work. It also keeps a saved model free of outside weights. The
paper pre-trains I and then freezes it; ``identity_epochs`` > 0 does the same (I alone for that many
epochs, then the rest with I fixed); 0 trains I beside the others throughout.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tutorial_lib import checks, losses, nets
from tutorial_lib.methods.base import Batch, Method, Phase, reparameterize
from tutorial_lib.methods.cvaegan import class_labels

Tensor = torch.Tensor
IDENTITY_DIM = 256
"""Size of f_I, the identity network's last hidden layer (that of :class:`tutorial_lib.nets.Classifier`)."""


# ============================================================================ the losses

def identity_reconstruction_loss(x_a: Tensor, x_gen: Tensor, same: Tensor, weight_different: float) -> Tensor:
    """IP-GAN's L_GR (primary source): ½‖x_a − x′‖² for a pair with x_s = x_a, λ_GR/2 ‖x_a − x′‖² otherwise.

    same (B,) bool: whether example i's two source images are one image. x_a, x_gen (B, ...) ->
    scalar   [sum over pixels, mean over batch]
    """
    weights = torch.where(same, 1.0, weight_different).to(x_a.dtype)         # (B,)
    return (0.5 * weights * (x_a - x_gen).pow(2).flatten(1).sum(dim=1)).mean()


def paired_feature_loss(features: Tensor, target_features: Tensor) -> Tensor:
    """IP-GAN's L_GC and L_GD: ½‖f(x′) − f(x_target)‖², one target per example.

    features, target_features (B, F) -> scalar   [sum over features, mean over batch]
    """
    return (0.5 * (features - target_features).pow(2).sum(dim=1)).mean()


# ============================================================================ the method

@dataclass
class IPGANConfig:
    """Settings of :class:`IPGAN`.

    The source gives no loss weights for IP-GAN, and the paper's were not checked for this code: the
    defaults (1 on L_KL, L_GC and L_GD; λ_GR = 0.1 in L_GR) are our choice for digits. They are IP-GAN's own:
    CVAE-GAN's λ_KL = 3 belongs to another model with another code size (notebook 10 passes its own
    ``ipgan_kl_weight``, 1 by default, not CVAE-GAN's ``kl_weight``).
    """
    latent_dim: int = 16
    """Size of the attribute code z."""
    width: int = 64
    """Base channel count of every network."""
    kl_weight: float = 1.0
    """Weight of L_KL on A's code (the source gives none; ours, 1: the plain KL of a VAE's negative ELBO
    beside the full-weight ½‖x_a − x′‖² of a pair with x_s = x_a; not CVAE-GAN's λ_KL)."""
    different_weight: float = 0.1
    """λ_GR, the weight of L_GR for pairs of two different images (the source gives none; ours)."""
    same_fraction: float = 0.5
    """Share of the pairs in a batch with x_s = x_a (the rest pair each x_s with another image of the batch)."""
    classifier_weight: float = 1.0
    """Weight of L_GC (the source gives none)."""
    discriminator_weight: float = 1.0
    """Weight of L_GD (the source gives none)."""
    identity_epochs: int = 0
    """> 0: I trains alone for this many epochs and is then fixed (the paper's pre-training); 0: I trains throughout.
    0 by default, unlike the paper, so that a fit of any length trains every network (with
    identity_epochs ≥ epochs only I would train); notebook 10 sets 1 at full size."""
    lr: float = 2e-4
    """Adam learning rate, every network."""
    beta1: float = 0.5
    """Adam β1."""
    centre_momentum: float = 0.99
    """Momentum of the running identity vector per class that :meth:`IPGAN.sample` decodes."""

    def __post_init__(self):
        checks.check_positive_int("latent_dim", self.latent_dim)
        checks.check_positive_int("width", self.width)
        for name in ("kl_weight", "different_weight", "classifier_weight", "discriminator_weight"):
            checks.check_non_negative(name, getattr(self, name))
        checks.check_non_negative_int("identity_epochs", self.identity_epochs)
        checks.check_positive("lr", self.lr)
        for name in ("same_fraction", "beta1", "centre_momentum"):
            checks.check_fraction(name, getattr(self, name), one=name == "same_fraction")


class IPGAN(Method):
    name = "ipgan"

    def __init__(self, cfg: IPGANConfig = IPGANConfig()):
        super().__init__()
        self.cfg = cfg
        self.noise_dim = cfg.latent_dim
        self.identity = nets.Classifier(cfg.width)                               # I, f_I: (B, 256)
        self.attributes = nets.ConvEncoder(2 * cfg.latent_dim, cfg.width)   # A -> (μ, log σ²)
        self.generator = nets.DCGANGenerator(IDENTITY_DIM + cfg.latent_dim, cfg.width)
        nets.dcgan_init(self.generator)
        self.classifier = nets.Classifier(cfg.width)                             # C, f_C
        self.discriminator = nets.FeatureDiscriminator(cfg.width)                       # D, f_D
        self.register_buffer("identity_centres", torch.zeros(nets.NUM_CLASSES, IDENTITY_DIM))
        self.register_buffer("centre_counts", torch.zeros(nets.NUM_CLASSES))

    def make_optimizers(self):
        def adam(*modules):
            return torch.optim.Adam([p for m in modules for p in m.parameters()], self.cfg.lr,
                                    betas=(self.cfg.beta1, 0.999))
        return {"identity": adam(self.identity), "classifier": adam(self.classifier),
                "discriminator": adam(self.discriminator), "generator": adam(self.attributes, self.generator)}

    def phases(self) -> list[Phase]:
        opt, k = self.optimizers(), self.cfg.identity_epochs
        return [Phase("identity", opt["identity"], self.identity_loss, stop_epoch=k or None),
                Phase("classifier", opt["classifier"], self.classifier_loss, start_epoch=k),
                Phase("discriminator", opt["discriminator"], self.discriminator_loss, start_epoch=k),
                Phase("generator", opt["generator"], self.generator_loss, start_epoch=k)]

    # ------------------------------------------------------------------ the model
    def identity_vector(self, x: Tensor) -> Tensor:
        """f_I(x) (B, 256), a constant for every other network (I is trained by L_I alone)."""
        return self.identity.features(x).detach()

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """μ, log σ² of A's q(z | x), each (B, d)."""
        return self.attributes(x).chunk(2, dim=1)

    def decode(self, identity: Tensor, z: Tensor) -> Tensor:
        """G(f, z): identity vectors (B, 256) and attribute codes (B, d) -> images (B, 1, 28, 28)."""
        return self.generator(torch.cat([identity, z], dim=1))

    def recombine(self, x_s: Tensor, x_a: Tensor) -> Tensor:
        """x′ with the identity of x_s and the attributes of x_a (A's mean code): G(f_I(x_s), μ(x_a))."""
        return self.decode(self.identity_vector(x_s), self.encode(x_a)[0])

    def pairs(self, n: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """For a batch of n: the index of each example's x_a, and whether x_a is x_s itself."""
        partner = torch.randperm(n, device=device)
        keep = torch.rand(n, device=device) < self.cfg.same_fraction
        partner = torch.where(keep, torch.arange(n, device=device), partner)
        return partner, partner == torch.arange(n, device=device)

    @torch.no_grad()
    def update_centres(self, identity: Tensor, y: Tensor) -> None:
        """Running mean of f_I per class (what :meth:`sample` decodes); a class's first batch sets it."""
        sums = identity.new_zeros(nets.NUM_CLASSES, identity.shape[1]).index_add(0, y, identity)
        counts = torch.bincount(y, minlength=nets.NUM_CLASSES).to(identity.dtype)
        seen = counts > 0
        batch_mean = sums / counts.clamp_min(1).unsqueeze(1)
        m = self.cfg.centre_momentum
        blended = torch.where((self.centre_counts > 0).unsqueeze(1), m * self.identity_centres + (1 - m) * batch_mean,
                              batch_mean)
        self.identity_centres.copy_(torch.where(seen.unsqueeze(1), blended, self.identity_centres))
        self.centre_counts.add_(counts)

    def sample(self, n: int, z: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """G(running identity vector of class c, z), z ~ N(0, I); classes ``y`` (n,), else uniform."""
        z = self.noise(n) if z is None else z
        y = class_labels(len(z), y, z.device)
        return self.decode(self.identity_centres[y], z)

    # ------------------------------------------------------------------ the losses
    def identity_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """L_I = −E log P(c_s | x_s): I learns the classes."""
        logits = self.identity(batch.x)
        return F.cross_entropy(logits, batch.y), {"accuracy": (logits.argmax(1) == batch.y).float().mean().detach()}

    def classifier_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """L_C = −E log P(c_s | x_s), the checking classifier C on real images."""
        logits = self.classifier(batch.x)
        return F.cross_entropy(logits, batch.y), {"accuracy": (logits.argmax(1) == batch.y).float().mean().detach()}

    def generate(self, x_s: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """One draw of the game: pairs, then x′ = G(f_I(x_s), z_a), z_a ~ q(z | x_a).

        Returns x_a, x′, same (B,) bool, A's μ, log σ² for x_a, and the identity vectors and codes
        x′ was decoded from.
        """
        partner, same = self.pairs(len(x_s), x_s.device)
        x_a = x_s[partner]
        mu, logvar = self.encode(x_a)
        z = reparameterize(mu, logvar)
        identity = self.identity_vector(x_s)
        return x_a, self.decode(identity, z), same, mu, logvar, identity, z

    def discriminator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """L_D = −E log D(x_a) − E log(1 − D(x′))."""
        with torch.no_grad():
            x_a, x_gen, *_ = self.generate(batch.x)
        real_logits, fake_logits = self.discriminator(x_a), self.discriminator(x_gen)
        return losses.discriminator_loss(real_logits, fake_logits), {
            "D(x)": torch.sigmoid(real_logits).mean().detach(), "D(x')": torch.sigmoid(fake_logits).mean().detach()}

    def generator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """A and G: λ_KL·L_KL + L_GR + λ_C·L_GC + λ_D·L_GD."""
        cfg, x_s = self.cfg, batch.x
        self.update_centres(self.identity_vector(x_s), batch.y)
        x_a, x_gen, same, mu, logvar, identity, z = self.generate(x_s)
        kl = losses.kl_normal_standard(mu, logvar).mean()
        reconstruction = identity_reconstruction_loss(x_a, x_gen, same, cfg.different_weight)
        # A learns from L_KL and L_GR only, as the source and the paper split it; G from all its terms.
        # So L_GC and L_GD see x′ decoded again from the same code, cut off from A.
        x_gen_g = self.decode(identity, z.detach())
        keep_identity = paired_feature_loss(self.classifier.features(x_gen_g), self.classifier.features(x_s).detach())
        look_real = paired_feature_loss(self.discriminator.features(x_gen_g), self.discriminator.features(x_a).detach())
        loss = (cfg.kl_weight * kl + reconstruction + cfg.classifier_weight * keep_identity
                + cfg.discriminator_weight * look_real)
        return loss, {"kl": kl.detach(), "GR": reconstruction.detach(), "GC": keep_identity.detach(),
                      "GD": look_real.detach()}
