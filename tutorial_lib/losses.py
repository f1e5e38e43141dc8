"""Every loss in the series, each with its equation and its reduction.

Conventions (the notebooks use the same symbols):
  x        real images in [-1, 1], shape (B, 1, 28, 28)
  mu, logvar   the encoder's q(z|x) = N(mu, diag(exp(logvar))), shape (B, d)
  logits   pre-sigmoid outputs; D(x) = sigmoid(logits)
  scores   a Wasserstein critic's unbounded outputs f(x), shape (B,)

Reductions are stated per function. The VAE terms are **summed over pixels and latent
dimensions and averaged over the batch**, so the VAE loss is the negative ELBO in nats per
image. (Averaging pixels but summing latents — a common tutorial slip — silently weights the
KL term 784 times more, relative to the reconstruction, than the ELBO does.)
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from tutorial_lib.nets import NUM_CLASSES

Tensor = torch.Tensor


# ============================================================================ VAE

def kl_normal_standard(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL( N(mu, diag σ²) ‖ N(0, I) ) in nats, per example.

        KL = ½ Σ_k ( μ_k² + σ_k² − log σ_k² − 1 )

    mu, logvar: (B, d)  ->  (B,)   [sum over latent dimensions]
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(dim=1)


def bernoulli_nll(logits: Tensor, target01: Tensor) -> Tensor:
    """−log q(x|z) for a Bernoulli decoder, per example (binary cross-entropy).

        −log q(x|z) = −Σ_k [ x_k log ρ_k + (1 − x_k) log(1 − ρ_k) ],   ρ = sigmoid(logits)

    ``target01`` holds intensities in [0, 1] (MNIST is not binarised here; the formula is
    the same cross-entropy). logits, target01: (B, ...) -> (B,)   [sum over pixels]
    """
    bce = F.binary_cross_entropy_with_logits(logits, target01, reduction="none")
    return bce.flatten(1).sum(dim=1)


def gaussian_nll(mean: Tensor, target: Tensor, sigma: float) -> Tensor:
    """−log q(x|z) for a Gaussian decoder with fixed σ, per example.

        −log q(x|z) = ‖x − μ(z)‖² / (2σ²) + (D/2) log(2πσ²)

    With σ fixed the second term is a constant, so training minimises MSE / (2σ²).
    mean, target: (B, ...) -> (B,)   [sum over pixels]
    """
    sq = (target - mean).pow(2).flatten(1).sum(dim=1)
    d = target[0].numel()
    return sq / (2.0 * sigma**2) + 0.5 * d * math.log(2.0 * math.pi * sigma**2)


def vae_loss(recon_nll: Tensor, kl: Tensor, kl_weight: float = 1.0) -> Tensor:
    """The (λ-weighted) negative ELBO, averaged over the batch.

        L = E_x [ E_{z~q(z|x)}[−log p(x|z)] + λ · KL(q(z|x) ‖ p(z)) ]

    λ = 1 is the true negative ELBO (nats per image); the primary source's λ is β-VAE's β.
    recon_nll, kl: (B,) -> scalar   [mean over batch]
    """
    return (recon_nll + kl_weight * kl).mean()


# ============================================================================ GAN (Goodfellow et al.)

def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The discriminator's cross-entropy, i.e. minus the GAN value V(D, G):

        L_D = −E_x[log D(x)] − E_z[log(1 − D(G(z)))]

    logits: (B,) -> scalar   [mean over batch for each term]
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss_saturating(fake_logits: Tensor) -> Tensor:
    """The minimax generator loss:  L_G = E_z[log(1 − D(G(z)))]   (minimised by G).

    Its gradient vanishes when D confidently rejects fakes (D(G(z)) ≈ 0), early in training.
    logits: (B,) -> scalar   [mean over batch]; log(1 − sigmoid(a)) = −softplus(a)
    """
    return -F.softplus(fake_logits).mean()


def generator_loss_nonsaturating(fake_logits: Tensor) -> Tensor:
    """The non-saturating generator loss:  L_G = −E_z[log D(G(z))].

    Same fixed point as the minimax loss, strong gradients when D(G(z)) ≈ 0.
    logits: (B,) -> scalar   [mean over batch]; −log sigmoid(a) = softplus(−a)
    """
    return F.softplus(-fake_logits).mean()


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """CVAE-GAN's feature-centre matching generator loss (primary source):

        L_GD = ½ ‖ E_x f_D(x) − E_z f_D(G(z)) ‖²₂

    f_D is the discriminator's last hidden layer. features: (B, F) -> scalar
    [mean over batch inside the norm, sum over features]
    """
    return 0.5 * (real_features.mean(dim=0) - fake_features.mean(dim=0)).pow(2).sum()


# ============================================================================ WGAN / WGAN-GP

def critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """The critic's loss, minus the Kantorovich–Rubinstein estimate of W1:

        L_f = E_{x̃~P_g}[f(x̃)] − E_{x~P_r}[f(x)]

    (The primary source prints E over P_g twice; the second expectation is over the data.)
    scores: (B,) -> scalar   [mean over batch for each term]
    """
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: Tensor) -> Tensor:
    """The WGAN generator loss:  L_G = −E_z[f(G(z))].   scores: (B,) -> scalar"""
    return -fake_scores.mean()


def interpolate(x_real: Tensor, x_fake: Tensor, eps: Tensor | None = None) -> Tensor:
    """x̂ = ε x_r + (1 − ε) x_g with ε ~ U[0, 1] drawn **per example** (Gulrajani et al.).

    A single ε per batch, or ε from a normal distribution, is a bug copied between tutorials.
    x_real, x_fake: (B, ...) ; eps: (B,) or None -> (B, ...). Stacked runs may pass (K, B, ...) with
    eps of shape (K, B).
    """
    if eps is None:
        eps = torch.rand(x_real.shape[0], device=x_real.device, dtype=x_real.dtype)
    eps = eps.view(*eps.shape, *([1] * (x_real.dim() - eps.dim())))
    return eps * x_real + (1.0 - eps) * x_fake


def gradient_penalty(critic: Callable[[Tensor], Tensor], x_hat: Tensor, weight: float = 10.0,
                     batch_dims: int = 1) -> Tensor:
    """WGAN-GP's two-sided penalty on the critic's gradient norm at the points x̂:

        GP = λ · E_x̂[ (‖∇_x̂ f(x̂)‖₂ − 1)² ]

    ``create_graph=True`` keeps the penalty differentiable w.r.t. the critic's weights
    (a double backward). x_hat: (B, ...) -> scalar   [norm over all non-batch dims, mean over batch].
    With ``batch_dims=2`` (K stacked runs, x_hat (K, B, ...)) it returns one penalty per run, (K,).
    """
    x_hat = x_hat.detach().requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(batch_dims).norm(2, dim=-1)
    return weight * (norms - 1.0).pow(2).mean(dim=-1)


# ============================================================================ AEGAN

def reconstruction_mse(x: Tensor, x_rec: Tensor) -> Tensor:
    """AEGAN's autoencoder loss (primary source):  L_AE = 1/(n·H·W) Σ_i ‖x_i − Dec(Enc(x_i))‖²₂

    i.e. the mean squared error over every pixel of the batch (images in [-1, 1]).
    -> scalar   [mean over pixels and batch]
    """
    return (x - x_rec).pow(2).mean()


def aegan_generator_loss(latent_fake_logits: Tensor, image_fake_logits: Tensor | None,
                         image_weight: float, latent_critic: str = "gan") -> Tensor:
    """The latent generator G1's loss (primary source):

        L_G1 = −E[log D1(h̃)] − λ · E[log D2(x̃)],   h̃ = G1(z), x̃ = Dec(h̃)

    λ = 0 (or no D2) leaves a plain latent GAN. With ``latent_critic="wgan-gp"`` D1 is a critic
    f and the first term is the WGAN generator's −E[f(h̃)]. logits: (B,) -> scalar
    """
    if latent_critic == "wgan-gp":
        loss = wasserstein_generator_loss(latent_fake_logits)
    elif latent_critic == "gan":
        loss = generator_loss_nonsaturating(latent_fake_logits)
    else:
        raise ValueError(f"latent_critic={latent_critic!r} is not one of 'gan', 'wgan-gp'")
    if image_fake_logits is not None and image_weight > 0:
        loss = loss + image_weight * generator_loss_nonsaturating(image_fake_logits)
    return loss


# ============================================================================ semi-supervised GAN

def real_logit(class_logits: Tensor) -> Tensor:
    """The K+1-class discriminator's logit of "real" (Salimans et al. 2016), from its K class logits.

    With the fake class's logit fixed at 0 and Z(x) = Σ_k exp(l_k(x)),

        p(real | x) = Z / (Z + 1) = sigmoid(log Z),   log Z = logsumexp_k l_k

    so log Z plays the part of an ordinary GAN discriminator's logit.  (B, K) -> (B,)
    """
    return torch.logsumexp(class_logits, dim=1)


def ssgan_supervised_loss(class_logits: Tensor, labels: Tensor) -> Tensor:
    """L_supervised = −E_(x,y) log p(y | x, y < K+1): cross-entropy over the K real classes only.

    The fake class drops out: p(y | x, real) = exp(l_y) / Z. logits (B, K), labels (B,) int in
    [0, K) -> scalar   [mean over batch]
    """
    return F.cross_entropy(class_logits, labels)


def ssgan_unsupervised_loss(real_class_logits: Tensor, fake_class_logits: Tensor) -> Tensor:
    """L_unsupervised = −E_x log(Z(x)/(Z(x)+1)) − E_z log(1/(Z(G(z))+1))   (Salimans et al. 2016)

    Written with l = logsumexp of the K logits, never with Z itself (which overflows):
    −log(Z/(Z+1)) = softplus(l) − l = softplus(−l) and −log(1/(Z+1)) = softplus(l). This is
    :func:`discriminator_loss` on the logit l = :func:`real_logit`.
    logits (B, K), (B', K) -> scalar   [mean over each batch, the two terms summed]
    """
    return discriminator_loss(real_logit(real_class_logits), real_logit(fake_class_logits))


# ----------------------------------------------------------------------------- CVAE-GAN's losses (notebook 10)

def pairwise_loss(x: Tensor, x_rec: Tensor, real_features: list[Tensor] = (),
                  rec_features: list[Tensor] = ()) -> Tensor:
    """CVAE-GAN's pairwise pixel and feature loss (primary source):

        L_G = ½ (‖x − x′‖² + Σ_f ‖f(x) − f(x′)‖²)

    with f over the given feature maps (the source: f_D only; the paper adds f_C).
    x, x_rec (B, ...); features (B, F) each -> scalar   [sum over pixels / features, mean over batch]
    """
    loss = (x - x_rec).pow(2).flatten(1).sum(dim=1)
    for f_real, f_rec in zip(real_features, rec_features, strict=True):
        loss = loss + (f_real - f_rec).pow(2).flatten(1).sum(dim=1)
    return 0.5 * loss.mean()


def class_centre_matching_loss(real_features: Tensor, real_labels: Tensor, fake_features: Tensor,
                               fake_labels: Tensor, num_classes: int = NUM_CLASSES) -> Tensor:
    """CVAE-GAN's per-class feature-centre matching against the classifier (primary source):

        L_GC = ½ Σ_c ‖ E_{x of class c} f_C(x) − E_{z} f_C(G(z, c)) ‖²₂

    Each centre is the batch mean of its class's features; a class missing from either batch
    adds nothing. features (B, F), (B', F); labels (B,), (B',) int in [0, num_classes) -> scalar
    [mean over each class's examples inside the norm, sum over features and classes]
    """
    real_centre, real_counts = centres_by_class(real_features, real_labels, num_classes)
    fake_centre, fake_counts = centres_by_class(fake_features, fake_labels, num_classes)
    gaps = (real_centre - fake_centre).pow(2).sum(dim=1)                      # (num_classes,)
    return 0.5 * (gaps * ((real_counts > 0) & (fake_counts > 0)).to(gaps.dtype)).sum()


def centres_by_class(features: Tensor, labels: Tensor, num_classes: int = 10) -> tuple[Tensor, Tensor]:
    """The batch mean of each class's features, and how many examples each class has.

    features (B, F), labels (B,) int in [0, num_classes) -> centres (num_classes, F) (0 for an absent
    class), counts (num_classes,)
    """
    sums = features.new_zeros(num_classes, features.shape[1]).index_add(0, labels, features)
    counts = torch.bincount(labels, minlength=num_classes).to(features.dtype)
    return sums / counts.clamp_min(1).unsqueeze(1), counts


def moving_centres(centres: Tensor, seen: Tensor, features: Tensor, labels: Tensor,
                   momentum: float) -> tuple[Tensor, Tensor]:
    """One moving-average update of per-class feature centres (the paper's running class centres).

    With m_k the mean of this batch's features of class k and α = ``momentum``:

        c_k ← m_k                        if class k is in the batch and has no centre yet
        c_k ← α · c_k + (1 − α) · m_k    if class k is in the batch and has one
        c_k unchanged                    if class k is not in the batch

    α = 0 gives the plain per-batch centres. A single centre over all examples (f_D's real centre) is
    the case of one class, labels all 0. centres (K, F), seen (K,) bool, features (B, F), labels (B,)
    -> the new centres (K, F) and seen (K,); nothing is changed in place, and no gradient flows
    (the centres are constants for the networks).
    """
    batch_mean, counts = centres_by_class(features.detach(), labels, len(centres))
    in_batch = (counts > 0).unsqueeze(1)
    blended = torch.where(seen.unsqueeze(1), momentum * centres + (1 - momentum) * batch_mean, batch_mean)
    return torch.where(in_batch, blended, centres), seen | (counts > 0)


def centre_gap_loss(real_centres: Tensor, real_seen: Tensor, fake_features: Tensor, fake_labels: Tensor) -> Tensor:
    """½ Σ_k ‖c_k − (mean of the fake features of class k)‖² over the classes k with a real centre and at
    least one fake: L_GC against running class centres c (K, F), and L_GD with K = 1.

    real_centres (K, F), real_seen (K,) bool, fake_features (B, F), fake_labels (B,) -> scalar
    """
    fake_centres, counts = centres_by_class(fake_features, fake_labels, len(real_centres))
    gaps = (real_centres - fake_centres).pow(2).sum(dim=1)                    # (K,)
    return 0.5 * (gaps * (real_seen & (counts > 0)).to(gaps.dtype)).sum()
