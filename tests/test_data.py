"""Data loading: shapes, pixel range, shuffling, Fashion-MNIST through torchvision, clear errors."""
from urllib.error import URLError

import pytest
import torch
import torchvision

from tutorial_lib import data


def test_sample_loads_through_torchvision_with_documented_shapes():
    train, test = data.load("mnist-sample", "train"), data.load("mnist-sample", "test")
    assert train.x.shape == (4000, 1, 28, 28) and train.x.dtype == torch.uint8
    assert test.x.shape == (1000, 1, 28, 28)
    assert train.y.dtype == torch.int64 and set(train.y.tolist()) == set(range(10))
    # real digits: ~19 % of MNIST pixels are ink
    ink = (train.x > 127).float().mean().item()
    assert 0.1 < ink < 0.3


def test_limit_keeps_the_first_images():
    full, few = data.load("mnist-sample"), data.load("mnist-sample", limit=100)
    assert torch.equal(few.x, full.x[:100]) and len(few) == 100


def test_pixel_range_is_minus_one_to_one():
    x = data.to_float(torch.tensor([0, 255, 128], dtype=torch.uint8))
    assert x[0].item() == -1.0 and x[1].item() == 1.0 and abs(x[2].item() - 0.00392) < 1e-4
    assert torch.equal(data.to_uint8(x), torch.tensor([0, 255, 128], dtype=torch.uint8))
    assert torch.allclose(data.to_unit(x), torch.tensor([0.0, 1.0, 128 / 255]))
    batch = data.load("mnist-sample").floats(64)
    assert batch.min() == -1.0 and batch.max() == 1.0 and batch.dtype == torch.float32


def test_epoch_permutations_shuffle_cover_everything_and_reproduce():
    p0 = data.epoch_permutation(1000, seed=3, epoch=0)
    p1 = data.epoch_permutation(1000, seed=3, epoch=1)
    assert torch.equal(p0.sort().values, torch.arange(1000))
    assert not torch.equal(p0, p1) and not torch.equal(p0, torch.arange(1000))
    assert torch.equal(p0, data.epoch_permutation(1000, seed=3, epoch=0))
    assert not torch.equal(p0, data.epoch_permutation(1000, seed=4, epoch=0))


def test_batches_gather_by_index_and_drop_the_ragged_end():
    x = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1) * 25
    perm = data.epoch_permutation(10, seed=0, epoch=0)
    assert data.batches_per_epoch(10, 4) == 2
    b1 = data.get_batch(x, perm, 1, 4)
    assert torch.equal(b1, data.to_float(x[perm[4:8]]))
    points = torch.randn(10, 2)
    assert torch.equal(data.get_batch(points, perm, 0, 4), points[perm[:4]])   # float data as is


def _write_tiny_fashion(root, n_train=50, n_test=20):
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        data.write_idx(raw / f"{prefix}-images-idx3-ubyte", torch.randint(0, 256, (n, 28, 28), generator=gen))
        data.write_idx(raw / f"{prefix}-labels-idx1-ubyte", torch.arange(n) % 10)


def test_fashion_mnist_goes_through_torchvision(tmp_path):
    _write_tiny_fashion(tmp_path)
    train = data.load("fashion-mnist", "train", root=tmp_path, download=False)
    test = data.load("fashion-mnist", "test", root=tmp_path)
    assert train.x.shape == (50, 1, 28, 28) and len(test) == 20
    ref = torchvision.datasets.FashionMNIST(str(tmp_path), train=True)
    assert torch.equal(train.x[:, 0], ref.data) and torch.equal(train.y, ref.targets)


def test_missing_dataset_offline_gives_one_clear_message(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise URLError("no network")
    monkeypatch.setattr(torchvision.datasets.utils, "urlopen", offline, raising=False)
    monkeypatch.setattr(torchvision.datasets.MNIST, "download",
                        lambda self: (_ for _ in ()).throw(RuntimeError("Error downloading")))
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load("mnist", root=tmp_path)
    msg = str(err.value)
    assert "could not be downloaded" in msg and "mnist-sample" in msg and "DATA_ROOT" in msg
    assert str(tmp_path / "MNIST" / "raw") in msg
    with pytest.raises(data.DatasetUnavailable, match="not on disk"):
        data.load("mnist", root=tmp_path, download=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "cifar10"}, "dataset='cifar10' is not one of"),
    ({"name": "mnist-sample", "split": "valid"}, "split='valid'"),
    ({"name": "mnist-sample", "limit": 0}, "limit=0 must be a positive integer"),
])
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load(**kwargs)
