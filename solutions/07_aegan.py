"""Solutions to the exercises of 07 · AEGAN (read them after trying)."""
import torch
import torch.nn.functional as F

from tutorial_lib import methods


def g1_loss(latent_fake_logits, image_fake_logits, image_weight):
    """Exercise 07.1: −E log D1(G1(z)) − λ_img E log D2(Dec(G1(z))), from logits."""
    return F.softplus(-latent_fake_logits).mean() + image_weight * F.softplus(-image_fake_logits).mean()


def standardise(h):
    """Exercise 07.2: each coordinate of the codes standardised over the batch, (h − mean) / √(var + δ).

    The variance is the batch's own (divided by B, not B − 1) and δ = 1e-5 keeps a constant coordinate
    finite: exactly what BatchNorm1d(affine=False) computes in training mode.
    """
    mean = h.mean(dim=0)
    var = ((h - mean) ** 2).mean(dim=0)
    return (h - mean) / torch.sqrt(var + 1e-5)


def _d_loss(real_logits, fake_logits):
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


class MyAEGAN(methods.AEGAN):
    """Build it yourself (07): AEGAN's four losses, written out."""

    def autoencoder_loss(self, batch):
        x = batch.x
        return ((self.decode(self.encode(x)) - x) ** 2).mean(), {}

    def latent_discriminator_loss(self, batch):
        x = batch.x
        h = self.encode(x).detach()                                  # real codes: D1's step moves only D1
        h_fake = self.latent_generator(self.noise(len(x))).detach()
        return _d_loss(self.latent_discriminator(h), self.latent_discriminator(h_fake)), {}

    def image_discriminator_loss(self, batch):
        x = batch.x
        with torch.no_grad():
            x_prime, x_fake = self.reconstruct(x), self.sample(len(x))   # the source's x′ = Dec(Enc(x))
        return _d_loss(self.image_discriminator(x_prime), self.image_discriminator(x_fake)), {}

    def latent_generator_loss(self, batch):
        h_fake = self.latent_generator(self.noise(len(batch.x)))
        image_logits = self.image_discriminator(self.decode(h_fake))
        return g1_loss(self.latent_discriminator(h_fake), image_logits, self.cfg.image_weight), {}
