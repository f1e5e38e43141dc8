"""AEGAN's stability, measured per epoch: one candidate remedy, one seed, at notebook 07's defaults.

    python experiments/aegan_stability.py --remedy "batch-normalised code" --seed 0 --final \
        --out docs/aegan_stability/batch-s0.json

07's settings (config, epochs, batch size, N, mixture size) are read from its parameters cell, so
the script trains what the notebook trains; ``--remedy`` and ``--set`` change only what they name.

Trains with ``training.fit`` (so a run resumes, and a longer run extends a shorter one), measures
after every epoch the FD of 10,000 samples and the largest class share (evaluator's labels) and
how G1's codes compare with Enc(x); at the end the full protocol of notebook 08 (FD, KID,
precision, recall; 3 sampling seeds) for the model and for the ex-post Gaussian mixture fitted
to the same autoencoder's codes. Writes one JSON file (per-epoch rows, final reports, the run record).
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import time
from pathlib import Path

import torch

from tutorial_lib import data, evaluator, methods, metrics, parameters, runtime, training
from tutorial_lib.training import callbacks, runs
from tutorial_lib.methods.aegan import REMEDIES



def report_dict(report: metrics.Report) -> dict:
    return {"mean": {k: report.mean(k) for k in metrics.KEYS}, "std": {k: report.std(k) for k in metrics.KEYS},
            "values": report.values, "histogram": report.histogram.tolist()}


def main(argv=None) -> None:
    defaults = parameters.notebook_defaults("07_aegan")      # the settings 07 trains with, read from its parameters cell
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remedy", choices=list(REMEDIES), required=True)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="further config changes, e.g. image_weight=0 (values read as Python literals)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=defaults["ae_epochs"] + defaults["gan_epochs"])
    parser.add_argument("--eval-n", type=int, default=defaults["eval_n"])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--dataset", default="mnist", help="'mnist-sample' for a quick check of the script")
    parser.add_argument("--train-limit", type=int, default=0)
    parser.add_argument("--final", action="store_true", help="also run the full protocol and the mixture")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    dev = runtime.get_device("auto")
    train = data.load(args.dataset, "train", root=args.data_root, limit=args.train_limit or None)
    test = data.load(args.dataset, "test", root=args.data_root)
    judge = evaluator.load_evaluator("mnist", dev)
    extra = {k: ast.literal_eval(v) for k, v in (item.split("=", 1) for item in args.set)}
    notebook = {f.name: defaults[f.name] for f in dataclasses.fields(methods.AEGANConfig) if f.name in defaults}
    config = methods.AEGANConfig(**{**notebook, **REMEDIES[args.remedy], **extra})
    x_probe = test.floats(1000).to(dev)
    torch.manual_seed(args.seed)
    model = methods.AEGAN(config).to(dev)
    test_features = metrics.embed(test.x[:args.eval_n].to(dev), judge)    # once, for every measurement
    quality = metrics.epoch_quality(test_features, judge, n=args.eval_n)
    t0 = time.time()
    history = training.fit(model, train, epochs=args.epochs, batch_size=defaults["batch_size"], seed=args.seed,
                          callbacks=[callbacks.EpochMetric(quality),
                                     callbacks.EpochMetric(lambda m: m.code_diagnostics(x_probe))],
                          progress=False)
    out = {"remedy": args.remedy, "set": extra, "eval_n": args.eval_n, "config": config.__dict__, "seed": args.seed, "run": history.run,
           "epochs": history.epochs, "wall_seconds": time.time() - t0}
    for row in history.epochs:
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    if args.final:
        model.eval()
        gmm = methods.ExPostGMM(model, train, n_components=defaults["gmm_components"], seed=args.seed)
        out["final"] = {name: report_dict(metrics.evaluate(src, test_features, judge, n=args.eval_n, name=name))
                        for name, src in (("aegan", model), ("ae+gmm", gmm))}
        print({k: round(v["mean"]["FD"], 2) for k, v in out["final"].items()})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(runs.json_safe(out), indent=1, default=str))


if __name__ == "__main__":
    main()
