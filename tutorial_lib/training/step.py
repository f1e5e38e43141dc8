"""One training iteration as a function of device tensors only, so a GPU can replay it as one graph.

A 28×28 GAN step is a few hundred small kernels; launched one by one from Python, the GPU waits
on the launches, not on the arithmetic. :class:`StaticStep` writes an iteration (every active
phase, every repeat) so that nothing in it depends on Python values that change between
iterations:

- the batch (images and their labels) is gathered on the device from the resident dataset, at
  indices computed from a device-side iteration counter and this epoch's permutation (a static
  buffer);
- noise comes from the device's generator inside the losses, as before;
- losses stay on the device (``fit``'s meter sums them and reads them once per log interval);
- learning rates that follow a schedule become 0-dim tensors, updated in place between
  iterations, and optimizers are made ``capturable`` so their step counts live on the device.

On a CPU the step simply runs (eagerly). On CUDA, after a few warm-up iterations on a side
stream, one iteration is recorded with ``torch.cuda.graph`` and every later iteration is a single
``replay()``; the gradient penalty's double backward is ordinary kernels inside the graph. If
recording fails, training stops with an error that says so and how to go on: it cannot simply
continue eagerly, because a failed capture leaves the device's random-number generator marked as
capturing, and the next noise draw outside a graph raises "Offset increment outside graph capture"
(seen on an H200, 2026-11-30, in notebooks that had kept an earlier autograd graph alive on the
model's parameters). The run's last checkpoint is kept; ``fit(..., graph=False)`` resumes it.

``tests/test_step.py`` checks on the CPU that fit() with this step leaves exactly the parameters
of a plain per-batch loop (the loop fit had before), from the same state.
"""
from __future__ import annotations

import torch

from tutorial_lib import data
from tutorial_lib.methods.base import Batch, Phase


class GraphCaptureFailed(RuntimeError):
    """Recording the iteration as a CUDA graph failed; the process cannot go on eagerly (see above)."""

Tensor = torch.Tensor
WARMUP = 3
"""Eager iterations before a CUDA graph is recorded (lets cuBLAS/cuDNN and Adam's state settle)."""


def batches_per_iteration(phases: list[Phase]) -> int:
    """Real batches one iteration of ``phases`` draws: each repeat of a phase gets a fresh one,
    and the phases share them (a DCGAN's D and G steps use one batch; WGAN-GP's critic, five)."""
    return max(p.repeats for p in phases)


def take_step(phase: Phase, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
    """One optimizer step of one phase on ``batch``. Gradients go only to the phase's own parameters."""
    loss, logs = phase.loss_fn(batch)
    params = phase.params
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    for p, g in zip(params, grads):
        p.grad = g
    phase.optimizer.step()
    if phase.after_step is not None:
        phase.after_step()
    return loss.detach(), logs


def prepare_optimizers(phases: list[Phase], device: torch.device, graph: bool = True) -> None:
    """Set the optimizers for how the iterations run: for graph replay (``graph``), capturable
    optimizers with their step counts on the device and tensor learning rates where a schedule moves
    them; eagerly, plain optimizers with step counts on the CPU and float rates.

    Call after any saved state is loaded: a checkpoint brings back the settings it was saved with, so
    a run recorded as CUDA graphs on a GPU can go on eagerly (on the CPU too) and the reverse.
    """
    for phase in phases:
        for group in phase.optimizer.param_groups:
            if "capturable" in group:
                group["capturable"] = graph
            if graph and phase.lr_factor is not None and not torch.is_tensor(group["lr"]):
                group.setdefault("initial_lr", group["lr"])
                group["lr"] = torch.tensor(float(group["lr"]), device=device)
            elif not graph and torch.is_tensor(group["lr"]):
                group["lr"] = float(group["lr"])
        for state in phase.optimizer.state.values():
            if torch.is_tensor(state.get("step")):
                state["step"] = state["step"].to(device if graph else torch.device("cpu"))


class StaticStep:
    """One iteration of ``phases`` on ``train`` (a split already on the device), driven by device tensors.

    ``start_epoch(perm, iteration)`` loads the epoch's order and position; each call runs one
    iteration and returns ``[(phase name, loss, logs), ...]`` (tensors on the device; under a
    CUDA graph the same tensors every time, refilled by each replay).
    """

    def __init__(self, phases: list[Phase], train: data.Split, batch_size: int, *, graph: bool = False):
        device = train.x.device
        self.phases, self.batch_size = phases, batch_size
        self.images, self.labels = train.x, train.y     # (N, 1, 28, 28) uint8 (or toy points) and (N,) int64
        self.per_iter = batches_per_iteration(phases)
        self.perm = torch.zeros(len(train), dtype=torch.long, device=device)
        self.counter = torch.zeros((), dtype=torch.long, device=device)
        self.offsets = torch.arange(batch_size, device=device)
        self.use_graph = graph and device.type == "cuda"
        self.graph: torch.cuda.CUDAGraph | None = None
        self.outputs: list | None = None
        self.runs = 0

    def start_epoch(self, perm: Tensor, iteration: int) -> None:
        self.perm.copy_(perm)
        self.counter.fill_(iteration)

    def batch(self, r: int) -> Batch:
        """The r-th batch of the current iteration, images and labels at the same indices
        ``perm[(i·per_iter + r)·B : ... + B]``, gathered on the device."""
        idx = self.perm[(self.counter * self.per_iter + r) * self.batch_size + self.offsets]   # (B,)
        return Batch(data.as_float(self.images[idx]), self.labels[idx])

    def eager(self) -> list[tuple[str, Tensor, dict[str, Tensor]]]:
        out = []
        for phase in self.phases:
            for r in range(phase.repeats):
                out.append((phase.name, *take_step(phase, self.batch(r))))
        self.counter += 1
        return out

    def __call__(self) -> list[tuple[str, Tensor, dict[str, Tensor]]]:
        if self.graph is not None:
            self.graph.replay()
            return self.outputs
        if self.use_graph and self.runs >= WARMUP:
            try:
                return self._record()
            except Exception as err:                     # unsupported op, out of memory, a live autograd graph, ...
                self.use_graph, self.graph = False, None
                first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
                raise GraphCaptureFailed(
                    f"CUDA graph capture failed ({type(err).__name__}: {first}). Eager training cannot take "
                    f"over in this process (the failed capture leaves the GPU's random-number generator "
                    f"unusable); restart the kernel and call fit(..., graph=False), which resumes from the "
                    f"last checkpoint. A common cause: an earlier cell still holds an autograd graph on "
                    f"this model's parameters (del the loss, or run the training cell first).") from err
        self.runs += 1
        if self.use_graph:                               # warm-up on a side stream, as capture requires
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = self.eager()
            torch.cuda.current_stream().wait_stream(side)
            return out
        return self.eager()

    def _record(self) -> list[tuple[str, Tensor, dict[str, Tensor]]]:
        """Record one iteration (recording runs nothing), then replay it: this iteration's step."""
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = self.eager()
        self.graph, self.outputs = graph, outputs
        graph.replay()
        return outputs
