"""The digit version of the CVAE-GAN paper's table (notebook 10): CVAE, CGAN and CVAE-GAN, one code.

    DATA_ROOT=/path/to/data python experiments/cvaegan_table.py --epochs 1 --set width=16 \
        --out docs/cvaegan_table_cpu.json

Trains the three variants of ``methods.CVAEGAN`` one after another with ``training.fit`` (so a run
resumes where it stopped) at notebook 10's settings, read from its parameters cell; ``--set`` and the
flags change only what they name. For each model: top-1 accuracy of the shipped evaluator on
``samples_per_class`` generated digits of each requested class, and FD, precision and recall of
``eval_n`` samples against the test set, each over ``eval_seeds`` sampling seeds (mean ± std). For
CVAE-GAN also the share of G's gradient that each weighted term supplies, at initialisation and after
training, on one fixed batch. The JSON (rewritten after every model) records the settings, the epochs
trained, the device, the date and the seconds of every run; a Markdown table is written beside it.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import datetime
import json
import platform
import time
from pathlib import Path

import torch

from tutorial_lib import data, evaluator, methods, metrics, parameters, runtime, training

LABELS = {"CVAE": "cvae", "CGAN": "cgan", "CVAE-GAN": "cvaegan"}
MODEL_KEYS = ("latent_dim", "width", "kl_weight", "pairwise_weight", "centre_weight", "class_centre_weight",
              "centre_momentum", "lr", "beta1")


def configs(settings: dict) -> dict[str, methods.CVAEGANConfig]:
    """The three configs notebook 10 trains, from its parameter values."""
    shared = {key: settings[key] for key in MODEL_KEYS}
    return {"CVAE": methods.CVAEGANConfig(variant="cvae", **shared),
            "CGAN": methods.CVAEGANConfig(variant="cgan", generator_loss=settings["cgan_generator_loss"], **shared),
            "CVAE-GAN": methods.CVAEGANConfig(variant="cvaegan", generator_loss=settings["cvaegan_generator_loss"],
                                              **shared)}


@torch.no_grad()
def top1(model, judge, samples_per_class: int, seed: int, device) -> float:
    """Share of class-conditional samples the evaluator reads as the class they were asked for."""
    asked = torch.arange(10, device=device).repeat_interleave(samples_per_class)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        read = torch.cat([judge(model.sample(len(c), y=c)).argmax(dim=1) for c in asked.split(1000)])
    return (read == asked).float().mean().item()


def mean_std(values: list[float]) -> dict:
    t = torch.tensor(values, dtype=torch.float64)
    return {"mean": t.mean().item(), "std": t.std().item() if len(t) > 1 else 0.0, "values": values}


def markdown(result: dict) -> str:
    trained = (f"{result['settings']['epochs']} epoch(s) on {result['train_images']} training images, "
               f"batch {result['settings']['batch_size']}, training seed {result['settings']['seed']}; "
               f"sampling seeds {result['settings']['eval_seeds']}, N = {result['eval_n']} for FD, precision, recall"
               if result["models"] else "untrained networks only")
    lines = [f"# CVAE-GAN table on digits: {result['name']}", "",
             f"{result['date']}, device {result['device']} ({result['torch_threads']} torch threads), {trained}.",
             "", "| model | top-1 (%) | FD | precision | recall | epochs | train s |", "| --- | --- | --- | --- | --- | --- | --- |",
             f"| real test digits | {100 * result['real_top1']:.2f} | | | | | |"]
    for label, row in result["models"].items():
        lines.append(f"| {label} | {100 * row['top1']['mean']:.2f} ± {100 * row['top1']['std']:.2f} | "
                     f"{row['FD']['mean']:.2f} ± {row['FD']['std']:.2f} | {row['precision']['mean']:.3f} | "
                     f"{row['recall']['mean']:.3f} | {row['epochs_trained']} | {row['train_seconds']:.0f} |")
    shares = result["models"].get("CVAE-GAN", {}).get("gradient_shares")
    if shares:
        lines += ["", "Share of G's gradient (‖∇_θG λ_k L_k‖ / Σ_j ‖∇_θG λ_j L_j‖), one fixed batch of 128:", "",
                  "| term | norm at init | share at init | norm trained | share trained |", "| --- | --- | --- | --- | --- |"]
        for term in shares["init"]:
            a, b = shares["init"][term], shares["trained"][term]
            lines.append(f"| {term} | {a['norm']:.3g} | {100 * a['share']:.1f} % | {b['norm']:.3g} | {100 * b['share']:.1f} % |")
    for name, entry in result.get("init_shares", {}).items():
        lines += ["", f"Untrained, weights {name} {entry['weights']}: " + ", ".join(
            f"{term} {v['norm']:.3g} ({100 * v['share']:.3g} %)" for term, v in entry["shares"].items())]
    lines += ["", "Settings: `" + json.dumps(result["settings"]) + "`", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    defaults = parameters.notebook_defaults("10_conditional_gans")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=defaults["epochs"])
    parser.add_argument("--dataset", default=defaults["dataset"], choices=["mnist", "mnist-sample"])
    parser.add_argument("--train-limit", type=int, default=defaults["train_limit"])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="any other parameter of notebook 10, e.g. width=16 eval_seeds=3")
    parser.add_argument("--only", nargs="*", choices=list(LABELS), default=list(LABELS),
                        help="the models to train, in this order")
    parser.add_argument("--init-shares", action="store_true",
                        help="also record, untrained, G's gradient shares under the paper's 1e-3 read literally "
                             "(λ_GD = λ_GC = 1e-3) and under the settings' weights")
    parser.add_argument("--graph", action="store_true",
                        help="fit records each iteration as a CUDA graph (on a GPU; the CPU runs eagerly)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    parser.add_argument("--name", default="", help="the run's name in the Markdown and JSON")
    parser.add_argument("--out", required=True, help="JSON path; the Markdown goes beside it")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = {**defaults, "epochs": args.epochs, "dataset": args.dataset, "train_limit": args.train_limit}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in defaults:
            raise SystemExit(f"--set {key}: notebook 10 has no such parameter")
        settings[key] = ast.literal_eval(value) if value[:1] in "-.0123456789[({'\"" or value in ("True", "False") else value
    dev = runtime.get_device(settings["device"])
    train = data.load(settings["dataset"], "train", limit=settings["train_limit"] or None)
    test = data.load(settings["dataset"], "test")
    judge = evaluator.load_evaluator("mnist", dev)
    eval_n = min(settings["eval_n"], len(test))
    test_features = metrics.embed(test.x[:eval_n].to(dev), judge)
    with torch.no_grad():
        real_top1 = (torch.cat([judge(x.to(dev)).argmax(1) for x in data.as_float(test.x).split(1000)]).cpu()
                     == test.y).float().mean().item()
    seeds = range(settings["eval_seeds"])
    x_probe, y_probe = train.floats(128).to(dev), train.y[:128].to(dev)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"name": args.name or out.stem, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "device": f"{dev.type} ({platform.processor() or platform.machine()})", "torch_threads": torch.get_num_threads(), "graph": args.graph,
              "train_images": len(train), "eval_n": eval_n, "real_top1": real_top1,
              "settings": {k: v for k, v in settings.items() if k not in ("results_json", "figures_dir")},
              "models": {}}
    all_configs = configs(settings)
    if args.init_shares:
        result["init_shares"] = {}
        for name, changes in (("paper 1e-3 literal", {"centre_weight": 1e-3, "class_centre_weight": 1e-3}),
                              ("settings", {})):
            torch.manual_seed(settings["seed"])
            model = methods.CVAEGAN(dataclasses.replace(all_configs["CVAE-GAN"], **changes)).to(dev)
            torch.manual_seed(4)
            result["init_shares"][name] = {"weights": {k: getattr(model.cfg, k) for k in MODEL_KEYS[2:6]},
                                           "shares": model.generator_gradient_shares(x_probe, y_probe)}
        out.write_text(json.dumps(result, indent=1, default=str) + "\n")
        out.with_suffix(".md").write_text(markdown(result))
    for label in args.only:                              # in the order asked for
        config = all_configs[label]
        torch.manual_seed(settings["seed"])
        model = methods.CVAEGAN(config).to(dev)
        row = {"config": model.config() if hasattr(model, "config") else vars(config)}
        if config.variant == "cvaegan":
            row["gradient_shares"] = {"init": model.generator_gradient_shares(x_probe, y_probe)}
        start = time.time()
        history = training.fit(model, train, epochs=settings["epochs"], batch_size=settings["batch_size"],
                              seed=settings["seed"], progress=False, graph=args.graph)
        row["train_seconds"] = time.time() - start
        row["seconds_per_epoch"] = history.seconds_per_epoch()
        row["epochs_trained"] = history.run.get("epochs_trained", settings["epochs"]) if isinstance(history.run, dict) \
            else settings["epochs"]
        model.eval()
        if config.variant == "cvaegan":
            model.train()                      # the gradients G gets in training, in training mode
            row["gradient_shares"]["trained"] = model.generator_gradient_shares(x_probe, y_probe)
            model.eval()
        row["top1"] = mean_std([top1(model, judge, settings["samples_per_class"], s, dev) for s in seeds])
        report = metrics.evaluate(model, test_features, judge, n=eval_n, seeds=seeds, name=label, kid_subsets=10)
        for key in ("FD", "precision", "recall"):
            row[key] = mean_std([float(v) for v in report.values[key]])
        result["models"][label] = row
        out.write_text(json.dumps(result, indent=1, default=str) + "\n")
        out.with_suffix(".md").write_text(markdown(result))
        print(f"{label}: top-1 {100 * row['top1']['mean']:.2f} ± {100 * row['top1']['std']:.2f} %, "
              f"FD {row['FD']['mean']:.2f}, precision {row['precision']['mean']:.3f}, recall {row['recall']['mean']:.3f}, "
              f"{row['train_seconds']:.0f} s of training", flush=True)


if __name__ == "__main__":
    main()
