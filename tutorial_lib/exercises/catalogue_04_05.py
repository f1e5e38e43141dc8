"""The exercises of 04 (the VAE) and 05 (the GAN): each one's cases, the library function that gives the right
answer, its nudge and formula, and the mistakes it recognises."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tutorial_lib import losses
from tutorial_lib.exercises.catalogue_common import (CAPPED, gen, randn, real_and_fake_swapped, through_sigmoid,
                                                     untrained)
from tutorial_lib.exercises.checker import _inputs, add, case
from tutorial_lib.exercises.mistakes import Mistake, capped, like, no_gradient, nonfinite, random_answer

Tensor = torch.Tensor


# ============================================================================ 04 VAE

def _reparam(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    return mu + (0.5 * logvar).exp() * eps


def _reparam_cases():
    return [case(*randn(seed, (5, 3), (5, 3), (5, 3))) for seed in (0, 1)]


add("04.1", "the reparameterisation z = μ + σ ε", _reparam, _reparam_cases,
    nudge="Shift and scale the given standard-normal noise ε so that z has the encoder's mean and spread. The "
          "encoder gives the log of the variance; ε is given, so the same inputs must give the same z, with a "
          "gradient to μ and logvar.",
    formula="z = μ + σ ε with σ = exp(½ · logvar), not exp(logvar) and not logvar itself; ε is given, do not draw "
            "a new one.",
    mistakes=[
        Mistake("variance-as-sigma", "Your ε is scaled by the variance, not by the standard deviation: what turns a "
                "log-variance into a standard deviation?", like(lambda mu, lv, eps: mu + lv.exp() * eps)),
        Mistake("logvar-as-sigma", "You scale ε by the log-variance itself: it can be negative, a standard deviation "
                "cannot.", like(lambda mu, lv, eps: mu + lv * eps)),
        Mistake("no-mean", "Your z is centred at 0: where does the encoder's mean go?",
                like(lambda mu, lv, eps: (0.5 * lv).exp() * eps)),
        Mistake("new-noise", "Your answer changes from one call to the next: you draw fresh noise. ε is given as an "
                "argument; use it.", random_answer),
        Mistake("no-gradient", "Your z has the right values, but no gradient reaches {missing}: that gradient is the "
                "whole point of the trick. Did you detach, call .item() or numpy, or sample with a function that "
                "does not backpropagate?", no_gradient),
    ],
    trainable=_inputs(0, 1))


def _vae_batch_cases():
    out = []
    for seed, weight in ((0, 1.0), (1, 0.5)):
        g = gen(seed)
        out.append(case(3 * torch.randn(5, 1, 4, 4, generator=g), torch.rand(5, 1, 4, 4, generator=g) * 2 - 1,
                        torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g), weight,
                        note="λ_KL = 0.5" if weight != 1 else ""))
    x = torch.tensor([-1.0, 1.0, -1.0, 1.0]).repeat(2, 1).view(2, 1, 2, 2)
    logits = torch.tensor([120.0, -120.0, -120.0, 120.0]).repeat(2, 1).view(2, 1, 2, 2)
    out.append(case(logits, x, torch.zeros(2, 3), torch.zeros(2, 3), 1.0,
                    note="logits ±120, the decoder sure and wrong on half the pixels"))
    return out


def _vae_batch_loss(logits, x, mu, logvar, kl_weight):
    recon = losses.bernoulli_nll(logits, (x + 1) / 2)
    return losses.vae_loss(recon, losses.kl_normal_standard(mu, logvar), kl_weight)


def _vae_with(logits, x, mu, logvar, kl_weight, *, pixels="sum", latents="sum", kl_sign=1.0, weight_on="kl",
              batch="mean", target=None):
    """The batch loss, or a wrong variant: another reduction, sign, target, or place for λ_KL."""
    t = (x + 1) / 2 if target is None else target(x)
    bce = F.binary_cross_entropy_with_logits(logits, t, reduction="none").flatten(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)
    recon = bce.sum(1) if pixels == "sum" else bce.mean(1)
    kl = kl_sign * (kl.sum(1) if latents == "sum" else kl.mean(1))
    per_image = recon + kl_weight * kl if weight_on == "kl" else kl_weight * recon + kl if weight_on else recon + kl
    return per_image.mean() if batch == "mean" else per_image.sum()


add("04.2", "the VAE's loss of a batch", _vae_batch_loss, _vae_batch_cases,
    nudge="Two terms per image, each in nats: how badly the decoder's Bernoulli explains every pixel's intensity, "
          "and how far the posterior is from the prior, weighted by λ_KL; then one number for the batch. Decide "
          "for each term what you add up and what you average, and what the Bernoulli's targets are.",
    formula="L = mean over the batch of [Σ_j BCE(logit_j, (x_j + 1)/2) + λ_KL · ½ Σ_k (μ_k² + σ_k² − 1 − log σ_k²)]: "
            "the cross-entropy from the logits (F.binary_cross_entropy_with_logits, reduction='none'), summed over "
            "the pixels of each image, with the targets mapped from [−1, 1] to [0, 1]; the KL summed over the latent "
            "dimensions; only then the mean over the images.",
    mistakes=[
        Mistake("pixel-mean", "Your reconstruction term is averaged over the pixels while the KL is summed over the "
                "latent dimensions: the two no longer share a unit, and the KL weighs 784 times too much on an MNIST "
                "image. Is each term in nats per image?", like(lambda *a: _vae_with(*a, pixels="mean"))),
        Mistake("latent-mean", "Your KL term is averaged over the latent dimensions: for independent dimensions "
                "divergences add up, and an average weighs it d times too little.",
                like(lambda *a: _vae_with(*a, latents="mean"))),
        Mistake("both-means", "You average each term over its own axis, the pixels and the latent dimensions: the "
                "two denominators differ (784 and d), which silently re-weights the KL. Is each term in nats per "
                "image?", like(lambda *a: _vae_with(*a, pixels="mean", latents="mean"))),
        Mistake("target-range", "The targets of your cross-entropy are the images as given, in [−1, 1]: the "
                "Bernoulli's mean ρ is a probability. Which intensities should it be compared with?",
                like(lambda *a: _vae_with(*a, target=lambda x: x))),
        Mistake("kl-sign", "Your KL term is subtracted: the loss is the negative ELBO, so does the divergence from "
                "the prior raise it or lower it?", like(lambda *a: _vae_with(*a, kl_sign=-1.0))),
        Mistake("weight-on-recon", "λ_KL multiplies the reconstruction term: which term does the β-VAE's weight "
                "scale?", like(lambda *a: _vae_with(*a, weight_on="recon"))),
        Mistake("weight-ignored", "Your loss does not change with kl_weight: where does λ_KL enter?",
                like(lambda *a: _vae_with(*a, weight_on=None))),
        Mistake("summed-batch", "Your loss is the right one times the batch size: the images of a batch are "
                "averaged, so that the loss is in nats per image.", like(lambda *a: _vae_with(*a, batch="sum"))),
        Mistake("unstable", "Your loss is inf or nan at logits ±120: there sigmoid rounds to exactly 0 or 1, "
                "and the log of that is −inf. Can you compute the cross-entropy from the logits themselves, "
                "never forming ρ = sigmoid(logit)?", nonfinite),
        Mistake("capped", CAPPED, capped),
        untrained("the VAE"),
    ],
    trainable=_inputs(0, 2, 3))


# ============================================================================ 05 GAN

def _logit_pairs():
    return ([case(*randn(seed, (16,), (16,), scale=3.0)) for seed in (0, 1)]
            + [case(torch.full((4,), -120.0), torch.full((4,), 120.0), note="logits ±120: D is sure, and wrong")])


def _fake_logits():
    return ([case(args[1]) for args in _logit_pairs()[:2]]
            + [case(torch.full((4,), 120.0), note="logits +120: D is fooled"),
               case(torch.full((4,), -120.0), note="logits −120: D rejects the fakes, the case the loss is for")])


add("05.1", "the discriminator's loss from logits", losses.discriminator_loss, _logit_pairs,
    nudge="D is trained as a binary classifier: real images labelled 1, generated ones 0, the cross-entropy averaged "
          "over each batch. You are given logits, not probabilities, and the loss must stay finite when D is very "
          "sure of itself.",
    formula="L_D = −E log D(x) − E log(1 − D(G(z))) with D = sigmoid(logit). Use the logits directly: "
            "−log sigmoid(a) = softplus(−a) and −log(1 − sigmoid(a)) = softplus(a) stay finite at ±120 (the third "
            "test), where sigmoid rounds to exactly 0 or 1 and log gives −inf.",
    mistakes=[
        *through_sigmoid("±120"),
        real_and_fake_swapped("labels-swapped", "which label belongs to which batch?", losses.discriminator_loss),
        Mistake("summed", "Your loss is the right one times the batch size: average each term over its batch "
                "instead of adding up.", like(lambda r, f: len(r) * losses.discriminator_loss(r, f))),
        untrained("D"),
    ],
    trainable=_inputs(0, 1))


add("05.2", "the non-saturating generator loss", losses.generator_loss_nonsaturating, _fake_logits,
    nudge="The generator wants D to call its samples real. Of the two losses that share this fixed point, use the "
          "one whose gradient stays large when D confidently rejects the fakes, written from the logits so it "
          "stays finite there.",
    formula="L_G = −E log D(G(z)) = mean softplus(−logit): a minus sign short gives the saturating loss "
            "log(1 − D), whose gradient vanishes exactly when D rejects the fakes.",
    mistakes=[
        *through_sigmoid("−120, where D rejects the fakes, the very case this loss is for"),
        Mistake("saturating", "Your loss is the saturating one, the generator minimising log(1 − D(G(z))): its "
                "gradient vanishes exactly when D rejects the fakes. Which probability should the generator push up "
                "instead?", like(lambda f: -F.softplus(f).mean())),
        Mistake("sign", "Your loss has the wrong sign: minimising it would teach the generator to make D even surer "
                "that its samples are fake.", like(lambda f: F.logsigmoid(f).mean())),
        Mistake("summed", "Your loss is the right one times the batch size: average over the batch instead of adding "
                "up.", like(lambda f: F.softplus(-f).sum())),
        untrained("the generator"),
    ],
    trainable=_inputs(0))


