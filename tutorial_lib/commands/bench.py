"""Benchmark: one MNIST epoch of each model, classic DataLoader loop vs our ``fit()``.

    python -m tutorial_lib.commands.bench --graph               # every model of the series, full MNIST, on the GPU
    python -m tutorial_lib.commands.bench --models gan --batch-size 128 --limit 8192 --device cpu
    python -m tutorial_lib.commands.bench --models cvae ssgan --dataset mnist-sample --limit 512 --device cpu   # a smoke test
    python -m tutorial_lib.commands.bench --series              # also time the whole series through papermill
    python -m tutorial_lib.commands.bench --models gan --time-to-quality     # DCGAN: seconds until FD ≤ 10 × floor

The models: 04-07's (:data:`MODELS`) and 10's and 11's at their notebooks' defaults
(:func:`notebook_models`: CVAE, CGAN, CVAE-GAN, IP-GAN, the semi-supervised GAN and its labels-only
baseline). Both ways train the **same networks** with the **same update phases and batch size**,
epoch by epoch (IP-GAN trains its identity network alone first):

(a) classic: torchvision MNIST with ``ToTensor`` + ``Normalize`` through
    ``DataLoader(num_workers=2, shuffle=True)``, eager fp32, ``loss.backward()``, and ``.item()``
    after every step, as pytorch/examples does;
(b) ours: ``training.fit`` on the device-resident uint8 tensor.

Printed per model: steady-state seconds per epoch (warm-up epochs timed apart), images per
second, the speed-up, and the arithmetic lower bound: FLOPs per epoch (counted with
``torch.utils.flop_counter`` on one iteration) divided by the device's peak rate.

``--time-to-quality`` then trains the DCGAN with ``fit`` and measures, every few iterations, its
Fréchet distance (shipped evaluator, N fixed, one sampling seed) against the test set. Printed:
the curve FD vs training seconds (measurement time excluded) and the first time FD falls to
``--fd-factor`` (10) × the real-vs-real floor at the same N, measured in the same run.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from tutorial_lib import checks, data, evaluator, methods, metrics, parameters, runtime, training
from tutorial_lib.training import step

MODELS = {name: (name, config) for name, (config, _, _) in methods.SERIES.items()}
"""The series' models 04-07 by their one name (``gan`` is the DCGAN): method and settings."""
PEAK_TFLOPS = {"H100": 494.7, "H200": 494.7, "A100": 156.0}
"""Dense TF32 tensor-core peaks (NVIDIA datasheets, SXM); the bound assumes fp32 work on tensor cores."""


def notebook_models() -> dict[str, tuple[str, dict]]:
    """10's and 11's models at their notebooks' defaults (in this mode, full or smoke): name -> (method, settings).

    Each setting is the notebook parameter of the same name; IP-GAN's size of z is ``ipgan_latent_dim``
    and each of 10's GANs has its own generator loss. 11's runs use 100 labels, draw 0 (the lecture's).
    """
    p10, p11 = parameters.notebook_defaults("10_conditional_gans"), parameters.notebook_defaults("11_semi_supervised_gan")

    def settings(method: str, params: dict, **changes) -> tuple[str, dict]:
        fields = {f.name for f in dataclasses.fields(methods.REGISTRY[method][1])}
        return method, {**{k: v for k, v in params.items() if k in fields}, **changes}

    return {"cvae": settings("cvaegan", p10, variant="cvae"),
            "cgan": settings("cvaegan", p10, variant="cgan", generator_loss=p10["cgan_generator_loss"]),
            "cvaegan": settings("cvaegan", p10, variant="cvaegan", generator_loss=p10["cvaegan_generator_loss"]),
            "ipgan": settings("ipgan", p10, latent_dim=p10["ipgan_latent_dim"]),
            "ssgan": settings("ssgan", p11, n_labels=100, label_seed=0),
            "ssgan_labels": settings("ssgan", p11, n_labels=100, label_seed=0, gan=False)}


def build(name: str, device: torch.device, train: data.Split | None = None):
    """A fresh model, seeded; the semi-supervised GAN takes its labelled subset from ``train``."""
    method, config = MODELS[name] if name in MODELS else notebook_models()[name]
    torch.manual_seed(0)
    model = methods.build(method, **config).to(device)
    if isinstance(model, methods.SSGAN):
        model.attach_labels(train)
    return model


def active_phases(model, epoch: int = 0) -> list[methods.Phase]:
    """The phases ``fit`` trains in ``epoch`` (all of them from the first epoch, but for IP-GAN's identity net)."""
    return [p for p in model.phases() if p.active(epoch)]


def iterations(model, n_images: int, batch_size: int, epoch: int = 0) -> int:
    return data.batches_per_epoch(n_images, batch_size) // step.batches_per_iteration(active_phases(model, epoch))


def classic_epoch(model, loader, device, epoch: int = 0) -> float:
    """One pass of the DataLoader, pytorch/examples style, training the phases ``fit`` trains in
    ``epoch``; returns wall seconds.

    Iterations follow ``fit``'s rule (:func:`tutorial_lib.step.batches_per_iteration`), so both
    ways take the same number of steps: a phase's r-th repeat uses the r-th batch of the iteration.
    """
    phases = active_phases(model, epoch)
    per_iter = step.batches_per_iteration(phases)
    model.train()
    drawn = iter(loader)
    t0 = time.perf_counter()
    while True:
        try:
            pairs = [next(drawn) for _ in range(per_iter)]            # (images, labels) from the loader
            batches = [methods.Batch(x.to(device), y.to(device)) for x, y in pairs]
            for phase in phases:
                for r in range(phase.repeats):
                    phase.optimizer.zero_grad()
                    loss, _ = phase.loss_fn(batches[r])
                    for p in model.parameters():       # classic loops call backward() on everything ...
                        p.grad = None
                    loss.backward()
                    phase.optimizer.step()
                    if phase.after_step:
                        phase.after_step()
                    loss.item()                        # ... and read the loss every step
        except StopIteration:
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def flops_per_iteration(model, batch: methods.Batch, epoch: int = 0) -> float:
    """FLOPs of one training iteration of ``epoch`` (every active phase, forward and backward).

    NaN where the counter cannot follow the step: its module hooks break ``autograd.grad`` inside
    a gradient penalty (seen with torch 2.11: "A leaf node was passed to _will_engine_execute_node").
    """
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            for phase in active_phases(model, epoch):
                for _ in range(phase.repeats):
                    step.take_step(phase, batch)
    except RuntimeError as err:
        print(f"{model.name}: FLOP count unavailable ({str(err).splitlines()[0][:90]})")
        return float("nan")
    return counter.get_total_flops()


class QualityClock(training.Callback):
    """Every ``every`` iterations: FD of ``n`` samples against ``reference``, stamped with the
    seconds spent training so far (the time spent measuring is left out)."""

    def __init__(self, reference: metrics.Embedding, judge: torch.nn.Module, *, n: int, every: int,
                 threshold: float):
        self.reference, self.judge, self.n, self.every, self.threshold = reference, judge, n, every, threshold
        self.curve: list[dict] = []
        self.reached: float | None = None
        self.seconds, self.t = 0.0, time.perf_counter()

    def on_step_end(self, state: training.FitState) -> None:
        if state.step % self.every:
            return
        if state.device.type == "cuda":
            torch.cuda.synchronize(state.device)
        self.seconds += time.perf_counter() - self.t
        fake = metrics.embed(metrics.draw(state.method, self.n, seed=0), self.judge)
        fd = metrics.frechet_distance(self.reference, fake)
        self.curve.append({"seconds": self.seconds, "step": state.step, "fd": fd})
        if self.reached is None and fd <= self.threshold:
            self.reached = self.seconds
        self.t = time.perf_counter()


def time_to_quality(name: str, train: data.Split, test: data.Split, *, device: torch.device, batch_size: int,
                    epochs: int, n: int, every: int, fd_factor: float, graph: bool = False) -> dict:
    """Train ``name`` with fit for ``epochs``; FD every ``every`` iterations; the first time FD ≤
    ``fd_factor`` × the real floor (train vs test images at the same n)."""
    judge = evaluator.load_evaluator("mnist", device)
    reference = metrics.embed(test.x[:n].to(device), judge)
    floor = metrics.frechet_distance(reference, metrics.embed(metrics.draw(train.x, n, seed=0), judge))
    clock = QualityClock(reference, judge, n=n, every=every, threshold=fd_factor * floor)
    model = build(name, device)
    training.fit(model, train, epochs=epochs, batch_size=batch_size, checkpoint_dir=None, progress=False,
                callbacks=[clock], graph=graph)
    return {"model": name, "floor": floor, "threshold": fd_factor * floor, "curve": clock.curve,
            "reached_s": clock.reached}


def bench_model(name: str, train: data.Split, root: Path, batch_size: int, epochs: int, warmup: int,
                device: torch.device, peak: float | None, limit: int | None, graph: bool = False) -> dict:
    """Seconds per epoch of ``name`` both ways (median of the ``epochs`` after ``warmup``), FLOPs, bound."""
    # (a) classic loop, on MNIST in torchvision's layout under root (the shipped sample has it too)
    tf = torchvision.transforms
    dataset = torchvision.datasets.MNIST(str(root), train=True, transform=tf.Compose(
        [tf.ToTensor(), tf.Normalize((0.5,), (0.5,))]))
    if limit:
        dataset = torch.utils.data.Subset(dataset, range(limit))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=2,
                                         drop_last=True, pin_memory=device.type == "cuda",
                                         persistent_workers=True)
    model = build(name, device, train)
    classic = [classic_epoch(model, loader, device, epoch) for epoch in range(warmup + epochs)]
    # (b) ours
    model = build(name, device, train)
    history = training.fit(model, train, epochs=warmup + epochs, batch_size=batch_size, checkpoint_dir=None,
                          progress=False, graph=graph)
    ours = [row["seconds"] for row in history.epochs]
    # arithmetic bound, for the timed epochs' phases
    model = build(name, device, train)
    batch = methods.Batch(train.floats(batch_size).to(device), train.y[:batch_size].to(device))
    flops = flops_per_iteration(model, batch, warmup) * iterations(model, len(train), batch_size, warmup)
    result = {"model": name, "classic_s": statistics.median(classic[warmup:]), "classic_first_s": classic[0],
              "ours_s": statistics.median(ours[warmup:]), "ours_first_s": ours[0], "tflop": flops / 1e12,
              "images": len(train)}
    result["speedup"] = result["classic_s"] / result["ours_s"]
    result["bound_s"] = flops / (peak * 1e12) if peak else float("nan")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    names = [*MODELS, *notebook_models()]
    parser.add_argument("--models", nargs="*", default=names, choices=names)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after warm-up (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="epochs run first and reported apart")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training images (0: all)")
    parser.add_argument("--dataset", default="mnist", choices=("mnist", "mnist-sample"),
                        help="mnist-sample: the small sample shipped in data/ (a smoke test on any machine)")
    parser.add_argument("--device", default="auto", choices=runtime.DEVICES)
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak (default: by GPU name)")
    parser.add_argument("--series", action="store_true", help="also time the whole series (full mode)")
    parser.add_argument("--graph", action="store_true", help="fit: record each iteration as a CUDA graph")
    parser.add_argument("--time-to-quality", action="store_true",
                        help="also: seconds of DCGAN training until FD <= fd-factor x floor, and the FD curve")
    parser.add_argument("--ttq-epochs", type=int, default=10, help="time to quality: epochs at most")
    parser.add_argument("--ttq-n", type=int, default=2000, help="time to quality: images per FD")
    parser.add_argument("--ttq-every", type=int, default=100, help="time to quality: iterations between FDs")
    parser.add_argument("--fd-factor", type=float, default=10.0, help="time to quality: threshold / floor")
    args = parser.parse_args(argv)
    for name in ("batch_size", "epochs"):
        checks.check_positive_int(name, getattr(args, name))

    device = runtime.get_device(args.device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in gpu), None)
    train = data.load(args.dataset, "train", limit=args.limit or None)
    root = data.SAMPLE_ROOT if args.dataset == "mnist-sample" else data.default_root()
    graphs = args.graph and device.type == "cuda"
    print(f"{gpu} | torch {torch.__version__} | {args.dataset}, {len(train)} images | batch {args.batch_size} | "
          f"peak {peak or '?'} TFLOP/s (fp32 on tensor cores) | ours: fit, "
          + ("each iteration a CUDA graph" if graphs else "eager"
             + (" (CUDA graphs need a GPU)" if args.graph else "")))
    header = (f"{'model':<12} {'classic s/ep':>12} {'ours s/ep':>10} {'speed-up':>9} {'images/s':>10} "
              f"{'TFLOP/ep':>9} {'bound s':>8} {'x bound':>8} {'first ep (cl/ours)':>19}")
    print(header)
    for name in args.models:
        r = bench_model(name, train, root, args.batch_size, args.epochs, args.warmup, device, peak,
                        args.limit or None, graph=args.graph)
        print(f"{name:<12} {r['classic_s']:>12.2f} {r['ours_s']:>10.3f} {r['speedup']:>8.1f}x "
              f"{r['images'] / r['ours_s']:>10.0f} {r['tflop']:>9.3f} {r['bound_s']:>8.4f} "
              f"{r['ours_s'] / r['bound_s']:>7.0f}x {r['classic_first_s']:>9.2f}/{r['ours_first_s']:<8.2f}",
              flush=True)
    if args.time_to_quality:
        test = data.load("mnist", "test")
        r = time_to_quality("gan", train, test, device=device, batch_size=args.batch_size, epochs=args.ttq_epochs,
                            n=min(args.ttq_n, len(test), len(train)), every=args.ttq_every,
                            fd_factor=args.fd_factor, graph=args.graph)
        print(f"\ntime to quality, gan (N = {min(args.ttq_n, len(test), len(train))}): floor FD {r['floor']:.2f}, "
              f"threshold {r['threshold']:.2f}")
        print(f"{'train s':>8} {'iteration':>9} {'FD':>8}")
        for point in r["curve"]:
            print(f"{point['seconds']:>8.1f} {point['step']:>9} {point['fd']:>8.2f}")
        print(f"FD first <= {args.fd_factor:g} x floor after {r['reached_s']:.1f} s of training" if r["reached_s"]
              is not None else f"FD never reached {args.fd_factor:g} x floor in {args.ttq_epochs} epochs")
    if args.series:
        from tutorial_lib.commands import series
        t0 = time.perf_counter()
        code = series.main(["--full"])
        print(f"whole series at default parameters: {time.perf_counter() - t0:.0f} s (exit code {code})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
