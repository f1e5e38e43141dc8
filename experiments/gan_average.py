"""Does averaging the generator's weights over the last epochs give 05's DCGAN cleaner digits? Measured after the
fact on the end-of-epoch snapshots that experiments/gan_extend.py keeps, so it costs no training.

    DATA_ROOT=/path/to/data python experiments/gan_average.py runs/gan-extend/const-25-30/snapshots \\
        --upto 40 --last 1 2 4 8 --out docs/gan_average_cpu.json

For each k in --last: G's weights averaged uniformly over the snapshots of epochs upto−k+1 … upto
(torch.optim.swa_utils.AveragedModel, as stochastic weight averaging does), then batch norm's running statistics
recomputed for the averaged weights from 200 batches of 256 noise vectors (swa_utils.update_bn: statistics
averaged over weights that never ran together mean nothing). k = 1 is the last epoch's G with its statistics
recomputed the same way, the row to compare against. FD on the shipped evaluator, 10,000 samples against the first
10,000 test digits, seed 0 (as gan_extend.py measures). D is not used. --out must not exist yet; it is rewritten
after every row.
"""
import argparse
import json
from datetime import datetime
from pathlib import Path

from torch.optim.swa_utils import AveragedModel, update_bn

from tutorial_lib import data, evaluator, methods, metrics, runtime
from tutorial_lib.training import checkpoints

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("snapshots", type=Path, help="a folder of epoch-NNN/last.pt (gan_extend.py's snapshots)")
parser.add_argument("--upto", type=int, required=True, help="the last epoch of every average")
parser.add_argument("--last", type=int, nargs="+", default=[1, 2, 4, 8], help="how many epochs each average spans")
parser.add_argument("--out", type=Path, required=True, help="the JSON to write (refused if it exists)")
args = parser.parse_args()
if args.out.exists():
    parser.error(f"{args.out} exists: pick another --out")
paths = {k: [args.snapshots / f"epoch-{e:03d}" / checkpoints.LAST for e in range(args.upto - k + 1, args.upto + 1)]
         for k in args.last}
missing = sorted({str(p) for ps in paths.values() for p in ps if not p.exists()})
if missing:
    parser.error(f"no snapshot at {', '.join(missing)}")

run = checkpoints.load(paths[max(paths)][-1])["history"]["run"]    # the model: its settings, epochs, device
quality = metrics.epoch_quality(data.load("mnist", "test"), evaluator.load_evaluator("mnist"))
rows = []
for k, snapshot_paths in paths.items():
    gan = methods.build("gan")
    gan.load_state_dict(checkpoints.load(snapshot_paths[-1])["method"])
    averaged = AveragedModel(gan.generator)
    for path in snapshot_paths:
        state = checkpoints.load(path)["method"]
        gan.generator.load_state_dict({n[len("generator."):]: v for n, v in state.items() if n.startswith("generator.")})
        averaged.update_parameters(gan.generator)
    runtime.seed_everything(0)
    noise = [gan.noise(256) for _ in range(200)]
    update_bn(noise, averaged)
    gan.generator.load_state_dict(averaged.module.state_dict())
    row = {"epochs averaged": k, "from epoch": args.upto - k + 1, "to epoch": args.upto,
           **{key: v for key, v in quality(gan).items() if key in ("FD", "top class share")}}
    rows.append(row)
    print(row, flush=True)
    json.dump({"what": "05's DCGAN, G's weights averaged uniformly over its last end-of-epoch snapshots, batch-norm "
                       "statistics recomputed (experiments/gan_average.py)",
               "snapshots": str(args.snapshots), "date": datetime.now().isoformat(timespec="seconds"),
               "device": "cpu", "run": run, "rows": rows}, open(args.out, "w"), indent=1)
