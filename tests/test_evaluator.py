"""The offline evaluator: shipped MNIST weights (hash-checked) and the train-and-cache path.

Uses only the shipped files and tiny generated IDX data, so it runs offline in a few seconds.
"""
import json
import struct

import pytest
import torch

from tutorial_lib import data, evaluator
from tutorial_lib.training import shipped


@pytest.fixture(scope="module")
def shipped():
    return evaluator.load_evaluator("mnist")


def test_shipped_evaluator_loads_frozen_and_is_accurate(shipped):
    assert evaluator.sha256_file(evaluator.MNIST_WEIGHTS) == evaluator.MNIST_SHA256
    assert not shipped.training
    assert not any(p.requires_grad for p in shipped.parameters())
    test = data.load("mnist-sample", "test")
    assert len(test) == 1000
    assert evaluator.accuracy(shipped, test) >= 0.985


def test_shipped_file_is_small():
    assert evaluator.MNIST_WEIGHTS.stat().st_size < 2 * 2**20


def test_features_and_logits_shapes_and_uint8_input(shipped):
    x = data.load("mnist-sample", "test", limit=8).x
    f, logits = shipped.features(x), shipped(x)
    assert f.shape == (8, evaluator.FEATURE_DIM) and logits.shape == (8, 10)
    assert (f >= 0).all()                                         # after a ReLU
    torch.testing.assert_close(f, shipped.features(data.to_float(x)))   # uint8 is converted to [-1, 1]


def test_corrupted_weights_raise_a_clear_hash_error(tmp_path):
    raw = bytearray(evaluator.MNIST_WEIGHTS.read_bytes())
    raw[len(raw) // 2] ^= 0xFF                                    # one flipped byte
    bad = tmp_path / "mnist_evaluator.pt"
    bad.write_bytes(bytes(raw))
    with pytest.raises(evaluator.EvaluatorHashError) as info:
        evaluator.load_evaluator("mnist", path=bad)
    message = str(info.value)
    for needed in (str(bad), evaluator.MNIST_SHA256, evaluator.sha256_file(bad), "python -m tutorial_lib.evaluator"):
        assert needed in message


def test_missing_weights_say_how_to_retrain(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m tutorial_lib.evaluator"):
        evaluator.load_evaluator("mnist", path=tmp_path / "nothing.pt")


def test_random_shift_crops_a_translated_copy():
    gen = torch.Generator().manual_seed(0)
    x = data.load("mnist-sample", "train", limit=64).floats()
    assert torch.equal(evaluator.random_shift(x, 0, gen), x)
    y = evaluator.random_shift(x, 2, gen)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0)
    crops = torch.stack([padded[:, :, dy:dy + 28, dx:dx + 28] for dy in range(5) for dx in range(5)], dim=1)
    matches = (crops == y[:, None]).flatten(2).all(dim=2)        # (64 images, 25 offsets)
    assert matches.any(dim=1).all()                             # every output is the image moved by <= 2 px
    assert (~matches[:, 12]).float().mean() > 0.8               # and most did move (offset 12 = no move)


# ----------------------------------------------------------------------------- Fashion-MNIST path on toy data

def _write_idx(path, tensor):
    """IDX: magic (0, 0, 0x08 = ubyte, ndim), big-endian int32 sizes, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, tensor.dim()) + struct.pack(f">{tensor.dim()}i", *tensor.shape)
    path.write_bytes(header + tensor.to(torch.uint8).contiguous().numpy().tobytes())


def _toy_split(n, gen):
    """Class k = a bright horizontal bar at rows 4 + 2k (two rows thick), on faint noise."""
    labels = torch.randint(0, 10, (n,), generator=gen)
    images = torch.randint(0, 40, (n, 28, 28), generator=gen)
    for i, k in enumerate(labels.tolist()):
        images[i, 4 + 2 * k:6 + 2 * k, 3:25] = 255
    return images, labels


@pytest.fixture
def toy_fashion_root(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    for prefix, n in (("train", 640), ("t10k", 200)):
        images, labels = _toy_split(n, gen)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return tmp_path


TOY = {"epochs": 1, "batch_size": 64, "max_shift": 0, "verbose": False}   # shifts would blur the bar positions


def test_fashion_evaluator_is_trained_once_then_loaded_from_cache(toy_fashion_root, monkeypatch):
    cache = toy_fashion_root / "cache"
    first = evaluator.load_evaluator("fashion-mnist", root=toy_fashion_root, cache_dir=cache, **TOY)
    weights, records = list(cache.glob("*.pt")), list(cache.glob("*.json"))
    assert len(weights) == 1 and len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["sha256"] == evaluator.sha256_file(weights[0])
    test = data.load("fashion-mnist", "test", root=toy_fashion_root, download=False)
    acc = evaluator.accuracy(first, test)
    assert acc > 0.5 and record["test_accuracy"] == pytest.approx(acc)    # chance is 0.1

    def no_training(*args, **kwargs):
        raise AssertionError("the second load must come from the cache, not retrain")
    monkeypatch.setattr(evaluator, "train_evaluator", no_training)
    second = evaluator.load_evaluator("fashion-mnist", root=toy_fashion_root, cache_dir=cache, **TOY)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


def test_a_corrupted_cache_is_retrained(toy_fashion_root):
    cache = toy_fashion_root / "cache"
    evaluator.load_evaluator("fashion-mnist", root=toy_fashion_root, cache_dir=cache, **TOY)
    weights = next(cache.glob("*.pt"))
    weights.write_bytes(weights.read_bytes()[:-10])
    evaluator.load_evaluator("fashion-mnist", root=toy_fashion_root, cache_dir=cache, **TOY)
    assert json.loads(next(cache.glob("*.json")).read_text())["sha256"] == evaluator.sha256_file(weights)


def test_training_is_seeded(toy_fashion_root):
    runs = [evaluator.train_evaluator("fashion-mnist", root=toy_fashion_root, epochs=1, batch_size=128, seed=s,
                                      verbose=False)[0].state_dict() for s in (3, 3, 4)]   # 5 steps each
    same = all(torch.equal(a, b) for a, b in zip(runs[0].values(), runs[1].values()))
    other = all(torch.equal(a, b) for a, b in zip(runs[0].values(), runs[2].values()))
    assert same and not other
