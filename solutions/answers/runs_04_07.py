"""The runs behind the answer keys in this folder: cheap variants of each "predict, then run" question.

    python solutions/answers/runs_04_07.py 04 [--root DATA] [--out FILE]

Each question's two runs differ in the one setting the question changes; everything else is fixed and
small enough for a CPU (the settings are printed with the figures). Appends one JSON line per run.
"""
import argparse
import json
import statistics
import time

import torch
from scipy import stats

from tutorial_lib import data, evaluator, methods, metrics, training
from tutorial_lib.training import callbacks


def _fd(model, test, judge, n=2000):
    model.eval()
    return metrics.frechet_distance(metrics.embed(test.x[:n], judge), metrics.embed(metrics.draw(model, n, 0), judge))


def vae(train, test, judge, n_train=60_000, **config):
    """04: one epoch of the notebook's VAE; the two terms on the test set, its −ELBO, and sample sharpness."""
    torch.manual_seed(0)
    model = methods.VAE(methods.VAEConfig(**config))
    training.fit(model, train.take(n_train), epochs=1, batch_size=128, seed=0, checkpoint_dir=None, progress=False)
    model.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        x = test.floats(1000)
        recon, kl = model.terms(x)
        real = metrics.sharpness(x)
        return {"test −ELBO": methods.test_nelbo(model, test), "recon": recon.mean().item(), "kl": kl.mean().item(),
                "sample sharpness / real": metrics.sharpness(model.sample(1000)) / real}


def gan_probe(train, test, judge, generator_loss, steps=40):
    """05: the notebook's probe at the lecture preset's length: D(G(z)) at every step of a fresh DCGAN."""
    torch.manual_seed(0)
    model = methods.GAN(methods.GANConfig(generator_loss=generator_loss))
    h = training.fit(model, train.take(steps * 128), epochs=1, batch_size=128, seed=0, checkpoint_dir=None,
                    progress=False, callbacks=[callbacks.StepMetric(lambda m: m.generator_gradient_norms(256), every=1,
                                                                    grad=True, train_mode=True)])
    rows = [r for r in h.logs if "D(G(z))" in r]
    d = [r["D(G(z))"] for r in rows]
    return {"mean D(G(z))": statistics.fmean(d), "D(G(z)) last": d[-1], "min D(G(z))": min(d),
            "non-sat / minimax gradient": statistics.fmean(r["grad_norm/nonsaturating"] / r["grad_norm/saturating"]
                                                           for r in rows)}


def gan_lr(train, test, judge, lr, n_train=12_800):
    """05: a width-32 DCGAN for n_train / 128 iterations: how much D(x) and D(G(z)) swing, and FD of 2,000 samples."""
    torch.manual_seed(0)
    model = methods.GAN(methods.GANConfig(width=32, lr=lr))
    every = 5 if n_train >= 12_800 else 2
    h = training.fit(model, train.take(n_train), epochs=1, batch_size=128, seed=0, checkpoint_dir=None, progress=False,
                    log_every=every)
    later = [r for r in h.logs if r["step"] > 4 * every]
    dx, dg = [r["discriminator/D(x)"] for r in later], [r["discriminator/D(G(z))"] for r in later]
    return {"D(x) mean": statistics.fmean(dx), "D(x) std": statistics.stdev(dx), "D(G(z)) mean": statistics.fmean(dg),
            "D(G(z)) std": statistics.stdev(dg), "FD (N = 2000)": _fd(model, test, judge)}


def wgan(train, test, judge, epochs=3, n_train=6_400, **config):
    """06: a width-32 WGAN-GP for a few short epochs: its W1 estimate per epoch, FD per epoch, their correlation."""
    torch.manual_seed(0)
    model = methods.WGAN(methods.WGANConfig(width=32, **config))
    quality = callbacks.EpochMetric(lambda m: {"fd": _fd(m, test, judge)})
    h = training.fit(model, train.take(n_train), epochs=epochs, batch_size=64, seed=0, checkpoint_dir=None,
                    progress=False, log_every=5, callbacks=[quality])
    estimate = [statistics.fmean(r["critic/wasserstein"] for r in h.logs if "critic/wasserstein" in r
                                 and e - 1 < r["epoch"] <= e) for e in range(1, epochs + 1)]
    fd = [r["fd"] for r in h.epochs]
    x = test.floats(256)
    return {"W1 estimate per epoch": estimate, "FD per epoch": fd,
            "Spearman(estimate, FD)": stats.spearmanr(estimate, fd).statistic if epochs >= 3 else None,
            "median grad norm": model.critic_gradient_norms(x).median().item()}


def aegan(train, test, judge, n_train=30_000, epochs=1, **config):
    """07: AEGAN at the build-it setting (D2 width 32, codes and G1 standardised): FD and the class histogram."""
    torch.manual_seed(0)
    cfg = methods.AEGANConfig(**{"d_width": 32, "code_norm": "batch", "g1_output_norm": True, **config})
    model = methods.AEGAN(cfg)
    training.fit(model, train.take(n_train), epochs=epochs, batch_size=128, seed=0, checkpoint_dir=None, progress=False)
    model.eval()
    fake = metrics.embed(metrics.draw(model, 2000, 0), judge)
    hist = metrics.class_histogram(fake)
    return {"FD (N = 2000)": metrics.frechet_distance(metrics.embed(test.x[:2000], judge), fake),
            "top class share": float(hist.max()), "class shares": [round(float(v), 3) for v in hist]}


RUNS = {
    "04": [("λ_KL = 1", vae, {}), ("λ_KL = 4", vae, {"kl_weight": 4.0}),
           ("gaussian", vae, {"likelihood": "gaussian"}), ("quick λ_KL = 1", vae, {"n_train": 10_000}),
           ("quick λ_KL = 4", vae, {"n_train": 10_000, "kl_weight": 4.0}),
           ("quick gaussian", vae, {"n_train": 10_000, "likelihood": "gaussian"})],
    "05": [("probe nonsaturating", gan_probe, {"generator_loss": "nonsaturating"}),
           ("probe saturating", gan_probe, {"generator_loss": "saturating"}),
           ("lr 2e-4", gan_lr, {"lr": 2e-4}), ("lr 2e-3", gan_lr, {"lr": 2e-3}),
           ("quick lr 2e-4", gan_lr, {"lr": 2e-4, "n_train": 5_120}),
           ("quick lr 2e-3", gan_lr, {"lr": 2e-3, "n_train": 5_120})],
    "06": [("gp_weight 10", wgan, {}), ("gp_weight 0", wgan, {"gp_weight": 0.0}),
           ("critic_steps 1", wgan, {"critic_steps": 1}),
           ("critic_steps 1, lr_d 3e-4", wgan, {"critic_steps": 1, "lr_d": 3e-4}),
           ("quick gp_weight 10", wgan, {"n_train": 3_200}),
           ("quick gp_weight 0", wgan, {"n_train": 3_200, "gp_weight": 0.0}),
           ("quick critic_steps 1", wgan, {"n_train": 3_200, "critic_steps": 1}),
           ("quick critic_steps 1, lr_d 3e-4", wgan, {"n_train": 3_200, "critic_steps": 1, "lr_d": 3e-4})],
    "07": [("image_weight 1", aegan, {}), ("image_weight 0", aegan, {"image_weight": 0.0}),
           ("sequential", aegan, {"schedule": "sequential", "ae_epochs": 1, "epochs": 2, "n_train": 15_000}),
           ("sequential, free codes", aegan, {"schedule": "sequential", "ae_epochs": 1, "epochs": 2, "n_train": 15_000,
                                              "code_norm": "none", "g1_output_norm": False})],
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("notebook", choices=sorted(RUNS))
    parser.add_argument("--root", default=None)
    parser.add_argument("--out", default="answers.jsonl")
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, test = data.load("mnist", "train", root=args.root), data.load("mnist", "test", root=args.root)
    judge = evaluator.load_evaluator("mnist", "cpu")
    for name, fn, kwargs in RUNS[args.notebook]:
        if args.only and name not in args.only:
            continue
        start = time.time()
        kw = dict(kwargs)
        extra = {k: kw.pop(k) for k in ("epochs", "n_train") if k in kw}       # the run's size, not the model's
        figures = fn(train, test, judge, **extra, **kw)
        record = {"notebook": args.notebook, "run": name, "seconds": round(time.time() - start, 1),
                  "threads": torch.get_num_threads(), **figures}
        print(json.dumps(record, ensure_ascii=False), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
