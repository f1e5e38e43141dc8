"""The offline evaluator: a small MNIST classifier whose penultimate layer is the feature space
in which :mod:`tutorial_lib.metrics` compares generated and real images (our stand-in for the
Inception network of FID, which needs weights from the internet).

The MNIST weights ship in ``data/evaluators/mnist_evaluator.pt``; :func:`load_evaluator` checks
their SHA-256 against :data:`MNIST_SHA256` before loading. Reproduce the file, seeded, with::

    python -m tutorial_lib.evaluator --dataset mnist --out data/evaluators/mnist_evaluator.pt

For Fashion-MNIST the same code trains an evaluator on first use (the dataset must be on disk
or downloadable) and caches it under ``data/evaluators/cache/`` with the hash of what it trained.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tutorial_lib import checks, data, files, runtime
from tutorial_lib.training import checkpoints

EVALUATOR_DIR = runtime.REPO_ROOT / "data" / "evaluators"
MNIST_WEIGHTS = EVALUATOR_DIR / "mnist_evaluator.pt"
MNIST_SHA256 = "dcd60d71b47891ae80497a529da089cc0af69546f4b77e92b838810cda366de8"
"""SHA-256 of the shipped MNIST weights; a file with any other hash is refused."""
CACHE_DIR = EVALUATOR_DIR / "cache"
FEATURE_DIM = 128
DEFAULTS = {"epochs": 4, "seed": 0, "batch_size": 128, "lr": 3e-3, "max_shift": 2}
"""Training settings of the shipped file (changing one changes the weights and their hash)."""
RETRAIN_HINT = "python -m tutorial_lib.evaluator --dataset mnist --out data/evaluators/mnist_evaluator.pt"


class EvaluatorHashError(RuntimeError):
    """The weights file is not the one the code expects (corrupted, or retrained without updating the hash)."""


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 conv -> batch norm -> ReLU -> 2x2 max pool (halves the side, rounding down)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


class Evaluator(nn.Module):
    """conv 32 (28->14) -> conv 64 (->7) -> conv 128 (->3) -> linear 1152->128 ("features") -> 10 logits.

    Inputs: images ``(B, 1, 28, 28)`` as floats in [-1, 1] (uint8 0..255 is converted).
    """
    num_features = FEATURE_DIM   # read by torchmetrics when this net is a custom feature extractor

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        self.body = nn.Sequential(_block(1, 32), _block(32, 64), _block(64, 128), nn.Flatten(),
                                  nn.Linear(128 * 3 * 3, FEATURE_DIM), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate activations ``(B, 128)``: the space the metrics work in."""
        return self.body(data.as_float(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, 10)``."""
        return self.head(self.dropout(self.features(x)))


# ----------------------------------------------------------------------------- training

def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by its own integer (dx, dy) in [-max_shift, max_shift]; background -1 fills in."""
    if max_shift == 0:
        return x
    b, side = x.shape[0], x.shape[-1]
    padded = F.pad(x, (max_shift,) * 4, value=data.PIXEL_MIN)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, b), generator=generator).to(x.device)
    ar = torch.arange(side, device=x.device)
    rows, cols = (dy[:, None] + ar)[:, :, None], (dx[:, None] + ar)[:, None, :]
    return padded[torch.arange(b, device=x.device)[:, None, None], 0, rows, cols].unsqueeze(1)


@torch.no_grad()
def accuracy(model: nn.Module, split: data.Split, *, batch_size: int = 1000) -> float:
    """Fraction of ``split`` classified correctly (model in eval mode, on the model's device)."""
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    correct = sum((model(split.x[i:i + batch_size].to(device)).argmax(1).cpu() == split.y[i:i + batch_size])
                  .sum().item() for i in range(0, len(split), batch_size))
    model.train(was_training)
    return correct / len(split)


def train_evaluator(dataset: str = "mnist", *, epochs: int = DEFAULTS["epochs"], seed: int = DEFAULTS["seed"],
                    device: str | torch.device = "cpu", root: str | Path | None = None,
                    batch_size: int = DEFAULTS["batch_size"], lr: float = DEFAULTS["lr"],
                    max_shift: int = DEFAULTS["max_shift"], verbose: bool = True) -> tuple[Evaluator, float]:
    """Train an evaluator on ``dataset``'s training split; return it (eval mode) and its test accuracy.

    Adam with a one-cycle learning rate, cross-entropy, random shifts of up to ``max_shift`` pixels.
    Seeded: on the CPU the same call gives the same weights (same machine and torch version).
    """
    checks.check_positive_int("epochs", epochs)
    checks.check_positive_int("batch_size", batch_size)
    train, test = (data.load(dataset, s, root=root) for s in ("train", "test"))
    device = torch.device(device)
    runtime.seed_everything(seed)
    model = Evaluator().to(device)
    gen = torch.Generator().manual_seed(seed)
    steps = data.batches_per_epoch(len(train), batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    x_train, y_train = train.x.to(device), train.y.to(device)
    for epoch in range(epochs):
        model.train()
        perm, start, total = data.epoch_permutation(len(train), seed=seed, epoch=epoch, device=device), time.time(), 0.0
        for i in range(steps):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            loss = F.cross_entropy(model(random_shift(data.to_float(x_train[idx]), max_shift, gen)), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: loss {total / steps:.4f}, "
                  f"test accuracy {accuracy(model, test):.4f} ({time.time() - start:.0f} s)")
    model.eval()
    return model, accuracy(model, test)


# ----------------------------------------------------------------------------- files

def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_evaluator(model: Evaluator, path: str | Path, **meta) -> str:
    """Save the weights (plus plain metadata) atomically; return the file's SHA-256."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    checkpoints.save(path, {"state_dict": state, "meta": meta})
    return sha256_file(path)


def _load_file(path: Path, device: str | torch.device) -> Evaluator:
    model = Evaluator()
    model.load_state_dict(checkpoints.load(path)["state_dict"])
    model.requires_grad_(False)
    return model.to(device).eval()


def _check_hash(path: Path, expected: str) -> None:
    if not path.exists():
        raise FileNotFoundError(f"Evaluator weights {path} are missing. Recreate them with:\n    {RETRAIN_HINT}")
    actual = sha256_file(path)
    if actual != expected:
        raise EvaluatorHashError(
            f"Evaluator weights {path} have the wrong SHA-256.\n  expected {expected}\n  actual   {actual}\n"
            f"The file is corrupted or was retrained. Restore it from git (git checkout -- {path}), "
            f"or retrain it with\n    {RETRAIN_HINT}\nand put the printed hash into MNIST_SHA256 in "
            f"tutorial_lib/evaluator.py.")


def load_evaluator(dataset: str = "mnist", device: str | torch.device = "cpu", *, path: str | Path | None = None,
                   root: str | Path | None = None, cache_dir: str | Path | None = None, **train_kwargs) -> Evaluator:
    """The evaluator for ``dataset``, frozen and in eval mode.

    ``"mnist"`` / ``"mnist-sample"``: the shipped file (or ``path``), refused unless its SHA-256 is
    :data:`MNIST_SHA256`. ``"fashion-mnist"``: trained on first use (``root`` is the data root,
    ``train_kwargs`` go to :func:`train_evaluator`, training runs on ``device``) and cached in
    ``cache_dir``, named by its settings, with a JSON record of its SHA-256 and test accuracy;
    later calls load the cache after checking that hash (a mismatch retrains).
    """
    checks.check_choice("dataset", dataset, data.DATASETS)
    if dataset in ("mnist", "mnist-sample"):
        path = Path(path) if path is not None else MNIST_WEIGHTS
        _check_hash(path, MNIST_SHA256)
        return _load_file(path, device)
    config = {"dataset": dataset, **DEFAULTS, **{k: v for k, v in train_kwargs.items() if k != "verbose"}}
    stem = f"{dataset}_evaluator-{checkpoints.config_hash(config)}"
    cache = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    weights, record = cache / f"{stem}.pt", cache / f"{stem}.json"
    if weights.exists() and record.exists():
        if sha256_file(weights) == json.loads(record.read_text())["sha256"]:
            return _load_file(weights, device)
        print(f"Cached evaluator {weights} does not match its recorded hash; training it again.")
    data.load(dataset, "test", root=root)      # the dataset must be reachable: fail here, with its message
    print(f"Training the {dataset} evaluator once (cached in {cache}) ...")
    model, acc = train_evaluator(dataset, root=root, device=device, **train_kwargs)
    sha = save_evaluator(model, weights, **config, test_accuracy=acc)
    files.atomic_write_bytes(record, json.dumps({**config, "test_accuracy": acc, "sha256": sha}, indent=2).encode())
    print(f"{dataset} evaluator: test accuracy {acc:.4f}, SHA-256 {sha}")
    return model.to(device)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Train (reproduce) an evaluator network; prints accuracy and SHA-256.")
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--out", type=Path, default=None,
                   help="weights file (default: the shipped MNIST file; for fashion-mnist: fill the cache)")
    p.add_argument("--root", default=None, help="data root (default: $DATA_ROOT or data/)")
    p.add_argument("--device", default="cpu", help="cpu (reproducible) or cuda")
    p.add_argument("--threads", type=int, default=2,
                   help="CPU threads; the shipped file used 2 (another count changes the last bits)")
    for key, value in DEFAULTS.items():
        p.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    settings, start = {key: getattr(a, key) for key in DEFAULTS}, time.time()
    if a.dataset == "fashion-mnist" and a.out is None:   # e.g. while online, before going offline
        load_evaluator("fashion-mnist", a.device, root=a.root, **settings)
        print(f"The fashion-mnist evaluator is in the cache, {CACHE_DIR}")
        return
    out = a.out or MNIST_WEIGHTS
    model, acc = train_evaluator(a.dataset, device=a.device, root=a.root, **settings)
    sha = save_evaluator(model, out, dataset=a.dataset, **settings, test_accuracy=acc, torch=str(torch.__version__))
    print(f"test accuracy {acc:.4f} | {sum(p.numel() for p in model.parameters())} parameters | "
          f"{time.time() - start:.0f} s on {a.threads} threads | wrote {out}\nSHA-256 {sha}")
    if a.dataset == "mnist" and sha != MNIST_SHA256:
        print("This differs from MNIST_SHA256 in tutorial_lib/evaluator.py; update it (and data/README.md) "
              "if this file is to be shipped.")


if __name__ == "__main__":
    main()
