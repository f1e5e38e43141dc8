"""The exercises of 06 (WGAN-GP) and 07 (AEGAN): each one's cases, the library function that gives the right
answer, its nudge and formula, and the mistakes it recognises."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from tutorial_lib import losses
from tutorial_lib.exercises.catalogue_common import gen, randn, through_sigmoid, untrained
from tutorial_lib.exercises.checker import _inputs, add, case
from tutorial_lib.exercises.mistakes import (Mistake, either, like, no_gradient, nonfinite, raises, random_answer,
                                             swapped)

Tensor = torch.Tensor


# ============================================================================ 06 WGAN-GP

def _interp_cases():
    out = []
    for seed in (0, 1):
        g = gen(seed)
        out.append(case(torch.randn(6, 1, 4, 4, generator=g), torch.randn(6, 1, 4, 4, generator=g),
                        torch.rand(6, generator=g)))
    g = gen(2)
    out.append(case(torch.randn(4, 1, 4, 4, generator=g), torch.randn(4, 1, 4, 4, generator=g),
                    torch.tensor([0.0, 1.0, 0.25, 0.7]), note="4 examples of width 4, α = 0 and α = 1 among them"))
    return out


def _over_width(xr, xf, e):
    return e * xr + (1 - e) * xf


add("06.1", "the interpolates x̂ = α x + (1 − α) x̃", losses.interpolate, _interp_cases,
    nudge="Each example gets its own weight α, a point on the segment between its real and its generated image: "
          "α = 1 gives the real image, α = 0 the generated one. The weights are one number per example; the images "
          "have more axes.",
    formula="x̂ = α x + (1 − α) x̃ with one α per example, shape (B,): reshape it to (B, 1, 1, 1) so it "
            "broadcasts over the image, and weight the real image x by α.",
    mistakes=[
        Mistake("weights-swapped", "You weight the generated image by α: at α = 1 your interpolate is the generated "
                "image. Which one should it be?", swapped(losses.interpolate)),
        Mistake("no-reshape", "Your α, of shape (B,), does not line up with the batch axis of the images: PyTorch "
                "matches shapes from the last axis, so it broadcasts against the width (or fails). Which shape puts "
                "one weight per example and broadcasts over the other axes?",
                either(raises(r"must match the size of tensor"), like(_over_width))),
        Mistake("one-alpha", "Every example in your batch uses the same weight: one α per example.",
                like(lambda xr, xf, e: losses.interpolate(xr, xf, e[:1].expand(len(e))),
                     lambda xr, xf, e: losses.interpolate(xr, xf, e.mean().expand(len(e))))),
        Mistake("new-alpha", "Your answer changes from one call to the next: you draw new weights. α is given as "
                "an argument; use it.", random_answer),
    ])


class _Critic(torch.nn.Module):
    """A small critic for the checks: images (B, 1, 4, 4) -> scores (B,). ``gain`` scales its gradients."""

    def __init__(self, seed: int, gain: float = 1.0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):          # fixed weights, and the notebook's own RNG left alone
            torch.manual_seed(seed)
            self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.Tanh(),
                                           torch.nn.Linear(8, 1))
        self.gain = gain

    def forward(self, x: Tensor) -> Tensor:
        return self.gain * self.net(x).squeeze(1)


def _gp_cases():
    out = []
    for seed, gain in ((0, 1.0), (1, 2.7)):
        g = gen(seed)
        out.append(case(_Critic(seed, gain), torch.randn(6, 1, 4, 4, generator=g), 10.0,
                        note="gradient norms on both sides of 1" if gain > 1 else ""))
    return out


def _gp_variant(norms: Callable[[Tensor], Tensor], reduce: Callable[[Tensor], Tensor]) -> Callable:
    def penalty(critic, x_hat, weight):
        x_hat = x_hat.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
        return weight * reduce(norms(grad))
    return penalty


def _gp_weights(args: tuple) -> list[tuple[str, Tensor]]:
    return [("the critic's weights", p) for p in args[0].parameters()]


add("06.2", "the gradient penalty λ_GP E(‖∇f(x̂)‖ − 1)²", losses.gradient_penalty, _gp_cases,
    nudge="Differentiate the critic's scores with respect to the interpolates, measure each example's gradient by "
          "its length, and penalise how far that length is from 1, on either side, averaged over the batch and "
          "weighted. The penalty is trained: it must itself be differentiable in the critic's weights.",
    formula="Take the gradient of critic(x̂).sum() with respect to x̂ (torch.autograd.grad, create_graph=True so the "
            "penalty can be trained), flatten each example's gradient, take its 2-norm, then the mean of "
            "(norm − 1)² times λ_GP. It is two-sided: (norm − 1)², not max(0, norm − 1)².",
    mistakes=[
        Mistake("not-trainable", "Your penalty has the right value, but no gradient from it reaches the critic's "
                "weights, so training on it would leave the critic unchanged. Is the gradient you took itself kept "
                "in a graph that autograd can differentiate again?", no_gradient),
        Mistake("one-sided", "Your penalty ignores gradient norms below 1: the WGAN-GP penalty pulls the norm "
                "towards 1 from both sides.",
                like(_gp_variant(lambda g: g.flatten(1).norm(dim=1), lambda n: F.relu(n - 1).pow(2).mean()))),
        Mistake("batch-norm", "Your norm is taken over the whole batch at once: the penalty wants one gradient norm "
                "per example, then the batch mean.",
                like(_gp_variant(lambda g: g.norm(), lambda n: (n - 1).pow(2)))),
        Mistake("squared-norm", "Your numbers match the squared length of each gradient where its length belongs.",
                like(_gp_variant(lambda g: g.flatten(1).pow(2).sum(1), lambda n: (n - 1).pow(2).mean()))),
        Mistake("no-weight", "Your penalty is the right one divided by λ_GP: where does `weight` go?",
                like(lambda critic, x_hat, weight: losses.gradient_penalty(critic, x_hat, weight) / weight)),
        Mistake("not-scalar", "torch.autograd.grad needs a scalar to differentiate, and the critic gives one score per "
                "example. Each score depends only on its own example: which single number has every example's "
                "gradient as its gradient?", raises(r"grad can be implicitly created only for scalar outputs")),
        Mistake("no-requires-grad", "autograd can only differentiate with respect to a tensor that requires grad, "
                "and x̂ as given does not: what must you do to it before the critic sees it?",
                raises(r"does not require grad")),
    ],
    trainable=_gp_weights)


# ============================================================================ 07 AEGAN

def _g1_cases():
    return ([case(*randn(seed, (8,), (8,), scale=2.0), lam) for seed, lam in ((0, 1.0), (1, 0.5))]
            + [case(torch.full((4,), -120.0), torch.full((4,), -120.0), 0.25,
                    note="logits −120: both discriminators reject G1's samples")])


def _g1(a, b, lam):
    return losses.aegan_generator_loss(a, b, lam)


add("07.1", "the latent generator's loss L_G1", losses.aegan_generator_loss, _g1_cases,
    nudge="G1 wants both discriminators to call its samples real: the latent one on its codes, the image one on "
          "the decoded images, the second term weighted by image_weight. Use the generator loss that keeps its "
          "gradient when a discriminator is sure, written from the logits.",
    formula="L_G1 = −E log D1(G1(z)) − λ_img E log D2(Dec(G1(z))): the non-saturating loss on the latent "
            "discriminator's logits plus λ_img times the same on the image discriminator's.",
    mistakes=[
        Mistake("lambda-ignored", "Your loss does not change with image_weight: where does λ_img enter?",
                like(lambda a, b, lam: _g1(a, b, 1.0))),
        Mistake("lambda-on-latent", "λ_img scales the wrong term: which discriminator's verdict does image_weight "
                "weigh?",
                like(lambda a, b, lam: lam * F.softplus(-a).mean() + F.softplus(-b).mean())),
        Mistake("saturating", "Your loss is the saturating one, minimising log(1 − D) for each discriminator: its "
                "gradient vanishes when they reject G1's samples. Which probability should G1 push up instead?",
                like(lambda a, b, lam: -F.softplus(a).mean() - lam * F.softplus(b).mean())),
        *through_sigmoid("−120"),
        untrained("G1"),
    ],
    trainable=_inputs(0, 1))


def _standardise_cases():
    out = [case(3 * torch.randn(8, 4, generator=gen(seed)) + 2) for seed in (0, 1)]
    h = torch.randn(6, 3, generator=gen(2))
    h[:, 1] = 0.5
    out.append(case(h, note="coordinate 2 is the same in every code"))
    small = torch.randn(8, 3, generator=gen(3))
    small[:, 2] *= 1e-3
    out.append(case(small, note="coordinate 3 varies, but only by about 0.001"))
    return out


def _standardise(h: Tensor) -> Tensor:
    return F.batch_norm(h, None, None, training=True, eps=1e-5)      # BatchNorm1d(affine=False), training mode


def _spread(h: Tensor, dim: int = 0, unbiased: bool = False) -> Tensor:
    return torch.sqrt(h.var(dim, unbiased=unbiased, keepdim=True) + 1e-5)


add("07.2", "the codes standardised per coordinate, h = BN(Enc(x))", _standardise, _standardise_cases,
    nudge="Each coordinate of the codes on its own: shift it so that its mean over the batch is 0 and scale it so "
          "that its spread over the batch is 1, using the batch's own spread and a small constant that keeps a "
          "constant coordinate finite. That is batch norm with no learned scale or shift.",
    formula="h′ = (h − mean) / √(var + δ) for each coordinate, the mean and the variance taken over the batch "
            "(dim 0); the variance is the batch's own (divided by B: unbiased=False) and δ = 1e-5 (BatchNorm1d's "
            "eps) sits inside the square root.",
    mistakes=[
        Mistake("per-code", "You standardise each code across its own coordinates: the remedy standardises each "
                "coordinate across the batch, so that every coordinate has mean 0 and spread 1 over the codes.",
                like(lambda h: (h - h.mean(1, keepdim=True)) / _spread(h, 1))),
        Mistake("unbiased", "Your spread divides by B − 1, as torch.std and torch.var do unless told otherwise: batch "
                "norm uses the batch's own variance, divided by B.",
                like(lambda h: (h - h.mean(0)) / _spread(h, 0, unbiased=True),
                     lambda h: (h - h.mean(0)) / (h.std(0) + 1e-5))),
        Mistake("no-delta", "Your codes are nan where a coordinate is the same in every code: its spread is 0. Batch "
                "norm adds a small constant before the square root; what does that make of such a coordinate?",
                nonfinite),
        Mistake("not-centred", "Your codes are scaled but not centred: each coordinate's mean over the batch should "
                "be 0.", like(lambda h: h / _spread(h))),
        Mistake("not-scaled", "Your codes are centred but keep their spread: each coordinate's spread over the batch "
                "should be 1.", like(lambda h: h - h.mean(0))),
        Mistake("variance", "You divide by the variance: the spread that becomes 1 is the standard deviation, its "
                "square root.", like(lambda h: (h - h.mean(0)) / (h.var(0, unbiased=False) + 1e-5))),
        untrained("the encoder", answer="Your codes have the right values", through="through them"),
    ],
    trainable=_inputs(0))


