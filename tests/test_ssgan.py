"""The semi-supervised GAN: its losses by hand, its labelled subset, and which networks it trains."""
import math

import pytest
import torch

from tutorial_lib import data, losses, methods, training
from tutorial_lib.methods import ssgan

SMALL = {"d_hidden": (32, 16), "g_hidden": 16, "latent_dim": 8}


@pytest.fixture(scope="module")
def tiny():
    return data.load("mnist-sample", limit=640)


# ----------------------------------------------------------------------------- losses by hand

def test_p_real_is_z_over_z_plus_one_and_the_fake_class_has_logit_zero():
    # K = 2. logits (0, 0): Z = 2, p(real) = 2/3.  logits (log 3, 0): Z = 4, p(real) = 4/5.
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    p_real = torch.sigmoid(losses.real_logit(logits))
    assert torch.allclose(p_real, torch.tensor([2 / 3, 4 / 5]))
    # the same number as 1 − p(fake) of a K+1 softmax whose last logit is 0
    with_fake = torch.cat([logits, torch.zeros(2, 1)], dim=1).softmax(1)
    assert torch.allclose(p_real, 1 - with_fake[:, -1])
    g = torch.Generator().manual_seed(0)
    logits = 4 * torch.randn(50, 10, generator=g, dtype=torch.float64)
    z = logits.exp().sum(1)
    assert torch.allclose(torch.sigmoid(losses.real_logit(logits)), z / (z + 1))


def test_unsupervised_loss_by_hand():
    # real (0, 0): −log(2/3) = log 1.5;  fake (log 3, 0): −log(1/(4 + 1)) = log 5
    real = torch.tensor([[0.0, 0.0]])
    fake = torch.tensor([[math.log(3.0), 0.0]])
    assert torch.allclose(losses.ssgan_unsupervised_loss(real, fake), torch.tensor(math.log(1.5) + math.log(5.0)))
    # a mean over each batch: two real rows (Z = 2 and Z = 4), one fake row (Z = 2)
    real = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    fake = torch.tensor([[0.0, 0.0]])
    expected = 0.5 * (math.log(3 / 2) + math.log(5 / 4)) + math.log(3.0)
    assert torch.allclose(losses.ssgan_unsupervised_loss(real, fake), torch.tensor(expected))


def test_unsupervised_loss_stays_finite_where_z_overflows():
    sure = torch.full((3, 10), 200.0)               # Z = 10·e^200 overflows float32
    loss = losses.ssgan_unsupervised_loss(sure, -sure)
    assert torch.isfinite(loss) and loss < 1e-6     # right on both: −log p(real) ≈ 0, −log p(fake) ≈ 0
    wrong = losses.ssgan_unsupervised_loss(-sure, sure)   # log Z = −200 + log 10 on the real, 200 + log 10 on the fake
    assert torch.allclose(wrong, torch.tensor((200.0 - math.log(10.0)) + (200.0 + math.log(10.0))))


def test_supervised_loss_is_cross_entropy_over_the_k_real_classes_only():
    logits = torch.tensor([[math.log(3.0), 0.0]])   # p(y=0 | x, real) = 3/4; with the fake class it would be 3/5
    loss = losses.ssgan_supervised_loss(logits, torch.tensor([0]))
    assert torch.allclose(loss, torch.tensor(-math.log(3 / 4)))
    assert not torch.allclose(loss, torch.tensor(-math.log(3 / 5)))


# ----------------------------------------------------------------------------- the labelled subset

def test_labelled_subset_is_balanced_seeded_and_nested(tiny):
    idx = ssgan.labelled_subset(tiny, 50, seed=0)
    assert len(idx) == 50 == len(set(idx.tolist()))
    assert torch.equal(tiny.y[idx].bincount(minlength=10), torch.full((10,), 5))
    assert torch.equal(idx, ssgan.labelled_subset(tiny, 50, seed=0))
    assert not torch.equal(idx, ssgan.labelled_subset(tiny, 50, seed=1))
    small = set(ssgan.labelled_subset(tiny, 20, seed=0).tolist())
    assert small < set(idx.tolist())


def test_labelled_subset_refuses_what_it_cannot_balance(tiny):
    with pytest.raises(ValueError, match="multiple of 10"):
        ssgan.labelled_subset(tiny, 25, seed=0)
    with pytest.raises(ValueError, match="fewer than"):
        ssgan.labelled_subset(tiny, 640, seed=0)


def test_attach_labels_keeps_exactly_the_subset(tiny):
    model = methods.build("ssgan", n_labels=20, label_seed=3, **SMALL)
    with pytest.raises(RuntimeError, match="attach_labels"):
        model.phases()
    idx = model.attach_labels(tiny)
    assert torch.equal(idx, ssgan.labelled_subset(tiny, 20, seed=3))
    assert torch.equal(model.labelled_y, tiny.y[idx]) and torch.equal(model.labelled_x, tiny.x[idx])
    x, y = model.labelled_batch(200)
    pool = {(int(label), data.as_float(img).sum().item()) for img, label in zip(tiny.x[idx], tiny.y[idx])}
    assert all((int(label), img.sum().item()) in pool for img, label in zip(x, y))
    copy = methods.build("ssgan", n_labels=20, label_seed=3, **SMALL)
    copy.load_state_dict(model.state_dict())          # saved with the model, as export/load do
    assert torch.equal(copy.labelled_y, model.labelled_y)


def test_the_discriminator_loss_never_reads_the_batch_labels(tiny):
    model = methods.build("ssgan", n_labels=20, **SMALL)
    model.attach_labels(tiny)
    x = tiny.floats(32)
    out = []
    for y in (tiny.y[:32], torch.randint(10, (32,)), torch.full((32,), -7)):
        torch.manual_seed(0)
        model.restart_labelled_stream()                  # the same labelled batch each time
        out.append(model.discriminator_loss(methods.Batch(x, y))[0])
    assert out[0] == out[1] == out[2]


def test_training_uses_no_label_outside_the_subset(tiny, monkeypatch):
    """Scrambling every label outside the labelled subset changes nothing that fit() does."""
    idx = ssgan.labelled_subset(tiny, 20, seed=0)
    scrambled = tiny.y.clone()
    outside = torch.ones(len(tiny), dtype=torch.bool)
    outside[idx] = False
    scrambled[outside] = (scrambled[outside] + 1 + torch.randint(9, (int(outside.sum()),))) % 10
    assert (scrambled[outside] != tiny.y[outside]).all() and torch.equal(scrambled[idx], tiny.y[idx])
    monkeypatch.setattr(ssgan, "labelled_subset", lambda train, n, seed: idx)   # the same draw for both
    weights = []
    for labels in (tiny.y, scrambled):
        for gan in (True, False):
            torch.manual_seed(0)
            model = methods.build("ssgan", n_labels=20, gan=gan, **SMALL)
            model.attach_labels(data.Split(tiny.name, tiny.x, labels))
            training.fit(model, data.Split(tiny.name, tiny.x, labels).take(128), epochs=1, batch_size=32,
                        checkpoint_dir=None, progress=False)
            weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[2]) and torch.equal(weights[1], weights[3])


# ----------------------------------------------------------------------------- the two phases by hand

def test_the_losses_of_one_iteration_by_hand(tiny):
    model = methods.build("ssgan", n_labels=20, input_noise=0.0, hidden_noise=0.0, unsupervised_weight=0.5, **SMALL)
    model.attach_labels(tiny)
    x = tiny.floats(16)
    batch = methods.Batch(x, tiny.y[:16])
    torch.manual_seed(1)
    i = torch.rand(1, 20).argsort(dim=1)[0, :16]        # a fresh permutation's first 16, then z ~ U[0, 1)
    z = torch.rand(16, SMALL["latent_dim"])
    d, g = model.discriminator, model.generator
    sup = torch.nn.functional.cross_entropy(d(data.as_float(model.labelled_x[i])), model.labelled_y[i])
    lse_real, lse_fake = torch.logsumexp(d(x), 1), torch.logsumexp(d(g(z)), 1)
    unsup = -torch.log(torch.sigmoid(lse_real)).mean() - torch.log(1 - torch.sigmoid(lse_fake)).mean()
    torch.manual_seed(1)
    loss, logs = model.discriminator_loss(batch)
    assert torch.allclose(loss, sup + 0.5 * unsup, atol=1e-5)
    assert torch.allclose(logs["supervised"], sup, atol=1e-6)

    torch.manual_seed(2)
    z = torch.rand(16, SMALL["latent_dim"])
    f_real, f_fake = d.features(x), d.features(g(z))
    assert f_real.shape == (16, SMALL["d_hidden"][-1])
    expected = (f_real.mean(0) - f_fake.mean(0)).pow(2).mean()      # the authors': mean of squares over features
    torch.manual_seed(2)
    assert torch.allclose(model.generator_loss(batch)[0], expected, atol=1e-6)
    model.cfg.fm_mean = False                                          # the source's ½‖·‖²
    torch.manual_seed(2)
    assert torch.allclose(model.generator_loss(batch)[0], 0.5 * (f_real.mean(0) - f_fake.mean(0)).pow(2).sum(),
                          atol=1e-5)


def test_the_networks_are_initialised_as_the_authors_code_does():
    torch.manual_seed(0)
    model = methods.build("ssgan", n_labels=20, **SMALL)
    fan_in = [784, *SMALL["d_hidden"]]
    directions = [m.parametrizations.weight.original1 for m in model.discriminator.modules()
                  if hasattr(m, "parametrizations")]
    for v, n_in in zip(directions, fan_in):            # v ~ N(0, 0.1²): each unit's ‖v‖ near 0.1 √fan_in
        assert v.std().item() == pytest.approx(0.1, rel=0.15)
        assert v.norm(dim=1).mean().item() == pytest.approx(0.1 * math.sqrt(n_in), rel=0.15)
    plain = methods.build("ssgan", n_labels=20, d_init_std=0.0, authors_generator=False, **SMALL)
    v = next(m.parametrizations.weight.original1 for m in plain.discriminator.modules() if hasattr(m, "parametrizations"))
    assert v.abs().max().item() <= 1 / math.sqrt(784)  # PyTorch's default: U(±1/√fan_in)

    norms = [m for m in model.generator.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 2 and all(not n.weight.requires_grad and torch.all(n.weight == 1) for n in norms)
    out = model.generator.net[6]
    assert torch.all(out.parametrizations.weight.original0 == 0.5)   # tanh(a/2·…) = their sigmoid with scale 1
    trained = {id(p) for p in model.optimizers()["generator"].param_groups[0]["params"]}
    assert trained == {id(p) for p in model.generator.parameters() if p.requires_grad}
    assert not any(id(n.weight) in trained for n in norms) and id(out.parametrizations.weight.original0) in trained
    assert all(n.weight.requires_grad for n in plain.generator.modules() if isinstance(n, torch.nn.BatchNorm1d))


def _params(module):
    return torch.cat([p.detach().flatten().clone() for p in module.parameters()])


def test_fit_changes_d_and_g_and_the_baseline_only_d(tiny):
    torch.manual_seed(0)
    model = methods.build("ssgan", n_labels=20, **SMALL)
    model.attach_labels(tiny)
    d0, g0 = _params(model.discriminator), _params(model.generator)
    history = training.fit(model, tiny.take(96), epochs=1, batch_size=32, checkpoint_dir=None, progress=False)
    assert history.logs[-1]["step"] == 3
    assert not torch.equal(d0, _params(model.discriminator)) and not torch.equal(g0, _params(model.generator))

    baseline = methods.build("ssgan", n_labels=20, gan=False, **SMALL)
    baseline.attach_labels(tiny)
    assert baseline.generator is None
    assert [p.name for p in baseline.phases()] == ["classifier"]
    trained = {id(p) for p in baseline.discriminator.parameters()} - {id(g) for g in baseline.discriminator.hidden_scales()}
    assert {id(p) for p in baseline.phases()[0].params} == trained
    assert not any(p.requires_grad for p in baseline.averaged.parameters())
    d0 = _params(baseline.discriminator)
    history = training.fit(baseline, tiny.take(96), epochs=1, batch_size=32, checkpoint_dir=None, progress=False)
    assert not torch.equal(d0, _params(baseline.discriminator))
    assert set(history.logs[-1]) >= {"classifier/supervised"} and not any("unsupervised" in k for k in history.logs[-1])
    with pytest.raises(ValueError, match="baseline"):
        baseline.sample(4)


def test_sample_classify_and_test_accuracy(tiny):
    model = methods.build("ssgan", n_labels=20, **SMALL).train()
    model.attach_labels(tiny)
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(4, y=torch.arange(4))
    model.eval()
    x = model.sample(4)
    assert x.shape == (4, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    model.train()
    predicted = model.classify(tiny.x[:50], batch_size=16)
    assert predicted.shape == (50,) and model.training                 # its mode is restored
    assert torch.equal(predicted, model.classify(tiny.x[:50]))           # eval mode: no noise
    assert torch.equal(predicted, model.discriminator.eval()(tiny.floats(50)).argmax(1))
    part = data.Split(tiny.name, tiny.x[:50], tiny.y[:50])
    assert ssgan.test_accuracy(model, part) == pytest.approx((predicted == tiny.y[:50]).float().mean().item())
    perfect = data.Split(tiny.name, tiny.x[:50], predicted)
    assert ssgan.test_accuracy(model, perfect) == 1.0


def test_the_run_folder_differs_per_label_draw():
    a = methods.build("ssgan", n_labels=20, label_seed=0, **SMALL).config()
    b = methods.build("ssgan", n_labels=20, label_seed=1, **SMALL).config()
    c = methods.build("ssgan", n_labels=50, label_seed=0, **SMALL).config()
    assert len({str(sorted(x.items())) for x in (a, b, c)}) == 3


@pytest.mark.parametrize("bad, message", [
    ({"n_labels": 25}, "multiple of 10"), ({"n_labels": 0}, "n_labels"), ({"label_seed": -1}, "label_seed"),
    ({"gan": "yes"}, "gan="), ({"d_hidden": ()}, "d_hidden"), ({"lr": -1.0}, "lr"),
    ({"input_noise": -0.1}, "input_noise"), ({"beta1": 1.0}, "beta1"), ({"unsupervised_weight": -1}, "unsupervised_weight"),
    ({"polyak_decay": 1.0}, "polyak_decay"), ({"polyak_decay": -0.1}, "polyak_decay"),
])
def test_bad_config_values_give_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        methods.build("ssgan", **{**SMALL, **bad})


def _layer_outputs(model, x):
    """The outputs (B, out) of each linear layer of D, in the mode D is in."""
    h, outputs = x, []
    for module in [*model.discriminator.body, *model.discriminator.head]:
        h = module(h)
        if isinstance(module, torch.nn.Linear):
            outputs.append(h)
    return outputs


@torch.no_grad()
def test_data_dependent_init_standardises_every_layer_of_d_with_the_noise_on(tiny):
    pick = torch.randperm(len(tiny), generator=torch.Generator().manual_seed(0))[:200]
    x = data.as_float(tiny.x[pick])
    for weight_norm in (True, False):
        model = methods.build("ssgan", n_labels=20, weight_norm=weight_norm, **SMALL).eval()
        torch.manual_seed(5)
        model.attach_labels(tiny, n_init=200)
        assert not model.training                        # its mode is restored
        torch.manual_seed(5)                             # the same noise draws as the init saw
        noisy = _layer_outputs(model.train(), x)
        assert len(noisy) == len(SMALL["d_hidden"]) + 1
        for h in noisy:                                  # standardised as training sees them: noise on
            assert torch.allclose(h.mean(0), torch.zeros(h.shape[1]), atol=1e-4)
            assert torch.allclose(h.std(0), torch.ones(h.shape[1]), atol=1e-3)
        clean = _layer_outputs(model.eval(), x)          # without the noise the spread is smaller
        assert clean[-1].std(0).mean() < 0.9
        plain = methods.build("ssgan", n_labels=20, weight_norm=weight_norm, data_init=False, **SMALL).eval()
        plain.attach_labels(tiny)
        assert plain.discriminator(x).std(0).max() < 0.5   # PyTorch's default init: small


# ----------------------------------------------------------------------------- the authors' recipe

def test_the_hidden_scales_stay_fixed_and_the_output_scale_trains(tiny):
    for fixed in (True, False):
        torch.manual_seed(0)
        model = methods.build("ssgan", n_labels=20, fixed_scales=fixed, **SMALL)
        model.attach_labels(tiny)
        d = model.discriminator
        hidden = [g.detach().clone() for g in d.hidden_scales()]
        out_scale = d.head[1].parametrizations.weight.original0.detach().clone()
        directions = [m.parametrizations.weight.original1.detach().clone() for m in d.body if isinstance(m, torch.nn.Linear)]
        assert len(hidden) == len(SMALL["d_hidden"])
        held = {id(p) for p in model.phases()[0].params}
        assert all((id(g) in held) != fixed for g in d.hidden_scales())
        training.fit(model, tiny.take(96), epochs=1, batch_size=32, checkpoint_dir=None, progress=False)
        same = [torch.equal(a, b) for a, b in zip(hidden, d.hidden_scales())]
        assert all(same) if fixed else not any(same)
        assert not torch.equal(out_scale, d.head[1].parametrizations.weight.original0)   # the output's g trains
        moved = [m.parametrizations.weight.original1 for m in d.body if isinstance(m, torch.nn.Linear)]
        assert not any(torch.equal(a, b) for a, b in zip(directions, moved))          # so do the directions v


def _stream_indices(model, n):
    """The labelled batch's positions in the labelled subset (n,), found by matching images."""
    x, y = model.labelled_batch(n)
    pool = data.as_float(model.labelled_x).flatten(1)                     # (L, 784)
    match = (x.flatten(1)[:, None, :] == pool[None]).all(-1)              # (n, L)
    assert (match.sum(1) == 1).all()                                      # each image is one of the subset
    i = match.float().argmax(1)
    assert torch.equal(model.labelled_y[i], y)
    return i


def test_labelled_batches_tile_the_labelled_set(tiny):
    model = methods.build("ssgan", n_labels=20, **SMALL)
    model.attach_labels(tiny)
    everyone = torch.full((20,), 1)
    for _ in range(3):                                   # batch = subset: every batch is a permutation of it
        assert torch.equal(_stream_indices(model, 20).bincount(minlength=20), everyone)
    for _ in range(3):                                   # batch = 5 × subset: each image 5 times per batch
        assert torch.equal(_stream_indices(model, 100).bincount(minlength=20), 5 * everyone)
    model.restart_labelled_stream()                      # batches of 8: any 20 in a row from the start are a permutation
    stream = torch.cat([_stream_indices(model, 8) for _ in range(10)])      # 80 = 4 permutations
    for k in range(4):
        assert torch.equal(stream[20 * k:20 * (k + 1)].bincount(minlength=20), everyone)
    assert not torch.equal(stream[:20], stream[20:40])                     # each a fresh order


@torch.no_grad()
def test_the_polyak_average_by_hand():
    """β = 0.5; D's weights at steps 1, 2, 3 all equal to 1, 2, 4.

    α_t = (1 − β)/(1 − β^t) = 1, 2/3, 4/7:  1  →  1 + 2/3·(2 − 1) = 5/3  →  5/3 + 4/7·(4 − 5/3) = 3.
    The authors' uncorrected average from 0 with α = 1 − β: 0.5, 1.25, 2.625; divided by 1 − β³ = 0.875: 3.
    """
    model = methods.build("ssgan", n_labels=20, polyak_decay=0.5, **SMALL)
    for value, expected in ((1.0, 1.0), (2.0, 5 / 3), (4.0, 3.0)):
        for p in model.discriminator.parameters():
            p.fill_(value)
        model.update_average()
        for p in model.averaged.parameters():
            assert torch.allclose(p, torch.full_like(p, expected))
    assert model.average_steps == 3
    authors = 0.0
    for value in (1.0, 2.0, 4.0):
        authors += 0.5 * (value - authors)
    assert authors / (1 - 0.5 ** 3) == pytest.approx(3.0)


def test_classify_and_test_accuracy_use_the_averaged_weights(tiny):
    torch.manual_seed(0)
    model = methods.build("ssgan", n_labels=20, **SMALL)
    model.attach_labels(tiny)
    history = training.fit(model, tiny.take(96), epochs=2, batch_size=32, checkpoint_dir=None, progress=False)
    assert model.average_steps == history.logs[-1]["step"] == 6                 # one average step per D update
    x, part = tiny.floats(200), data.Split(tiny.name, tiny.x[:200], tiny.y[:200])
    with torch.no_grad():
        by_average = model.averaged.eval()(x).argmax(1)
        by_raw = model.discriminator.eval()(x).argmax(1)
    model.train()
    assert torch.equal(model.classify(tiny.x[:200]), by_average)
    assert torch.equal(model.classify(tiny.x[:200], averaged=False), by_raw)
    assert ssgan.test_accuracy(model, part) == pytest.approx((by_average == part.y).float().mean().item())
    assert ssgan.test_accuracy(model, part, averaged=False) == pytest.approx((by_raw == part.y).float().mean().item())
    # the average is not the raw weights, and is what classify reads: scramble it and the predictions follow
    assert not torch.equal(_params(model.averaged), _params(model.discriminator))
    with torch.no_grad():
        for p in model.averaged.head.parameters():
            p.neg_()
    assert not torch.equal(model.classify(tiny.x[:200]), by_average)
    assert torch.equal(model.classify(tiny.x[:200], averaged=False), by_raw)
    raw_only = methods.build("ssgan", n_labels=20, polyak_decay=0.0, **SMALL)      # β = 0: test the raw weights
    raw_only.load_state_dict(model.state_dict())
    assert torch.equal(raw_only.classify(tiny.x[:200]), by_raw)


def test_z_is_uniform_on_the_unit_cube_unless_asked_for_a_normal():
    torch.manual_seed(0)
    z = methods.build("ssgan", n_labels=20, **SMALL).noise(4000)
    assert z.shape == (4000, SMALL["latent_dim"]) and z.min() >= 0 and z.max() < 1
    assert z.mean().item() == pytest.approx(0.5, abs=0.01)
    normal = methods.build("ssgan", n_labels=20, uniform_noise=False, **SMALL).noise(4000)
    assert normal.min() < 0 and normal.std().item() == pytest.approx(1.0, abs=0.02)


def test_the_learning_rate_is_constant_by_default_and_decays_only_when_asked():
    model = methods.build("ssgan", n_labels=20, **SMALL)
    model.labelled_index.fill_(0)                      # as if attached: phases() needs labels
    assert [p.lr_factor for p in model.phases()] == [None, None]          # the authors' final code: constant
    assert [ssgan.hold_then_decay(p) for p in (0.0, 0.5, 2 / 3, 5 / 6, 1.0)] == pytest.approx([1, 1, 1, 0.5, 0])
    model = methods.build("ssgan", n_labels=20, lr_decay=True, gan=False, **SMALL)
    model.labelled_index.fill_(0)
    assert [p.lr_factor for p in model.phases()] == [ssgan.hold_then_decay]
