"""One-batch checks of a student's CVAE-GAN (10) before it trains: what a run of a few minutes cannot show
(see :mod:`tutorial_lib.homework.probes`)."""
from __future__ import annotations

from contextlib import contextmanager

import torch

from tutorial_lib.homework.probes import (buffers_kept, close, d_loss_finite_at_extreme_logits, holds_rows_of,
                                          losses_over, outputs_of, rows_in, same_draws, seeded_call, seeded_loss)
from tutorial_lib.methods.base import Method


def cvaegan_checks_one_batch(model: Method, batch) -> str:
    """10, before training: D's loss depends on the reconstructions x′ (Algorithm 1's fakes include them): under the
    same random draws, moving the encoder's means must change it; and E's and G's loss decodes codes drawn from
    q(z | x, c), never the means themselves."""
    def d_loss_with_means_moved_by(shift: float) -> float:
        hook = model.encoder.register_forward_hook(lambda module, args, out: (out[0] + shift, *out[1:]))
        try:
            return seeded_loss(model.discriminator_loss, batch)
        finally:
            hook.remove()
    if d_loss_with_means_moved_by(0.0) == d_loss_with_means_moved_by(3.0):
        return ("your D's loss does not depend on the reconstructions: in the paper's Algorithm 1, which images does D "
                "take for fakes besides the samples drawn from the prior?")
    with outputs_of(model.encoder, model.generator) as (encoded, decoded):
        seeded_call(model.generator_loss, batch)
    if any(z.shape == mu.shape and torch.equal(z, mu) for z, _ in decoded for _, (mu, *_) in encoded):
        return ("your E-and-G loss decodes the encoder's means themselves: where does the encoder's noise enter z, and "
                "what would L_KL's σ then be for?")
    problem = _generator_weights_problem(model, batch)
    if problem:
        return problem
    if not _feature_term_moves_the_reconstructions(model, batch):
        return ("your E-and-G loss sends no gradient to x′ through D's features: L_G compares f_D(x) and f_D(x′) as "
                "well as the pixels. Is that term there, and can it move x′?")
    if _d_loss_falls_as_reconstructions_look_real(model, batch):
        return ("your D's loss falls when D finds the reconstructions more real: in Algorithm 1, is x′ one of D's "
                "fakes or one of its real images?")
    return (d_loss_finite_at_extreme_logits(model, model.discriminator, model.discriminator_loss, batch)
            or _d_term_weights_problem(model, batch))


def _d_term_weights_problem(model: Method, batch) -> str:
    """10: how much each of L_D's three terms counts, read from the gradient of the student's L_D at D's outputs.
    A term −E log D(x) (a mean over its images) gives its images' logits gradients that sum to −mean(1 − D(x)), and
    −E log(1 − D(x̃)) ones that sum to +mean D(x̃): the ratio measured / expected is 1 for each of Algorithm 1's
    terms. Rows are told apart as real (rows of batch.x), reconstructions (recognised with σ forced to about 0), or
    prior samples (the rest). No verdict where a group is missing (other checks speak to that)."""
    with _reconstructions_recognised(model) as found:
        with outputs_of(model.discriminator) as (every_call,), same_draws(), buffers_kept(model):
            loss = model.discriminator_loss(batch)[0]
            calls = [(x.detach(), out) for x, out in every_call if out.requires_grad]
            grads = torch.autograd.grad(loss, [out for _, out in calls], allow_unused=True) if calls else []
        reconstructions = [r.detach() for r in found["reconstructions"]]
    sums, expected = {"real": 0.0, "reconstructions": 0.0, "prior samples": 0.0}, {}
    p = {k: [] for k in sums}
    for (x, out), g in zip(calls, grads):
        if g is None or out.dim() != 1:
            return ""
        real, rec = rows_in(x, [batch.x]), rows_in(x, reconstructions)
        for name, rows in (("real", real), ("reconstructions", rec & ~real), ("prior samples", ~real & ~rec)):
            sums[name] += float(g[rows].sum())
            p[name].append(torch.sigmoid(out.detach()[rows]))
    for name in sums:
        probs = torch.cat(p[name]) if p[name] else torch.empty(0)
        if len(probs) == 0:
            return ""
        # a row met twice (two calls on the same images) counts twice in the sum: compare with one call's mean
        expected[name] = -float((1 - probs).mean()) if name == "real" else float(probs.mean())
    ratios = {name: sums[name] / expected[name] for name in sums if abs(expected[name]) > 1e-6}
    if all(abs(r - 1) <= 0.02 for r in ratios.values()):
        return ""
    counts = ", ".join(f"the {name}' term ×{r:.2f}".replace("real'", "real images'") for name, r in ratios.items())
    return (f"in your D's loss the three terms count unlike Algorithm 1's: {counts} (each should count once, as a "
            "mean over its own images). Do two fakes share one mean, or does an image enter twice?")


def _generator_weights_problem(model: Method, batch) -> str:
    """10: E's and G's loss as a function of each weight in the config (same draws, σ forced to about 0 so that
    x′ = G(μ, c) whatever order the draws come in): moving λ_KL (λ_G) from 0 to 1 must add exactly the library's
    L_KL (L_G) on this batch, and the given feature-centre terms must grow in equal steps with λ_GD and λ_GC (they
    carry their weights already)."""
    from tutorial_lib.methods.cvaegan import CVAEGAN
    with _reconstructions_recognised(model) as found:
        found.update(mu=None, reconstructions=[])
        with buffers_kept(model):
            _, plain = seeded_call(CVAEGAN.reconstruction_terms, model, batch)
        for field, term, what in (("kl_weight", "kl", "L_KL (over which axes is it summed, over which averaged?) "
                                   "weighted by λ_KL once"),
                                  ("pairwise_weight", "pairwise", "L_G (summed over pixels and features, averaged "
                                   "over the batch) weighted by λ_G once")):
            at0, at1, at2 = losses_over(model, model.generator_loss, field, (0.0, 1.0, 2.0), batch)
            if not (close(at1 - at0, float(plain[term]), at0, at1) and close(at2 - at1, at1 - at0, at0, at1, at2)):
                name = "L_KL" if term == "kl" else "L_G"
                return (f"your E-and-G loss moves by {at1 - at0:.4g} when {field} goes from 0 to 1, but this batch's "
                        f"{name} is {float(plain[term]):.4g}: is it {what}?")
        for field in ("centre_weight", "class_centre_weight"):
            at0, at1, at2 = losses_over(model, model.generator_loss, field, (0.0, 1.0, 2.0), batch)
            if not close(at2 - at1, at1 - at0, at0, at1, at2):
                return (f"your E-and-G loss does not grow in equal steps with {field}: the given feature-centre terms "
                        "carry their weights already. Are they weighted a second time?")
    return ""


@contextmanager
def _reconstructions_recognised(model: Method):
    """While open, the encoder's σ is forced to e^−30, so that z = μ in float32, and every output of G decoded from the
    encoder's latest μ is kept in ``found["reconstructions"]`` (``found["mu"]`` is that μ): the reconstructions x′
    can then be told apart from G's prior samples. Clear both before each loss."""
    found = {"mu": None, "reconstructions": []}

    def encoder_hook(module, args, out):
        found["mu"] = out[0]
        return (out[0], torch.full_like(out[1], -60.0), *out[2:])

    def generator_hook(module, args, out):
        mu = found["mu"]
        if mu is not None and args[0].shape == mu.shape and torch.allclose(args[0], mu, atol=1e-6):
            found["reconstructions"].append(out)

    hooks = [model.encoder.register_forward_hook(encoder_hook), model.generator.register_forward_hook(generator_hook)]
    try:
        yield found
    finally:
        for hook in hooks:
            hook.remove()


def _d_loss_falls_as_reconstructions_look_real(model: Method, batch) -> bool:
    """With the reconstructions recognised (:func:`_reconstructions_recognised`), raise D's logits on exactly those
    images: −log(1 − D(x′)) must grow. False (no verdict) where the student's code hides them (e.g. one D call on
    a concatenated batch)."""
    state = {"shift": 0.0, "hit": False}
    with _reconstructions_recognised(model) as found:
        def discriminator_hook(module, args, out):
            if any(args[0] is x for x in found["reconstructions"]):
                state["hit"] = True
                return out + state["shift"]

        def d_loss(shift):
            found.update(mu=None, reconstructions=[])
            state["shift"] = shift
            return seeded_loss(model.discriminator_loss, batch)

        hook = model.discriminator.register_forward_hook(discriminator_hook)
        try:
            plain, raised = d_loss(0.0), d_loss(3.0)
        finally:
            hook.remove()
    return state["hit"] and not raised > plain


def _feature_term_moves_the_reconstructions(model: Method, batch) -> bool:
    """10: E's and G's loss passes x′ through D's features with a gradient back to x′. With the reconstructions
    recognised (:func:`_reconstructions_recognised`), the gradient of the loss at x′ is taken twice, once with the
    gradient through D's feature extractor on them cut (same values): if the two agree, the feature term does not
    reach x′."""
    state = {"keep": 1.0, "hit": False}
    with _reconstructions_recognised(model) as found:
        def features_hook(module, args, out):
            if any(holds_rows_of(args[0].detach(), r.detach()) for r in found["reconstructions"]):
                state["hit"] = True
                return out.detach() + state["keep"] * (out - out.detach())

        def gradient_at_reconstructions(keep: float):
            found.update(mu=None, reconstructions=[])
            state["keep"] = keep
            with same_draws():
                loss = model.generator_loss(batch)[0]
                if not found["reconstructions"]:
                    return None
                return torch.autograd.grad(loss, found["reconstructions"][0], allow_unused=True)[0]

        hook = model.discriminator.net.body.register_forward_hook(features_hook)
        try:
            with_features, without = gradient_at_reconstructions(1.0), gradient_at_reconstructions(0.0)
        finally:
            hook.remove()
    if with_features is None or without is None:
        return True                                     # no reconstructions recognised: no verdict
    return state["hit"] and not torch.allclose(with_features, without)
