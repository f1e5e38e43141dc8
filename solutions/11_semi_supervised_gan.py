"""Solutions to the exercises of 11 · semi-supervised GAN."""
import torch
import torch.nn.functional as F


def log_p_real(class_logits):
    """Exercise 11.1: log p(real | x) = log(Z/(Z + 1)) = logsigmoid(logsumexp_k l_k), one value per row."""
    return F.logsigmoid(torch.logsumexp(class_logits, dim=1))


def unsupervised_loss(real_logits, fake_logits):
    """Exercise 11.2: −E log(Z/(Z + 1)) over real images − E log(1/(Z + 1)) over generated ones."""
    return (F.softplus(-torch.logsumexp(real_logits, dim=1)).mean()
            + F.softplus(torch.logsumexp(fake_logits, dim=1)).mean())


from tutorial_lib import methods  # noqa: E402  (the build-it-yourself part below)


class MySSGAN(methods.SSGAN):
    """Build it yourself (11): the semi-supervised GAN's two losses written out (the library's networks,
    labelled stream and averaging)."""

    def discriminator_loss(self, batch):
        x_unlabelled = batch.x
        x_labelled, y_labelled = self.labelled_batch(len(x_unlabelled))         # the next labelled minibatch
        supervised = F.cross_entropy(self.discriminator(x_labelled), y_labelled)  # the K real classes
        x_fake = self.sample(len(x_unlabelled)).detach()                          # this step must not move G
        unsupervised = unsupervised_loss(self.discriminator(x_unlabelled), self.discriminator(x_fake))
        return supervised + self.cfg.unsupervised_weight * unsupervised, {}

    def generator_loss(self, batch):
        real = self.discriminator.features(batch.x).detach().mean(dim=0)          # E f(x), a fixed target
        fake = self.discriminator.features(self.sample(len(batch.x))).mean(dim=0)  # E f(G(z))
        return (real - fake).pow(2).mean(), {}                                     # (1/F)‖·‖², the authors' form
