"""One-batch checks of a student's model before it trains (10 and 11): what a run of a few minutes cannot show.

Each returns '' when met, else what is wrong as a question. Where the student's code hides the tensors a check
needs (e.g. one forward pass over a concatenated batch), the check gives no verdict rather than a wrong one.
"""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager

import torch

from tutorial_lib.methods.base import Batch, Method


def _seeded_loss(fn, *args) -> float:
    """``fn(*args)[0]`` as a float, without gradients, with torch's random draws seeded by 0 (and restored after):
    two calls differ only where their arguments or the model's hooks do."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(0)
        return float(fn(*args)[0])


def ssgan_checks_one_batch(model: Method, batch) -> str:
    """11, before training: D's loss is the same whatever labels the batch carries (only the labelled subset's may be
    read); G's loss reads D's last hidden layer f, not its output layer; and it compares batch means, so it does not
    change when the real images come in another order (noise off, the same draws)."""

    def d_loss(y):
        model.restart_labelled_stream()
        return model.discriminator_loss(Batch(batch.x, y))

    if _seeded_loss(d_loss, batch.y) != _seeded_loss(d_loss, (batch.y + 1) % 10):
        return ("your D's loss changes when the labels of the unlabelled batch change: it reads batch.y. A semi-supervised "
                "model may use only the labelled subset's labels (self.labelled_batch).")
    problem = _unsupervised_weight_problem(model, batch)
    if problem:
        return problem
    if not _supervised_term_ignores_a_shared_shift(model, batch):
        return ("your D's loss changes when the same constant is added to all K logits of the labelled images. The "
                "labelled images should enter one term only, a softmax over the K real classes, which such a shift "
                "leaves alone: which terms see them, and over which classes?")
    trained = [p for p in model.generator.parameters() if p.requires_grad]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        grads = torch.autograd.grad(model.generator_loss(batch)[0], trained, allow_unused=True)
    if all(g is None or not g.abs().sum() > 0 for g in grads):
        return ("no gradient of your G's loss reaches G's weights: which side of the feature gap is a fixed target, "
                "and which one must G be able to move?")
    was_training = model.training
    model.eval()                                     # no noise: f(x) depends on x alone
    try:
        plain = _seeded_loss(model.generator_loss, batch)
        hook = model.discriminator.head.register_forward_hook(lambda module, args, out: out + 5.0)
        try:
            moved_head = _seeded_loss(model.generator_loss, batch)
        finally:
            hook.remove()
        shuffled = _seeded_loss(model.generator_loss, Batch(batch.x.flip(0), batch.y))
    finally:
        model.train(was_training)
    if moved_head != plain:
        return ("your G's loss reads D's output layer: feature matching compares D's last hidden layer, "
                "self.discriminator.features, on real images and on G's.")
    if abs(shuffled - plain) > 1e-4 * max(abs(plain), 1e-8):
        return ("your G's loss changes when the real images come in another order: which statistic of the features "
                "does feature matching compare, one per image or one per batch?")
    return ""


def _unsupervised_weight_problem(model: Method, batch) -> str:
    """11: D's loss as a function of w = ``cfg.unsupervised_weight`` (same draws): it must read w, be S + w·U (equal
    steps for equal changes of w), and at w = 0 be blind to the unlabelled images (w weights the term that sees them)."""
    cfg, tolerance = model.cfg, lambda *v: 1e-4 * max(max(abs(a) for a in v), 1.0)

    def d_loss(w, x):
        model.cfg = dataclasses.replace(cfg, unsupervised_weight=w)
        model.restart_labelled_stream()
        return model.discriminator_loss(Batch(x, batch.y))

    try:
        at0, at1, at2 = (_seeded_loss(d_loss, w, batch.x) for w in (0.0, 1.0, 2.0))
        at0_other_images = _seeded_loss(d_loss, 0.0, batch.x.flip(-1))     # mirrored: other unlabelled images
    finally:
        model.cfg = cfg
    if abs(at1 - at0) <= tolerance(at0, at1):
        return ("your D's loss stays the same when w (self.cfg.unsupervised_weight) changes: does your code read the "
                "weight the notebook sets, or a number of its own?")
    if abs((at2 - at1) - (at1 - at0)) > tolerance(at0, at1, at2):
        return "your D's loss does not grow in equal steps as w grows: does w multiply one whole term, once?"
    if abs(at0_other_images - at0) > tolerance(at0, at0_other_images):
        return ("with w = 0 your D's loss still changes when the unlabelled images change: which of the two terms "
                "should w weight?")
    return ""


def _supervised_term_ignores_a_shared_shift(model: Method, batch) -> bool:
    """11: add 3 to every logit of the labelled images only (recognised as the very tensor ``labelled_batch``
    returned): a K-class cross-entropy does not change. True (no verdict) where the student's code hides them."""
    library_batch, returned, state = model.labelled_batch, [], {"shift": 0.0, "hit": False}

    def tagged(n):
        x, y = library_batch(n)
        returned.append(x)
        return x, y

    def hook(module, args, out):
        if any(args[0] is x for x in returned):
            state["hit"] = True
            return out + state["shift"]

    def d_loss(shift):
        state["shift"] = shift
        returned.clear()
        model.restart_labelled_stream()
        return model.discriminator_loss(Batch(batch.x, batch.y))

    model.labelled_batch = tagged
    handle = model.discriminator.register_forward_hook(hook)
    try:
        plain, shifted = _seeded_loss(d_loss, 0.0), _seeded_loss(d_loss, 3.0)
    finally:
        handle.remove()
        del model.labelled_batch
    return not state["hit"] or abs(shifted - plain) <= 1e-4 * max(abs(plain), 1.0)


def cvaegan_checks_one_batch(model: Method, batch) -> str:
    """10, before training: D's loss depends on the reconstructions x′ (Algorithm 1's fakes include them): under the
    same random draws, moving the encoder's means must change it; and E's and G's loss decodes codes drawn from
    q(z | x, c), never the means themselves."""
    def d_loss_with_means_moved_by(shift: float) -> float:
        hook = model.encoder.register_forward_hook(lambda module, args, out: (out[0] + shift, *out[1:]))
        try:
            return _seeded_loss(model.discriminator_loss, batch)
        finally:
            hook.remove()
    if d_loss_with_means_moved_by(0.0) == d_loss_with_means_moved_by(3.0):
        return ("your D's loss does not depend on the reconstructions: in the paper's Algorithm 1, which images does D "
                "take for fakes besides the samples drawn from the prior?")
    means, decoded = [], []
    hooks = [model.encoder.register_forward_hook(lambda module, args, out: means.append(out[0].detach())),
             model.generator.register_forward_pre_hook(lambda module, args: decoded.append(args[0].detach()))]
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            model.generator_loss(batch)
    finally:
        for hook in hooks:
            hook.remove()
    if any(z.shape == mu.shape and torch.equal(z, mu) for z in decoded for mu in means):
        return ("your E-and-G loss decodes the encoder's means themselves: where does the encoder's noise enter z, and "
                "what would L_KL's σ then be for?")
    if not _feature_term_moves_the_reconstructions(model, batch):
        return ("your E-and-G loss sends no gradient to x′ through D's features: L_G compares f_D(x) and f_D(x′) as "
                "well as the pixels. Is that term there, and can it move x′?")
    if _d_loss_falls_as_reconstructions_look_real(model, batch):
        return ("your D's loss falls when D finds the reconstructions more real: in Algorithm 1, is x′ one of D's "
                "fakes or one of its real images?")
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
            return _seeded_loss(model.discriminator_loss, batch)

        hook = model.discriminator.register_forward_hook(discriminator_hook)
        try:
            plain, raised = d_loss(0.0), d_loss(3.0)
        finally:
            hook.remove()
    return state["hit"] and not raised > plain


def _holds_rows_of(x: torch.Tensor, r: torch.Tensor) -> bool:
    """Whether ``x`` is ``r`` or holds it as a block of rows at a multiple of its length (a concatenated batch)."""
    if x.shape[1:] != r.shape[1:] or len(x) < len(r):
        return False
    return any(torch.equal(x[i:i + len(r)], r) for i in range(0, len(x) - len(r) + 1, len(r)))


def _feature_term_moves_the_reconstructions(model: Method, batch) -> bool:
    """10: E's and G's loss passes x′ through D's features with a gradient back to x′. With the reconstructions
    recognised (:func:`_reconstructions_recognised`), the gradient of the loss at x′ is taken twice, once with the
    gradient through D's feature extractor on them cut (same values): if the two agree, the feature term does not
    reach x′."""
    state = {"keep": 1.0, "hit": False}
    with _reconstructions_recognised(model) as found:
        def features_hook(module, args, out):
            if any(_holds_rows_of(args[0].detach(), r.detach()) for r in found["reconstructions"]):
                state["hit"] = True
                return out.detach() + state["keep"] * (out - out.detach())

        def gradient_at_reconstructions(keep: float):
            found.update(mu=None, reconstructions=[])
            state["keep"] = keep
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
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
