"""Solutions to the exercises of 05 · GAN (read them after trying)."""
import torch.nn.functional as F

from tutorial_lib import methods


def d_loss(real_logits, fake_logits):
    """Exercise 05.1: −E log D(x) − E log(1 − D(G(z))), from logits (softplus keeps it finite)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss(fake_logits):
    """Exercise 05.2: the non-saturating −E log D(G(z))."""
    return F.softplus(-fake_logits).mean()


class MyGAN(methods.GAN):
    """Build it yourself (05): the GAN's two update phases, their losses written out."""

    def discriminator_loss(self, batch):
        x_real = batch.x
        x_fake = self.generator(self.noise(len(x_real))).detach()     # this step must not move G
        return d_loss(self.discriminator(x_real), self.discriminator(x_fake)), {}

    def generator_loss(self, batch):
        x_fake = self.generator(self.noise(len(batch.x)))             # fresh noise, against the updated D
        return g_loss(self.discriminator(x_fake)), {}
