"""Helpers the model tests share: which sub-networks a few training iterations changed."""
import torch

from tutorial_lib import training
from tutorial_lib.training import step


def snapshot(model):
    """A copy of every sub-network's state, by name."""
    return {name: {k: v.detach().clone() for k, v in sub.state_dict().items()}
            for name, sub in model.named_children()}


def changed(before, model):
    """Names of the sub-networks whose trainable parameters changed since ``snapshot``."""
    return {name for name, sub in model.named_children()
            if any(not torch.equal(before[name][k], p.detach()) for k, p in sub.named_parameters())}


def two_steps(model, train, batch_size=32, **kwargs):
    """Train exactly two iterations (one epoch over just enough images)."""
    per_iter = step.batches_per_iteration([p for p in model.phases() if p.active(0)])
    return training.fit(model, train.take(2 * per_iter * batch_size), epochs=1, batch_size=batch_size,
                       checkpoint_dir=None, progress=False, **kwargs)
