"""The build-it-yourself tasks of 04–07, 10 and 11: each chapter's figures, its hints and the library's bars."""
from __future__ import annotations

import torch

from tutorial_lib import data, losses, methods, metrics, runtime
from tutorial_lib.homework.base import Bar, Setting, Task
from tutorial_lib.homework.probes_cvaegan import cvaegan_checks_one_batch
from tutorial_lib.homework.probes_gan import aegan_checks_one_batch, gan_checks_one_batch, wgan_checks_one_batch
from tutorial_lib.homework.probes_ssgan import ssgan_checks_one_batch
from tutorial_lib.homework.probes_vae import vae_checks_one_batch
from tutorial_lib.methods.base import Method


# ============================================================================ the figures

@torch.no_grad()
def _nelbo(model: Method, test: data.Split, evaluator) -> dict[str, float]:
    runtime.seed_everything(0)                        # the one z sample per image, the same for every model
    model.eval()
    return {"test −ELBO": methods.test_nelbo(model, test)}


def _samples(model: Method, test: data.Split, evaluator) -> tuple[dict[str, float], metrics.Embedding]:
    model.eval()
    fake = metrics.embed(metrics.draw(model, len(test), seed=0), evaluator)
    return {"FD": metrics.frechet_distance(metrics.embed(test.x, evaluator), fake),
            "largest class share": float(metrics.class_histogram(fake).max())}, fake


def _fd(model: Method, test: data.Split, evaluator) -> dict[str, float]:
    return _samples(model, test, evaluator)[0]


GRADIENT_BAND = (0.25, 4.0)
"""06: where the critic's median ‖∇f(x̂)‖ must lie. The penalty holds each example's norm near 1: the library's
critic measured 1.44–1.45 at the full setting (seeds 0–2) and 0.52–1.04 at the smoke setting (seeds 0–4). A
penalty on the whole batch's gradient holds each example's near 1/√B, 0.125 at B = 64 (measured: 0.129, 0.130)."""


def _critic_figures(model: Method, test: data.Split, evaluator) -> dict[str, float]:
    out = _fd(model, test, evaluator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        x_real = data.as_float(test.x[:256].to(next(model.parameters()).device))
        out["median ‖∇f(x̂)‖"] = model.critic_gradient_norms(x_real).median().item()
        with torch.no_grad():
            out["W₁ estimate"] = (model.critic(x_real).mean() - model.critic(model.sample(256)).mean()).item()
    return out


def _critic_checks(figures: dict[str, float]) -> str:
    g, w = figures["median ‖∇f(x̂)‖"], figures["W₁ estimate"]
    if not GRADIENT_BAND[0] <= g <= GRADIENT_BAND[1]:
        return (f"the critic's median gradient norm at the interpolates is {g:.3g}, outside [{GRADIENT_BAND[0]}, "
                f"{GRADIENT_BAND[1]}]: the penalty should hold each example's ‖∇f(x̂)‖ near 1.")
    if not w > 0:
        return (f"your critic scores generated images above real ones (E f(x) − E f(x̃) = {w:.3g} on test digits): "
                f"which of the two expectations should its loss push up?")
    return ""


def _aegan_figures(model: Method, test: data.Split, evaluator) -> dict[str, float]:
    out, fake = _samples(model, test, evaluator)
    device = next(model.parameters()).device
    with torch.no_grad():
        recon = torch.cat([model.reconstruct(data.as_float(test.x[i:i + 1000].to(device)))
                           for i in range(0, len(test), 1000)])
    out["FD to x′"] = metrics.frechet_distance(metrics.embed(recon, evaluator), fake)
    return out


def _cvaegan_figures(model: Method, test: data.Split, evaluator) -> dict[str, float]:
    """FD of class-conditional samples (as many as test images, the classes cycling 0–9), the share of them the
    evaluator reads as another class than asked, the reconstruction error ½‖x − G(μ(x, c), c)‖² per test image and
    KL(q(z | x, c) ‖ N(0, I)) per test image (nats)."""
    model.eval()
    device = next(model.parameters()).device
    asked = torch.arange(len(test), device=device) % 10
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fake = torch.cat([model.sample(len(c), y=c) for c in asked.split(1000)])
        x, y = data.as_float(test.x.to(device)), test.y.to(device)
        rec, kl = [], []
        for xb, yb in zip(x.split(1000), y.split(1000)):
            mu, logvar = model.encode(xb, yb)
            rec.append(model.generator(mu, yb))
            kl.append(losses.kl_normal_standard(mu, logvar))
        rec, kl = torch.cat(rec), torch.cat(kl)
    seen = metrics.embed(fake, evaluator)
    return {"FD": metrics.frechet_distance(metrics.embed(test.x, evaluator), seen),
            "class error (%)": 100 * float((seen.probs.argmax(1).to(device) != asked).float().mean()),
            "reconstruction error": float(0.5 * (x - rec).pow(2).flatten(1).sum(1).mean()),
            "KL per image": float(kl.mean())}


def _ssgan_figures(model: Method, test: data.Split, evaluator) -> dict[str, float]:
    """Test error with the Polyak averaged weights (what ``classify`` uses; at a short setting far steadier than
    the raw weights, whose error swung 27–49 % at the smoke setting where the average's stayed within 27–32 %) and
    with the raw ones, and how far D (raw, no noise) tells test digits from G's samples: mean p(real | x) − mean
    p(real | G(z)) over as many of each."""
    from tutorial_lib.methods import ssgan
    out = {"test error (%)": 100 * (1 - ssgan.test_accuracy(model, test)),                 # the averaged weights
           "raw weights (%)": 100 * (1 - ssgan.test_accuracy(model, test, averaged=False))}
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        device = next(model.parameters()).device
        x = data.as_float(test.x.to(device))
        p_real = torch.sigmoid(losses.real_logit(model.discriminator(x))).mean()
        p_fake = torch.sigmoid(losses.real_logit(model.discriminator(model.sample(len(test))))).mean()
    out["p(real|x) − p(real|G(z))"] = float(p_real - p_fake)
    return out


KL_CEILING = 25
"""10: KL per test image (nats) above which a hint says the codes left the prior. The library's model: 0.6–1.0 at the
smoke setting (seeds 0–4), 6.5 at the full setting (seed 0); without L_KL, 41.5 at the smoke setting."""


REAL_FAKE_MARGIN = 0.15
"""11: how much more real D must find test digits than G's samples (mean p(real | ·), raw weights, no noise).
At the smoke setting (experiments/homework_bars.py, 2026-12-05, this course's CPU; docs/homework_bars/) the
library's model gave 0.61–1.00 over seeds 0–9, the solution 0.80 and two correct answers of a student trial 0.89 and
0.21 (a run whose G caught up), while a D without L_unsupervised gave 0.003, one with real and fake swapped −0.90
and one with a learned fake logit 0.08. The test error cannot tell them apart that early; this check can, with
little room on either side. At the full setting: library 0.59–0.68 (seeds 0–2), solution 0.64, without
L_unsupervised 0.008."""


def _ssgan_checks(figures: dict[str, float]) -> str:
    gap = figures["p(real|x) − p(real|G(z))"]
    if gap > REAL_FAKE_MARGIN:
        return ""
    if gap < -REAL_FAKE_MARGIN:
        return (f"your D finds G's samples more real than test digits (mean p(real) differs by {gap:.2f}): which "
                f"images should make Z(x) large, and which small?")
    return (f"your D barely tells test digits from G's samples (mean p(real) differs by {gap:.2f}, at least "
            f"{REAL_FAKE_MARGIN} expected): does its loss use the unlabelled images and G's samples at all, and "
            f"is p(real | x) the one the K + 1 classes with the fake logit fixed at 0 give?")


def _attach_labels(model: Method, train: data.Split) -> None:
    model.attach_labels(train)


# ============================================================================ the tasks

def _vae_hint(figures: dict[str, float], worse: list[str]) -> str:
    if figures["test −ELBO"] > 1e4:
        return ("It exploded: something in your loss can fall without bound. Does it add the KL term, or subtract it? "
                "And are the cross-entropy's targets probabilities?")
    return ("Is each term summed over its own axis (the pixels, the latent dimensions) before the mean over the batch? "
            "A reconstruction averaged over the pixels lets the KL weigh 784 times too much, and the encoder gives up "
            "its code. And does z carry the encoder's noise?")


def _gan_hint(figures: dict[str, float], worse: list[str]) -> str:
    return ("Which images does each loss see, with which label? D: the real batch as real, fakes held fixed as fake. "
            "G: fresh fakes, and a loss whose gradient stays large while D rejects them.")


def _wgan_hint(figures: dict[str, float], worse: list[str]) -> str:
    return ("Does the critic's loss push its scores on real images up and on fakes down, and does the penalty reach "
            "the critic's weights (a gradient kept in the graph)?")


def _cvaegan_hint(figures: dict[str, float], worse: list[str]) -> str:
    kl = figures["KL per image"]
    if not kl < 1e3:
        return (f"The encoder's posteriors ran away from the prior (KL {kl:.3g} nats per image): is λ_KL·L_KL added to "
                f"E's loss, or subtracted?")
    if kl > KL_CEILING:
        return (f"The codes are far from the prior (KL {kl:.3g} nats per image, where the library's model keeps a few), "
                f"so samples drawn from N(0, I) miss them: is λ_KL·L_KL in E's loss?")
    if "KL per image" in worse:
        return (f"The codes sit further from the prior than the library's (KL {kl:.3g} nats per image): does L_KL enter "
                f"E's loss at its full weight, λ_KL times the KL of the whole code, not of an average coordinate?")
    if kl < 0.05:
        return (f"The codes carry almost nothing about the image (KL {kl:.3g} nats per image): is each term of L_G "
                f"summed over its own axis (pixels, D's features) before the mean over the batch, so that it can "
                f"outweigh λ_KL·L_KL?")
    if "reconstruction error" in worse:
        return ("Is x′ decoded from a z drawn from q(z | x, c), with the encoder's own noise, and is L_G summed over the "
                "pixels and over D's features?")
    return ("Your reconstructions are as good as the library's but your samples from the prior are not: does G's loss "
            "include the given feature-centre terms, and which images does D take for fakes?")


def _ssgan_hint(figures: dict[str, float], worse: list[str]) -> str:
    return ("Does D learn from the unlabelled images as well as the labelled ones: real images towards 'real' "
            "(a large Z), G's samples, held fixed, towards 'fake'? And does G match D's features of real images "
            "rather than try to fool D?")


def _aegan_hint(figures: dict[str, float], worse: list[str]) -> str:
    if "FD" in worse and "FD to x′" not in worse:
        return ("Your samples look like your own reconstructions x′ but not like the test digits: does the autoencoder "
                "learn to give back x itself, in the range the images come in?")
    return ("Do G1's codes have to look like the encoder's? Check that L_G1 includes D1's verdict on h̃ as well as "
            "D2's on Dec(h̃), and that D1 takes the codes Enc(x) as real and G1's as fake.")


def _kl_bar(values: list[float], measured: str) -> Bar:
    """10's KL per image: the seeds' bar, widened to half the mean where that is wider. Too much KL means codes that
    samples from N(0, I) miss (a KL term without its weight, or averaged over z's dimensions); too little is caught
    by the reconstruction error. The spread over seeds alone (3σ ≈ 0.4 nats at the smoke setting) would reject a
    correct model whose random draws come in another order."""
    bar = Bar.from_seeds(values, measured)
    return Bar(bar.mean, max(bar.tolerance, 0.5 * bar.mean), bar.seeds, bar.measured + "; tolerance at least half the mean")


_CPU = "this course's 2-core CPU, one thread, 2026-12-04"
_CPU5 = "this course's 2-core CPU, one thread, 2026-12-05"

TASKS = {
    "04": Task("04", methods.VAE, methods.VAEConfig,
               full=Setting("mnist", 60_000, 1, 128, {}, 10_000),
               smoke=Setting("mnist-sample", 512, 8, 64, {}, 1_000),
               measure=_nelbo, judged=("test −ELBO",), hint=_vae_hint, uses_evaluator=False,
               check=vae_checks_one_batch, solution="solutions/04_vae.py, class MyVAE", bars={
                   "full": {"test −ELBO": Bar.from_seeds([111.3459, 111.8529, 111.4731], f"seeds 0–2, {_CPU}")},
                   "smoke": {"test −ELBO": Bar.from_seeds([195.806, 197.579, 194.367, 192.832, 198.686],
                                                         f"seeds 0–4, {_CPU}")}}),
    "05": Task("05", methods.GAN, methods.GANConfig,
               full=Setting("mnist", 60_000, 1, 128, {"width": 32}, 5_000),
               smoke=Setting("mnist-sample", 512, 8, 64, {"width": 16}, 1_000),
               measure=_fd, judged=("FD",), hint=_gan_hint, check=gan_checks_one_batch,
               solution="solutions/05_gan.py, class MyGAN", bars={
                   "full": {"FD": Bar.from_seeds([281.60, 263.73, 283.35, 300.45],
                                                 f"seeds 0–2 and the solution, {_CPU}")},
                   "smoke": {"FD": Bar.from_seeds([1243.92, 1273.34, 1269.66, 1578.46, 1294.93],
                                                        f"seeds 0–4, {_CPU}")}}),
    "06": Task("06", methods.WGAN, methods.WGANConfig,
               full=Setting("mnist", 60_000, 1, 64, {"width": 32, "constraint": "gp"}, 5_000),
               smoke=Setting("mnist-sample", 320, 40, 64, {"width": 16, "constraint": "gp"}, 1_000),
               measure=_critic_figures, extra=_critic_checks, judged=("FD",), hint=_wgan_hint,
               check=wgan_checks_one_batch,
               solution="solutions/06_wgan_gp.py, class MyWGANGP", bars={
                   "full": {"FD": Bar.from_seeds([653.81, 747.59, 726.51], f"seeds 0–2, {_CPU}")},
                   "smoke": {"FD": Bar.from_seeds([1168.23, 1538.46, 1301.16, 1742.82, 1164.69],
                                                        f"seeds 0–4, {_CPU}")}}),
    "07": Task("07", methods.AEGAN, methods.AEGANConfig,
               full=Setting("mnist", 60_000, 1, 128, {"d_width": 32, "code_norm": "batch", "g1_output_norm": True},
                            5_000),
               smoke=Setting("mnist-sample", 384, 10, 64, {"d_width": 16, "code_norm": "batch",
                                                           "g1_output_norm": True}, 1_000),
               measure=_aegan_figures, judged=("FD", "FD to x′"), hint=_aegan_hint, check=aegan_checks_one_batch,
               solution="solutions/07_aegan.py, class MyAEGAN", bars={
                   "full": {"FD": Bar.from_seeds([111.08, 111.40, 109.04, 110.23],
                                                 f"seeds 0–2 and the solution, {_CPU}"),
                            "FD to x′": Bar.from_seeds([23.671, 21.650, 18.242, 21.874],
                                                       f"seeds 0–2 and the solution, {_CPU}")},
                   "smoke": {"FD": Bar.from_seeds([645.42, 522.41, 493.14, 638.91, 533.23], f"seeds 0–4, {_CPU}"),
                             "FD to x′": Bar.from_seeds([7.168, 21.831, 22.623, 10.381, 22.784],
                                                       f"seeds 0–4, {_CPU}")}}),
    "10": Task("10", methods.CVAEGAN, methods.CVAEGANConfig,
               full=Setting("mnist", 60_000, 1, 128, {"width": 32}, 5_000),
               smoke=Setting("mnist-sample", 2_048, 4, 64, {"width": 8, "latent_dim": 8}, 1_000),
               measure=_cvaegan_figures, judged=("FD", "reconstruction error", "KL per image"), hint=_cvaegan_hint,
               check=cvaegan_checks_one_batch,
               solution="solutions/10_conditional_gans.py, class MyCVAEGAN", bars={
                   "full": {"FD": Bar.from_seeds([197.63, 184.04, 188.00, 197.50], f"seeds 0–2 and the solution, {_CPU5}"),
                            "KL per image": _kl_bar([6.534, 6.256, 5.825, 6.529], f"seeds 0–2 and the solution, {_CPU5}"),
                            "reconstruction error": Bar.from_seeds([64.134, 57.822, 62.386, 64.285],
                                                                   f"seeds 0–2 and the solution, {_CPU5}")},
                   "smoke": {"FD": Bar.from_seeds([909.99, 927.40, 876.29, 916.08, 929.77], f"seeds 0–4, {_CPU5}"),
                             "KL per image": _kl_bar([0.709, 0.637, 0.677, 0.699, 0.954], f"seeds 0–4, {_CPU5}"),
                             "reconstruction error": Bar.from_seeds([128.291, 137.705, 129.465, 142.814, 128.536],
                                                                    f"seeds 0–4, {_CPU5}")}}),
    "11": Task("11", methods.SSGAN, methods.SSGANConfig,
               full=Setting("mnist", 60_000, 5, 100, {"n_labels": 100, "label_seed": 0}, 10_000),
               smoke=Setting("mnist-sample", 4_000, 4, 100, {"n_labels": 100, "label_seed": 0}, 1_000),
               measure=_ssgan_figures, extra=_ssgan_checks, judged=("test error (%)",), hint=_ssgan_hint,
               uses_evaluator=False, prepare=_attach_labels, check=ssgan_checks_one_batch,
               solution="solutions/11_semi_supervised_gan.py, class MySSGAN", bars={
                   "full": {"test error (%)": Bar.from_seeds([17.87, 16.48, 19.00, 18.12],
                                                            f"seeds 0–2 and the solution, {_CPU5}")},
                   "smoke": {"test error (%)": Bar.from_seeds(
                       [31.00, 27.10, 32.40, 27.20, 32.10, 28.60, 34.30, 27.90, 37.70, 30.60, 31.00, 37.90, 24.20],
                       f"seeds 0–9, the solution and two correct answers of a student trial, {_CPU5}")}}),
}


