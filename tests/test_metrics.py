"""Sample-quality metrics on the shipped evaluator, checked on the shipped MNIST sample.

Sets of N = 1000: A, B, C = disjoint slices of the 4,000 sample training digits, T = the 1,000
sample test digits. The "floor" is FD(A, B): two independent real sets at the same N. The
thresholds below come from measured values (noted beside each) with generous margins.
"""
import urllib.error

import pytest
import torch
from torchvision.transforms.functional import gaussian_blur

from tutorial_lib import data, evaluator, metrics

N = 1000


@pytest.fixture(scope="module")
def ev():
    return evaluator.load_evaluator("mnist")


@pytest.fixture(scope="module")
def sets(ev):
    train, test = data.load("mnist-sample", "train"), data.load("mnist-sample", "test")
    out = {name: metrics.embed(train.x[i * N:(i + 1) * N], ev) for i, name in enumerate("ABC")}
    out["T"] = metrics.embed(test.x, ev)
    out["test_images"] = data.to_float(test.x)
    return out


@pytest.fixture(scope="module")
def floor(sets):
    return metrics.frechet_distance(sets["A"], sets["B"])   # measured 7.4


def test_image_and_embedding_paths_agree(ev):
    x = data.load("mnist-sample", "train", limit=600).x
    real, fake = x[:300], x[300:]
    direct = metrics.frechet_distance(real, fake, ev)          # torchmetrics calls EvaluatorFeatures
    reused = metrics.frechet_distance(metrics.embed(real, ev), metrics.embed(fake, ev))
    assert direct == pytest.approx(reused, rel=1e-9)
    kid = metrics.kernel_inception_distance(real, fake, ev, subsets=5, subset_size=100)
    assert kid == pytest.approx(metrics.kernel_inception_distance(
        metrics.embed(real, ev), metrics.embed(fake, ev), subsets=5, subset_size=100), rel=1e-9)


def test_fd_of_train_vs_test_is_near_the_floor(sets, floor):
    ratio = metrics.frechet_distance(sets["C"], sets["T"]) / floor   # measured 0.92
    assert 0.5 < ratio < 1.5


def test_fd_grows_monotonically_with_blur(sets, ev):
    fds = [metrics.frechet_distance(sets["A"], sets["T"])]
    for sigma in (0.5, 1.0, 1.5, 2.0):
        blurred = gaussian_blur(sets["test_images"], [13, 13], [sigma, sigma])
        fds.append(metrics.frechet_distance(sets["A"], metrics.embed(blurred, ev)))
    # measured 6.8, 36, 312, 619, 774
    assert all(a < b for a, b in zip(fds, fds[1:])), fds


def test_fd_and_kid_of_noise_are_far_above_the_floor(sets, floor, ev):
    noise = torch.rand(N, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    fake = metrics.embed(noise, ev)
    assert metrics.frechet_distance(sets["A"], fake) > 100 * floor   # measured 4067 = 550 x floor
    kid_real, _ = metrics.kernel_inception_distance(sets["A"], sets["B"], subsets=20, subset_size=500)
    kid_noise, _ = metrics.kernel_inception_distance(sets["A"], fake, subsets=20, subset_size=500)
    assert abs(kid_real) < 5 and kid_noise > 1000 * 5             # measured ~0.3 (std 2) and 5e4


def test_precision_recall_by_hand():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0]])     # k = 1: every real radius is 1
    fake = torch.tensor([[0.5], [10.0]])                          # each fake radius is 9.5
    precision, recall = metrics.precision_recall(real, fake, k=1, chunk=2)
    assert precision == 0.5 and recall == 1.0


def test_precision_recall_of_real_vs_real_are_high(sets):
    precision, recall = metrics.precision_recall(sets["A"], sets["T"])   # measured 0.89, 0.89
    assert precision > 0.8 and recall > 0.8


def test_a_single_repeated_image_has_no_recall_but_full_precision(sets):
    fake = sets["A"][[0] * N]                                     # mode collapse onto one real digit
    precision, recall = metrics.precision_recall(sets["A"], fake)
    # Precision measures fidelity only: a copy of a real digit lies inside the real manifold, so it
    # is 1. Recall sees the collapse: the fake balls have radius 0, covering only that one digit.
    assert precision == 1.0
    assert recall <= 1 / N


def test_classifier_score_and_histogram(sets):
    assert metrics.classifier_score(sets["T"]) > 9.5              # measured 9.81 (ceiling 10)
    repeated = sets["T"][[0] * N]
    assert metrics.classifier_score(repeated) == pytest.approx(1.0, abs=1e-9)
    hist = metrics.class_histogram(sets["T"])
    assert hist.shape == (10,) and hist.sum().item() == pytest.approx(1.0)
    assert hist.min() > 0.07 and hist.max() < 0.13                # measured 0.089 .. 0.114
    assert metrics.class_histogram(repeated).max() == 1.0


def test_classifier_score_bounds_by_hand():
    one_hot = torch.eye(10).repeat(5, 1)                          # confident and all classes equally
    assert metrics.classifier_score(one_hot) == pytest.approx(10.0)
    assert metrics.classifier_score(torch.full((50, 10), 0.1)) == pytest.approx(1.0)


class _Replayer(torch.nn.Module):
    """A stand-in generative model: returns random real digits (global torch RNG), records its mode."""

    def __init__(self, images):
        super().__init__()
        self.images, self.calls = images, []

    def sample(self, n):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.images[torch.randint(len(self.images), (n,))]


def test_evaluate_protocol_seeds_and_side_effects(ev, sets):
    model = _Replayer(data.load("mnist-sample", "train").floats()).train()
    kw = {"n": 400, "kid_subsets": 5, "kid_subset_size": 200}
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    report = metrics.evaluate(model, sets["T"], ev, name="replayer", seeds=(0, 1, 2), **kw)
    assert torch.equal(torch.rand(3), expected)                   # the caller's RNG stream is untouched
    assert model.training and all(call == (False, False) for call in model.calls)  # eval + no_grad, restored
    assert all(len(v) == 3 for v in report.values.values())
    assert len(set(report.values["FD"])) == 3                     # the seeds draw different samples
    again = metrics.evaluate(model, sets["T"], ev, seeds=(1,), **kw)   # seed 1 alone gives the same values
    assert all(again.values[key] == [values[1]] for key, values in report.values.items())
    assert report.mean("precision") > 0.8 and report.std("FD") > 0
    assert report.histogram.sum().item() == pytest.approx(1.0)
    floor = metrics.real_floor(data.load("mnist-sample", "train"), sets["T"], ev, seeds=(0, 1), **kw)
    assert report.mean("FD") < 2 * floor.mean("FD")             # replaying real digits is at the floor
    table = metrics.format_table([report], floor)
    assert "real (train vs test)" in table and "replayer" in table


def test_same_n_is_enforced(ev, sets):
    with pytest.raises(ValueError, match="same n"):
        metrics.evaluate(data.load("mnist-sample", "train"), sets["T"], ev, n=2000)


def test_inception_fid_is_skipped_with_a_note_when_unavailable(monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no internet")
    monkeypatch.setattr(metrics, "FrechetInceptionDistance", offline)
    x = torch.zeros(4, 1, 28, 28)
    assert metrics.inception_fid(x, x) is None
    out = capsys.readouterr().out
    assert "Inception FID skipped" in out and "no internet" in out and len(out.strip().splitlines()) == 1


def test_interpret_reads_the_table_in_words():
    def report(name, fd, p, r, hist=None, fd_std=(0.1, 0.1)):
        rep = metrics.Report(name, 100)
        rep.values = {"FD": [fd - fd_std[0], fd + fd_std[1]], "KID": [0.0, 0.0], "precision": [p, p],
                      "recall": [r, r], "classifier score": [9.0, 9.0]}
        rep.histogram = hist
        return rep
    floor = report("real", 2.0, 0.9, 0.9)
    skewed = torch.full((10,), 0.05)
    skewed[3] = 0.55
    text = metrics.interpret({"sharp": report("sharp", 20.0, 0.9, 0.4),
                              "blurry": report("blurry", 40.0, 0.3, 0.8, hist=skewed),
                              "twin": report("twin", 20.05, 0.6, 0.6)}, floor)
    lines = text.splitlines()
    assert lines[0].startswith("sharp: FD 20 = 10.0 × the real floor") and "fidelity over coverage" in lines[0]
    assert "twin" in lines[1] and "balanced" in lines[1] and "call it a tie" in lines[1]
    assert lines[2].startswith("blurry") and "coverage over fidelity" in lines[2] and "digit, 3, takes 55%" in lines[2]
    assert "tie" not in lines[2] and lines[-1].startswith("Lowest FD: sharp")


def test_sharpness_measures_edges_and_drops_under_blur():
    flat = torch.zeros(2, 1, 8, 8)
    assert metrics.sharpness(flat) == 0.0
    board = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 2.0 - 1.0   # a ±1 checkerboard
    assert metrics.sharpness(board.view(1, 1, 8, 8)) == pytest.approx(4.0)          # |±4| on [0, 1] intensities
    digits = data.load("mnist-sample", limit=64).floats()
    blurred = torch.nn.functional.avg_pool2d(digits, 3, stride=1, padding=1)
    assert metrics.sharpness(blurred) < 0.7 * metrics.sharpness(digits)


def test_epoch_quality_sees_a_collapsed_model(ev):
    """epoch_quality: a 'model' that draws only threes has a top class share near 1 (class 3) and a
    large FD; one that draws real digits has a share near 0.1 and an FD near the real floor."""
    train, test = data.load("mnist-sample", "train"), data.load("mnist-sample", "test")
    threes = data.to_float(train.x[train.y == 3])
    reals = data.to_float(train.x)
    only_threes = lambda n: threes[torch.randint(len(threes), (n,))]
    measure = metrics.epoch_quality(test, ev, n=500)
    collapsed, healthy = measure(only_threes), measure(lambda n: reals[torch.randperm(len(reals))[:n]])
    assert collapsed["top class"] == 3 and collapsed["top class share"] > 0.9
    assert collapsed["share of 3"] == collapsed["top class share"]
    assert sum(healthy[f"share of {k}"] for k in range(10)) == pytest.approx(1.0)
    assert healthy["top class share"] < 0.2
    assert collapsed["FD"] > 5 * healthy["FD"]
    assert measure(only_threes) == collapsed                     # seeded: the same draw each time
    with pytest.raises(ValueError, match="fewer than n"):
        metrics.epoch_quality(test, ev, n=len(test) + 1)
