"""Each method: two fit() steps change exactly the networks they should; shapes and ranges."""
import math

import pytest
import torch

from netcheck import changed, snapshot, two_steps
from tutorial_lib import data, methods, training
from tutorial_lib.training import shipped, step


@pytest.fixture(scope="module")
def tiny():
    return data.load("mnist-sample", limit=640)


SMALL = {"vae": {"latent_dim": 4, "width": 8},
         "gan": {"latent_dim": 8, "width": 8},
         "wgan": {"latent_dim": 8, "width": 8},
         "aegan": {"latent_dim": 4, "noise_dim": 4, "width": 8, "d_width": 8, "latent_hidden": 16}}


@pytest.mark.parametrize("name, extra, expected", [
    ("vae", {}, {"encoder", "decoder"}),
    ("vae", {"likelihood": "gaussian"}, {"encoder", "decoder"}),
    ("gan", {}, {"generator", "discriminator"}),
    ("gan", {"generator_loss": "saturating"}, {"generator", "discriminator"}),
    ("gan", {"generator_loss": "feature_matching"}, {"generator", "discriminator"}),
    ("wgan", {"constraint": "gp"}, {"generator", "critic"}),
    ("wgan", {"constraint": "clip", "lr": 5e-5}, {"generator", "critic"}),
    ("aegan", {"schedule": "joint"}, {"encoder", "decoder", "latent_generator", "latent_discriminator",
                                      "image_discriminator"}),
    ("aegan", {"schedule": "joint", "d2_real": "data"}, {"encoder", "decoder", "latent_generator",
                                                         "latent_discriminator", "image_discriminator"}),
    ("aegan", {"schedule": "joint", "image_weight": 0.0}, {"encoder", "decoder", "latent_generator",
                                                           "latent_discriminator"}),
    ("aegan", {"code_norm": "batch"}, {"encoder", "decoder", "latent_generator", "latent_discriminator",
                                       "image_discriminator"}),
    ("aegan", {"latent_critic": "wgan-gp"}, {"encoder", "decoder", "latent_generator", "latent_discriminator",
                                             "image_discriminator"}),
    ("aegan", {"code_norm": "batch", "g1_output_norm": True}, {"encoder", "decoder", "latent_generator",
                                                             "latent_discriminator", "image_discriminator"}),
    ("aegan", {"d1_spectral_norm": True}, {"encoder", "decoder", "latent_generator", "latent_discriminator",
                                           "image_discriminator"}),
])
def test_two_fit_steps_change_the_parameters_of_every_network(tiny, name, extra, expected):
    torch.manual_seed(0)
    model = methods.build(name, **{**SMALL[name], **extra})
    before = snapshot(model)
    history = two_steps(model, tiny)
    assert history.logs[-1]["step"] == 2
    assert changed(before, model) == expected


def test_wgan_draws_a_fresh_real_batch_for_each_critic_step(tiny):
    model = methods.build("wgan", **SMALL["wgan"], critic_steps=5)
    seen = []
    original = model.critic_loss
    model.critic_loss = lambda batch: (seen.append(batch.x.clone()), original(batch))[1]
    two_steps(model, tiny)
    assert len(seen) == 10                                   # 2 iterations × 5 critic steps
    assert all(not torch.equal(seen[i], seen[j]) for i in range(10) for j in range(i))


def test_weight_clipping_keeps_critic_weights_in_range(tiny):
    model = methods.build("wgan", **SMALL["wgan"], constraint="clip", clip_value=0.01, lr=0.1)
    two_steps(model, tiny)
    assert max(p.abs().max().item() for p in model.critic.parameters()) <= 0.01 + 1e-7


def test_aegan_generator_step_never_touches_the_decoder():
    """G1's loss backpropagates *through* Dec and both discriminators but updates only G1."""
    torch.manual_seed(0)
    model = methods.build("aegan", **SMALL["aegan"], schedule="joint")
    phases = {p.name: p for p in model.phases()}
    sample = data.load("mnist-sample", limit=32)
    x = methods.Batch(sample.floats(), sample.y)
    before = snapshot(model)
    step.take_step(phases["latent_generator"], x)
    assert changed(before, model) == {"latent_generator"}
    before = snapshot(model)
    step.take_step(phases["image_discriminator"], x)
    assert changed(before, model) == {"image_discriminator"}
    before = snapshot(model)
    step.take_step(phases["autoencoder"], x)
    assert changed(before, model) == {"encoder", "decoder"}


def test_aegan_sequential_schedule_trains_the_autoencoder_then_the_latent_gan(tiny, tmp_path):
    model = methods.build("aegan", **SMALL["aegan"], schedule="sequential", ae_epochs=1)
    subset = tiny.take(64)
    before = snapshot(model)
    training.fit(model, subset, epochs=1, batch_size=32, checkpoint_dir=tmp_path, progress=False)
    assert changed(before, model) == {"encoder", "decoder"}
    before = snapshot(model)
    training.fit(model, subset, epochs=2, batch_size=32, checkpoint_dir=tmp_path, progress=False)
    assert changed(before, model) == {"latent_generator", "latent_discriminator", "image_discriminator"}


@pytest.mark.parametrize("name", ["vae", "gan", "wgan", "aegan"])
def test_samples_are_images_in_range(name):
    model = methods.build(name, **SMALL[name]).eval()
    with torch.no_grad():
        x = model.sample(5)
        z = model.noise(5)
        assert torch.equal(model.sample(5, z=z), model.sample(5, z=z))
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1


def test_gan_gradient_norms_show_the_saturating_loss_vanishing():
    model = methods.build("gan", **SMALL["gan"])
    with torch.no_grad():                        # make D reject every fake: D(G(z)) ≈ 0
        model.discriminator.head.bias.fill_(-12.0)
    norms = model.generator_gradient_norms(64)
    assert norms["D(G(z))"] < 1e-4
    assert norms["grad_norm/saturating"] < 1e-3 * norms["grad_norm/nonsaturating"]


def test_aegan_batch_normalised_code_has_a_fixed_scale_whatever_the_encoder_does():
    """code_norm='batch': each coordinate of h has mean 0 and std 1 over a training batch, even
    when the encoder's raw output is scaled up 1000-fold (the drift that lets D1 win)."""
    torch.manual_seed(0)
    model = methods.build("aegan", **SMALL["aegan"], code_norm="batch")
    x = data.load("mnist-sample", limit=64).floats()
    with torch.no_grad():
        raw = model.encoder[0]
        raw.head.weight.mul_(1000.0)
        raw.head.bias.add_(25.0)
        h = model.encode(x)
        free = raw(x)
    assert free.std(dim=0).mean() > 10 and free.mean(dim=0).abs().mean() > 10
    assert torch.allclose(h.mean(dim=0), torch.zeros(4), atol=1e-4)
    assert torch.allclose(h.std(dim=0, unbiased=False), torch.ones(4), atol=1e-3)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) and m.affine for m in model.modules())
    both = methods.build("aegan", **SMALL["aegan"], code_norm="batch", g1_output_norm=True)
    with torch.no_grad():
        both.latent_generator[0].net[-1].weight.mul_(1000.0)
        h_fake = both.latent_generator(both.noise(64))
    assert torch.allclose(h_fake.std(dim=0, unbiased=False), torch.ones(4), atol=1e-3)


def test_aegan_latent_critic_loss_by_hand():
    """latent_critic='wgan-gp': L_D1 = E f(h̃) − E f(h) + 10·E(‖∇f(ĥ)‖ − 1)², same noise and ε."""
    torch.manual_seed(0)
    model = methods.build("aegan", **SMALL["aegan"], latent_critic="wgan-gp")
    x = data.load("mnist-sample", limit=16).floats()
    torch.manual_seed(1)
    loss, logs = model.latent_discriminator_loss(methods.Batch(x, torch.zeros(16, dtype=torch.long)))
    torch.manual_seed(1)
    h, h_fake = model.encode(x).detach(), model.latent_generator(model.noise(16)).detach()
    f = model.latent_discriminator
    eps = torch.rand(16)
    h_hat = (eps[:, None] * h + (1 - eps[:, None]) * h_fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(f(h_hat).sum(), h_hat)
    expected = f(h_fake).mean() - f(h).mean() + 10 * ((grad.norm(dim=1) - 1) ** 2).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["gp"].item() == pytest.approx(10 * ((grad.norm(dim=1) - 1) ** 2).mean().item(), rel=1e-5)


def test_aegan_spectral_norm_bounds_each_layer_of_d1():
    torch.manual_seed(0)
    model = methods.build("aegan", **SMALL["aegan"], d1_spectral_norm=True)
    linears = [m for m in model.latent_discriminator.net if isinstance(m, torch.nn.Linear)]
    for _ in range(30):                          # power iteration converges as the layer is used
        model.latent_discriminator(torch.randn(8, 4))
    model.eval()
    assert all(torch.linalg.matrix_norm(m.weight, 2) < 1.05 for m in linears)
    plain = methods.build("aegan", **SMALL["aegan"])
    assert max(torch.linalg.matrix_norm(m.weight, 2) for m in plain.latent_discriminator.net
               if isinstance(m, torch.nn.Linear)) > 1.05


def test_aegan_code_diagnostics_see_a_drifted_code():
    torch.manual_seed(0)
    model = methods.build("aegan", **SMALL["aegan"])
    x = data.load("mnist-sample", limit=64).floats()
    with torch.no_grad():
        model.encoder.head.bias.add_(torch.tensor([3.0, 4.0, 0.0, 0.0]))
    with torch.no_grad():
        h, h_fake = model.encode(x), model.latent_generator(model.noise(64))
    d = model.code_diagnostics(x)
    assert d["code mean gap"] == pytest.approx((h.mean(0) - h_fake.mean(0)).norm().item(), rel=0.2)
    assert d["code mean gap"] > 4.0
    assert 0 < d["D1 real"] < 1 and 0 < d["D1 fake"] < 1


def test_export_and_load_model_round_trip(runs_dir):
    from tutorial_lib.training import checkpoints
    model = methods.build("aegan", **SMALL["aegan"])
    path = checkpoints.export_model(model, "m", epochs=3)
    assert path == checkpoints.models_dir() / "m.pt"
    loaded = shipped.load_model(path)
    assert type(loaded) is type(model) and loaded.config() == model.config()
    z = model.noise(4)
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded.sample(4, z=z), model.sample(4, z=z))


def test_unknown_method_and_bad_options_are_clear():
    with pytest.raises(ValueError, match="method='diffusion' is not one of"):
        methods.build("diffusion")
    with pytest.raises(ValueError, match="generator_loss='hinge' is not one of"):
        methods.build("gan", generator_loss="hinge")
    with pytest.raises(ValueError, match="constraint='spectral'"):
        methods.build("wgan", constraint="spectral")
    with pytest.raises(ValueError, match="d2_real='noise'"):
        methods.build("aegan", d2_real="noise")
    with pytest.raises(ValueError, match="code_norm='layer'"):
        methods.build("aegan", code_norm="layer")
    with pytest.raises(ValueError, match="latent_critic='hinge'"):
        methods.build("aegan", latent_critic="hinge")


def test_the_reference_vae_figures_are_compared_only_like_for_like():
    from tutorial_lib.methods import vae
    same = dict(dataset="mnist", train_limit=0, likelihood="bernoulli", kl_weight=1.0, batch_size=128)
    assert vae.reference_mismatch(**same) == ""
    assert vae.reference_mismatch(**{**same, "train_limit": 512}) == "only 512 training images"
    why = vae.reference_mismatch(**{**same, "dataset": "mnist-sample", "likelihood": "gaussian", "kl_weight": 4.0})
    assert why == "dataset 'mnist-sample', not the full MNIST; a gaussian decoder, not Bernoulli; λ_KL = 4, not 1"


def test_the_mse_vae_decodes_like_the_autoencoder_and_its_loss_is_squared_error():
    from tutorial_lib.methods import vae as vae_module
    torch.manual_seed(0)
    m = methods.build("vae", latent_dim=4, width=8, likelihood="mse", kl_weight=0.0)
    x = data.load("mnist-sample", limit=8).floats()
    torch.manual_seed(1)
    recon, _ = m.terms(x)
    torch.manual_seed(1)
    mu, logvar = m.encode(x)
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    x_hat = torch.tanh(m.decoder(z))
    constant = 0.5 * 784 * math.log(2 * math.pi * vae_module.MSE_SIGMA ** 2)
    assert torch.allclose(recon, (x - x_hat).pow(2).flatten(1).sum(1) + constant, atol=1e-4)
    assert m.sample(3).min() >= -1 and torch.allclose(m.decode_mean(mu), torch.tanh(m.decoder(mu)))


def test_evaluating_the_ex_post_mixture_leaves_the_shared_aegan_in_eval_mode_and_unchanged():
    """The mixture decodes with the AEGAN's decoder; measuring it must not switch that AEGAN into
    training mode, where its batch norms would then update their statistics on every later call
    (this once made 08 score 07's exported AEGAN at FD 267 where 07 had measured 11)."""
    from tutorial_lib import metrics
    torch.manual_seed(0)
    model = methods.AEGAN(methods.AEGANConfig(code_norm="batch", g1_output_norm=True, width=8, d_width=8,
                                              latent_hidden=16)).eval()
    train = data.load("mnist-sample", "train", limit=256)
    gmm = methods.ExPostGMM(model, train, n_components=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    metrics.draw(gmm, 64, seed=0)
    assert not model.training
    model.sample(64)                                          # in eval mode: running statistics untouched
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_polyak_step_matches_the_average_by_hand_and_handles_batch_norm_buffers():
    from tutorial_lib.methods.base import polyak_step
    model, average = torch.nn.BatchNorm1d(1), torch.nn.BatchNorm1d(1)
    steps, by_hand = torch.zeros(()), 0.0
    for t, value in enumerate([1.0, 2.0, 4.0], start=1):
        with torch.no_grad():
            model.weight.fill_(value)
            model.running_mean.fill_(-value)
            model.num_batches_tracked.fill_(10 * t)
        polyak_step(average, model, steps, beta=0.5, buffers=True)
        alpha = 0.5 / (1 - 0.5 ** t)                       # α_1 = 1: the first step copies
        by_hand += alpha * (value - by_hand)
        assert average.weight.item() == pytest.approx(by_hand)
        assert average.running_mean.item() == pytest.approx(-by_hand)     # averaged as the weights are
        assert average.num_batches_tracked.item() == 10 * t               # an integer buffer is copied
    # the bias-corrected average: Σ_t (1 − β) β^(T−t) v_t / (1 − β^T) = (⅛·1 + ¼·2 + ½·4) / ⅞ = 3
    assert average.weight.item() == pytest.approx(3.0)


@pytest.mark.parametrize("name, config, d", [("gan", methods.GANConfig, "discriminator"),
                                              ("wgan", methods.WGANConfig, "critic")])
def test_the_gan_samples_from_its_average_in_eval_mode_and_trains_the_raw_generator(name, config, d):
    gan = methods.build(name, width=8, polyak_decay=0.9, lr=1e-3, lr_d=4e-3)
    opt = gan.optimizers()
    assert opt[d].param_groups[0]["lr"] == 4e-3 and opt["generator"].param_groups[0]["lr"] == 1e-3
    d_phase, g_phase = gan.phases()
    assert d_phase.after_step is None and g_phase.after_step == gan.update_average
    gan.eval()
    assert gan.sampler() is gan.generator                 # nothing averaged yet: the trained weights
    with torch.no_grad():
        for p in gan.generator.parameters():
            p.add_(1.0)
    gan.update_average()                                  # α_1 = 1 (up to float32 rounding): a copy
    for mean, now in zip(gan.averaged.parameters(), gan.generator.parameters()):
        torch.testing.assert_close(mean, now)
    assert gan.sampler() is gan.averaged
    z = gan.noise(4)
    torch.testing.assert_close(gan.sample(4, z=z), gan.averaged(z))     # eval mode draws from the average
    gan.train()
    assert gan.sampler() is gan.generator                 # the losses always see the weights being trained
    assert not any(p.requires_grad for p in gan.averaged.parameters())
    plain = methods.build(name, width=8)
    assert plain.config()["polyak_decay"] == config().polyak_decay == 0 and not hasattr(plain, "averaged")
    assert plain.optimizers()[d].param_groups[0]["lr"] == plain.cfg.lr        # lr_d = 0: the critic uses lr
    with pytest.raises(ValueError, match="polyak_decay"):
        config(polyak_decay=1.0)
    with pytest.raises(ValueError, match="lr_d"):
        config(lr_d=-1.0)
