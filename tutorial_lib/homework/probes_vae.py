"""One-batch checks of a student's VAE (04) before it trains (see :mod:`tutorial_lib.homework.probes`): the noise in
z, the KL term and the reconstruction term, each read against the very tensors the student's loss produced."""
from __future__ import annotations

from contextlib import contextmanager

import torch

from tutorial_lib import data, losses
from tutorial_lib.homework.probes import (buffers_kept, close, config_with, networks_in_training_mode, outputs_of,
                                          same_draws, seeded_loss)
from tutorial_lib.methods.base import Method

LOGVAR_SHIFT = 2.0
"""04's checks add this to every log σ² the encoder gives (and 1 to every μ), so that σ = e^{1} and σ² = e^{2} differ
and the KL is large enough (≈ 2.7 nats per dimension) for a wrong reduction to show: a fresh encoder's is ≈ 0."""


@contextmanager
def shifted_posteriors(model: Method):
    """While open, the encoder's μ are raised by 1 and its log σ² by :data:`LOGVAR_SHIFT`."""
    d = model.cfg.latent_dim

    def shift(module, args, out):
        return torch.cat([out[:, :d] + 1.0, out[:, d:] + LOGVAR_SHIFT], dim=1)

    hook = model.encoder.register_forward_hook(shift)
    try:
        yield
    finally:
        hook.remove()


def vae_checks_one_batch(model: Method, batch) -> str:
    return (networks_in_training_mode(model, (model.loss,), batch) or _noise_in_z(model, batch)
            or _fresh_noise(model, batch) or _gradient_through_z(model, batch) or _kl_term(model, batch)
            or _reconstruction_term(model, batch))


def _fresh_noise(model: Method, batch) -> str:
    """Two steps on the same batch must give z different noise: ε is drawn afresh at every step."""
    with outputs_of(model.decoder) as (decoded,), buffers_kept(model), same_draws(), torch.no_grad():
        model.loss(batch)
        model.loss(batch)
    if len(decoded) == 2 and torch.equal(decoded[0][0], decoded[1][0]):
        return ("two steps on the same batch give your z the very same noise: is ε drawn afresh at every step, or kept "
                "from an earlier one?")
    return ""


def _noise_in_z(model: Method, batch) -> str:
    """z = μ + σ·ε with ε ~ N(0, I): read ε back from the z the decoder was given and the (μ, log σ²) the encoder
    gave (log σ² shifted by :data:`LOGVAR_SHIFT`); its spread must be about 1."""
    d = model.cfg.latent_dim
    with shifted_posteriors(model), outputs_of(model.encoder, model.decoder) as (encoded, decoded), buffers_kept(model):
        seeded_loss(model.loss, batch)
    if len(encoded) != 1 or len(decoded) != 1 or decoded[0][0].shape != (len(batch.x), d):
        return ""
    mu, logvar = encoded[0][1].chunk(2, dim=1)
    eps = (decoded[0][0] - mu) / torch.exp(0.5 * logvar)
    spread = float(eps.std())
    if spread < 0.05:
        return ("the z your decoder is given carries no noise: it is μ itself. Where does the encoder's σ enter z, and "
                "what random draw does it scale?")
    if abs(float(eps.mean())) > 0.25:
        return (f"the noise ε in your z has mean {float(eps.mean()):.2f} and spread {spread:.2f}, where a standard "
                "normal draw has mean 0 and spread 1: from which distribution is ε drawn?")
    if float(eps.std(dim=0).mean()) < 0.5 * spread:
        return ("every image of your batch gets the same noise ε in its z: how many independent draws does one batch "
                "need, and what shape should they have?")
    if float(eps.std(dim=1).mean()) < 0.5 * spread:
        return ("every coordinate of an image's z gets the same noise ε: how many independent draws does one image "
                "need, and what shape should they have?")
    if not 0.7 <= spread <= 1.4:
        return (f"the noise in your z, measured in units of the encoder's σ, has a spread of {spread:.2f} (with "
                f"log σ² raised by {LOGVAR_SHIFT:g} on purpose), where a standard normal ε gives 1: how does σ follow "
                "from the encoder's log σ²?")
    return ""


def _gradient_through_z(model: Method, batch) -> str:
    """At λ_KL = 0 the loss (the reconstruction term alone) must still send a gradient to both of the encoder's
    outputs, μ and log σ², through z: that path is what the reparameterisation is for."""
    captured = []
    hook = model.encoder.register_forward_hook(lambda module, args, out: captured.append(out))
    try:
        with config_with(model, kl_weight=0.0), same_draws(), buffers_kept(model):
            value = model.loss(batch)[0]
            if len(captured) != 1 or not value.requires_grad:
                return ""
            (grad,) = torch.autograd.grad(value, captured[0], allow_unused=True)
    finally:
        hook.remove()
    d = model.cfg.latent_dim
    for part, name in ((slice(0, d), "μ"), (slice(d, 2 * d), "log σ²")):
        if grad is None or not bool(grad[:, part].abs().sum() > 0):
            return (f"with λ_KL = 0 your loss sends no gradient to the encoder's {name}: the reconstruction term "
                    "should teach the encoder through z. Is part of z cut from the graph?")
    return ""


def _reconstruction_term(model: Method, batch) -> str:
    """At λ_KL = 0 the loss is the reconstruction term alone: the Bernoulli negative log-likelihood, summed over the
    pixels and averaged over the batch, of the very logits the decoder gave (other likelihoods: no verdict)."""
    if model.cfg.likelihood != "bernoulli":
        return ""
    with config_with(model, kl_weight=0.0), outputs_of(model.decoder) as (decoded,), buffers_kept(model):
        value = seeded_loss(model.loss, batch)
    if len(decoded) != 1 or decoded[0][1].shape != batch.x.shape:
        return ""
    logits = decoded[0][1]
    expected = float(losses.bernoulli_nll(logits, data.to_unit(batch.x)).mean())
    if close(value, expected):
        return ""
    if close(value, float(losses.bernoulli_nll(logits, batch.x).mean())):
        return (f"with λ_KL = 0 your loss is {value:.4g}: the cross-entropy of the decoder's logits against the images "
                f"as they come, in [-1, 1]. What values can the targets of a Bernoulli likelihood take?")
    if close(value, expected / batch.x[0].numel()):
        return (f"with λ_KL = 0 your loss is {value:.4g}, {batch.x[0].numel()} times less than the negative "
                f"log-likelihood of the image ({expected:.4g} nats): over which axis is the reconstruction term "
                "averaged where it should be summed?")
    return (f"with λ_KL = 0 your loss is {value:.4g}, but the negative log-likelihood of this batch under the very "
            f"logits your decoder gave is {expected:.4g} nats per image: what values do the targets of a Bernoulli "
            "cross-entropy take, and over which axes is it summed or averaged?")


def _kl_term(model: Method, batch) -> str:
    """What the loss gains per unit of λ_KL must be the batch's mean KL(q(z|x) ‖ N(0, I)), summed over z's
    dimensions, of the encoder's own (μ, log σ²) (shifted, see :data:`LOGVAR_SHIFT`)."""
    with shifted_posteriors(model), buffers_kept(model) as restore:
        at = []
        for weight in (0.0, 1.0, 2.0):
            with config_with(model, kl_weight=weight):
                at.append(seeded_loss(model.loss, batch))
            restore()
        with torch.no_grad():
            mu, logvar = model.encode(batch.x)
            expected = float(losses.kl_normal_standard(mu, logvar).mean())
            with_sigma = float((0.5 * (mu ** 2 + (0.5 * logvar).exp() - logvar - 1)).sum(1).mean())
    slope = at[1] - at[0]
    if not close(at[2] - at[1], slope, *at):
        return ("your loss does not grow in equal steps as λ_KL (self.cfg.kl_weight) grows: does it multiply the KL "
                "once?")
    if close(slope, expected, *at):
        return ""
    if close(at[0], expected, *at):
        return (f"with λ_KL = 0 your loss is {at[0]:.4g}, the KL of this batch alone: which of the two terms does λ_KL "
                "weight?")
    if close(slope, 0.0, *at):
        return "your loss stays the same when λ_KL (self.cfg.kl_weight) changes: where does the KL term enter it?"
    if close(slope, expected / mu.shape[1], *at):
        return (f"the part of your loss that grows with λ_KL is {slope:.4g} nats per image, {mu.shape[1]} times less "
                f"than the KL of this batch's posteriors to the prior ({expected:.4g}): over which axis is it averaged "
                "where it should be summed?")
    if close(slope, with_sigma, *at):
        return (f"the part of your loss that grows with λ_KL is {slope:.4g} nats per image, but the KL of this batch's "
                f"posteriors to the prior is {expected:.4g}: in the KL of two Gaussians, which powers of σ appear?")
    return (f"the part of your loss that grows with λ_KL is {slope:.4g} nats per image, but the KL of this batch's "
            f"posteriors to the prior is {expected:.4g}: with which sign does it enter, and over which axes is it "
            "summed or averaged?")
