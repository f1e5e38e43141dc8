"""Build it yourself (04–07, 10, 11): at the smoke setting the solution passes, typical wrong models fail, and an
untouched stub says 'not attempted' without training anything."""
import importlib.util

import pytest
import torch
import torch.nn.functional as F

from tutorial_lib import data, evaluator, homework, losses, methods, runtime
from tutorial_lib.methods.base import reparameterize

SOLUTIONS = runtime.REPO_ROOT / "solutions"


def solution(notebook):
    path = next(SOLUTIONS.glob(f"{notebook}_*.py"))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOLVED = {nb: getattr(solution(nb), name) for nb, name in
          (("04", "MyVAE"), ("05", "MyGAN"), ("06", "MyWGANGP"), ("07", "MyAEGAN"), ("10", "MyCVAEGAN"), ("11", "MySSGAN"))}


# ---------------------------------------------------------------- wrong models, written as a student would

def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, (x + 1) / 2, reduction="none").flatten(1)


def _kl(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)


class VAEKLSign(methods.VAE):
    """The KL term with the wrong sign: the encoder is rewarded for moving away from the prior."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        logits = self.decoder(mu + (0.5 * logvar).exp() * torch.randn_like(mu))
        return (_bce(logits, batch.x).sum(1) - self.cfg.kl_weight * _kl(mu, logvar).sum(1)).mean(), {}


class VAEPixelMean(methods.VAE):
    """The reconstruction averaged over the pixels, the KL summed: the KL weighs 784 times too much."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        logits = self.decoder(mu + (0.5 * logvar).exp() * torch.randn_like(mu))
        return (_bce(logits, batch.x).mean(1) + self.cfg.kl_weight * _kl(mu, logvar).sum(1)).mean(), {}


class VAENoNoise(methods.VAE):
    """z = μ: no sample from q(z|x), so nothing makes the decoder robust to the posterior's spread."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        return (_bce(self.decoder(mu), batch.x).sum(1) + self.cfg.kl_weight * _kl(mu, logvar).sum(1)).mean(), {}


class VAETargetsPm1(methods.VAE):
    """The cross-entropy's targets taken as the images come, in [-1, 1], not as probabilities."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        logits = self.decoder(mu + (0.5 * logvar).exp() * torch.randn_like(mu))
        bce = F.binary_cross_entropy_with_logits(logits, batch.x, reduction="none").flatten(1).sum(1)
        return (bce + self.cfg.kl_weight * _kl(mu, logvar).sum(1)).mean(), {}


class VAESigmaIsVariance(methods.VAE):
    """σ read as exp(log σ²): the noise in z is σ² ε, not σ ε."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        logits = self.decoder(mu + logvar.exp() * torch.randn_like(mu))
        return (_bce(logits, batch.x).sum(1) + self.cfg.kl_weight * _kl(mu, logvar).sum(1)).mean(), {}


class VAEKLMeanOverZ(methods.VAE):
    """The KL averaged over z's dimensions where it is summed: λ_KL is in effect divided by d."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        logits = self.decoder(mu + (0.5 * logvar).exp() * torch.randn_like(mu))
        return (_bce(logits, batch.x).sum(1) + self.cfg.kl_weight * _kl(mu, logvar).mean(1)).mean(), {}


class VAESharedNoise(methods.VAE):
    """One ε of shape (d,) broadcast over the batch: every image's z carries the same noise."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        logits = self.decoder(mu + (0.5 * logvar).exp() * torch.randn(mu.shape[1]))
        return (_bce(logits, batch.x).sum(1) + self.cfg.kl_weight * _kl(mu, logvar).sum(1)).mean(), {}


class VAEWeightOnReconstruction(methods.VAE):
    """λ_KL on the reconstruction term instead of the KL."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        logits = self.decoder(mu + (0.5 * logvar).exp() * torch.randn_like(mu))
        return (self.cfg.kl_weight * _bce(logits, batch.x).sum(1) + _kl(mu, logvar).sum(1)).mean(), {}


class VAEOneDrawPerImage(methods.VAE):
    """One ε per image of shape (B, 1), broadcast over z's coordinates: they all move together."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        logits = self.decoder(mu + (0.5 * logvar).exp() * torch.randn(len(mu), 1))
        return (_bce(logits, batch.x).sum(1) + self.cfg.kl_weight * _kl(mu, logvar).sum(1)).mean(), {}


class VAENoiseDetached(methods.VAE):
    """σ·ε detached from the graph: the reconstruction term never teaches the encoder its σ."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        logits = self.decoder(mu + ((0.5 * logvar).exp() * torch.randn_like(mu)).detach())
        return (_bce(logits, batch.x).sum(1) + self.cfg.kl_weight * _kl(mu, logvar).sum(1)).mean(), {}


class VAENoiseKept(methods.VAE):
    """ε drawn at the first step and kept: every later step reuses the same noise."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        if getattr(self, "eps", None) is None or self.eps.shape != mu.shape:
            self.eps = torch.randn_like(mu)
        logits = self.decoder(mu + (0.5 * logvar).exp() * self.eps)
        return (_bce(logits, batch.x).sum(1) + self.cfg.kl_weight * _kl(mu, logvar).sum(1)).mean(), {}


class VAEKLWithSigma(methods.VAE):
    """The KL written with σ where σ² belongs."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        logits = self.decoder(mu + (0.5 * logvar).exp() * torch.randn_like(mu))
        kl = 0.5 * (mu.pow(2) + (0.5 * logvar).exp() - logvar - 1).sum(1)
        return (_bce(logits, batch.x).sum(1) + self.cfg.kl_weight * kl).mean(), {}


class GANLogOfSigmoidPlusEps(methods.GAN):
    """log(σ(a) + 1e-8) in both losses: exact while D is unsure, stuck at about 18.4 once σ(a) rounds to 0 or 1."""
    def discriminator_loss(self, batch):
        fake = self.sample(len(batch.x)).detach()
        p_real, p_fake = torch.sigmoid(self.discriminator(batch.x)), torch.sigmoid(self.discriminator(fake))
        return -(p_real + 1e-8).log().mean() - (1 - p_fake + 1e-8).log().mean(), {}

    def generator_loss(self, batch):
        return -(torch.sigmoid(self.discriminator(self.sample(len(batch.x)))) + 1e-8).log().mean(), {}


class VAEUniformNoise(methods.VAE):
    """ε drawn uniformly on [0, 1) (torch.rand_like) instead of from a standard normal."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        logits = self.decoder(mu + (0.5 * logvar).exp() * torch.rand_like(mu))
        return (_bce(logits, batch.x).sum(1) + self.cfg.kl_weight * _kl(mu, logvar).sum(1)).mean(), {}


class GANReusesDsFakes(methods.GAN):
    """G's step scores the fakes D's step made (kept with their graph) instead of making fresh ones."""
    def discriminator_loss(self, batch):
        self.fake = self.sample(len(batch.x))
        return losses.discriminator_loss(self.discriminator(batch.x), self.discriminator(self.fake.detach())), {}

    def generator_loss(self, batch):
        return losses.generator_loss_nonsaturating(self.discriminator(self.fake)), {}


class GANFakesDetachedForG(methods.GAN):
    """G's loss on detached fakes: it has no gradient to G, which never learns."""
    def generator_loss(self, batch):
        return losses.generator_loss_nonsaturating(self.discriminator(self.sample(len(batch.x)).detach())), {}


class GANRealsInUnitRange(methods.GAN):
    """D shown the real images mapped to [0, 1] while G's fakes are in [-1, 1]."""
    def discriminator_loss(self, batch):
        fake = self.sample(len(batch.x)).detach()
        return losses.discriminator_loss(self.discriminator((batch.x + 1) / 2), self.discriminator(fake)), {}


class GANReusesDsNoise(methods.GAN):
    """G's step reuses the z that D's step drew, where it should draw fresh noise."""
    def discriminator_loss(self, batch):
        self.z = self.noise(len(batch.x))
        fake = self.generator(self.z).detach()
        return losses.discriminator_loss(self.discriminator(batch.x), self.discriminator(fake)), {}

    def generator_loss(self, batch):
        return losses.generator_loss_nonsaturating(self.discriminator(self.generator(self.z))), {}


class GANFakesInEvalMode(methods.GAN):
    """D's fakes made with G in eval mode: its batch norm then uses running statistics, not the batch's."""
    def discriminator_loss(self, batch):
        self.generator.eval()
        with torch.no_grad():
            fake = self.generator(self.noise(len(batch.x)))
        self.generator.train()
        return losses.discriminator_loss(self.discriminator(batch.x), self.discriminator(fake)), {}


class GANUniformNoise(methods.GAN):
    """z drawn uniformly on [0, 1) in training, while sampling afterwards draws it from N(0, I)."""
    def discriminator_loss(self, batch):
        fake = self.generator(torch.rand(len(batch.x), self.cfg.latent_dim)).detach()
        return losses.discriminator_loss(self.discriminator(batch.x), self.discriminator(fake)), {}

    def generator_loss(self, batch):
        fake = self.generator(torch.rand(len(batch.x), self.cfg.latent_dim))
        return losses.generator_loss_nonsaturating(self.discriminator(fake)), {}


class GANLogOfMeanD(methods.GAN):
    """D's loss with the log of the batch's mean probability, where the loss is the mean of the logs."""
    def discriminator_loss(self, batch):
        fake = self.sample(len(batch.x)).detach()
        p_real, p_fake = torch.sigmoid(self.discriminator(batch.x)).mean(), torch.sigmoid(self.discriminator(fake)).mean()
        return -torch.log(p_real) - torch.log(1 - p_fake), {}


class GANSaturating(methods.GAN):
    """The minimax generator loss log(1 − D(G(z))): its gradient vanishes while D rejects the fakes."""
    def generator_loss(self, batch):
        return losses.generator_loss_saturating(self.discriminator(self.sample(len(batch.x)))), {}


class GANLabelsSwapped(methods.GAN):
    """D trained to call the real images fake and the generated ones real."""
    def discriminator_loss(self, batch):
        fake = self.sample(len(batch.x)).detach()
        return losses.discriminator_loss(self.discriminator(fake), self.discriminator(batch.x)), {}


class GANGeneratorSign(methods.GAN):
    """G minimising −log(1 − D(G(z))): it learns to make D surer that its samples are fake."""
    def generator_loss(self, batch):
        return F.softplus(self.discriminator(self.sample(len(batch.x)))).mean(), {}


def _wgan_critic(penalty_fn):
    class Critic(methods.WGAN):
        def critic_loss(self, batch):
            x_real = batch.x
            x_fake = self.sample(len(x_real)).detach()
            x_hat = losses.interpolate(x_real, x_fake).detach().requires_grad_(True)
            return (self.critic(x_fake).mean() - self.critic(x_real).mean()
                    + self.cfg.gp_weight * penalty_fn(self.critic, x_hat)), {}
    return Critic


def _grad(critic, x_hat, create_graph=True):
    return torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)[0].flatten(1)


WGANBatchNorm = _wgan_critic(lambda f, x: (_grad(f, x).norm() - 1) ** 2)              # one norm for the batch
WGANOneSided = _wgan_critic(lambda f, x: F.relu(_grad(f, x).norm(dim=1) - 1).pow(2).mean())
WGANSquaredNorm = _wgan_critic(lambda f, x: (_grad(f, x).pow(2).sum(1) - 1).pow(2).mean())  # ‖∇f‖², no root
WGANNotTrainable = _wgan_critic(lambda f, x: (_grad(f, x, create_graph=False).norm(dim=1) - 1).pow(2).mean())


class WGANPenaltyAtReal(methods.WGAN):
    """The gradient penalty taken at the real images, not between them and the fakes."""
    def critic_loss(self, batch):
        x_fake = self.sample(len(batch.x)).detach()
        gp = losses.gradient_penalty(self.critic, batch.x, self.cfg.gp_weight)
        return losses.critic_loss(self.critic(batch.x), self.critic(x_fake)) + gp, {}


class WGANGradientAtTheReals(methods.WGAN):
    """The penalty's gradient taken with respect to the real images the interpolates are built from: α·∇f(x̂)."""
    def critic_loss(self, batch):
        x_real = batch.x.clone().requires_grad_(True)
        x_fake = self.sample(len(batch.x)).detach()
        x_hat = losses.interpolate(x_real, x_fake)
        (grad,) = torch.autograd.grad(self.critic(x_hat).sum(), x_real, create_graph=True)
        gp = self.cfg.gp_weight * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
        return losses.critic_loss(self.critic(batch.x), self.critic(x_fake)) + gp, {}


class WGANWeightOnTheWholeLoss(methods.WGAN):
    """λ_GP multiplying the whole critic loss, not the penalty alone."""
    def critic_loss(self, batch):
        x_fake = self.sample(len(batch.x)).detach()
        gp = losses.gradient_penalty(self.critic, losses.interpolate(batch.x, x_fake), 1.0)
        return self.cfg.gp_weight * (losses.critic_loss(self.critic(batch.x), self.critic(x_fake)) + gp), {}


class WGANAlphaPerPixel(methods.WGAN):
    """α drawn per pixel (torch.rand_like(x)): the interpolates leave the line between each pair of images."""
    def critic_loss(self, batch):
        x_fake = self.sample(len(batch.x)).detach()
        alpha = torch.rand_like(batch.x)
        gp = losses.gradient_penalty(self.critic, alpha * batch.x + (1 - alpha) * x_fake, self.cfg.gp_weight)
        return losses.critic_loss(self.critic(batch.x), self.critic(x_fake)) + gp, {}


class WGANWeightTwice(methods.WGAN):
    """λ_GP passed to gradient_penalty and multiplied again: the penalty weighs λ_GP², right at λ_GP = 0 and 1 only."""
    def critic_loss(self, batch):
        x_fake = self.sample(len(batch.x)).detach()
        gp = losses.gradient_penalty(self.critic, losses.interpolate(batch.x, x_fake), self.cfg.gp_weight)
        return losses.critic_loss(self.critic(batch.x), self.critic(x_fake)) + self.cfg.gp_weight * gp, {}


class WGANGeneratorRepeatedToo(methods.WGAN):
    """The generator's phase repeated critic_steps times as well: one critic step per generator step."""
    def phases(self):
        opt, k = self.optimizers(), self.cfg.critic_steps
        return [methods.Phase("critic", opt["critic"], self.critic_loss, repeats=k),
                methods.Phase("generator", opt["generator"], self.generator_loss, repeats=k)]


class WGANFiveCriticStepsWrittenIn(methods.WGAN):
    """repeats=5 written into the code instead of self.cfg.critic_steps: right at the default only."""
    def phases(self):
        opt = self.optimizers()
        return [methods.Phase("critic", opt["critic"], self.critic_loss, repeats=5),
                methods.Phase("generator", opt["generator"], self.generator_loss)]


class WGANOneCriticStep(methods.WGAN):
    """The critic's phase without its repeats: one critic step per generator step."""
    def phases(self):
        opt = self.optimizers()
        return [methods.Phase("critic", opt["critic"], self.critic_loss),
                methods.Phase("generator", opt["generator"], self.generator_loss)]


class WGANCriticSign(methods.WGAN):
    """The critic's two expectations the wrong way round (the slip in the primary source's printing)."""
    def critic_loss(self, batch):
        x_fake = self.sample(len(batch.x)).detach()
        gp = losses.gradient_penalty(self.critic, losses.interpolate(batch.x, x_fake), self.cfg.gp_weight)
        return self.critic(batch.x).mean() - self.critic(x_fake).mean() + gp, {}


class WGANOneAlpha(methods.WGAN):
    """One mixing weight for the whole batch (``torch.rand(1)``): every interpolate at the same fraction."""
    def critic_loss(self, batch):
        x_fake = self.sample(len(batch.x)).detach()
        alpha = torch.rand(1)
        x_hat = alpha * batch.x + (1 - alpha) * x_fake
        gp = losses.gradient_penalty(self.critic, x_hat, self.cfg.gp_weight)
        return losses.critic_loss(self.critic(batch.x), self.critic(x_fake)) + gp, {}


class AEGAND2Data(methods.AEGAN):
    """D2 told the data from G's samples, where this notebook's D2 (d2_real='reconstruction') takes x′ as real."""
    def image_discriminator_loss(self, batch):
        x_fake = self.sample(len(batch.x)).detach()
        return losses.discriminator_loss(self.image_discriminator(batch.x), self.image_discriminator(x_fake)), {}


class AEGANImageOnly(methods.AEGAN):
    """G1 trained on the image discriminator's verdict alone: nothing asks its codes to look like Enc's."""
    def latent_generator_loss(self, batch):
        h_fake = self.latent_generator(self.noise(len(batch.x)))
        return losses.generator_loss_nonsaturating(self.image_discriminator(self.decode(h_fake))), {}


class AEGAND1Swapped(methods.AEGAN):
    """D1 trained to call the encoder's codes fake and G1's real."""
    def latent_discriminator_loss(self, batch):
        h = self.encode(batch.x).detach()
        h_fake = self.latent_generator(self.noise(len(batch.x))).detach()
        return losses.discriminator_loss(self.latent_discriminator(h_fake), self.latent_discriminator(h)), {}


class AEGANSaturating(methods.AEGAN):
    """G1 on the minimax losses log(1 − D): no gradient while the discriminators reject its samples."""
    def latent_generator_loss(self, batch):
        h_fake = self.latent_generator(self.noise(len(batch.x)))
        return (losses.generator_loss_saturating(self.latent_discriminator(h_fake))
                + losses.generator_loss_saturating(self.image_discriminator(self.decode(h_fake)))), {}


def _aegan_g1(image_term=True, detach_codes=False, saturating=False):
    class G1(methods.AEGAN):
        def latent_generator_loss(self, batch):
            h_fake = self.latent_generator(self.noise(len(batch.x)))
            g = losses.generator_loss_saturating if saturating else losses.generator_loss_nonsaturating
            loss = g(self.latent_discriminator(h_fake))
            if image_term:
                decoded = self.decode(h_fake.detach() if detach_codes else h_fake)
                loss = loss + self.cfg.image_weight * g(self.image_discriminator(decoded))
            return loss, {}
    return G1


AEGANG1NoImageTerm = _aegan_g1(image_term=False)          # G1 on D1 alone: a plain latent GAN
AEGANG1DetachedCodes = _aegan_g1(detach_codes=True)       # D2's verdict cannot reach G1
AEGANG1SaturatingWeighted = _aegan_g1(saturating=True)    # both terms minimax, λ_img read from the config


class AEGANImageWeightOnD1(methods.AEGAN):
    """λ_img on D1's term of G1's loss instead of D2's: the same loss at λ_img = 1, another at any other value."""
    def latent_generator_loss(self, batch):
        h_fake = self.latent_generator(self.noise(len(batch.x)))
        return (self.cfg.image_weight * losses.generator_loss_nonsaturating(self.latent_discriminator(h_fake))
                + losses.generator_loss_nonsaturating(self.image_discriminator(self.decode(h_fake)))), {}


class AEGANBareDecoder(methods.AEGAN):
    """L_AE against the decoder network's bare output, without the tanh that self.decode applies."""
    def autoencoder_loss(self, batch):
        return ((self.decoder(self.encode(batch.x)) - batch.x) ** 2).mean(), {}


class AEGAND1TermDetached(methods.AEGAN):
    """D1 shown G1's codes detached inside G1's loss: its latent term sends G1 no gradient."""
    def latent_generator_loss(self, batch):
        h_fake = self.latent_generator(self.noise(len(batch.x)))
        return losses.aegan_generator_loss(self.latent_discriminator(h_fake.detach()),
                                           self.image_discriminator(self.decode(h_fake)), self.cfg.image_weight), {}


class AEGANImageWeightOnBoth(methods.AEGAN):
    """λ_img multiplying both terms of G1's loss: at λ_img = 0 G1 learns nothing."""
    def latent_generator_loss(self, batch):
        h_fake = self.latent_generator(self.noise(len(batch.x)))
        return self.cfg.image_weight * (losses.generator_loss_nonsaturating(self.latent_discriminator(h_fake))
                                        + losses.generator_loss_nonsaturating(
                                            self.image_discriminator(self.decode(h_fake)))), {}


class AEGANEncoderInEvalMode(methods.AEGAN):
    """D1's real codes made by the encoder in eval mode: batch norm's running statistics, not the batch's."""
    def latent_discriminator_loss(self, batch):
        self.encoder.eval()
        with torch.no_grad():
            h = self.encode(batch.x)
        self.encoder.train()
        h_fake = self.latent_generator(self.noise(len(batch.x))).detach()
        return losses.discriminator_loss(self.latent_discriminator(h), self.latent_discriminator(h_fake)), {}


class AEGAND2FakesSkipG1(methods.AEGAN):
    """D2's fakes decoded from fresh noise, skipping G1: Dec(z) instead of Dec(G1(z))."""
    def image_discriminator_loss(self, batch):
        with torch.no_grad():
            real, fake = self.reconstruct(batch.x), self.decode(self.noise(len(batch.x)))
        return losses.discriminator_loss(self.image_discriminator(real), self.image_discriminator(fake)), {}


class AEGANUnitTarget(methods.AEGAN):
    """The reconstruction compared with intensities in [0, 1], as the VAE's Bernoulli targets are."""
    def autoencoder_loss(self, batch):
        return ((self.reconstruct(batch.x) - (batch.x + 1) / 2) ** 2).mean(), {}


class AEGANG1Sign(methods.AEGAN):
    """G1 minimising −log(1 − D): it learns codes and images that the discriminators call fake."""
    def latent_generator_loss(self, batch):
        h_fake = self.latent_generator(self.noise(len(batch.x)))
        return (F.softplus(self.latent_discriminator(h_fake)).mean()
                + F.softplus(self.image_discriminator(self.decode(h_fake))).mean()), {}


def _ssgan_d(unsupervised):
    class D(methods.SSGAN):
        def discriminator_loss(self, batch):
            x_labelled, y_labelled = self.labelled_batch(len(batch.x))
            supervised = F.cross_entropy(self.discriminator(x_labelled), y_labelled)
            x_fake = self.sample(len(batch.x)).detach()
            w = self.cfg.unsupervised_weight
            return supervised + w * unsupervised(self.discriminator(batch.x), self.discriminator(x_fake)), {}
    return D


def _log_z(logits):
    return torch.logsumexp(logits, dim=1)


SSGANNoUnsupervised = _ssgan_d(lambda real, fake: real.sum() * 0)      # the labels alone teach D
SSGANSwapped = _ssgan_d(lambda real, fake: F.softplus(-_log_z(fake)).mean() + F.softplus(_log_z(real)).mean())
SSGANFakeClassLearned = _ssgan_d(   # a K+1-th logit, the mean of the K, stands in for the fixed 0 of the fake class
    lambda real, fake: (torch.logsumexp(torch.cat([real, real.mean(1, keepdim=True)], 1), 1) - _log_z(real)).mean()
    + (torch.logsumexp(torch.cat([fake, fake.mean(1, keepdim=True)], 1), 1)
       - fake.mean(1)).mean())


class SSGANFakeFeaturesDetached(methods.SSGAN):
    """Feature matching with the generated side detached instead of the real one: G never trains."""
    def generator_loss(self, batch):
        f_real = self.discriminator.features(batch.x).mean(0)
        f_fake = self.discriminator.features(self.sample(len(batch.x))).detach().mean(0)
        return (f_real - f_fake).pow(2).mean(), {}


def _cvaegan_features(detach_rec=False, drop=False):
    class G(methods.CVAEGAN):
        def generator_loss(self, batch):
            x, y = batch
            mu, logvar = self.encoder(x, y)
            x_rec = self.generator(mu + (0.5 * logvar).exp() * torch.randn_like(mu), y)
            pairwise = (x - x_rec).pow(2).flatten(1).sum(1)
            if not drop:
                seen = x_rec.detach() if detach_rec else x_rec
                pairwise = pairwise + (self.discriminator.features(x).detach()
                                       - self.discriminator.features(seen)).pow(2).sum(1)
            loss = self.cfg.kl_weight * _kl(mu, logvar).sum(1).mean() + self.cfg.pairwise_weight * 0.5 * pairwise.mean()
            return loss + sum(self.adversarial_terms(batch)[0].values()), {}
    return G


CVAEGANFeatureTermDropped = _cvaegan_features(drop=True)          # L_G on pixels alone
CVAEGANFeatureTermDetached = _cvaegan_features(detach_rec=True)   # f_D(x′) cannot move x′


class CVAEGANUnweightedKL(methods.CVAEGAN):
    """λ_KL left out: L_KL + L_G instead of λ_KL·L_KL + λ_G·L_G."""
    def generator_loss(self, batch):
        x, y = batch
        mu, logvar = self.encoder(x, y)
        x_rec = self.generator(mu + (0.5 * logvar).exp() * torch.randn_like(mu), y)
        f = (self.discriminator.features(x).detach() - self.discriminator.features(x_rec)).pow(2).sum(1)
        pairwise = 0.5 * ((x - x_rec).pow(2).flatten(1).sum(1) + f).mean()
        return _kl(mu, logvar).sum(1).mean() + pairwise + sum(self.adversarial_terms(batch)[0].values()), {}


class SSGANKPlusOneCrossEntropy(methods.SSGAN):
    """The labelled term as a cross-entropy over K+1 classes (the fake logit 0 appended), not over the K real ones."""
    def discriminator_loss(self, batch):
        x_labelled, y_labelled = self.labelled_batch(len(batch.x))
        logits = self.discriminator(x_labelled)
        supervised = F.cross_entropy(torch.cat([logits, logits.new_zeros(len(logits), 1)], 1), y_labelled)
        x_fake = self.sample(len(batch.x)).detach()
        return supervised + self.cfg.unsupervised_weight * losses.ssgan_unsupervised_loss(
            self.discriminator(batch.x), self.discriminator(x_fake)), {}


def _ssgan_weighted(combine):
    class D(methods.SSGAN):
        def discriminator_loss(self, batch):
            x_labelled, y_labelled = self.labelled_batch(len(batch.x))
            supervised = losses.ssgan_supervised_loss(self.discriminator(x_labelled), y_labelled)
            x_fake = self.sample(len(batch.x)).detach()
            unsupervised = losses.ssgan_unsupervised_loss(self.discriminator(batch.x), self.discriminator(x_fake))
            return combine(supervised, unsupervised, self.cfg.unsupervised_weight), {}
    return D


SSGANWeightIgnored = _ssgan_weighted(lambda s, u, w: s + u)            # the paper's text, not the notebook's w
SSGANWeightOnSupervised = _ssgan_weighted(lambda s, u, w: w * s + u)   # w on the wrong term


class SSGANFeaturesPerImage(methods.SSGAN):
    """Feature matching image by image, ½ E‖f(x_i) − f(G(z_i))‖², not between the batch means."""
    def generator_loss(self, batch):
        f_real = self.discriminator.features(batch.x).detach()
        return 0.5 * (f_real - self.discriminator.features(self.sample(len(batch.x)))).pow(2).sum(1).mean(), {}


class SSGANReadsLabels(methods.SSGAN):
    """D's supervised term on the unlabelled batch with its own labels: every label of the training set is used."""
    def discriminator_loss(self, batch):
        x_fake = self.sample(len(batch.x)).detach()
        return (F.cross_entropy(self.discriminator(batch.x), batch.y)
                + self.cfg.unsupervised_weight * losses.ssgan_unsupervised_loss(self.discriminator(batch.x),
                                                                                self.discriminator(x_fake))), {}


class SSGANFoolsD(methods.SSGAN):
    """G trained to make D call its samples real (−log p_real(G(z))) instead of matching D's features."""
    def generator_loss(self, batch):
        return F.softplus(-_log_z(self.discriminator(self.sample(len(batch.x))))).mean(), {}


def _cvaegan_d(rec_label, use_rec=True):
    class D(methods.CVAEGAN):
        def discriminator_loss(self, batch):
            x, y = batch
            with torch.no_grad():
                mu, logvar = self.encoder(x, y)
                x_rec = self.generator(mu + (0.5 * logvar).exp() * torch.randn_like(mu), y)
                x_prior = self.sample(len(x), y=y)
            real, rec, prior = (self.discriminator(v) for v in (x, x_rec, x_prior))
            loss = F.softplus(-real).mean() + F.softplus(prior).mean()
            if use_rec:
                loss = loss + F.binary_cross_entropy_with_logits(rec, torch.full_like(rec, rec_label))
            return loss, {}
    return D


CVAEGANNoReconstructions = _cvaegan_d(0.0, use_rec=False)      # D sees prior samples only (the old library's)
CVAEGANReconstructionsReal = _cvaegan_d(1.0)                   # x′ taken for a real image


def _cvaegan_g(kl_sign=1.0, pixel_mean=False, noise=True):
    class G(methods.CVAEGAN):
        def generator_loss(self, batch):
            x, y = batch
            mu, logvar = self.encoder(x, y)
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu) if noise else mu
            x_rec = self.generator(z, y)
            kl = _kl(mu, logvar).sum(1).mean()
            pixels = (x - x_rec).pow(2).flatten(1)
            pixels = pixels.mean(1) if pixel_mean else pixels.sum(1)
            f = (self.discriminator.features(x).detach() - self.discriminator.features(x_rec)).pow(2).sum(1)
            pairwise = 0.5 * (pixels + f).mean()
            adversarial, _ = self.adversarial_terms(batch)
            return (kl_sign * self.cfg.kl_weight * kl + self.cfg.pairwise_weight * pairwise
                    + sum(adversarial.values())), {}
    return G


CVAEGANKLSign = _cvaegan_g(kl_sign=-1.0)
CVAEGANPixelMean = _cvaegan_g(pixel_mean=True)
CVAEGANNoNoise = _cvaegan_g(noise=False)


class CVAEGANFakesShareOneMean(methods.CVAEGAN):
    """x′ and the prior samples stacked into one fake batch: each fake term then counts ½, not 1."""
    def discriminator_loss(self, batch):
        x, y = batch
        with torch.no_grad():
            mu, logvar = self.encoder(x, y)
            fakes = torch.cat([self.generator(reparameterize(mu, logvar), y), self.sample(len(x), y=y)])
        return losses.discriminator_loss(self.discriminator(x), self.discriminator(fakes)), {}


class CVAEGANRealTermTwice(methods.CVAEGAN):
    """Two plain GAN losses, one per kind of fake: the real images' term counts twice."""
    def discriminator_loss(self, batch):
        x, y = batch
        with torch.no_grad():
            mu, logvar = self.encoder(x, y)
            x_rec, x_prior = self.generator(reparameterize(mu, logvar), y), self.sample(len(x), y=y)
        real = self.discriminator(x)
        return (losses.discriminator_loss(real, self.discriminator(x_rec))
                + losses.discriminator_loss(real, self.discriminator(x_prior))), {}


class CVAEGANNaiveLog(methods.CVAEGAN):
    """L_D written with log(σ) and log(1 − σ): infinite once D is sure of a fake."""
    def discriminator_loss(self, batch):
        x, y = batch
        with torch.no_grad():
            mu, logvar = self.encoder(x, y)
            x_rec, x_prior = self.generator(reparameterize(mu, logvar), y), self.sample(len(x), y=y)
        p_real, p_rec, p_prior = (torch.sigmoid(self.discriminator(v)) for v in (x, x_rec, x_prior))
        return -(p_real.log().mean() + (1 - p_rec).log().mean() + (1 - p_prior).log().mean()), {}


def _cvaegan_weights(kl_over_batch=False, centres_twice=False):
    class G(methods.CVAEGAN):
        def generator_loss(self, batch):
            x, y = batch
            mu, logvar = self.encoder(x, y)
            x_rec = self.generator(reparameterize(mu, logvar), y)
            kl = losses.kl_normal_standard(mu, logvar)
            kl = kl.sum() if kl_over_batch else kl.mean()
            pairwise = losses.pairwise_loss(x, x_rec, [self.discriminator.features(x).detach()],
                                            [self.discriminator.features(x_rec)])
            terms = self.adversarial_terms(batch)[0]
            adversarial = (self.cfg.centre_weight * terms["centre"] + self.cfg.class_centre_weight * terms["class_centre"]
                           if centres_twice else sum(terms.values()))
            return self.cfg.kl_weight * kl + self.cfg.pairwise_weight * pairwise + adversarial, {}
    return G


CVAEGANKLOverBatch = _cvaegan_weights(kl_over_batch=True)      # L_KL summed over the batch: B times too heavy
CVAEGANCentresTwice = _cvaegan_weights(centres_twice=True)     # λ_GD and λ_GC applied to terms that carry them


class SSGANHalfSumFM(methods.SSGAN):
    """Feature matching as ½‖·‖² (the library's helper) while the config asks for the mean over features."""
    def generator_loss(self, batch):
        return losses.feature_matching_loss(self.discriminator.features(batch.x).detach(),
                                            self.discriminator.features(self.sample(len(batch.x)))), {}


class SSGANLogSumExpOverBatch(methods.SSGAN):
    """log Z taken along the batch instead of along the K classes."""
    def discriminator_loss(self, batch):
        x_labelled, y_labelled = self.labelled_batch(len(batch.x))
        supervised = losses.ssgan_supervised_loss(self.discriminator(x_labelled), y_labelled)
        x_fake = self.sample(len(batch.x)).detach()
        log_z_real = torch.logsumexp(self.discriminator(batch.x), 0)
        log_z_fake = torch.logsumexp(self.discriminator(x_fake), 0)
        unsupervised = F.softplus(-log_z_real).mean() + F.softplus(log_z_fake).mean()
        return supervised + self.cfg.unsupervised_weight * unsupervised, {}


class SSGANLabelsOfTheNextCall(methods.SSGAN):
    """Images from one call of labelled_batch, labels from a second one: every label belongs to another image."""
    def discriminator_loss(self, batch):
        x_labelled, _ = self.labelled_batch(len(batch.x))
        _, y_labelled = self.labelled_batch(len(batch.x))
        supervised = losses.ssgan_supervised_loss(self.discriminator(x_labelled), y_labelled)
        x_fake = self.sample(len(batch.x)).detach()
        return supervised + self.cfg.unsupervised_weight * losses.ssgan_unsupervised_loss(
            self.discriminator(batch.x), self.discriminator(x_fake)), {}


WRONG = {"04": {"KL sign": VAEKLSign, "pixel mean": VAEPixelMean, "no noise": VAENoNoise,
                "targets in [-1, 1]": VAETargetsPm1, "σ as exp(log σ²)": VAESigmaIsVariance,
                "KL averaged over z": VAEKLMeanOverZ, "one ε for the batch": VAESharedNoise,
                "λ_KL on the reconstruction": VAEWeightOnReconstruction,
                "one ε per image": VAEOneDrawPerImage, "σ·ε detached": VAENoiseDetached,
                "ε kept from the first step": VAENoiseKept, "KL with σ for σ²": VAEKLWithSigma,
                "uniform ε": VAEUniformNoise},
         "05": {"saturating G": GANSaturating, "labels swapped": GANLabelsSwapped, "G sign": GANGeneratorSign,
                "uniform z": GANUniformNoise, "log of the mean D": GANLogOfMeanD, "D's z reused": GANReusesDsNoise,
                "fakes in eval mode": GANFakesInEvalMode, "reals in [0, 1]": GANRealsInUnitRange,
                "G's fakes detached": GANFakesDetachedForG, "log(σ + ε)": GANLogOfSigmoidPlusEps,
                "D's fakes reused": GANReusesDsFakes},
         "06": {"batch-wide penalty": WGANBatchNorm, "one-sided penalty": WGANOneSided,
                "penalty not trainable": WGANNotTrainable, "critic sign": WGANCriticSign,
                "one α per batch": WGANOneAlpha, "penalty at the real images": WGANPenaltyAtReal,
                "one critic step": WGANOneCriticStep, "gradient at the reals": WGANGradientAtTheReals,
                "λ_GP on the whole loss": WGANWeightOnTheWholeLoss, "generator repeated too": WGANGeneratorRepeatedToo,
                "α per pixel": WGANAlphaPerPixel, "λ_GP twice": WGANWeightTwice,
                "5 critic steps written in": WGANFiveCriticStepsWrittenIn, "squared norm": WGANSquaredNorm},
         "07": {"G1 image loss alone": AEGANImageOnly, "D1 swapped": AEGAND1Swapped, "G1 saturating": AEGANSaturating,
                "target in [0, 1]": AEGANUnitTarget, "G1 sign": AEGANG1Sign, "G1 without D2": AEGANG1NoImageTerm,
                "G1's codes detached": AEGANG1DetachedCodes, "G1 minimax, weighted": AEGANG1SaturatingWeighted,
                "D2 shown the data": AEGAND2Data, "λ_img on D1's term": AEGANImageWeightOnD1,
                "bare decoder": AEGANBareDecoder, "D1's term detached": AEGAND1TermDetached,
                "D2's fakes skip G1": AEGAND2FakesSkipG1, "λ_img on both terms": AEGANImageWeightOnBoth,
                "encoder in eval mode": AEGANEncoderInEvalMode},
         "10": {"D without x′": CVAEGANNoReconstructions, "x′ taken as real": CVAEGANReconstructionsReal,
                "KL sign": CVAEGANKLSign, "pixel mean": CVAEGANPixelMean, "no encoder noise": CVAEGANNoNoise,
                "λ_KL left out": CVAEGANUnweightedKL, "feature term dropped": CVAEGANFeatureTermDropped,
                "feature term detached": CVAEGANFeatureTermDetached, "fakes share one mean": CVAEGANFakesShareOneMean,
                "real term twice": CVAEGANRealTermTwice, "naive log": CVAEGANNaiveLog,
                "KL over the batch": CVAEGANKLOverBatch, "centres weighted twice": CVAEGANCentresTwice},
         "11": {"no unsupervised term": SSGANNoUnsupervised, "real and fake swapped": SSGANSwapped,
                "fake logit learned": SSGANFakeClassLearned, "G fools D": SSGANFoolsD, "reads batch.y": SSGANReadsLabels,
                "features per image": SSGANFeaturesPerImage, "K+1 cross-entropy": SSGANKPlusOneCrossEntropy,
                "G's side detached": SSGANFakeFeaturesDetached, "w ignored": SSGANWeightIgnored,
                "w on the supervised term": SSGANWeightOnSupervised, "½‖·‖² feature matching": SSGANHalfSumFM,
                "log Z over the batch": SSGANLogSumExpOverBatch, "labels of the next call": SSGANLabelsOfTheNextCall}}
MUST_FAIL = {"04": ["KL sign", "pixel mean", "no noise", "targets in [-1, 1]", "σ as exp(log σ²)",
                    "KL averaged over z", "one ε for the batch", "λ_KL on the reconstruction", "one ε per image",
                    "σ·ε detached", "ε kept from the first step", "KL with σ for σ²",
                    "uniform ε"],
             "05": ["labels swapped", "G sign", "saturating G", "uniform z", "log of the mean D", "D's z reused",
                    "fakes in eval mode", "reals in [0, 1]", "G's fakes detached", "log(σ + ε)",
                    "D's fakes reused"],
             "06": ["batch-wide penalty", "critic sign", "one α per batch", "penalty not trainable",
                    "penalty at the real images", "one critic step", "one-sided penalty", "gradient at the reals",
                    "λ_GP on the whole loss", "generator repeated too", "α per pixel", "λ_GP twice",
                    "5 critic steps written in", "squared norm"],
             "07": ["target in [0, 1]", "G1 sign", "G1 saturating", "G1 without D2", "G1's codes detached",
                    "G1 minimax, weighted", "D2 shown the data", "D1 swapped", "λ_img on D1's term",
                    "bare decoder", "D1's term detached", "D2's fakes skip G1",
                    "λ_img on both terms", "encoder in eval mode"],
             "10": ["KL sign", "pixel mean", "D without x′", "no encoder noise", "x′ taken as real", "λ_KL left out",
                   "feature term dropped", "feature term detached", "fakes share one mean", "real term twice",
                   "naive log", "KL over the batch", "centres weighted twice"],
             "11": ["no unsupervised term", "real and fake swapped", "fake logit learned", "reads batch.y", "G fools D",
                    "features per image", "K+1 cross-entropy", "G's side detached", "w ignored",
                    "w on the supervised term", "½‖·‖² feature matching", "log Z over the batch",
                    "labels of the next call"]}
"""The wrong models the smoke setting must reject (the others are measured, and reported, not asserted)."""


# ---------------------------------------------------------------- the tests

@pytest.fixture(scope="module")
def splits():
    root = runtime.REPO_ROOT / "data"
    return (data.load("mnist-sample", "train", root=root), data.load("mnist-sample", "test", root=root),
            evaluator.load_evaluator("mnist", "cpu"))


def _judge(notebook, cls, splits):
    train, test, judge = splits
    return homework.judge(notebook, cls, train, test, evaluator=judge, progress=False, quiet=True)


@pytest.mark.parametrize("notebook", sorted(SOLVED))
def test_the_solution_passes_at_the_smoke_setting(notebook, splits, one_thread):
    verdict = _judge(notebook, SOLVED[notebook], splits)
    assert verdict.passed, homework.report(notebook, verdict)
    assert not verdict.live           # judged against the stored bar, measured for this setting


@pytest.mark.parametrize("notebook, name", [(nb, name) for nb, names in MUST_FAIL.items() for name in names])
def test_a_typical_wrong_model_fails_at_the_smoke_setting(notebook, name, splits, one_thread):
    verdict = _judge(notebook, WRONG[notebook][name], splits)
    assert not verdict.passed, homework.report(notebook, verdict)


@pytest.mark.parametrize("notebook", sorted(SOLVED))
def test_an_untouched_stub_is_not_attempted_and_trains_nothing(notebook, splits, capsys, monkeypatch):
    library = homework.TASKS[notebook].library

    class Stub(library):
        pass
    for phase_loss in ("loss", "discriminator_loss", "generator_loss", "critic_loss", "autoencoder_loss",
                       "latent_discriminator_loss", "image_discriminator_loss", "latent_generator_loss"):
        if hasattr(library, phase_loss):
            setattr(Stub, phase_loss, lambda self, batch: (_ for _ in ()).throw(NotImplementedError))
    monkeypatch.setattr(homework, "train", lambda *a, **k: pytest.fail("an untouched stub must train nothing"))
    train, test, judge = splits
    assert homework.judge(notebook, Stub, train, test, evaluator=judge) is None
    assert "not attempted" in capsys.readouterr().out


@pytest.mark.parametrize("notebook", sorted(homework.TASKS))
def test_every_judged_figure_has_a_bar_measured_over_seeds_in_both_settings(notebook):
    task = homework.TASKS[notebook]
    for mode in ("full", "smoke"):
        bars = task.bars[mode]
        assert set(bars) == set(task.judged), (mode, set(task.judged) ^ set(bars))
        for bar in bars.values():       # every seed of the library's own model passes its bar
            assert len(bar.seeds) >= 3 and bar.mean + bar.tolerance >= max(bar.seeds) and "2026-" in bar.measured


def test_a_failing_model_is_told_what_to_look_at_not_the_answer(splits, one_thread, capsys):
    train, test, judge = splits
    verdict = homework.judge("04", WRONG["04"]["KL sign"], train, test, evaluator=judge, progress=False)
    out = capsys.readouterr().out
    assert not verdict.passed and "✗ Not yet" in out and "with which sign does it enter" in out
    assert "solutions/04_vae.py" in out and "kl_normal_standard" not in out and "logvar.exp()" not in out


@pytest.mark.parametrize("notebook, figures, worse, expected", [
    ("04", {"test −ELBO": 4.8e5}, ["test −ELBO"], "are the cross-entropy's targets probabilities?"),
    ("04", {"test −ELBO": 4.8e5}, ["test −ELBO"], "add the KL term, or subtract it?"),
    ("04", {"test −ELBO": 210.5}, ["test −ELBO"], "summed over its own axis"),
    ("07", {"FD": 962.0, "FD to x′": 1.17}, ["FD"], "give back x itself"),
    ("07", {"FD": 962.0, "FD to x′": 90.0}, ["FD", "FD to x′"], "Do G1's codes have to look like the encoder's?"),
])
def test_the_figures_hint_answers_the_mistake_they_show(notebook, figures, worse, expected):
    hint = homework.TASKS[notebook].hint(figures, worse)
    assert expected in hint
    assert "to_unit" not in hint and "(x + 1) / 2" not in hint and "softplus" not in hint


@pytest.mark.parametrize("figures, worse, expected", [
    ({"KL per image": 6.8e22, "reconstruction error": 168.0}, ["FD", "reconstruction error"], "added to E's loss, or subtracted"),
    ({"KL per image": 41.5, "reconstruction error": 106.0}, ["FD"], "is λ_KL·L_KL in E's loss?"),
    ({"KL per image": 0.002, "reconstruction error": 158.0}, ["reconstruction error"], "summed over its own axis"),
    ({"KL per image": 0.7, "reconstruction error": 170.0}, ["reconstruction error"], "with the encoder's own noise"),
    ({"KL per image": 0.7, "reconstruction error": 144.0}, ["FD"], "the given feature-centre terms"),
    ({"KL per image": 3.97, "reconstruction error": 118.0}, ["KL per image"], "at its full weight"),
])
def test_10s_hint_answers_the_mistake_its_figures_show(figures, worse, expected):
    hint = homework.TASKS["10"].hint(figures, worse)
    assert expected in hint
    assert "softplus" not in hint and "kl_normal_standard" not in hint     # a nudge, not the code


def test_11_rejects_a_model_that_reads_the_batch_labels_before_training_it(splits, monkeypatch):
    monkeypatch.setattr(homework, "train", lambda *a, **k: pytest.fail("a model that reads batch.y must not be trained"))
    train, test, judge = splits
    verdict = homework.judge("11", WRONG["11"]["reads batch.y"], train, test, progress=False, quiet=True)
    assert not verdict.passed and "reads batch.y" in verdict.problem


@pytest.mark.parametrize("notebook, name, expected", [
    ("11", "w ignored", "stays the same when w"),
    ("11", "w on the supervised term", "which of the two terms should w weight"),
    ("11", "no unsupervised term", "stays the same when w"),
    ("11", "½‖·‖² feature matching", "summed or averaged"),
    ("11", "log Z over the batch", "along which axis"),
    ("11", "labels of the next call", "from the same call as the images"),
    ("10", "fakes share one mean", "the reconstructions' term ×0.50, the prior samples' term ×0.50"),
    ("10", "real term twice", "the real images' term ×2.00"),
    ("10", "naive log", "is inf when D's outputs are +100"),
    ("10", "KL over the batch", "when kl_weight goes from 0 to 1"),
    ("10", "centres weighted twice", "weighted a second time"),
    ("10", "pixel mean", "when pairwise_weight goes from 0 to 1"),
    ("05", "saturating G", "keeps its gradient when D rejects the fakes"),
    ("07", "G1 without D2", "stays the same when λ_img"),
    ("07", "G1's codes detached", "sends no gradient to G1"),
    ("07", "G1 minimax, weighted", "L_G1 from the very logits D1 and D2 gave"),
    ("06", "one α per batch", "sit at the same fraction"),
    ("07", "D2 shown the data", "shown the data images themselves"),
    ("04", "KL sign", "with which sign"),
    ("04", "pixel mean", "averaged where it should be summed"),
    ("04", "no noise", "carries no noise"),
    ("04", "targets in [-1, 1]", "What values can the targets"),
    ("04", "σ as exp(log σ²)", "how does σ follow from the encoder's log σ²"),
    ("04", "KL averaged over z", "16 times less than the KL"),
    ("05", "uniform z", "where should training draw its z"),
    ("05", "log of the mean D", "a mean over its images of the log of the probability"),
    ("05", "labels swapped", "if the real images were the fakes"),
    ("06", "penalty not trainable", "sends no gradient to the critic's weights"),
    ("06", "batch-wide penalty", "over which axes is each image's gradient norm taken"),
    ("06", "one-sided penalty", "does a norm below 1 count"),
    ("06", "penalty at the real images", "shown only the real images and the fakes"),
    ("06", "one critic step", "your phases run the critic 1 time(s) and the generator 1 time(s)"),
    ("07", "D1 swapped", "if the real images were the fakes"),
    ("07", "target in [0, 1]", "what does the reconstruction aim at"),
    ("07", "λ_img on D1's term", "does λ_img weight the right term"),
    ("04", "one ε for the batch", "every image of your batch gets the same noise"),
    ("04", "λ_KL on the reconstruction", "which of the two terms does λ_KL weight"),
    ("05", "D's z reused", "the very same z in two of its training calls"),
    ("05", "fakes in eval mode", "in eval mode while the model trains"),
    ("07", "bare decoder", "raw output (self.decoder)"),
    ("04", "one ε per image", "every coordinate of an image's z gets the same noise"),
    ("05", "reals in [0, 1]", "inputs other than the batch's images"),
    ("06", "gradient at the reals", "with respect to the real images"),
    ("06", "λ_GP on the whole loss", "weight the penalty alone, or the whole loss"),
    ("06", "critic sign", "with the real and fake images swapped"),
    ("04", "σ·ε detached", "sends no gradient to the encoder's log σ²"),
    ("05", "G's fakes detached", "so G never learns"),
    ("06", "generator repeated too", "and the generator 5 time(s)"),
    ("07", "D1's term detached", "at λ_img = 0 your G1's loss sends no gradient to G1"),
    ("07", "D2's fakes skip G1", "fakes other than the decoded samples"),
    ("04", "ε kept from the first step", "is ε drawn afresh at every step"),
    ("06", "α per pixel", "one number for all of its pixels"),
    ("06", "λ_GP twice", "does λ_GP multiply the penalty once"),
    ("07", "λ_img on both terms", "weight D2's term alone, or D1's too"),
    ("07", "encoder in eval mode", "runs self.encoder in eval mode"),
    ("04", "KL with σ for σ²", "which powers of σ appear"),
    ("05", "log(σ + ε)", "when D's logits are moved by +30"),
    ("04", "uniform ε", "from which distribution is ε drawn"),
    ("05", "D's fakes reused", "your generator_loss never runs G"),
    ("06", "5 critic steps written in", "with critic_steps = 3 your phases run the critic 5 time(s)"),
    ("06", "squared norm", "is a square root missing"),
])
def test_the_one_batch_checks_name_the_mistake_they_see(notebook, name, expected, splits):
    train, _, _ = splits
    task, s = homework.TASKS[notebook], homework.setting(notebook, "smoke")
    model = homework.make(WRONG[notebook][name], notebook, s, "cpu", train)
    cfg = model.cfg
    batch = methods.Batch(data.as_float(train.x[:s.batch_size]), train.y[:s.batch_size])
    assert expected in task.check(model, batch)
    assert model.cfg is cfg                                # the checks put the notebook's settings back


@pytest.mark.parametrize("notebook", ["04", "05", "06", "07", "10", "11"])
def test_the_librarys_own_model_passes_the_one_batch_checks(notebook, splits):
    train, _, _ = splits
    task, s = homework.TASKS[notebook], homework.setting(notebook, "smoke")
    model = homework.make(task.library, notebook, s, "cpu", train)
    batch = methods.Batch(data.as_float(train.x[:s.batch_size]), train.y[:s.batch_size])
    assert task.check(model, batch) == ""


def test_the_report_names_where_each_bar_was_measured_once():
    base = "seeds 0–4, this course's CPU, 2026-12-05"
    bars = {"FD": homework.Bar(10.0, 1.0, (9.5, 10.0, 10.5), base),
            "KL per image": homework.Bar(1.0, 0.5, (0.9, 1.0, 1.1), base + "; tolerance at least half the mean"),
            "other": homework.Bar(2.0, 0.1, (2.0, 2.0, 2.0), "seeds 5–9, 2026-12-06")}
    text = homework.report("10", homework.Verdict(True, {"FD": 10.2, "KL per image": 1.1, "other": 2.0}, bars, False, 9.0))
    line = next(row for row in text.splitlines() if row.startswith("library's model:"))
    assert line.count(base) == 1 and "tolerance at least half the mean" in line and "seeds 5–9" in line
