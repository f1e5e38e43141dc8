"""What a run records (:class:`History`): averaged logs per interval, per-epoch summaries, sample grids,
and the record of what trained it. ``fit`` returns it; checkpoints, exported and shipped models carry it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

Tensor = torch.Tensor


@dataclass
class History:
    """What a run recorded: averaged logs per interval, per-epoch summaries, sample grids."""
    logs: list[dict] = field(default_factory=list)     # {"epoch": float, "step": int, "<phase>/<key>": mean}
    epochs: list[dict] = field(default_factory=list)   # {"epoch": int, "seconds": float, ...callback figures}
    samples: dict[int, Tensor] = field(default_factory=dict)  # epoch -> samples from fixed noise
    run: dict = field(default_factory=dict)
    """What trained the model: method, config, data, batch size, seed, epochs asked and actually
    trained, device, start and finish times, run folder. Results and exported models carry it."""

    def series(self, key: str) -> tuple[list[float], list[float]]:
        rows = [r for r in self.logs if key in r]
        return [r["epoch"] for r in rows], [r[key] for r in rows]

    def last(self, key: str) -> float:
        for row in reversed(self.epochs):
            if key in row:
                return row[key]
        raise KeyError(key)

    def seconds_per_epoch(self) -> float:
        """Median wall time of the recorded epochs (the first, with warm-up, included)."""
        times = sorted(row["seconds"] for row in self.epochs if "seconds" in row)
        return times[len(times) // 2] if times else math.nan

    def state(self) -> dict:
        return {"logs": self.logs, "epochs": self.epochs, "samples": self.samples, "run": self.run}
