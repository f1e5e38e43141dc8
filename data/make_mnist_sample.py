"""Rebuild the MNIST sample shipped in data/mnist-sample/ (seeded, so the files are reproducible).

    python data/make_mnist_sample.py            # needs full MNIST under data/MNIST/raw (torchvision downloads it)

Takes 4,000 training and 1,000 test digits, chosen uniformly at random with seed 0, and writes
them as IDX files in torchvision's layout, so torchvision.datasets.MNIST("data/mnist-sample") loads them.
"""
from pathlib import Path

import torch
import torchvision

from tutorial_lib.data import write_idx

HERE = Path(__file__).resolve().parent
OUT = HERE / "mnist-sample" / "MNIST" / "raw"
SIZES = {"train": 4000, "t10k": 1000}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    for prefix, n in SIZES.items():
        ds = torchvision.datasets.MNIST(str(HERE), train=prefix == "train", download=True)
        idx = torch.randperm(len(ds.data), generator=gen)[:n].sort().values
        write_idx(OUT / f"{prefix}-images-idx3-ubyte", ds.data[idx])
        write_idx(OUT / f"{prefix}-labels-idx1-ubyte", ds.targets[idx])
        print(f"{prefix}: {n} images, label counts {torch.bincount(ds.targets[idx], minlength=10).tolist()}")


if __name__ == "__main__":
    main()
