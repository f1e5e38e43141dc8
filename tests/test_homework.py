"""Build it yourself (04–07): at the smoke setting the solution passes, typical wrong models fail, and an
untouched stub says 'not attempted' without training anything."""
import importlib.util

import pytest
import torch
import torch.nn.functional as F

from tutorial_lib import data, evaluator, homework, losses, methods, runtime

SOLUTIONS = runtime.REPO_ROOT / "solutions"


def solution(notebook):
    path = next(SOLUTIONS.glob(f"{notebook}_*.py"))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOLVED = {nb: getattr(solution(nb), name) for nb, name in
          (("04", "MyVAE"), ("05", "MyGAN"), ("06", "MyWGANGP"), ("07", "MyAEGAN"))}


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
        return (_bce(logits, batch.x).sum(1) - _kl(mu, logvar).sum(1)).mean(), {}


class VAEPixelMean(methods.VAE):
    """The reconstruction averaged over the pixels, the KL summed: the KL weighs 784 times too much."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        logits = self.decoder(mu + (0.5 * logvar).exp() * torch.randn_like(mu))
        return (_bce(logits, batch.x).mean(1) + _kl(mu, logvar).sum(1)).mean(), {}


class VAENoNoise(methods.VAE):
    """z = μ: no sample from q(z|x), so nothing makes the decoder robust to the posterior's spread."""
    def loss(self, batch):
        mu, logvar = self.encode(batch.x)
        return (_bce(self.decoder(mu), batch.x).sum(1) + _kl(mu, logvar).sum(1)).mean(), {}


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
WGANNotTrainable = _wgan_critic(lambda f, x: (_grad(f, x, create_graph=False).norm(dim=1) - 1).pow(2).mean())


class WGANCriticSign(methods.WGAN):
    """The critic's two expectations the wrong way round (the slip in the primary source's printing)."""
    def critic_loss(self, batch):
        x_fake = self.sample(len(batch.x)).detach()
        gp = losses.gradient_penalty(self.critic, losses.interpolate(batch.x, x_fake), self.cfg.gp_weight)
        return self.critic(batch.x).mean() - self.critic(x_fake).mean() + gp, {}


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


WRONG = {"04": {"KL sign": VAEKLSign, "pixel mean": VAEPixelMean, "no noise": VAENoNoise},
         "05": {"saturating G": GANSaturating, "labels swapped": GANLabelsSwapped, "G sign": GANGeneratorSign},
         "06": {"batch-wide penalty": WGANBatchNorm, "one-sided penalty": WGANOneSided,
                "penalty not trainable": WGANNotTrainable, "critic sign": WGANCriticSign},
         "07": {"G1 image loss alone": AEGANImageOnly, "D1 swapped": AEGAND1Swapped, "G1 saturating": AEGANSaturating,
                "target in [0, 1]": AEGANUnitTarget, "G1 sign": AEGANG1Sign}}
MUST_FAIL = {"04": ["KL sign", "pixel mean"], "05": ["labels swapped", "G sign"],
             "06": ["batch-wide penalty", "critic sign"], "07": ["target in [0, 1]", "G1 sign"]}
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
    assert not verdict.passed and "✗ Not yet" in out and "add the KL term, or subtract it?" in out
    assert "solutions/04_vae.py" in out and "kl_normal_standard" not in out
