"""The model contract: what a model gives :func:`tutorial_lib.training.fit`, and what ``fit`` gives back.

    Batch   one batch of training data: images x and their labels y, drawn by one shuffle
    Phase   one update rule: an optimizer, a loss of a Batch, how often per iteration, when
    Method  a model: its phases, how it samples, the settings that define it

``fit`` knows nothing else about a model. For example WGAN-GP declares

    [Phase("critic", critic_opt, critic_loss, repeats=5), Phase("generator", gen_opt, gen_loss)]

and one iteration of ``fit`` then runs five critic updates, each on a fresh real batch, and one
generator update. An unconditional model's losses read ``batch.x`` only; a class-conditional one
reads ``batch.y`` as well.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import nn

Tensor = torch.Tensor


class Batch(NamedTuple):
    """One batch as a phase's loss receives it; example i of ``x`` has label ``y[i]``.

    x  float images (B, 1, 28, 28) in [-1, 1], or points (B, d) for the 2-D toy problems
    y  int64 labels (B,): the digit's class, or the mixture component a toy point came from
    """
    x: Tensor
    y: Tensor


LossFn = Callable[[Batch], "tuple[Tensor, dict[str, Tensor]]"]


@dataclass
class Phase:
    """One update rule: ``optimizer`` takes a step on ``loss_fn(batch) -> (loss, logs)``.

    repeats     steps per iteration, each on a fresh real batch (WGAN-GP's critic: 5)
    start_epoch, stop_epoch   the epochs [start, stop) in which the phase runs (schedules)
    after_step  called after each step (WGAN's weight clipping)
    lr_factor   learning rate = initial rate × lr_factor(progress), progress in [0, 1] over the
                requested epochs (e.g. :func:`linear_decay`); None keeps the rate fixed

    Only the parameters held by ``optimizer`` receive gradients from ``loss_fn``: a
    generator's loss never changes the discriminator, AEGAN's G1 loss never changes Dec.
    """
    name: str
    optimizer: torch.optim.Optimizer
    loss_fn: LossFn
    repeats: int = 1
    start_epoch: int = 0
    stop_epoch: int | None = None
    after_step: Callable[[], None] | None = None
    lr_factor: Callable[[float], float] | None = None

    def active(self, epoch: int) -> bool:
        return epoch >= self.start_epoch and (self.stop_epoch is None or epoch < self.stop_epoch)

    @property
    def params(self) -> list[Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]


def linear_decay(progress: float) -> float:
    """Learning-rate factor falling linearly from 1 at the start to 0 at the end of training."""
    return max(0.0, 1.0 - progress)


class Method(nn.Module):
    """Base class of the generative models: declares phases, samples, describes its config."""
    name = "method"
    """The model's one name: its key in ``methods.REGISTRY`` and the prefix of its run folders."""
    noise_dim: int
    """Size of the noise z that :meth:`sample` decodes."""

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def sample(self, n: int, z: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """``n`` images in [-1, 1] (from noise ``z`` when given; of classes ``y`` (n,) for a
        conditional model, while an unconditional one refuses labels)."""
        raise NotImplementedError

    def check_no_labels(self, y: Tensor | None) -> None:
        """For an unconditional model's :meth:`sample`: labels are an error, never silently ignored."""
        if y is not None:
            raise ValueError(f"{self.name} is unconditional: sample() takes no labels y. "
                             f"Call sample(n) or sample(n, z=z).")

    def noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Noise z ~ N(0, I) on the method's device, shape (n, noise_dim)."""
        device = next(self.parameters()).device
        return torch.randn(n, self.noise_dim, generator=generator, device=device)

    def config(self) -> dict:
        """The settings that define this model (its config dataclass as a dict)."""
        return dataclasses.asdict(self.cfg)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Built on first use, after the model has been moved to its device."""
        if not hasattr(self, "_optimizers"):
            self._optimizers = self.make_optimizers()
        return self._optimizers

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """z = μ + σ ⊙ ε, ε ~ N(0, I), σ = exp(½ log σ²): sampling moved outside the gradient path (every
    model with an encoder of means and log-variances: the VAE, CVAE-GAN, IP-GAN)."""
    return mu + (0.5 * logvar).exp() * torch.randn_like(mu)


def gradient_norms(terms: dict[str, Tensor], params) -> dict[str, float]:
    """‖∇_θ L_k‖₂ over all of ``params`` together, for every scalar term L_k (0 for a term that does not
    depend on θ). Needs a graph from each term to ``params`` (gradients enabled)."""
    params = [p for p in params if p.requires_grad]
    norms = {}
    for name, value in terms.items():
        grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
        squares = [g.detach().pow(2).sum() for g in grads if g is not None]
        norms[name] = float(torch.stack(squares).sum().sqrt()) if squares else 0.0
    return norms



@torch.no_grad()
def polyak_step(average: nn.Module, model: nn.Module, steps: Tensor, beta: float, buffers: bool = False) -> None:
    """One step t = 1, 2, ... of the Polyak (exponential moving) average of ``model``'s weights kept in
    ``average``, a second copy of the network that gradients never train; ``steps`` (a device scalar) counts t:

        average_t = average_{t−1} + α_t (weights_t − average_{t−1}),   α_t = (1 − β) / (1 − β^t)

    The factor 1/(1 − β^t) is Adam's bias correction: α_1 = 1 copies the weights, the first updates are
    averaged nearly uniformly, and after ~1/(1 − β) updates α is 1 − β. ``buffers=True`` averages the
    floating-point buffers too (batch norm's running statistics, so that the averaged network normalises
    with statistics that belong to its own weights) and copies the others (batch norm's step count)."""
    steps.add_(1)
    alpha = (1 - beta) / (1 - beta ** steps)
    pairs = list(zip(average.parameters(), model.parameters()))
    if buffers:
        pairs += list(zip(average.buffers(), model.buffers()))
    for mean, now in pairs:
        if mean.is_floating_point():
            mean.lerp_(now, alpha)
        else:
            mean.copy_(now)
