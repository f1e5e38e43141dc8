"""Every loss in tutorial_lib.losses against a value computed by hand (or a closed form)."""
import math

import pytest
import torch
from torch import nn

from tutorial_lib import losses


def sig(a):
    return 1.0 / (1.0 + math.exp(-a))


# ----------------------------------------------------------------------------- VAE

def test_kl_standard_normal_hand_value():
    # d = 2: mu = (1, 0), sigma^2 = (1, e) -> ½[(1 + 1 − 0 − 1) + (0 + e − 1 − 1)] = ½(e − 1)
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, 1.0]])
    assert losses.kl_normal_standard(mu, logvar).item() == pytest.approx(0.5 * (math.e - 1), rel=1e-6)


def test_kl_standard_normal_is_zero_only_at_the_prior():
    assert losses.kl_normal_standard(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max() == 0
    assert (losses.kl_normal_standard(torch.full((3, 4), 0.1), torch.zeros(3, 4)) > 0).all()


def test_kl_standard_normal_matches_monte_carlo():
    torch.manual_seed(0)
    mu = torch.tensor([[0.5, -1.0, 2.0]])
    logvar = torch.tensor([[0.3, -0.7, 0.0]])
    std = (0.5 * logvar).exp()
    z = mu + std * torch.randn(400_000, 3)
    log_q = torch.distributions.Normal(mu, std).log_prob(z).sum(1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    diff = log_q - log_p
    mc, se = diff.mean().item(), diff.std().item() / math.sqrt(len(diff))
    exact = losses.kl_normal_standard(mu, logvar).item()
    assert abs(mc - exact) < 4 * se


def test_bernoulli_nll_is_bce_summed_over_pixels():
    logits = torch.tensor([[[0.0, 2.0], [-1.0, 3.0]]])            # one 2x2 "image"
    target = torch.tensor([[[1.0, 0.0], [0.25, 1.0]]])
    hand = -(math.log(sig(0.0)) + math.log(1 - sig(2.0))
             + 0.25 * math.log(sig(-1.0)) + 0.75 * math.log(1 - sig(-1.0)) + math.log(sig(3.0)))
    out = losses.bernoulli_nll(logits, target)
    assert out.shape == (1,)
    assert out.item() == pytest.approx(hand, rel=1e-6)


def test_gaussian_nll_is_mse_over_two_sigma_squared_plus_constant():
    mean = torch.tensor([[0.2, 0.4, 0.9]])
    target = torch.tensor([[0.0, 0.5, 1.0]])
    sigma = 0.1
    sq = 0.2**2 + 0.1**2 + 0.1**2
    hand = sq / (2 * sigma**2) + 1.5 * math.log(2 * math.pi * sigma**2)
    assert losses.gaussian_nll(mean, target, sigma).item() == pytest.approx(hand, rel=1e-6)
    # and it is the exact log density of N(mean, sigma^2 I)
    ref = -torch.distributions.Normal(mean, sigma).log_prob(target).sum()
    assert losses.gaussian_nll(mean, target, sigma).item() == pytest.approx(ref.item(), rel=1e-5)


def test_vae_loss_means_over_batch_and_weights_kl():
    recon, kl = torch.tensor([10.0, 20.0]), torch.tensor([1.0, 3.0])
    assert losses.vae_loss(recon, kl).item() == pytest.approx(17.0)
    assert losses.vae_loss(recon, kl, kl_weight=0.5).item() == pytest.approx(16.0)


# ----------------------------------------------------------------------------- GAN

def test_discriminator_loss_hand_value():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    hand = (-(math.log(sig(2.0)) + math.log(sig(0.0))) / 2
            - (math.log(1 - sig(-1.0)) + math.log(1 - sig(1.0))) / 2)
    assert losses.discriminator_loss(real, fake).item() == pytest.approx(hand, rel=1e-6)


def test_generator_losses_hand_values():
    fake = torch.tensor([-3.0, 0.5])
    sat = (math.log(1 - sig(-3.0)) + math.log(1 - sig(0.5))) / 2
    nonsat = -(math.log(sig(-3.0)) + math.log(sig(0.5))) / 2
    assert losses.generator_loss_saturating(fake).item() == pytest.approx(sat, rel=1e-6)
    assert losses.generator_loss_nonsaturating(fake).item() == pytest.approx(nonsat, rel=1e-6)


def test_saturating_gradient_vanishes_where_nonsaturating_does_not():
    # d/da log(1 − σ(a)) = −σ(a) -> 0 as D(G(z)) = σ(a) -> 0 ; d/da −log σ(a) = −(1 − σ(a)) -> −1
    a = torch.tensor([-8.0], requires_grad=True)
    (g_sat,) = torch.autograd.grad(losses.generator_loss_saturating(a), a)
    (g_ns,) = torch.autograd.grad(losses.generator_loss_nonsaturating(a), a)
    assert g_sat.item() == pytest.approx(-sig(-8.0), rel=1e-5)
    assert g_ns.item() == pytest.approx(-(1 - sig(-8.0)), rel=1e-5)
    assert abs(g_sat.item()) < 1e-3 < abs(g_ns.item())


def test_feature_matching_hand_value():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])        # centre (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]])        # centre (1, 1)
    assert losses.feature_matching_loss(real, fake).item() == pytest.approx(0.5 * (1 + 4))


# ----------------------------------------------------------------------------- WGAN / WGAN-GP

def test_critic_and_generator_losses_hand_values():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert losses.critic_loss(real, fake).item() == pytest.approx(-0.5 - 2.0)
    assert losses.wasserstein_generator_loss(fake).item() == pytest.approx(0.5)


def test_interpolate_draws_one_epsilon_per_example_uniformly():
    torch.manual_seed(0)
    x_real, x_fake = torch.ones(20_000, 1, 2, 2), torch.zeros(20_000, 1, 2, 2)
    x_hat = losses.interpolate(x_real, x_fake)
    eps = x_hat[:, 0, 0, 0]
    assert torch.equal(x_hat, eps.view(-1, 1, 1, 1).expand_as(x_hat))    # same ε across an example
    assert eps.min() >= 0 and eps.max() <= 1
    assert eps.std() > 0.25                                              # varies between examples
    assert eps.mean().item() == pytest.approx(0.5, abs=0.01)             # U[0,1]: mean ½, var 1/12
    assert eps.var().item() == pytest.approx(1 / 12, abs=0.003)
    fixed = losses.interpolate(x_real[:2], x_fake[:2], eps=torch.tensor([0.25, 1.0]))
    assert fixed[0].unique().item() == 0.25 and fixed[1].unique().item() == 1.0


@pytest.mark.parametrize("norm, expected", [(1.0, 0.0), (2.0, 10.0), (0.5, 2.5)])
def test_gradient_penalty_of_a_linear_critic(norm, expected):
    # f(x) = w·x has ∇f = w everywhere, so GP = λ(‖w‖ − 1)².
    critic = nn.Linear(4, 1, bias=True)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0]]) * norm / 2.0)
        critic.bias.fill_(0.3)
    x_hat = torch.randn(16, 4)
    gp = losses.gradient_penalty(lambda x: critic(x).squeeze(1), x_hat, weight=10.0)
    assert gp.item() == pytest.approx(expected, abs=1e-5)


def test_gradient_penalty_is_differentiable_in_the_critic_weights():
    critic = nn.Linear(3, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[2.0, 0.0, 0.0]]))
    gp = losses.gradient_penalty(lambda x: critic(x).squeeze(1), torch.randn(8, 3), weight=10.0)
    (g,) = torch.autograd.grad(gp, critic.weight)
    # d/dw λ(‖w‖ − 1)² = 2λ(‖w‖ − 1) w/‖w‖ = 2·10·1·(1, 0, 0)
    assert torch.allclose(g, torch.tensor([[20.0, 0.0, 0.0]]), atol=1e-4)


# ----------------------------------------------------------------------------- AEGAN

def test_reconstruction_mse_is_mean_over_pixels_and_batch():
    x = torch.zeros(2, 1, 2, 2)
    x_rec = torch.tensor([1.0, 0, 0, 0, 2.0, 0, 0, 0]).view(2, 1, 2, 2)
    assert losses.reconstruction_mse(x, x_rec).item() == pytest.approx((1 + 4) / 8)


def test_aegan_generator_loss_hand_value():
    d1, d2 = torch.tensor([0.0, 1.0]), torch.tensor([-2.0, 2.0])
    l1 = -(math.log(sig(0.0)) + math.log(sig(1.0))) / 2
    l2 = -(math.log(sig(-2.0)) + math.log(sig(2.0))) / 2
    assert losses.aegan_generator_loss(d1, d2, 0.5).item() == pytest.approx(l1 + 0.5 * l2, rel=1e-6)
    assert losses.aegan_generator_loss(d1, d2, 0.0).item() == pytest.approx(l1, rel=1e-6)
    assert losses.aegan_generator_loss(d1, None, 1.0).item() == pytest.approx(l1, rel=1e-6)


def test_aegan_generator_loss_with_a_latent_critic_hand_value():
    """With D1 a WGAN critic f the latent term is −E f(h̃): scores 0 and 1 give −0.5."""
    d1, d2 = torch.tensor([0.0, 1.0]), torch.tensor([-2.0, 2.0])
    l2 = -(math.log(sig(-2.0)) + math.log(sig(2.0))) / 2
    assert losses.aegan_generator_loss(d1, d2, 0.5, latent_critic="wgan-gp").item() == pytest.approx(-0.5 + 0.5 * l2)
    assert losses.aegan_generator_loss(d1, None, 1.0, latent_critic="wgan-gp").item() == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="latent_critic='hinge'"):
        losses.aegan_generator_loss(d1, d2, 1.0, latent_critic="hinge")
