"""Datasets: MNIST and Fashion-MNIST through torchvision, plus the MNIST sample shipped in ``data/``.

Pixel range, for every model in the series: **float images in [-1, 1]**, shape ``(B, 1, 28, 28)``.
Raw pixels ``u`` in 0..255 map to ``x = u / 127.5 - 1``. A model that needs intensities in
[0, 1] (the VAE's Bernoulli decoder) converts with :func:`to_unit` inside its loss.

For training, the whole split sits on the device as a ``uint8`` tensor (47 MB for MNIST) and
each epoch draws batches by a shuffled index: no per-image PIL transforms in the hot loop.
"""
from __future__ import annotations

import contextlib
import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError

import torch
import torchvision

from tutorial_lib import checks, runtime

DATASETS = ("mnist", "fashion-mnist", "mnist-sample")
"""Names accepted by :func:`load`. ``mnist-sample`` is the small real MNIST subset in the repo."""

SAMPLE_ROOT = runtime.REPO_ROOT / "data" / "mnist-sample"
PIXEL_MIN, PIXEL_MAX = -1.0, 1.0

_TORCHVISION_CLASS = {
    "mnist": torchvision.datasets.MNIST,
    "mnist-sample": torchvision.datasets.MNIST,
    "fashion-mnist": torchvision.datasets.FashionMNIST,
}


class DatasetUnavailable(RuntimeError):
    """The dataset is neither on disk nor downloadable; the message says how to fix it."""


class DatasetCorrupt(DatasetUnavailable):
    """A dataset file is on disk but damaged (e.g. a download cut short); the message names it."""


def default_root() -> Path:
    """Data root: ``$DATA_ROOT`` if set, else the repository's ``data/`` folder."""
    return Path(os.environ.get("DATA_ROOT") or runtime.REPO_ROOT / "data")


@dataclass
class Split:
    """One split of a dataset, as two tensors.

    x  uint8 images ``(N, 1, 28, 28)`` (converted to [-1, 1] per batch), or float points ``(N, d)``
       for the 2-D toy problems (used as they are)
    y  int64 labels ``(N,)`` (digit class, or the mixture component of a toy point)
    """
    name: str
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def to(self, device: torch.device | str) -> "Split":
        return Split(self.name, self.x.to(device), self.y.to(device))

    def floats(self, n: int | None = None) -> torch.Tensor:
        """The first ``n`` examples as floats (images in [-1, 1])."""
        return as_float(self.x[:n])

    def take(self, n: int) -> "Split":
        """The first ``n`` examples, as a new split (e.g. exactly k batches for a short run)."""
        return Split(self.name, self.x[:n], self.y[:n])


def load(name: str, split: str = "train", *, root: str | os.PathLike | None = None,
         download: bool = True, limit: int | None = None) -> Split:
    """Load a split as tensors through torchvision (downloading once when online).

    ``limit`` keeps the first ``limit`` images (the datasets are already in random order).
    Raises :class:`DatasetUnavailable` with the fix when the files are missing and offline.
    """
    checks.check_choice("dataset", name, DATASETS)
    checks.check_choice("split", split, ("train", "test"))
    if limit is not None:
        checks.check_positive_int("limit", limit)
    cls = _TORCHVISION_CLASS[name]
    if name == "mnist-sample":
        root, download = SAMPLE_ROOT, False
    root = Path(root) if root is not None else default_root()
    train = split == "train"
    _check_idx_files(name, root, split)
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:  # torchvision: "Dataset not found. You can use download=True ..."
        if not download:
            raise DatasetUnavailable(_missing_message(name, root, tried_download=False)) from None
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                ds = cls(str(root), train=train, download=True)
        except (RuntimeError, URLError, OSError) as err:
            raise DatasetUnavailable(_missing_message(name, root, tried_download=True)) from err
    images = ds.data.unsqueeze(1).contiguous()   # (N, 1, 28, 28) uint8
    labels = ds.targets.long()
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return Split(f"{name}/{split}", images, labels)


def _missing_message(name: str, root: Path, *, tried_download: bool) -> str:
    folder = "FashionMNIST" if name == "fashion-mnist" else "MNIST"
    why = "could not be downloaded (no internet?)" if tried_download else "is not on disk (download=False)"
    return (
        f"Dataset {name!r} is not under {root / folder / 'raw'} and {why}.\n"
        f"Fix one of: (1) run once with internet and torchvision downloads it there; "
        f"(2) copy the four {folder} IDX files (train/t10k images and labels) into {root / folder / 'raw'}; "
        f"(3) point DATA_ROOT (or the notebook's data_root parameter) at a folder that has them; "
        f"(4) use dataset='mnist-sample', the small MNIST sample shipped in the repository."
    )


def _check_idx_files(name: str, root: Path, split: str) -> None:
    """Raise :class:`DatasetCorrupt` if an IDX file of the split is on disk but damaged.

    An IDX file's header gives its shape, so its length is known: a file cut short (an
    interrupted download or copy) or one that is not IDX at all is caught here, by name, instead
    of failing deep in torchvision.
    """
    folder = root / ("FashionMNIST" if name == "fashion-mnist" else "MNIST") / "raw"
    prefix = "train" if split == "train" else "t10k"
    for path in (folder / f"{prefix}-images-idx3-ubyte", folder / f"{prefix}-labels-idx1-ubyte"):
        if not path.exists():
            continue
        problem = idx_problem(path)
        if problem:
            fix = ("restore the shipped sample with: git checkout -- data/mnist-sample" if name == "mnist-sample"
                   else f"delete it (rm '{path}') and load again: torchvision downloads a fresh copy when "
                        f"online; offline, copy a good file there")
            raise DatasetCorrupt(f"Dataset file {path} is corrupt: {problem}. To fix: {fix}.")


def idx_problem(path: Path) -> str:
    """What is wrong with an uncompressed IDX file of unsigned bytes, or "" when nothing is."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[:3] != b"\x00\x00\x08" or not 1 <= head[3] <= 4:
            return f"it does not start with an IDX header of unsigned bytes ({size} bytes in all)"
        dims = f.read(4 * head[3])
    if len(dims) < 4 * head[3]:
        return f"its header is cut short ({size} bytes in all)"
    shape = struct.unpack(f">{head[3]}i", dims)
    expected = 4 + 4 * head[3] + int(torch.tensor(shape).prod())
    if size != expected:
        return (f"its header promises shape {tuple(shape)}, {expected} bytes, but it has {size} "
                f"({'cut short' if size < expected else 'extra bytes'})")
    return ""


def check_dataset(name: str) -> None:
    checks.check_choice("dataset", name, DATASETS)


# ----------------------------------------------------------------------------- pixels

def to_float(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float in [-1, 1]."""
    return images_u8.float().div_(127.5).sub_(1.0)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] (pixel intensities, e.g. Bernoulli targets)."""
    return (x + 1.0) * 0.5


def from_unit(p: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return p * 2.0 - 1.0


def as_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> floats in [-1, 1]; float data (toy points) pass through unchanged."""
    return to_float(x) if x.dtype == torch.uint8 else x


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> uint8 0..255 (clamped), e.g. to store sample grids compactly."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


# ----------------------------------------------------------------------------- batches

def epoch_permutation(n: int, *, seed: int, epoch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The shuffled order of ``n`` examples for one epoch, a pure function of (seed, epoch).

    Being reproducible from two integers is what lets an interrupted run resume mid-epoch.
    """
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=gen).to(device)


def batches_per_epoch(n: int, batch_size: int) -> int:
    """Full batches in one pass (the ragged last batch is dropped so shapes stay fixed)."""
    return n // batch_size


def get_batch(x: torch.Tensor, perm: torch.Tensor, index: int, batch_size: int) -> torch.Tensor:
    """Batch ``index`` of an epoch: gather on the device, images converted to float [-1, 1]."""
    idx = perm[index * batch_size:(index + 1) * batch_size]
    return as_float(x[idx])


# ----------------------------------------------------------------------------- IDX files

def write_idx(path: str | os.PathLike, tensor: torch.Tensor) -> None:
    """Write a uint8 tensor in the IDX format of (Fashion-)MNIST, which torchvision reads.

    Header: two zero bytes, dtype code 0x08 (unsigned byte), the number of dimensions,
    then each size as a big-endian int32; then the raw bytes. Used to build the shipped
    sample (data/make_mnist_sample.py) and tiny datasets in the tests.
    """
    header = struct.pack(">BBBB", 0, 0, 0x08, tensor.dim()) + struct.pack(f">{tensor.dim()}i", *tensor.shape)
    Path(path).write_bytes(header + tensor.to(torch.uint8).contiguous().numpy().tobytes())
