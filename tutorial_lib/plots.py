"""Figures the notebooks share: image grids, training curves, 2-D point clouds.

Images are tensors in [-1, 1], shape (N, 1, 28, 28) (or uint8 0..255, as the trainer stores them).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
import torchvision

from tutorial_lib import data
from tutorial_lib.training import History


def grid(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """Tile images into one (H, W) array in [0, 1], ``nrow`` images per row."""
    x = data.as_float(images.detach().cpu()).clamp(-1, 1)
    tiled = torchvision.utils.make_grid(data.to_unit(x), nrow=nrow, padding=pad, pad_value=1.0)
    return tiled[0].numpy()


def show_images(images: torch.Tensor, nrow: int = 8, title: str | None = None, ax=None):
    """Show a grid of images (white gutters, black ink on white is *not* applied: MNIST as is)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(min(12, 0.6 * nrow + 1), 0.6 * np.ceil(len(images) / nrow) + 0.6))
    ax.imshow(grid(images, nrow), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def save_images(images: torch.Tensor, path: str | Path, nrow: int = 8) -> Path:
    """Write an image grid as a PNG (e.g. for the README or docs/)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, grid(images, nrow), cmap="gray", vmin=0, vmax=1)
    return path


def side_by_side(named_images: dict[str, torch.Tensor], nrow: int = 8, height: float = 3.2):
    """One grid per model, in a row, titled by name."""
    fig, axes = plt.subplots(1, len(named_images), figsize=(height * len(named_images), height + 0.4),
                             squeeze=False)
    for ax, (name, images) in zip(axes[0], named_images.items()):
        show_images(images, nrow, name, ax)
    fig.tight_layout()
    return fig


STRIP_EPOCHS = 12
"""At most this many epochs (rows) in :func:`sample_strip`."""


def strip_epochs(epochs, max_epochs: int = STRIP_EPOCHS) -> list[int]:
    """The epochs :func:`sample_strip` shows: all, or ``max_epochs`` spread evenly, first and last included."""
    epochs = sorted(epochs)
    if len(epochs) > max_epochs:
        keep = np.unique(np.linspace(0, len(epochs) - 1, max_epochs).round().astype(int))
        epochs = [epochs[i] for i in keep]
    return epochs


def sample_strip(samples: dict[int, torch.Tensor], n: int = 8, max_epochs: int = STRIP_EPOCHS):
    """Rows = epochs, columns = the same fixed noise vectors: how samples evolve in training."""
    epochs = strip_epochs(samples, max_epochs)
    rows = torch.cat([samples[e][:n] for e in epochs])
    fig, ax = plt.subplots(figsize=(0.7 * n + 1, 0.7 * len(epochs) + 0.4))
    ax.imshow(grid(rows, nrow=n), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([(i + 0.5) * 30 for i in range(len(epochs))], [str(e) for e in epochs])
    ax.set(ylabel="after epoch", xticks=[], xlabel=f"the same {n} noise vectors in every row")
    for side in ax.spines.values():
        side.set_visible(False)
    return fig


def curves(history: History, keys: Sequence[str], ax=None, title: str | None = None, logy: bool = False):
    """Plot logged series (e.g. ``"vae/recon"``) against epochs."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for key in keys:
        x, y = history.series(key)
        ax.plot(x, y, label=key)
    ax.set_xlabel("epoch")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def points_2d(points: torch.Tensor, ax=None, modes: torch.Tensor | None = None, title: str | None = None,
              color: str = "tab:blue", lim: float | None = None):
    """Scatter 2-D samples, with the mixture's modes as red crosses."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    p = points.detach().cpu().numpy()
    ax.scatter(p[:, 0], p[:, 1], s=2, alpha=0.4, color=color)
    if modes is not None:
        m = modes.cpu().numpy()
        ax.scatter(m[:, 0], m[:, 1], marker="x", color="red", s=40)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def per_epoch(runs: dict[str, Sequence[dict]], keys: Sequence[str], *, logy: Sequence[str] = (),
              lines: dict[str, float] | None = None, titles: dict[str, str] | None = None, width: float = 4.2):
    """One panel per key, one line per run: the value after each epoch (rows as in ``History.epochs``,
    e.g. filled by :class:`tutorial_lib.training.callbacks.EpochMetric`). ``lines`` draws a dashed
    horizontal reference per key (a threshold, a baseline); keys in ``logy`` get a log scale."""
    lines, titles = lines or {}, titles or {}
    fig, axes = plt.subplots(1, len(keys), figsize=(width * len(keys), 3.3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, rows in runs.items():
            points = [(r["epoch"], r[key]) for r in rows if key in r]
            if points:
                ax.plot(*zip(*points), marker="o", ms=3, label=name)
        if key in lines:
            ax.axhline(lines[key], color="k", ls="--", lw=1)
        ax.set(xlabel="epoch", title=titles.get(key, key), yscale="log" if key in logy else "linear")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def class_shares(runs: dict[str, Sequence[dict]], n_classes: int = 10, height: float = 3.0):
    """One panel per run: the share of each class among its samples (columns) after each epoch
    (rows), from the ``"share of k"`` values of :func:`tutorial_lib.metrics.epoch_quality`. A
    collapsed epoch is one bright cell; a healthy one is an even row near 1 / n_classes. Epochs
    whose run did not record the shares (an older version measured only the largest) stay blank."""
    fig, axes = plt.subplots(1, len(runs), figsize=(3.4 * len(runs) + 0.8, height), squeeze=False,
                             constrained_layout=True)
    for ax, (name, rows) in zip(axes[0], runs.items()):
        shares = np.array([[r.get(f"share of {k}", np.nan) for k in range(n_classes)] for r in rows])
        missing = int(np.isnan(shares[:, 0]).sum())
        image = ax.imshow(shares, vmin=0, vmax=1, cmap="magma", aspect="auto", interpolation="nearest",
                          extent=(-0.5, n_classes - 0.5, rows[-1]["epoch"] + 0.5, rows[0]["epoch"] - 0.5))
        ax.set(xlabel="digit (evaluator's label)", xticks=range(n_classes),
               title=name + (f"\n({missing} epochs not recorded: blank)" if missing else ""))
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes[0][0].set_ylabel("epoch")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.9, label="share of samples")
    return fig
