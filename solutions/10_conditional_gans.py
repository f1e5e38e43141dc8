"""Solutions to the exercises of 10 · conditional GANs (CVAE-GAN)."""
import torch


def class_centre_loss(real_features, real_labels, fake_features, fake_labels, num_classes):
    """Exercise 10.1: L_GC = ½ Σ_c ‖mean of the real features of class c − mean of the fake ones of class c‖²,
    over the classes present in both batches."""
    loss = real_features.new_zeros(())
    for c in range(num_classes):
        real_c, fake_c = real_features[real_labels == c], fake_features[fake_labels == c]
        if len(real_c) and len(fake_c):
            loss = loss + 0.5 * (real_c.mean(dim=0) - fake_c.mean(dim=0)).pow(2).sum()
    return loss


def repair(x, mask, iterations, reconstruct, classify):
    """Exercise 10.2: the source's iterated repair. Each iteration reads the class of the current image,
    rebuilds it, x′ = reconstruct(x, c), and keeps the known pixels: x ← M ⊙ x′ + (1 − M) ⊙ x (M = 1: missing)."""
    for _ in range(iterations):
        c = classify(x).argmax(dim=1)
        x = mask * reconstruct(x, c) + (1 - mask) * x
    return x


from tutorial_lib import losses, methods  # noqa: E402  (the build-it-yourself part below)
from tutorial_lib.methods.base import reparameterize  # noqa: E402


class MyCVAEGAN(methods.CVAEGAN):
    """Build it yourself (10): D's loss as Algorithm 1 trains it, and the reconstruction half of E's and G's loss
    (the library's networks, classifier loss and feature-centre terms)."""

    def discriminator_loss(self, batch):
        x_real, y = batch
        with torch.no_grad():                                   # this step moves D only: the fakes are held fixed
            mu, logvar = self.encoder(x_real, y)
            x_rec = self.generator(reparameterize(mu, logvar), y)          # x′ = G(z, c), z ~ q(z | x, c)
            x_prior = self.sample(len(x_real), y=y)                        # G(z_p, c), z_p ~ N(0, I)
        real, rec, prior = (self.discriminator(v) for v in (x_real, x_rec, x_prior))
        loss = (torch.nn.functional.softplus(-real).mean()                 # −E log D(x)
                + torch.nn.functional.softplus(rec).mean()                 # −E log(1 − D(x′))
                + torch.nn.functional.softplus(prior).mean())              # −E log(1 − D(G(z_p, c)))
        return loss, {}

    def generator_loss(self, batch):
        x_real, y = batch
        mu, logvar = self.encoder(x_real, y)
        x_rec = self.generator(reparameterize(mu, logvar), y)              # z carries the encoder's noise
        kl = losses.kl_normal_standard(mu, logvar).mean()                  # summed over z's dimensions, mean over batch
        f_real = self.discriminator.features(x_real).detach()              # a fixed target for x′
        pairwise = 0.5 * ((x_real - x_rec).pow(2).flatten(1).sum(1)
                          + (f_real - self.discriminator.features(x_rec)).pow(2).sum(1)).mean()
        adversarial, _ = self.adversarial_terms(batch)                     # λ_GD·L_GD + λ_GC·L_GC (given)
        return self.cfg.kl_weight * kl + self.cfg.pairwise_weight * pairwise + sum(adversarial.values()), {}
