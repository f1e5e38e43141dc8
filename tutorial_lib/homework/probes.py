"""What the one-batch checks of 10 and 11 share (probes_cvaegan, probes_ssgan): seeded losses, settings and buffers
put back after each call, rows told apart, and a D pushed to extreme confidence.

Each check returns '' when met, else what is wrong as a question. Where the student's code hides the tensors a check
needs (e.g. one forward pass over a concatenated batch), the check gives no verdict rather than a wrong one.
"""
from __future__ import annotations

import dataclasses
import math
from contextlib import contextmanager

import torch

from tutorial_lib.methods.base import Method


@contextmanager
def same_draws():
    """While open, torch's random draws are seeded by 0 (and restored after): two losses computed under it differ only
    where their arguments, the config or the model's hooks do."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


def seeded_call(fn, *args):
    """``fn(*args)`` without gradients, under :func:`same_draws`."""
    with same_draws(), torch.no_grad():
        return fn(*args)


def seeded_loss(fn, *args) -> float:
    """The loss of :func:`seeded_call` (``fn`` returns ``(loss, logs)``) as a float."""
    return float(seeded_call(fn, *args)[0])


@contextmanager
def buffers_kept(model: Method):
    """Put the model's buffers (e.g. 10's moving class centres, which every call of G's loss updates) back as they
    were after each use, so that repeated calls of a loss differ only where the check changes something."""
    saved = {name: b.clone() for name, b in model.named_buffers()}

    def restore():
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(saved[name])
    try:
        yield restore
    finally:
        restore()


@contextmanager
def config_with(model: Method, **changes):
    """While open, ``model.cfg`` has ``changes``; the model's own config afterwards."""
    cfg = model.cfg
    model.cfg = dataclasses.replace(cfg, **changes)
    try:
        yield
    finally:
        model.cfg = cfg


@contextmanager
def outputs_of(*networks):
    """While open, every forward call of each network is kept as (input, output): one list per network."""
    seen = [[] for _ in networks]
    handles = [network.register_forward_hook(lambda module, args, out, calls=calls: calls.append((args[0], out)))
               for network, calls in zip(networks, seen)]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def losses_over(model: Method, loss, field: str, values, batch) -> list[float]:
    """``loss(batch)`` with ``model.cfg.<field>`` set to each of ``values`` in turn (same draws, the buffers put
    back after each call); the model's own config afterwards."""
    out = []
    with buffers_kept(model) as restore:
        for value in values:
            with config_with(model, **{field: value}):
                out.append(seeded_loss(loss, batch))
            restore()
    return out


def close(a: float, b: float, *others: float) -> bool:
    return abs(a - b) <= 1e-4 * max(abs(a), abs(b), *map(abs, others), 1.0)


def holds_rows_of(x: torch.Tensor, r: torch.Tensor) -> bool:
    """Whether ``x`` is ``r`` or holds it as a block of rows at a multiple of its length (a concatenated batch)."""
    if x.shape[1:] != r.shape[1:] or len(x) < len(r):
        return False
    return any(torch.equal(x[i:i + len(r)], r) for i in range(0, len(x) - len(r) + 1, len(r)))


def rows_in(rows: torch.Tensor, pool: list[torch.Tensor]) -> torch.Tensor:
    """(n,) bool: which rows of ``rows`` equal some row of a tensor in ``pool``."""
    flat, hit = rows.flatten(1), torch.zeros(len(rows), dtype=torch.bool)
    for p in pool:
        if p.shape[1:] == rows.shape[1:]:
            hit |= (flat[:, None, :] == p.flatten(1)[None, :, :]).all(-1).any(1)
    return hit


def d_loss_finite_at_extreme_logits(model: Method, network, loss, batch) -> str:
    """D's loss stays finite when every output of ``network`` is moved by ±100 (a confident D, as training makes it):
    the naive log of a sigmoid or of a sum of exponentials does not."""
    for shift in (100.0, -100.0):
        with very_sure(network, shift), buffers_kept(model):
            value = seeded_loss(loss, batch)
        if not math.isfinite(value):
            return (f"your D's loss is {value} when D's outputs are {shift:+.0f} (a D that is very sure, as training "
                    "makes it): which form of the log of a probability stays finite when the probability rounds to "
                    "0 or 1?")
    return ""


def noise_as_sampled(model: Method, network, loss_fns, batch, who: str) -> str:
    """How ``network`` (a generator) is fed while ``loss_fns`` run in turn: each loss runs it itself, each call with a
    z of its own (the G step draws fresh noise, not the D step's), and z drawn as ``model.noise`` draws the z it is
    sampled from after training (same mean and spread, within a quarter of the spread). Its mode is
    :func:`networks_in_training_mode`'s to check."""
    calls, callers = [], []
    hook = network.register_forward_hook(lambda module, args, out: calls.append(args[0].detach()))
    try:
        with buffers_kept(model), same_draws():
            for fn in loss_fns:
                before = len(calls)
                fn(batch)
                callers.append((fn, len(calls) > before))
    finally:
        hook.remove()
    if not calls:
        return ""
    for fn, called in callers:
        if not called:
            return (f"your {fn.__name__} never runs {who}: it scores samples made in another step. Which step should "
                    "draw fresh noise and make its own samples?")
    if any(a.shape == b.shape and torch.equal(a, b) for i, a in enumerate(calls) for b in calls[i + 1:]):
        return (f"your {who} is given the very same z in two of its training calls: which step should draw fresh "
                "noise, and why not reuse the samples the other step has just been trained on?")
    z = torch.cat([args.flatten() for args in calls])
    with same_draws():
        ref = model.noise(max(len(batch.x), 256)).flatten()
    m, s, rm, rs = float(z.mean()), float(z.std()), float(ref.mean()), float(ref.std())
    if abs(m - rm) <= 0.25 * rs and 0.75 <= s / rs <= 1.33:
        return ""
    return (f"the z your {who} is given in training has mean {m:.2f} and spread {s:.2f}, but the z it is sampled from "
            f"after training (self.noise) has mean {rm:.2f} and spread {rs:.2f}: where should training draw its z?")


def bce_from_its_logits(model: Method, network, loss, batch, real: torch.Tensor, maker, to_fake, who: str,
                        real_name: str, fake_name: str) -> str:
    """``loss(batch)`` against the cross-entropy of telling ``real`` (as real) from what ``maker`` made, passed
    through ``to_fake`` (as fake), computed from the very logits ``network`` gave each (:func:`tutorial_lib.losses.
    discriminator_loss`). Rows of inputs the check cannot place give no verdict, unless none is ``real`` (then the
    real side is something else: ``real_name`` says what it should have been) or none is a fake (``fake_name``)."""
    from tutorial_lib import losses
    with outputs_of(network, maker) as (shown, made), buffers_kept(model):
        value = seeded_loss(loss, batch)
        with torch.no_grad():
            fakes = [to_fake(out) for _, out in made]
    n, real_logits, fake_logits, unplaced = len(real), [], [], False
    for inp, out in shown:
        if len(inp) % n:
            return ""
        for rows, logits in zip(inp.detach().split(n), out.detach().split(n)):
            if rows.shape == real.shape and torch.allclose(rows, real, atol=1e-5):
                real_logits.append(logits)
            elif any(f.shape == rows.shape and torch.allclose(rows, f, atol=1e-5) for f in fakes):
                fake_logits.append(logits)
            else:
                unplaced = True
    if unplaced and not real_logits and fake_logits:
        return (f"your {who} is shown, beside the fakes, inputs other than {real_name}: what should it take as "
                "real, computed how, and are those in the same range and form as the fakes?")
    if unplaced and real_logits and not fake_logits:
        return (f"your {who} is shown, beside {real_name}, fakes other than {fake_name}: which samples does the "
                "model draw, and through which networks do they pass?")
    if unplaced or not real_logits or not fake_logits:
        return ""
    real_logits, fake_logits = torch.cat(real_logits), torch.cat(fake_logits)
    expected = float(losses.discriminator_loss(real_logits, fake_logits))
    if close(value, expected):
        return ""
    if close(value, float(losses.discriminator_loss(fake_logits, real_logits))):
        return (f"your {who}'s loss is what it would be if the real images were the fakes and the fakes real: which "
                "side should each set of images be pushed to?")
    return (f"your {who}'s loss is {value:.4g} on this batch, but the cross-entropy of telling its real inputs from "
            f"the fakes, computed from the very logits {who} gave, is {expected:.4g}: is each term a mean over its "
            "images of the log of the probability of the right label (real is 1, fake is 0), in the form that stays "
            "finite?")


def gradients(model: Method, loss, batch, network, **changes) -> tuple:
    """The gradient of ``loss(batch)`` (same draws, ``model.cfg`` changed by ``changes``) for each trainable weight of
    ``network``: None where no path reaches it, all None when the loss has no graph at all."""
    params = [p for p in network.parameters() if p.requires_grad]
    with config_with(model, **changes), same_draws(), buffers_kept(model):
        value = loss(batch)[0]
        if not value.requires_grad:
            return (None,) * len(params)
        return torch.autograd.grad(value, params, allow_unused=True)


def same_gradients(first, second) -> bool:
    return all((a is None and b is None) or (a is not None and b is not None
                                             and torch.allclose(a, b, rtol=1e-6, atol=1e-10))
               for a, b in zip(first, second))


def sends_gradient(model: Method, loss, batch, network, **changes) -> bool:
    """Whether ``loss(batch)`` (with ``model.cfg`` changed by ``changes``) has a non-zero gradient for some weight of
    ``network``: a loss that the optimiser can follow, not one whose path to those weights was cut."""
    return any(g is not None and bool(g.abs().sum() > 0) for g in gradients(model, loss, batch, network, **changes))


def networks_in_training_mode(model: Method, loss_fns, batch) -> str:
    """While the model trains, every network a training loss calls must run in training mode: a network switched to
    eval mode inside a loss normalises with running statistics, not with the batch's as it does where it is
    trained (batch norm), so what that loss sees is not what the network makes."""
    seen = []
    hooks = [network.register_forward_pre_hook(lambda module, args, name=name: seen.append((name, module.training)))
             for name, network in model.named_children()]
    try:
        with buffers_kept(model), same_draws():
            for fn in loss_fns:
                fn(batch)
                for name, training in seen:
                    if model.training and not training:
                        return (f"your {fn.__name__} runs self.{name} in eval mode while the model trains: what do "
                                "its batch-norm layers use then, and is that what they use where it is trained?")
                seen.clear()
    finally:
        for hook in hooks:
            hook.remove()
    return ""


@contextmanager
def very_sure(network, shift: float):
    """While open, every output of ``network`` is moved by ``shift`` (0: untouched): a discriminator as sure as
    training makes it, where a log of a rounded probability (log(σ(a) + ε), or of a clamped one) loses the loss."""
    hook = network.register_forward_hook(lambda module, args, out: out + shift) if shift else None
    try:
        yield
    finally:
        if hook is not None:
            hook.remove()


SURE = (0.0, 30.0, -30.0)
"""The shifts of :func:`very_sure` the GAN checks try: at ±30 σ(a) rounds to 1 or 0 in float32."""


def at_shift(shift: float, who: str, problem: str) -> str:
    """``problem`` prefixed with the shift it was seen at (nothing when unshifted)."""
    if not problem or not shift:
        return problem
    return f"when {who}'s logits are moved by {shift:+.0f} (a {who} as sure as training makes it): {problem}"
