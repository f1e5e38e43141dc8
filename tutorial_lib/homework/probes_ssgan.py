"""One-batch checks of a student's semi-supervised GAN (11) before it trains: what a run of a few minutes cannot show
(see :mod:`tutorial_lib.homework.probes`)."""
from __future__ import annotations

from contextlib import contextmanager
from functools import partial

import torch

from tutorial_lib import losses
from tutorial_lib.homework.probes import (close, d_loss_finite_at_extreme_logits, holds_rows_of, losses_over,
                                          outputs_of, same_draws, seeded_loss)
from tutorial_lib.methods.base import Batch, Method


def _d_loss(model: Method, batch):
    """D's loss on ``batch`` with the labelled stream started afresh, so that every call sees the same labelled batch."""
    model.restart_labelled_stream()
    return model.discriminator_loss(batch)


@contextmanager
def _labelled_batches_seen(model: Method):
    """While open, every (images, labels) that ``model.labelled_batch`` returns is kept, in order, in the list
    yielded (the very tensors, so that D's calls on them can be recognised)."""
    library, seen = model.labelled_batch, []

    def recorded(n):
        x, y = library(n)
        seen.append((x, y))
        return x, y

    model.labelled_batch = recorded
    try:
        yield seen
    finally:
        del model.labelled_batch


def ssgan_checks_one_batch(model: Method, batch) -> str:
    """11, before training: D's loss is the same whatever labels the batch carries (only the labelled subset's may be
    read); G's loss reads D's last hidden layer f, not its output layer; and it compares batch means, so it does not
    change when the real images come in another order (noise off, the same draws)."""
    if seeded_loss(_d_loss, model, batch) != seeded_loss(_d_loss, model, Batch(batch.x, (batch.y + 1) % 10)):
        return ("your D's loss changes when the labels of the unlabelled batch change: it reads batch.y. A semi-supervised "
                "model may use only the labelled subset's labels (self.labelled_batch).")
    problem = (_unsupervised_weight_problem(model, batch)
               or d_loss_finite_at_extreme_logits(model, model.discriminator, partial(_d_loss, model), batch))
    if problem:
        return problem
    if not _supervised_term_ignores_a_shared_shift(model, batch):
        return ("your D's loss changes when the same constant is added to all K logits of the labelled images. The "
                "labelled images should enter one term only, a softmax over the K real classes, which such a shift "
                "leaves alone: which terms see them, and over which classes?")
    trained = [p for p in model.generator.parameters() if p.requires_grad]
    with same_draws():
        grads = torch.autograd.grad(model.generator_loss(batch)[0], trained, allow_unused=True)
    if all(g is None or not g.abs().sum() > 0 for g in grads):
        return ("no gradient of your G's loss reaches G's weights: which side of the feature gap is a fixed target, "
                "and which one must G be able to move?")
    was_training = model.training
    model.eval()                                     # no noise: f(x) depends on x alone
    try:
        plain = seeded_loss(model.generator_loss, batch)
        hook = model.discriminator.head.register_forward_hook(lambda module, args, out: out + 5.0)
        try:
            moved_head = seeded_loss(model.generator_loss, batch)
        finally:
            hook.remove()
        shuffled = seeded_loss(model.generator_loss, Batch(batch.x.flip(0), batch.y))
    finally:
        model.train(was_training)
    if moved_head != plain:
        return ("your G's loss reads D's output layer: feature matching compares D's last hidden layer, "
                "self.discriminator.features, on real images and on G's.")
    if abs(shuffled - plain) > 1e-4 * max(abs(plain), 1e-8):
        return ("your G's loss changes when the real images come in another order: which statistic of the features "
                "does feature matching compare, one per image or one per batch?")
    return _ssgan_d_loss_from_its_logits(model, batch) or _feature_matching_from_its_features(model, batch)


def _ssgan_d_loss_from_its_logits(model: Method, batch) -> str:
    """11: the student's L_D against L_supervised + w·L_unsupervised computed by the library from the very logits the
    student's D produced (one D call on the labelled images, recognised as the tensor ``labelled_batch`` returned,
    with the labels it returned with them; one on batch.x; one on G's samples). No verdict for other layouts."""
    with _labelled_batches_seen(model) as returned, outputs_of(model.discriminator) as (calls,):
        value = seeded_loss(_d_loss, model, batch)
    labelled = [(out, y) for x_in, out in calls for x, y in returned if x_in is x]
    unlabelled = [out for x_in, out in calls if x_in is batch.x]
    fakes = [out for x_in, out in calls
             if x_in is not batch.x and not any(x_in is x for x, _ in returned)
             and not holds_rows_of(x_in, batch.x) and not any(holds_rows_of(x_in, x) for x, _ in returned)]
    if len(labelled) != 1 or len(unlabelled) != 1 or len(fakes) != 1 or len(calls) != 3:
        return ""
    (logits, y), = labelled
    expected = float(losses.ssgan_supervised_loss(logits, y)
                     + model.cfg.unsupervised_weight * losses.ssgan_unsupervised_loss(unlabelled[0], fakes[0]))
    if close(value, expected):
        return ""
    return (f"your D's loss is {value:.4g} on this batch, but L_supervised + w·L_unsupervised from the very logits your "
            f"D gave is {expected:.4g}. For each term: which images, which labels (from the same call as the images?), "
            "and along which axis does each log-sum-exp or mean run?")


def _feature_matching_from_its_features(model: Method, batch) -> str:
    """11: the student's L_G against feature matching computed from the very features their loss asked D for (one
    call on batch.x, one on G's samples): the squared gap of the batch means, averaged over the F features with
    ``cfg.fm_mean`` (the authors'), else halved and summed. No verdict for other layouts."""
    features, calls = model.discriminator.features, []

    def spy(x):
        out = features(x)
        calls.append((x, out))
        return out

    model.discriminator.features = spy
    try:
        value = seeded_loss(model.generator_loss, batch)
    finally:
        del model.discriminator.features
    real = [out for x, out in calls if x is batch.x or (x.shape == batch.x.shape and torch.equal(x, batch.x))]
    fake = [out for x, out in calls if not (x is batch.x or (x.shape == batch.x.shape and torch.equal(x, batch.x)))]
    if len(real) != 1 or len(fake) != 1:
        return ""
    gap = real[0].mean(0) - fake[0].mean(0)
    expected = float(gap.pow(2).mean() if model.cfg.fm_mean else 0.5 * gap.pow(2).sum())
    if close(value, expected, 1e-12):
        return ""
    return (f"your G's loss is {value:.4g} on this batch, where feature matching on the same features gives "
            f"{expected:.4g}: over the F features, is the squared gap of the batch means summed or averaged "
            "(self.cfg.fm_mean says which)?")


def _unsupervised_weight_problem(model: Method, batch) -> str:
    """11: D's loss as a function of w = ``cfg.unsupervised_weight`` (same draws): it must read w, be S + w·U (equal
    steps for equal changes of w), and at w = 0 be blind to the unlabelled images (w weights the term that sees them)."""
    d_loss = partial(_d_loss, model)
    at0, at1, at2 = losses_over(model, d_loss, "unsupervised_weight", (0.0, 1.0, 2.0), batch)
    (at0_other_images,) = losses_over(model, d_loss, "unsupervised_weight", (0.0,),
                                       Batch(batch.x.flip(-1), batch.y))     # mirrored: other unlabelled images
    if close(at1, at0):
        return ("your D's loss stays the same when w (self.cfg.unsupervised_weight) changes: does your code read the "
                "weight the notebook sets, or a number of its own?")
    if not close(at2 - at1, at1 - at0, at0, at1, at2):
        return "your D's loss does not grow in equal steps as w grows: does w multiply one whole term, once?"
    if not close(at0_other_images, at0):
        return ("with w = 0 your D's loss still changes when the unlabelled images change: which of the two terms "
                "should w weight?")
    return ""


def _supervised_term_ignores_a_shared_shift(model: Method, batch) -> bool:
    """11: add 3 to every logit of the labelled images only (recognised as the very tensor ``labelled_batch``
    returned): a K-class cross-entropy does not change. True (no verdict) where the student's code hides them."""
    state = {"shift": 0.0, "hit": False}
    with _labelled_batches_seen(model) as returned:
        def hook(module, args, out):
            if any(args[0] is x for x, _ in returned):
                state["hit"] = True
                return out + state["shift"]

        def d_loss(shift):
            state["shift"] = shift
            returned.clear()
            return _d_loss(model, batch)

        handle = model.discriminator.register_forward_hook(hook)
        try:
            plain, shifted = seeded_loss(d_loss, 0.0), seeded_loss(d_loss, 3.0)
        finally:
            handle.remove()
    return not state["hit"] or abs(shifted - plain) <= 1e-4 * max(abs(plain), 1.0)
