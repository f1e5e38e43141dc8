"""Which change brings notebook 05's DCGAN to clean digits? One candidate per run, equal budget.

    DATA_ROOT=/path/to/data TUTORIAL_RUNS=runs/gan-recipes \
        python experiments/gan_recipes.py --variants base sn sn-hinge r1 ttur --epochs 2 \
            --out docs/gan_recipes_cpu.json

Each variant trains 05's DCGAN (28×28, width 64, z of 64, batch 128, seed 0, full MNIST) with
``training.fit`` (a stopped run resumes; asking for more epochs later extends it) and changes one
thing against the source's recipe (batch norm in D, the non-saturating loss, Adam 2e-4 with β1 0.5
for both networks):

    base        the recipe as notebook 05 trains it today
    sn          spectral normalisation on every layer of D instead of its batch norm (Miyato et al. 2018)
    sn-hinge    sn, and the hinge loss: L_D = E relu(1 − D(x)) + E relu(1 + D(G(z))), L_G = −E D(G(z))
    r1          no batch norm in D, and the R1 penalty (γ/2)·E‖∇_x D(x)‖² on real images (Mescheder et al. 2018)
    ttur        two time-scale rates: D 4e-4, G 1e-4 (Heusel et al. 2017)
    lr-up       both rates 4e-4 (is it just the step size?)
    batch-64    batches of 64: twice the updates for the same images (on a CPU, about the same time)

Every run also keeps an exponential moving average of G's weights *and* its batch-norm statistics
(torch.optim.swa_utils.AveragedModel, use_buffers=True; decay min(0.999, (1 + t)/(10 + t)) after t
updates, so that two epochs do not still remember the untrained start), which never feeds back into
training, so each row carries FD with and without averaging. After every epoch it measures FD on
the shipped evaluator (10,000 samples against the first 10,000 test images, seed 0) for the raw and
the averaged G and rewrites the JSON (config, epochs, device, dates, per-epoch rows).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm
from torch.optim.swa_utils import AveragedModel

from tutorial_lib import data, evaluator, files, losses, metrics, runtime, training
from tutorial_lib.methods.base import Batch, Phase
from tutorial_lib.methods.gan import GAN, GANConfig
from tutorial_lib.training import callbacks

Tensor = torch.Tensor
VARIANTS = {"base": {}, "sn": {"d_norm": "spectral"}, "sn-hinge": {"d_norm": "spectral", "objective": "hinge"},
            "r1": {"d_norm": "none", "r1_weight": 1.0}, "ttur": {"lr": 1e-4, "lr_d": 4e-4},
            "lr-up": {"lr": 4e-4, "lr_d": 4e-4}, "batch-64": {"batch_size": 64},
            "batch-64-ttur": {"batch_size": 64, "lr": 1e-4, "lr_d": 4e-4}}
BATCH = 128     # notebook 05's; a variant may change it ("batch_size"): an epoch is then more updates of fewer images


@dataclass
class RecipeConfig(GANConfig):      # GANConfig's own lr_d gives D its rate (ttur, lr-up)
    d_norm: str = "batch"
    objective: str = "logistic"
    r1_weight: float = 0.0
    ema_decay: float = 0.999


class RecipeGAN(GAN):
    name = "gan-recipe"

    def __init__(self, cfg: RecipeConfig):
        super().__init__(cfg)
        if cfg.d_norm != "batch":
            from tutorial_lib import nets
            self.discriminator = nets.DCGANDiscriminator(cfg.width, batchnorm=False)
            nets.dcgan_init(self.discriminator)
            if cfg.d_norm == "spectral":
                for name, module in list(self.discriminator.named_modules()):
                    if isinstance(module, (nn.Conv2d, nn.Linear)):
                        spectral_norm(module)
        self.average = AveragedModel(self.generator, avg_fn=self._ema, use_buffers=True)

    def _ema(self, averaged: Tensor, current: Tensor, n: Tensor) -> Tensor:
        """β_t = min(β, (1 + t) / (10 + t)): a short memory at first, so the average soon forgets the
        untrained start (TensorFlow's ExponentialMovingAverage with num_updates)."""
        beta = torch.clamp((1 + n) / (10 + n), max=self.cfg.ema_decay).to(averaged.dtype)
        return beta * averaged + (1 - beta) * current

    def phases(self) -> list[Phase]:
        d, g = super().phases()
        g.after_step = lambda: self.average.update_parameters(self.generator)
        return [d, g]

    def discriminator_loss(self, batch: Batch):
        x_real = batch.x
        if self.cfg.r1_weight:
            x_real = x_real.detach().requires_grad_(True)
        x_fake = self.sample(len(x_real)).detach()
        real, fake = self.discriminator(x_real), self.discriminator(x_fake)
        if self.cfg.objective == "hinge":
            loss = torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()
        else:
            loss = losses.discriminator_loss(real, fake)
        if self.cfg.r1_weight:
            (grad,) = torch.autograd.grad(real.sum(), x_real, create_graph=True)
            loss = loss + self.cfg.r1_weight / 2 * grad.flatten(1).pow(2).sum(1).mean()
        return loss, {}

    def generator_loss(self, batch: Batch):
        if self.cfg.objective == "hinge":
            return -self.discriminator(self.sample(len(batch.x))).mean(), {}
        return super().generator_loss(batch)


class WriteJSON(training.Callback):
    def __init__(self, path: Path, record: dict, variant: str):
        self.path, self.record, self.variant = path, record, variant

    def on_epoch_end(self, state) -> None:
        self.record["variants"][self.variant] = {"epochs": state.history.epochs, "run": state.history.run}
        self.record["updated_at"] = datetime.now().isoformat(timespec="seconds")
        files.atomic_write_bytes(self.path, json.dumps(self.record, indent=1, default=str).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["base"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None, help="first N training images only (a quick check)")
    args = parser.parse_args()
    device = runtime.get_device("auto")
    train = data.load("mnist", "train", limit=args.limit)
    test = data.load("mnist", "test")
    judge = evaluator.load_evaluator("mnist", device)
    quality = metrics.epoch_quality(test, judge)
    record = json.loads(args.out.read_text()) if args.out.exists() else {"variants": {}}
    record.update(environment=runtime.environment(), evaluator="mnist (shipped)", n=10_000, batch_size=BATCH)
    for variant in args.variants:
        settings = dict(VARIANTS[variant])
        batch_size = settings.pop("batch_size", BATCH)
        cfg = RecipeConfig(**settings)
        record.setdefault("configs", {})[variant] = {**asdict(cfg), "batch_size": batch_size}
        gan = RecipeGAN(cfg).to(device)

        def measure(method: RecipeGAN) -> dict[str, float]:
            raw = {k: v for k, v in quality(method).items() if k in ("FD", "top class share")}
            avg = quality(lambda n: method.average(method.noise(n)))
            return {**raw, "FD averaged": avg["FD"], "top class share averaged": avg["top class share"]}

        print(f"== {variant}: {VARIANTS[variant]}", flush=True)
        training.fit(gan, train, epochs=args.epochs, batch_size=batch_size, seed=0, progress=False, log_every=100,
                     checkpoint_dir=files.runs_dir() / "gan-recipes" / variant,
                     callbacks=[callbacks.EpochMetric(measure), WriteJSON(args.out, record, variant)])
        for row in record["variants"][variant]["epochs"]:
            print(f"   epoch {row['epoch']}: FD {row['FD']:.1f}, averaged {row['FD averaged']:.1f} "
                  f"({row['seconds']:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
