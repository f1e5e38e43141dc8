"""Extend 05's rebuilt DCGAN (batch 64, 10 epochs) to 20 epochs, FD after each new epoch (shipped evaluator,
10,000 samples, seed 0), to see how FD falls with more epochs at the new default.

    DATA_ROOT=/path/to/data python experiments/gan_extend.py

It needs the finished 10-epoch run of ``pretrained build --only 05`` copied to runs/gan-extend/gan-d0d0ecc76f
(fit then resumes it and trains epochs 11-20); it writes docs/gan_batch64_20_epochs_cpu.json."""
import json
from tutorial_lib import data, evaluator, methods, metrics, training
from tutorial_lib.training import callbacks
train, test = data.load("mnist", "train"), data.load("mnist", "test")
quality = metrics.epoch_quality(test, evaluator.load_evaluator("mnist"))
gan = methods.build("gan")
h = training.fit(gan, train, epochs=20, batch_size=64, seed=0, progress=False,
                 checkpoint_dir="runs/gan-extend/gan-d0d0ecc76f",
                 callbacks=[callbacks.EpochMetric(lambda m: {k: v for k, v in quality(m).items() if k in ("FD", "top class share")})])
rows = [{k: r.get(k) for k in ("epoch", "seconds", "FD", "top class share")} for r in h.epochs]
print(json.dumps(rows, indent=1))
json.dump({"what": "05's DCGAN at the new defaults, extended from 10 to 20 epochs", "rows": rows, "run": h.run},
          open("docs/gan_batch64_20_epochs_cpu.json", "w"), indent=1, default=str)
