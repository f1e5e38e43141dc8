"""CVAE-GAN (notebook 10): its losses by hand, labels reaching them, ablations, sampling, inpainting."""
import pytest
import torch
import torch.nn.functional as F

from netcheck import changed, snapshot, two_steps
from tutorial_lib import data, losses, methods, parameters
from tutorial_lib.training import shipped
from tutorial_lib.methods import cvaegan
from tutorial_lib.methods.base import Batch

SMALL = {"latent_dim": 4, "width": 4}


@pytest.fixture(scope="module")
def tiny():
    return data.load("mnist-sample", limit=640)


# ---------------------------------------------------------------------------- losses by hand

def test_pairwise_loss_by_hand():
    x = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    x_rec = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    # pixels: example 1: 1 + 4 = 5, example 2: 1 + 1 = 2
    assert cvaegan.pairwise_loss(x, x_rec).item() == pytest.approx(0.5 * (5 + 2) / 2)
    f = torch.tensor([[3.0], [0.0]])
    f_rec = torch.tensor([[1.0], [0.0]])
    # features add (3 − 1)² = 4 to example 1: ½ · (9 + 2) / 2
    assert cvaegan.pairwise_loss(x, x_rec, [f], [f_rec]).item() == pytest.approx(0.5 * (9 + 2) / 2)
    with pytest.raises(ValueError):
        cvaegan.pairwise_loss(x, x_rec, [f], [])


def test_class_centre_matching_by_hand():
    real = torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]])
    real_y = torch.tensor([0, 0, 1])                     # centres: class 0 (1, 0), class 1 (1, 1)
    fake = torch.tensor([[1.0, 2.0], [3.0, 1.0], [5.0, 5.0]])
    fake_y = torch.tensor([0, 1, 2])                     # class 2 has no real example: ignored
    # class 0: ‖(1, 0) − (1, 2)‖² = 4; class 1: ‖(1, 1) − (3, 1)‖² = 4 -> ½ · 8
    got = cvaegan.class_centre_matching_loss(real, real_y, fake, fake_y, num_classes=3)
    assert got.item() == pytest.approx(4.0)
    # one class only: the same as the plain feature-centre matching on that class
    same = cvaegan.class_centre_matching_loss(real[:2], real_y[:2], fake[:1], fake_y[:1], num_classes=3)
    assert same.item() == pytest.approx(losses.feature_matching_loss(real[:2], fake[:1]).item())


def test_class_centre_matching_reads_the_labels():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    a = cvaegan.class_centre_matching_loss(real, y, fake, y)
    b = cvaegan.class_centre_matching_loss(real, y.flip(0), fake, y)
    assert not torch.isclose(a, b)


def test_inpaint_blend_by_hand_keeps_known_pixels_exactly():
    x = torch.tensor([[0.1, 0.2, 0.3]])
    x_gen = torch.tensor([[9.0, 8.0, float("nan")]])
    mask = torch.tensor([[1, 0, 0]])                     # the source's M: 1 = missing
    out = cvaegan.inpaint_blend(x, x_gen, mask)
    assert out[0, 0].item() == 9.0 and torch.equal(out[:, 1:], x[:, 1:])   # even a NaN guess stays out


# ---------------------------------------------------------------------------- moving centres, gradient shares

def test_moving_centres_update_exactly_as_defined():
    centres = torch.tensor([[1.0, 1.0], [5.0, 5.0], [7.0, 7.0]])
    seen = torch.tensor([True, False, True])
    features = torch.tensor([[3.0, 1.0], [5.0, 3.0], [2.0, 4.0]])
    labels = torch.tensor([0, 0, 1])                     # batch means: class 0 (4, 2), class 1 (2, 4); class 2 absent
    new, new_seen = cvaegan.moving_centres(centres, seen, features, labels, momentum=0.75)
    # class 0 has a centre: 0.75 · (1, 1) + 0.25 · (4, 2) = (1.75, 1.25)
    # class 1 has none yet: its batch mean (2, 4), not a blend with the placeholder (5, 5)
    # class 2 is not in the batch: unchanged
    assert torch.equal(new, torch.tensor([[1.75, 1.25], [2.0, 4.0], [7.0, 7.0]]))
    assert new_seen.tolist() == [True, True, True]
    assert torch.equal(centres, torch.tensor([[1.0, 1.0], [5.0, 5.0], [7.0, 7.0]]))       # nothing in place
    zero, _ = cvaegan.moving_centres(centres, seen, features, labels, momentum=0.0)       # α = 0: per-batch
    assert torch.equal(zero[:2], torch.tensor([[4.0, 2.0], [2.0, 4.0]]))


def test_centre_gap_loss_by_hand_and_per_batch_centres_give_the_old_loss():
    centres, seen = torch.tensor([[1.0, 0.0], [1.0, 1.0], [9.0, 9.0]]), torch.tensor([True, True, False])
    fake = torch.tensor([[1.0, 2.0], [3.0, 1.0], [5.0, 5.0]])
    fake_y = torch.tensor([0, 1, 2])                     # class 2 has no real centre: ignored
    # class 0: ‖(1, 0) − (1, 2)‖² = 4; class 1: ‖(1, 1) − (3, 1)‖² = 4 -> ½ · 8
    assert cvaegan.centre_gap_loss(centres, seen, fake, fake_y).item() == pytest.approx(4.0)
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(12, 3, generator=g), torch.randn(12, 3, generator=g)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 4, 4, 0, 0])
    fresh, seen = cvaegan.moving_centres(torch.zeros(10, 3), torch.zeros(10, dtype=torch.bool), real, y, momentum=0.9)
    assert torch.allclose(cvaegan.centre_gap_loss(fresh, seen, fake, y.roll(3)),
                          cvaegan.class_centre_matching_loss(real, y, fake, y.roll(3)))


def test_the_model_keeps_its_real_centres_as_moving_averages():
    torch.manual_seed(0)
    alpha = 0.8
    model = cvaegan.CVAEGAN(cvaegan.CVAEGANConfig(centre_momentum=alpha, **SMALL))
    x1, x2 = torch.rand(8, 1, 28, 28) * 2 - 1, torch.rand(8, 1, 28, 28) * 2 - 1
    y1, y2 = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]), torch.tensor([0, 0, 0, 1, 1, 1, 5, 5])
    with torch.no_grad():                                # no step: D and C stay as they are
        f_c = [model.classifier.features(x) for x in (x1, x2)]
        f_d = [model.discriminator.features(x) for x in (x1, x2)]
        model.generator_loss(Batch(x1, y1))
        assert torch.allclose(model.class_centres[0], f_c[0][:2].mean(0))              # the first batch sets it
        assert torch.allclose(model.real_centre[0], f_d[0].mean(0))
        model.generator_loss(Batch(x2, y2))
    assert torch.allclose(model.class_centres[0], alpha * f_c[0][:2].mean(0) + (1 - alpha) * f_c[1][:3].mean(0))
    assert torch.allclose(model.class_centres[2], f_c[0][4:6].mean(0))                  # absent from batch 2
    assert torch.allclose(model.class_centres[5], f_c[1][6:].mean(0))                   # new in batch 2
    assert model.class_centre_seen.tolist() == [True, True, True, True, False, True, False, False, False, False]
    assert torch.allclose(model.real_centre[0], alpha * f_d[0].mean(0) + (1 - alpha) * f_d[1].mean(0))
    # the centres are constants for G: L_GC against them is the hand formula on the stored centre
    assert not model.class_centres.requires_grad and not model.real_centre.requires_grad


def test_gradient_shares_by_hand():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    v = torch.nn.Parameter(torch.tensor([0.5]))
    terms = {"a": 3 * w[0], "b": w[1] ** 2, "c": 5 * v.sum()}
    # ∇_w a = (3, 0), ∇_w b = (0, 4), c does not depend on w
    got = cvaegan.gradient_shares(terms, [w])
    assert got["a"] == {"norm": pytest.approx(3.0), "share": pytest.approx(3 / 7)}
    assert got["b"] == {"norm": pytest.approx(4.0), "share": pytest.approx(4 / 7)}
    assert got["c"] == {"norm": 0.0, "share": 0.0}
    # over both parameters the norm is over all of them together
    both = cvaegan.gradient_shares({"ab": 3 * w[0] + w[1] ** 2 + 5 * v.sum()}, [w, v])
    assert both["ab"]["norm"] == pytest.approx((9 + 16 + 25) ** 0.5) and both["ab"]["share"] == pytest.approx(1.0)


def test_generator_gradient_shares_measure_the_weighted_terms_and_leave_the_centres_alone():
    torch.manual_seed(0)
    x, y = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8) % 10
    shares = {}
    for weight in (1.0, 2.0):
        torch.manual_seed(0)
        model = cvaegan.CVAEGAN(cvaegan.CVAEGANConfig(centre_weight=weight, **SMALL))
        torch.manual_seed(1)
        shares[weight] = model.generator_gradient_shares(x, y)
        assert not model.real_centre_seen.any() and not model.class_centre_seen.any()
    assert set(shares[1.0]) == {"pairwise", "centre", "class_centre"}                 # L_KL reaches E only
    assert shares[2.0]["centre"]["norm"] == pytest.approx(2 * shares[1.0]["centre"]["norm"], rel=1e-5)
    assert shares[2.0]["pairwise"]["norm"] == pytest.approx(shares[1.0]["pairwise"]["norm"], rel=1e-5)
    assert sum(s["share"] for s in shares[2.0].values()) == pytest.approx(1.0)


# ---------------------------------------------------------------------------- D's fakes

def test_the_discriminator_loss_is_algorithm_1s_on_reconstructions_and_prior_samples():
    torch.manual_seed(0)
    model = cvaegan.CVAEGAN(cvaegan.CVAEGANConfig(**SMALL))
    x, y = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8) % 10
    torch.manual_seed(1)
    loss, logs = model.discriminator_loss(Batch(x, y))
    with torch.no_grad():                                # the same draws by hand: ε for z ~ q, then z_p
        torch.manual_seed(1)
        mu, logvar = model.encoder(x, y)
        x_rec = model.generator(mu + (0.5 * logvar).exp() * torch.randn_like(mu), y)
        x_prior = model.generator(torch.randn(8, SMALL["latent_dim"]), y)
        d = model.discriminator
        by_hand = -(F.logsigmoid(d(x)).mean() + F.logsigmoid(-d(x_rec)).mean() + F.logsigmoid(-d(x_prior)).mean())
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert "D(x')" in logs


def test_the_discriminator_loss_changes_when_only_the_reconstructions_change():
    torch.manual_seed(0)
    model = cvaegan.CVAEGAN(cvaegan.CVAEGANConfig(**SMALL))
    x, y = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8) % 10
    torch.manual_seed(1)
    before = model.discriminator_loss(Batch(x, y))[0]
    with torch.no_grad():                                # E only shapes x′ = G(E(x, c), c), never a prior sample
        for p in model.encoder.parameters():
            p.add_(0.5 * torch.randn_like(p))
    torch.manual_seed(1)
    after = model.discriminator_loss(Batch(x, y))[0]
    assert after.item() != pytest.approx(before.item(), rel=1e-4)
    seen = []
    model.discriminator.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    model.discriminator_loss(Batch(x, y))
    assert len(seen) == 3                                # real, prior samples and reconstructions


def test_the_cgan_discriminator_sees_prior_samples_only():
    torch.manual_seed(0)
    model = cvaegan.CVAEGAN(cvaegan.CVAEGANConfig(variant="cgan", **SMALL))
    x, y = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8) % 10
    torch.manual_seed(1)
    loss, logs = model.discriminator_loss(Batch(x, y))
    with torch.no_grad():
        torch.manual_seed(1)
        x_prior = model.generator(torch.randn(8, SMALL["latent_dim"]), y)
        expected = losses.discriminator_loss(model.discriminator(x, y), model.discriminator(x_prior, y))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5) and "D(x')" not in logs


# ---------------------------------------------------------------------------- labels reach the losses

def test_the_classifier_loss_uses_the_batch_labels():
    torch.manual_seed(0)
    model = cvaegan.CVAEGAN(cvaegan.CVAEGANConfig(**SMALL))
    x, y = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8)
    a, _ = model.classifier_loss(Batch(x, y))
    b, _ = model.classifier_loss(Batch(x, y.roll(1)))
    assert a.item() == pytest.approx(F.cross_entropy(model.classifier(x), y).item())
    assert not torch.isclose(a, b)


@pytest.mark.parametrize("variant", ["cvaegan", "cvae", "cgan"])
def test_the_generator_loss_uses_the_batch_labels(variant):
    model = cvaegan.CVAEGAN(cvaegan.CVAEGANConfig(variant=variant, **SMALL)).eval()
    x, y = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8)
    torch.manual_seed(1)
    a, _ = model.generator_loss(Batch(x, y))
    torch.manual_seed(1)
    b, _ = model.generator_loss(Batch(x, y.roll(1)))
    assert a.item() != b.item()          # same noise, same images: only the labels differ


def test_the_generator_loss_is_the_weighted_sum_of_its_terms():
    cfg = cvaegan.CVAEGANConfig(kl_weight=2.0, pairwise_weight=0.5, centre_weight=3.0, class_centre_weight=7.0, **SMALL)
    model = cvaegan.CVAEGAN(cfg)
    x, y = torch.rand(6, 1, 28, 28) * 2 - 1, torch.tensor([0, 1, 1, 2, 2, 2])
    loss, logs = model.generator_loss(Batch(x, y))
    expected = 2.0 * logs["kl"] + 0.5 * logs["pairwise"] + 3.0 * logs["centre"] + 7.0 * logs["class_centre"]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


# ---------------------------------------------------------------------------- ablations

@pytest.mark.parametrize("extra, expected", [
    ({"variant": "cvaegan"}, {"encoder", "generator", "discriminator", "classifier"}),
    ({"variant": "cvaegan", "generator_loss": "nonsaturating"}, {"encoder", "generator", "discriminator", "classifier"}),
    ({"variant": "cvaegan", "pairwise_classifier_features": True}, {"encoder", "generator", "discriminator", "classifier"}),
    ({"variant": "cvae"}, {"encoder", "generator"}),
    ({"variant": "cgan"}, {"generator", "discriminator"}),
    ({"variant": "cgan", "generator_loss": "nonsaturating"}, {"generator", "discriminator"}),
])
def test_two_fit_steps_train_exactly_the_networks_of_the_variant(tiny, extra, expected):
    torch.manual_seed(0)
    model = methods.build("cvaegan", **SMALL, **extra)
    assert {name for name, _ in model.named_children()} == expected      # nothing else is even built
    before = snapshot(model)
    history = two_steps(model, tiny, batch_size=16)
    assert history.logs[-1]["step"] == 2
    assert changed(before, model) == expected


def test_each_phase_moves_only_its_own_network(tiny):
    from tutorial_lib.training import step
    torch.manual_seed(0)
    model = methods.build("cvaegan", **SMALL)
    batch = Batch(tiny.floats(16), tiny.y[:16])
    owners = {"discriminator": {"discriminator"}, "classifier": {"classifier"}, "generator": {"encoder", "generator"}}
    for phase in model.phases():
        before = snapshot(model)
        step.take_step(phase, batch)
        assert changed(before, model) == owners[phase.name], phase.name


# ---------------------------------------------------------------------------- sampling and inpainting

@pytest.mark.parametrize("variant", ["cvaegan", "cvae", "cgan"])
def test_sample_respects_the_requested_classes(variant):
    model = methods.build("cvaegan", variant=variant, **SMALL).eval()
    y = torch.tensor([3, 3, 7, 0, 9])
    with torch.no_grad():
        x = model.sample(5, y=y)
        z = model.noise(5)
        assert torch.equal(model.sample(5, z=z, y=y), model.sample(5, z=z, y=y))
        assert not torch.equal(model.sample(5, z=z, y=y), model.sample(5, z=z, y=(y + 1) % 10))
        assert model.sample(4).shape == (4, 1, 28, 28)
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1


def test_sample_refuses_labels_of_the_wrong_shape_type_or_range():
    model = methods.build("cvaegan", **SMALL)
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        model.sample(5, y=torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        model.sample(2, y=torch.tensor([[1], [2]]))
    with pytest.raises(ValueError, match="int64"):
        model.sample(2, y=torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="outside"):
        model.sample(2, y=torch.tensor([1, 10]))


@pytest.mark.parametrize("iterations", [1, 5])
def test_inpaint_keeps_the_known_pixels_and_changes_the_missing_ones(tiny, iterations):
    torch.manual_seed(0)
    model = methods.build("cvaegan", **SMALL).eval()
    x = tiny.floats(6)
    mask = torch.zeros(1, 1, 28, 28, dtype=torch.bool)
    mask[..., 8:20, 8:20] = True                       # M = 1: the missing block
    masked = torch.where(mask, torch.full_like(x, -1.0), x)
    out = model.inpaint(masked, mask, iterations=iterations)
    assert out.shape == x.shape
    assert torch.equal(out[..., ~mask[0, 0]], masked[..., ~mask[0, 0]])
    assert not torch.equal(out[..., mask[0, 0]], masked[..., mask[0, 0]])
    given = model.inpaint(masked, mask, iterations=iterations, y=tiny.y[:6])
    assert torch.equal(given[..., ~mask[0, 0]], masked[..., ~mask[0, 0]])


def test_inpaint_needs_an_encoder_and_classes():
    x, mask = torch.zeros(2, 1, 28, 28), torch.zeros(28, 28)
    with pytest.raises(ValueError, match="no encoder"):
        methods.build("cvaegan", variant="cgan", **SMALL).inpaint(x, mask, y=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="pass the classes y"):
        methods.build("cvaegan", variant="cvae", **SMALL).inpaint(x, mask)
    with pytest.raises(ValueError, match="iterations=0"):
        methods.build("cvaegan", **SMALL).inpaint(x, mask, iterations=0)


def test_gradient_norms_the_feature_loss_keeps_its_gradient_where_the_minimax_loss_loses_it():
    torch.manual_seed(0)
    model = methods.build("cvaegan", variant="cgan", **SMALL)
    with torch.no_grad():                           # D rejects every fake: D(G(z)) ≈ 0
        model.discriminator.net.head.bias.fill_(-12.0)
    x, y = torch.rand(16, 1, 28, 28) * 2 - 1, torch.arange(16) % 10
    norms = model.generator_gradient_norms(x, y)
    assert norms["D(G(z))"] < 1e-4
    assert norms["grad_norm/saturating"] < 1e-3 * norms["grad_norm/nonsaturating"]
    assert norms["grad_norm/feature_matching"] > 1e-3 * norms["grad_norm/nonsaturating"]


# ---------------------------------------------------------------------------- configuration

@pytest.mark.parametrize("bad, message", [
    ({"variant": "acgan"}, "variant='acgan' is not one of"),
    ({"generator_loss": "hinge"}, "generator_loss='hinge' is not one of"),
    ({"kl_weight": -1.0}, "kl_weight=-1.0 must be"),
    ({"centre_weight": float("nan")}, "centre_weight=nan"),
    ({"latent_dim": 0}, "latent_dim=0 must be"),
    ({"beta1": 1.0}, r"beta1=1.0 must be a number in \[0, 1\)"),
    ({"centre_momentum": 1.0}, r"centre_momentum=1.0 must be a number in \[0, 1\)"),
    ({"variant": "cvae", "generator_loss": "nonsaturating"}, "no discriminator"),
])
def test_bad_config_values_fail_clearly(bad, message):
    with pytest.raises(ValueError, match=message):
        methods.build("cvaegan", **bad)


def test_export_and_load_round_trip(runs_dir):
    from tutorial_lib.training import checkpoints
    model = methods.build("cvaegan", variant="cgan", **SMALL).eval()
    path = checkpoints.export_model(model, "cvaegan_test", epochs=1)
    loaded = shipped.load_model(path)
    z, y = model.noise(3), torch.tensor([1, 5, 9])
    with torch.no_grad():
        assert torch.equal(loaded.sample(3, z=z, y=y), model.sample(3, z=z, y=y))


def test_the_table_script_end_to_end_on_the_sample(runs_dir, tmp_path):
    import importlib.util
    import json
    from tutorial_lib import runtime
    spec = importlib.util.spec_from_file_location("cvaegan_table", runtime.REPO_ROOT / "experiments" / "cvaegan_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "table.json"
    script.main(["--dataset", "mnist-sample", "--train-limit", "256", "--epochs", "1", "--only", "CVAE-GAN", "CGAN",
                 "--init-shares", "--set", "width=4", "latent_dim=4", "eval_n=100", "eval_seeds=2",
                 "samples_per_class=5", "--out", str(out)])
    result = json.loads(out.read_text())
    assert list(result["models"]) == ["CVAE-GAN", "CGAN"] and result["settings"]["width"] == 4
    row = result["models"]["CVAE-GAN"]
    assert row["epochs_trained"] == 1 and len(row["top1"]["values"]) == 2 and row["FD"]["mean"] > 0
    for when in ("init", "trained"):
        assert sum(s["share"] for s in row["gradient_shares"][when].values()) == pytest.approx(1.0)
    literal = result["init_shares"]["paper 1e-3 literal"]
    assert literal["weights"]["centre_weight"] == 1e-3 and literal["shares"]["pairwise"]["share"] > 0.9
    assert "| CVAE-GAN |" in out.with_suffix(".md").read_text()


# ============================================================================ IP-GAN

from tutorial_lib.methods import ipgan  # noqa: E402

IP_SMALL = {"latent_dim": 4, "width": 4}


def test_identity_reconstruction_loss_by_hand():
    x_a = torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    x_gen = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    same = torch.tensor([True, False])
    # example 1 (x_s = x_a): ½ · 2 = 1; example 2: λ/2 · 4 = 2λ; mean over the batch
    assert ipgan.identity_reconstruction_loss(x_a, x_gen, same, 0.1).item() == pytest.approx((1 + 0.2) / 2)
    assert ipgan.identity_reconstruction_loss(x_a, x_gen, same, 1.0).item() == pytest.approx((1 + 2) / 2)
    assert ipgan.identity_reconstruction_loss(x_a, x_gen, ~same, 0.0).item() == pytest.approx(2 / 2)


def test_paired_feature_loss_by_hand_compares_each_example_with_its_own_target():
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    target = torch.tensor([[0.0, 0.0], [0.0, 3.0]])
    assert ipgan.paired_feature_loss(f, target).item() == pytest.approx((0.5 * 1 + 0.5 * 4) / 2)
    # the centres of f and of target.flip(0) differ from those of target only in order: pairs matter here
    assert ipgan.paired_feature_loss(f, target.flip(0)).item() != pytest.approx(ipgan.paired_feature_loss(f, target).item())


def test_the_sources_kl_form_is_the_usual_kl():
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.3, -0.7]])
    source = 0.5 * (mu @ mu.T + (logvar.exp() - logvar - 1).sum())
    assert source.item() == pytest.approx(losses.kl_normal_standard(mu, logvar).item())


def test_pairs_follow_same_fraction():
    model = ipgan.IPGAN(ipgan.IPGANConfig(same_fraction=1.0, **IP_SMALL))
    partner, same = model.pairs(16, torch.device("cpu"))
    assert torch.equal(partner, torch.arange(16)) and same.all()
    model = ipgan.IPGAN(ipgan.IPGANConfig(same_fraction=0.0, **IP_SMALL))
    torch.manual_seed(0)
    partner, same = model.pairs(64, torch.device("cpu"))
    assert torch.equal(same, partner == torch.arange(64)) and same.float().mean() < 0.2
    assert sorted(partner.tolist()) == list(range(64))


def test_ipgan_losses_use_the_batch_labels():
    torch.manual_seed(0)
    model = ipgan.IPGAN(ipgan.IPGANConfig(**IP_SMALL))
    x, y = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8)
    for loss_fn in (model.identity_loss, model.classifier_loss):
        assert loss_fn(Batch(x, y))[0].item() != loss_fn(Batch(x, y.roll(1)))[0].item()
    model.generator_loss(Batch(x, y))               # the running identity centres are kept per label
    assert torch.equal(model.centre_counts[:8], torch.ones(8)) and model.centre_counts[8:].sum() == 0
    assert torch.allclose(model.identity_centres[:8], model.identity.features(x))


@pytest.mark.parametrize("extra, expected", [
    ({}, {"identity", "attributes", "generator", "classifier", "discriminator"}),
    ({"identity_epochs": 1}, {"identity"}),          # epoch 0 of 1: I alone, the rest wait
])
def test_ipgan_two_fit_steps_train_the_right_networks(tiny, extra, expected):
    torch.manual_seed(0)
    model = methods.build("ipgan", **IP_SMALL, **extra)
    before = snapshot(model)
    two_steps(model, tiny, batch_size=16)
    assert changed(before, model) == expected


def test_ipgan_generator_step_leaves_the_identity_network_alone(tiny):
    from tutorial_lib.training import step
    torch.manual_seed(0)
    model = methods.build("ipgan", **IP_SMALL)
    phase = next(p for p in model.phases() if p.name == "generator")
    before = snapshot(model)
    step.take_step(phase, Batch(tiny.floats(16), tiny.y[:16]))
    assert changed(before, model) == {"attributes", "generator"}


def test_ipgan_attribute_encoder_learns_only_from_kl_and_reconstruction(monkeypatch):
    """The source trains A on L_KL and L_GR: L_GC and L_GD reach G but never A."""
    torch.manual_seed(0)
    model = ipgan.IPGAN(ipgan.IPGANConfig(kl_weight=0.0, **IP_SMALL))
    batch = methods.Batch(torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8) % 10)

    def grads_of_a(loss):
        model.zero_grad(set_to_none=True)
        loss.backward()
        return [p.grad for p in model.attributes.parameters()]

    with_gr = grads_of_a(model.generator_loss(batch)[0])
    assert any(g is not None and g.abs().max() > 0 for g in with_gr)             # L_GR reaches A
    monkeypatch.setattr(ipgan, "identity_reconstruction_loss", lambda x_a, x_gen, same, w: 0.0 * x_gen.sum())
    only_gc_gd = grads_of_a(model.generator_loss(batch)[0])                     # λ_KL = 0, L_GR gone
    assert all(g is None or g.abs().max() == 0 for g in only_gc_gd)
    assert any(p.grad is not None and p.grad.abs().max() > 0 for p in model.generator.parameters())


def test_ipgan_samples_and_recombines():
    torch.manual_seed(0)
    model = methods.build("ipgan", **IP_SMALL).eval()
    x_s, x_a = torch.rand(3, 1, 28, 28) * 2 - 1, torch.rand(3, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        model.identity_centres.normal_()
        assert model.sample(3, y=torch.tensor([0, 4, 9])).shape == (3, 1, 28, 28)
        z = model.noise(3)
        assert not torch.equal(model.sample(3, z=z, y=torch.tensor([0, 0, 0])), model.sample(3, z=z, y=torch.tensor([1, 1, 1])))
        out = model.recombine(x_s, x_a)
        assert out.shape == (3, 1, 28, 28) and out.min() >= -1 and out.max() <= 1
        assert not torch.equal(out, model.recombine(x_s.flip(0), x_a))     # the identity comes from x_s
        assert not torch.equal(out, model.recombine(x_s, x_a.flip(0)))     # the attributes from x_a
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        model.sample(3, y=torch.tensor([1, 2]))


def test_ipgan_has_its_own_kl_weight_and_notebook_10_passes_it():
    from tutorial_lib import runtime
    assert ipgan.IPGANConfig().kl_weight == 1.0 != cvaegan.CVAEGANConfig().kl_weight
    defaults = parameters.notebook_defaults("10_conditional_gans")
    assert defaults["ipgan_kl_weight"] == ipgan.IPGANConfig().kl_weight
    import nbformat
    notebook = nbformat.read(runtime.NOTEBOOKS_DIR / "10_conditional_gans.ipynb", as_version=4)
    setup = next(c.source for c in notebook.cells if "methods.IPGANConfig(" in c.source)
    assert "kl_weight=ipgan_kl_weight" in setup


@pytest.mark.parametrize("bad, message", [
    ({"same_fraction": 1.5}, r"same_fraction=1.5 must be a number in \[0, 1\]"),
    ({"centre_momentum": 1.0}, r"centre_momentum=1.0 must be a number in \[0, 1\)"),
    ({"different_weight": -0.1}, "different_weight=-0.1 must be"),
    ({"identity_epochs": -1}, "identity_epochs=-1 must be"),
])
def test_ipgan_bad_config_values_fail_clearly(bad, message):
    with pytest.raises(ValueError, match=message):
        methods.build("ipgan", **bad)
