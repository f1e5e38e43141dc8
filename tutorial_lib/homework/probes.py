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
        hook = network.register_forward_hook(lambda module, args, out: out + shift)
        try:
            with buffers_kept(model):
                value = seeded_loss(loss, batch)
        finally:
            hook.remove()
        if not math.isfinite(value):
            return (f"your D's loss is {value} when D's outputs are {shift:+.0f} (a D that is very sure, as training "
                    "makes it): which form of the log of a probability stays finite when the probability rounds to "
                    "0 or 1?")
    return ""
