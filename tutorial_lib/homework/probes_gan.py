"""One-batch checks of a student's DCGAN (05), WGAN-GP (06) and AEGAN (07) before they train: what a run of a few
minutes cannot show (see :mod:`tutorial_lib.homework.probes`)."""
from __future__ import annotations

import torch

from tutorial_lib import losses
from tutorial_lib.homework.probes import (buffers_kept, close, config_with, holds_rows_of, losses_over, outputs_of,
                                          same_draws, seeded_call, seeded_loss)
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


def wgan_checks_one_batch(model: Method, batch) -> str:
    """06: the interpolates the critic is shown in its loss, each read as x̃ + α·(x − x̃) against its own real image
    x and fake x̃ (those G made in the same call): the α's must differ from image to image. One α for the whole batch
    puts every x̂ at the same fraction of the way, and the penalty then holds the critic's slope on one slice of the
    space only. No verdict when no input of the critic lies on those segments (another layout)."""
    if model.cfg.constraint != "gp":
        return ""
    with outputs_of(model.generator, model.critic) as (made, shown), buffers_kept(model), same_draws():
        model.critic_loss(batch)
    x = batch.x.detach().flatten(1)
    fakes = [block for _, out in made for block in _blocks(out.detach(), len(x))]
    for seen, _ in shown:
        for block in _blocks(seen.detach(), len(x)):
            for fake in fakes:
                alpha = _mixing_weights(block, x, fake)
                if alpha is None:
                    continue
                if float(alpha.max() - alpha.min()) <= 1e-5:
                    return (f"all {len(x)} interpolates x̂ your critic's loss made sit at the same fraction "
                            f"({float(alpha.mean()):.3g}) of the way between their real and fake image: how many "
                            "mixing weights should one batch draw, and what shape lets them broadcast over images?")
                return ""
    return ""


def _blocks(t, n: int) -> list:
    """``t`` (rows of images, maybe several batches concatenated) cut into blocks of ``n`` flattened rows."""
    if t.dim() < 2 or len(t) % n:
        return []
    return list(t.flatten(1).split(n))


def _mixing_weights(x_hat, x, fake):
    """(n,) α with x̂ = fake + α·(x − fake) row by row, or None where x̂ is x, is the fake, or is off those segments."""
    if x_hat.shape != x.shape or torch.equal(x_hat, x) or torch.equal(x_hat, fake):
        return None
    d = x - fake
    alpha = ((x_hat - fake) * d).sum(1) / d.pow(2).sum(1).clamp_min(1e-12)
    off = (x_hat - fake - alpha[:, None] * d).norm(dim=1)
    return alpha if bool((off <= 1e-4 * d.norm(dim=1).clamp_min(1e-6)).all()) else None


def aegan_checks_one_batch(model: Method, batch) -> str:
    """07: D2's real side, then G1's loss as a function of λ_img (``cfg.image_weight``), same draws: it must change,
    in equal steps, and the image term must send a gradient to G1 (nothing cut between G1's codes and D2's
    verdict)."""
    problem = _d2_real_side(model, batch)
    if problem:
        return problem
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


def _d2_real_side(model: Method, batch) -> str:
    """07: with ``d2_real="reconstruction"`` D2 must never be shown the data themselves (its real side is x′, the
    autoencoder's reconstructions); with ``"data"`` it must be."""
    with outputs_of(model.image_discriminator) as (shown,), buffers_kept(model):
        seeded_call(model.image_discriminator_loss, batch)
    sees_data = any(holds_rows_of(seen, batch.x) for seen, _ in shown)
    if model.cfg.d2_real == "reconstruction" and sees_data:
        return ("your D2 is shown the data images themselves, but this notebook's D2 (d2_real='reconstruction') "
                "takes another set of images as its real side: which, and why does that make G1's target reachable?")
    if model.cfg.d2_real == "data" and shown and not sees_data:
        return "with d2_real='data' your D2 should see the data images as real, and none of its inputs is the batch."
    return ""
