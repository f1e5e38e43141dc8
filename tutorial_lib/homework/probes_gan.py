"""One-batch checks of a student's DCGAN (05) and AEGAN (07) before they train: what a run of a few minutes cannot
show (see :mod:`tutorial_lib.homework.probes`)."""
from __future__ import annotations

import torch

from tutorial_lib import losses
from tutorial_lib.homework.probes import (buffers_kept, close, config_with, losses_over, outputs_of, same_draws,
                                          seeded_loss)
from tutorial_lib.methods.base import Method


def gan_checks_one_batch(model: Method, batch) -> str:
    """05: G's loss equals the non-saturating loss of the very logits D gave its samples (one D call; no verdict for
    other layouts, or when the config asks for another generator loss)."""
    if model.cfg.generator_loss != "nonsaturating":
        return ""
    with outputs_of(model.discriminator) as (calls,), buffers_kept(model):
        value = seeded_loss(model.generator_loss, batch)
    if len(calls) != 1:
        return ""
    expected = float(losses.generator_loss_nonsaturating(calls[0][1]))
    if close(value, expected):
        return ""
    return (f"your G's loss is {value:.4g} on this batch, but the generator loss this notebook trains with, computed "
            f"from the very logits D gave your samples, is {expected:.4g}: which of the two losses above keeps its "
            "gradient when D rejects the fakes, and is its sign right?")


def aegan_checks_one_batch(model: Method, batch) -> str:
    """07: G1's loss as a function of λ_img (``cfg.image_weight``), same draws: it must change, in equal steps, and
    the image term must send a gradient to G1 (nothing cut between G1's codes and D2's verdict)."""
    at0, at1, at2 = losses_over(model, model.latent_generator_loss, "image_weight", (0.0, 1.0, 2.0), batch)
    if close(at1, at0):
        return ("your G1's loss stays the same when λ_img (self.cfg.image_weight) changes: where does D2's verdict on "
                "the decoded samples enter it, and with which weight?")
    if not close(at2 - at1, at1 - at0, at0, at1, at2):
        return "your G1's loss does not grow in equal steps as λ_img grows: does λ_img multiply the image term once?"
    params = [p for p in model.latent_generator.parameters() if p.requires_grad]

    def gradient(weight):
        with config_with(model, image_weight=weight), same_draws(), buffers_kept(model):
            return torch.autograd.grad(model.latent_generator_loss(batch)[0], params, allow_unused=True)

    with_image, without = gradient(1.0), gradient(0.0)
    if all((a is None and b is None) or (a is not None and b is not None and torch.allclose(a, b, rtol=1e-6, atol=1e-10))
           for a, b in zip(with_image, without)):
        return ("the image term of your G1's loss sends no gradient to G1: is anything between G1's codes and D2's "
                "verdict cut from the graph?")
    return _g1_loss_from_its_logits(model, batch)


def _g1_loss_from_its_logits(model: Method, batch) -> str:
    """07: G1's loss against the library's L_G1 computed from the very logits D1 and D2 gave (one call of each; no
    verdict for other layouts)."""
    with outputs_of(model.latent_discriminator, model.image_discriminator) as (d1, d2), buffers_kept(model):
        value = seeded_loss(model.latent_generator_loss, batch)
    if len(d1) != 1 or len(d2) != 1:
        return ""
    expected = float(losses.aegan_generator_loss(d1[0][1], d2[0][1], model.cfg.image_weight,
                                                 latent_critic=model.cfg.latent_critic))
    if close(value, expected):
        return ""
    return (f"your G1's loss is {value:.4g} on this batch, but L_G1 from the very logits D1 and D2 gave is "
            f"{expected:.4g}: does each term use the generator loss whose gradient lasts when a discriminator rejects "
            "the fakes, with its sign?")
