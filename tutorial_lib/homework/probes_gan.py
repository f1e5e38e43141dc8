"""One-batch checks of a student's DCGAN (05), WGAN-GP (06) and AEGAN (07) before they train: what a run of a few
minutes cannot show (see :mod:`tutorial_lib.homework.probes`)."""
from __future__ import annotations

import torch

from tutorial_lib import losses
from tutorial_lib.homework.probes import (SURE, at_shift, bce_from_its_logits, buffers_kept, close, config_with,
                                          gradients, holds_rows_of, losses_over, networks_in_training_mode,
                                          noise_as_sampled, outputs_of, same_draws, same_gradients, seeded_call,
                                          seeded_loss, sends_gradient, very_sure)
from tutorial_lib.methods.base import Method


def gan_checks_one_batch(model: Method, batch) -> str:
    """05: every network in training mode; G's z drawn as sampling draws it; D's loss the cross-entropy of the very
    logits it gave the batch and the fakes; G's loss reaching G, and equal to the non-saturating loss of the very
    logits D gave its samples (one D call; no verdict for other layouts, or when the config asks for another generator
    loss). The two losses are read as they are and with D's logits moved by ±30 (:data:`SURE`)."""
    problem = (networks_in_training_mode(model, (model.discriminator_loss, model.generator_loss), batch)
               or noise_as_sampled(model, model.generator, (model.discriminator_loss, model.generator_loss), batch, "G")
               or _reaches(model, model.generator_loss, batch, model.generator, "G"))
    for shift in SURE:
        if problem:
            break
        with very_sure(model.discriminator, shift):
            problem = at_shift(shift, "D", bce_from_its_logits(
                model, model.discriminator, model.discriminator_loss, batch, batch.x, model.generator, lambda x: x,
                "D", "the batch's images", "G's samples") or _g_loss_from_its_logits(model, batch))
    return problem


def _g_loss_from_its_logits(model: Method, batch) -> str:
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
            "gradient when D rejects the fakes, is its sign right, and is it a mean over the samples of a log, in "
            "the form that stays exact?")


def wgan_checks_one_batch(model: Method, batch) -> str:
    """06, with the gradient penalty: the critic's steps per G step; every network in training mode; G's z drawn as
    sampling draws it, and G's loss reaching G; the interpolates the critic is shown, each read as x̃ + α·(x − x̃)
    against its own real image x and fake x̃ (those G made in the same call), one α per image; the critic's part of
    its loss; the penalty equal to E(‖∇f(x̂)‖ − 1)² at those interpolates, and reaching the critic's weights."""
    if model.cfg.constraint != "gp":
        return ""
    problem = (_critic_repeats(model)
               or networks_in_training_mode(model, (model.critic_loss, model.generator_loss), batch)
               or noise_as_sampled(model, model.generator, (model.critic_loss, model.generator_loss), batch, "G")
               or _reaches(model, model.generator_loss, batch, model.generator, "G"))
    if problem:
        return problem
    with outputs_of(model.generator, model.critic) as (made, shown), buffers_kept(model), same_draws():
        model.critic_loss(batch)
    x = batch.x.detach().flatten(1)
    fakes = [block for _, out in made for block in _blocks(out.detach(), len(x))]
    inputs = [block for seen, _ in shown for block in _blocks(seen.detach(), len(x))]
    if not fakes:
        return ""
    for block in inputs:
        for fake in fakes:
            alpha = _mixing_weights(block, x, fake)
            if alpha is None:
                continue
            if float(alpha.max() - alpha.min()) <= 1e-5:
                return (f"all {len(x)} interpolates x̂ your critic's loss made sit at the same fraction "
                        f"({float(alpha.mean()):.3g}) of the way between their real and fake image: how many "
                        "mixing weights should one batch draw, and what shape lets them broadcast over images?")
            return (_critic_part(model, batch, fakes) or _penalty_value(model, batch, block.view_as(batch.x), alpha)
                    or _penalty_trains(model, batch))
    if all(torch.equal(block, x) or any(torch.equal(block, f) for f in fakes) for block in inputs):
        return ("your critic is shown only the real images and the fakes: at which points, between the two, does the "
                "penalty hold the critic's gradient norm?")
    for block in inputs:
        for fake in fakes:
            low, high = torch.minimum(x, fake), torch.maximum(x, fake)
            if not torch.equal(block, x) and bool(((block >= low - 1e-6) & (block <= high + 1e-6)).all()):
                return ("your interpolates x̂ lie between each real image and its fake pixel by pixel, but not on the "
                        "straight line from one to the other: is each image's mixing weight one number for all of its "
                        "pixels?")
    return ""


def _reaches(model: Method, loss, batch, network, who: str) -> str:
    if sends_gradient(model, loss, batch, network):
        return ""
    return (f"your {who}'s loss sends no gradient to {who}'s weights, so {who} never learns: is anything between its "
            "samples and the discriminator's verdict cut from the graph?")


def _critic_repeats(model: Method) -> str:
    """06: per iteration the critic's phase runs ``cfg.critic_steps`` times, the generator's once, at the notebook's
    setting and at critic_steps = 3 (a number written into the code instead of read from the config shows)."""
    for steps in dict.fromkeys((model.cfg.critic_steps, 3)):
        with config_with(model, critic_steps=steps):
            repeats = {phase.loss_fn: phase.repeats for phase in model.phases()}
        critic, generator = repeats.get(model.critic_loss), repeats.get(model.generator_loss)
        if critic is None or generator is None or (critic, generator) == (steps, 1):
            continue
        return (f"with critic_steps = {steps} your phases run the critic {critic} time(s) and the generator "
                f"{generator} time(s) per iteration, where the config asks for {steps} (self.cfg.critic_steps) and 1: "
                "where does a phase say how often it runs, and does it read the config?")
    return ""


def _penalty_trains(model: Method, batch) -> str:
    """The critic's loss must send another gradient to the critic's weights with the penalty than without it."""
    with_penalty = gradients(model, model.critic_loss, batch, model.critic, gp_weight=model.cfg.gp_weight or 10.0)
    if same_gradients(with_penalty, gradients(model, model.critic_loss, batch, model.critic, gp_weight=0.0)):
        return ("your penalty changes the critic's loss but sends no gradient to the critic's weights: can the "
                "optimiser differentiate through ∇f(x̂) as you computed it?")
    return ""


def _critic_part(model: Method, batch, fakes) -> str:
    """At λ_GP = 0 the critic's loss is E f(x̃) − E f(x), from the scores the critic gave the batch and G's fakes."""
    with config_with(model, gp_weight=0.0), outputs_of(model.critic) as (shown,), same_draws(), buffers_kept(model):
        value = model.critic_loss(batch)[0].item()
    x, scores = batch.x.flatten(1), {}
    for seen, out in shown:
        for rows, s in zip(_blocks(seen.detach(), len(x)), out.detach().split(len(x))):
            side = "real" if torch.equal(rows, x) else "fake" if any(torch.equal(rows, f) for f in fakes) else None
            if side:
                scores.setdefault(side, s)
    if len(scores) < 2:
        return ""
    expected = float(losses.critic_loss(scores["real"], scores["fake"]))
    if close(value, expected):
        return ""
    if close(value, 0.0, expected):
        return ("with λ_GP = 0 your critic's loss is 0: does λ_GP (self.cfg.gp_weight) weight the penalty alone, or "
                "the whole loss?")
    if close(value, -expected):
        return ("with λ_GP = 0 your critic's loss is what it would be with the real and fake images swapped: which "
                "scores should the critic's step push up?")
    return (f"with λ_GP = 0 your critic's loss is {value:.4g}, but the critic's part computed from the very scores it "
            f"gave the batch and the fakes is {expected:.4g}: which expectation comes with which sign, over which "
            "images?")


def _penalty_value(model: Method, batch, x_hat, alpha) -> str:
    """What the critic's loss gains from λ_GP = 0 to 1 must be E(‖∇f(x̂)‖ − 1)² at the interpolates it was shown;
    two slips are named: the gradient taken with respect to the real images (α·∇f(x̂)) or the fakes ((1 − α)·∇f)."""
    at = []
    for weight in (0.0, 1.0, 2.0):
        with config_with(model, gp_weight=weight), same_draws(), buffers_kept(model):
            at.append(model.critic_loss(batch)[0].item())
    if not close(at[2] - at[1], at[1] - at[0], *at):
        return ("your critic's loss does not grow in equal steps as λ_GP (self.cfg.gp_weight) grows: does λ_GP "
                "multiply the penalty once?")
    expected = losses.gradient_penalty(model.critic, x_hat.detach(), 1.0).detach().item()
    added = at[1] - at[0]
    if close(added, expected, *at):
        return ""
    point = x_hat.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model.critic(point).sum(), point)
    norms = grad.flatten(1).norm(dim=1)
    for factor, tensor in ((alpha, "the real images"), (1 - alpha, "the fakes")):
        if close(added, float(((factor * norms - 1) ** 2).mean()), *at):
            return (f"your penalty is taken on the gradient with respect to {tensor}, not to the interpolates x̂ "
                    "themselves: at which points is the critic's slope held near 1, and with respect to what?")
    if close(added, float(((norms ** 2 - 1) ** 2).mean()), *at):
        return ("your penalty holds the squared norm of each image's gradient near 1, not the norm: is a square root "
                "missing?")
    return (f"at λ_GP = 1 your penalty adds {added:.4g} to the critic's loss, but E(‖∇f(x̂)‖ − 1)² at the "
            f"interpolates your critic was shown is {expected:.4g}: over which axes is each image's gradient norm "
            "taken, how are the images combined, and does a norm below 1 count as well as one above?")


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
    """07: every network in training mode; G1's z drawn as sampling draws it; L_AE from the decoder's output; D2's real
    side; D1's and D2's losses from their logits; then G1's loss as a function of λ_img (``cfg.image_weight``), same
    draws: it must change, in equal steps, and each of its terms must send a gradient to G1."""
    steps = (model.autoencoder_loss, model.latent_discriminator_loss, model.image_discriminator_loss,
             model.latent_generator_loss)
    problem = (networks_in_training_mode(model, steps, batch)
               or noise_as_sampled(model, model.latent_generator,
                                (model.latent_discriminator_loss, model.latent_generator_loss), batch, "G1")
               or _autoencoder_from_its_output(model, batch) or _d2_real_side(model, batch)
               or _discriminators_from_their_logits(model, batch))
    if problem:
        return problem
    at0, at1, at2 = losses_over(model, model.latent_generator_loss, "image_weight", (0.0, 1.0, 2.0), batch)
    if close(at1, at0):
        return ("your G1's loss stays the same when λ_img (self.cfg.image_weight) changes: where does D2's verdict on "
                "the decoded samples enter it, and with which weight?")
    if not close(at2 - at1, at1 - at0, at0, at1, at2):
        return "your G1's loss does not grow in equal steps as λ_img grows: does λ_img multiply the image term once?"
    if same_gradients(*(gradients(model, model.latent_generator_loss, batch, model.latent_generator, image_weight=w)
                        for w in (1.0, 0.0))):
        return ("the image term of your G1's loss sends no gradient to G1: is anything between G1's codes and D2's "
                "verdict cut from the graph?")
    if close(at0, 0.0, at1, at2):
        return ("at λ_img = 0 your G1's loss is 0: does λ_img (self.cfg.image_weight) weight D2's term alone, or D1's "
                "too?")
    if not sends_gradient(model, model.latent_generator_loss, batch, model.latent_generator, image_weight=0.0):
        return ("at λ_img = 0 your G1's loss sends no gradient to G1: is anything between G1's codes and D1's "
                "verdict cut from the graph?")
    return _g1_loss_from_its_logits(model, batch)


def _g1_loss_from_its_logits(model: Method, batch) -> str:
    """07: G1's loss against the library's L_G1 computed from the very logits D1 and D2 gave (one call of each; no
    verdict for other layouts), at the notebook's λ_img, at λ_img = 2 (where a weight on the wrong term shows), and with
    both discriminators' logits moved by ±30 (:data:`SURE`)."""
    for weight, shift in [*((w, 0.0) for w in dict.fromkeys((model.cfg.image_weight, 2.0))),
                          (model.cfg.image_weight, 30.0), (model.cfg.image_weight, -30.0)]:
        with config_with(model, image_weight=weight), buffers_kept(model), very_sure(model.image_discriminator, shift):
            with very_sure(model.latent_discriminator, shift if model.cfg.latent_critic == "gan" else 0.0):
                with outputs_of(model.latent_discriminator, model.image_discriminator) as (d1, d2):
                    value = seeded_loss(model.latent_generator_loss, batch)
        if len(d1) != 1 or len(d2) != 1:
            return ""
        expected = float(losses.aegan_generator_loss(d1[0][1], d2[0][1], weight,
                                                     latent_critic=model.cfg.latent_critic))
        if not close(value, expected):
            return at_shift(shift, "D1 and D2", (
                f"at λ_img = {weight:g} your G1's loss is {value:.4g} on this batch, but L_G1 from the very logits "
                f"D1 and D2 gave is {expected:.4g}: does λ_img weight the right term, is each term a mean over the "
                "batch, and does each use the generator loss whose gradient lasts when a discriminator rejects the "
                "fakes, with its sign, in the form that stays exact?"))
    return ""


def _discriminators_from_their_logits(model: Method, batch) -> str:
    """07: D1's loss (when D1 is a discriminator, not a critic) and D2's, each against the cross-entropy of the very
    logits it gave its real side (Enc(x); x′ or x, as ``d2_real`` says) and G1's fakes (h̃; Dec(h̃)), as they are and
    with the logits moved by ±30 (:data:`SURE`)."""
    with buffers_kept(model), torch.no_grad():
        codes = model.encode(batch.x)
        images = model.reconstruct(batch.x) if model.cfg.d2_real == "reconstruction" else batch.x
    for shift in SURE:
        if model.cfg.latent_critic == "gan":
            with very_sure(model.latent_discriminator, shift):
                problem = at_shift(shift, "D1", bce_from_its_logits(
                    model, model.latent_discriminator, model.latent_discriminator_loss, batch, codes,
                    model.latent_generator, lambda h: h, "D1", "the codes Enc(x)", "G1's codes"))
            if problem:
                return problem
        with very_sure(model.image_discriminator, shift):
            problem = at_shift(shift, "D2", bce_from_its_logits(
                model, model.image_discriminator, model.image_discriminator_loss, batch, images,
                model.latent_generator, model.decode, "D2",
                "x′" if model.cfg.d2_real == "reconstruction" else "the batch's images",
                "the decoded samples Dec(G1(z))"))
        if problem:
            return problem
    return ""


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


def _autoencoder_from_its_output(model: Method, batch) -> str:
    """07: L_AE must be the mean squared error between the batch and the decoder's own reconstruction of it, tanh of
    its output, in the images' range [-1, 1] (one decoder call; no verdict for other layouts)."""
    with outputs_of(model.decoder) as (decoded,), buffers_kept(model):
        value = seeded_loss(model.autoencoder_loss, batch)
    if len(decoded) != 1 or decoded[0][1].shape != batch.x.shape:
        return ""
    expected = float(losses.reconstruction_mse(batch.x, torch.tanh(decoded[0][1])))
    if close(value, expected):
        return ""
    if close(value, float(losses.reconstruction_mse(batch.x, decoded[0][1]))):
        return ("your L_AE compares x with the decoder network's raw output (self.decoder), not with the "
                "reconstruction self.decode gives: what does self.decode add, and why does the range matter?")
    return (f"your autoencoder's loss is {value:.4g} on this batch, but the mean squared error between the batch and "
            f"the decoder's reconstruction of it is {expected:.4g}: what does the reconstruction aim at, in which "
            "range, and what is averaged over?")
