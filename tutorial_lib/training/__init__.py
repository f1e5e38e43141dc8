"""The training machinery: one loop for every model, and what a run leaves on disk.

    loop.py         fit(): runs the update phases a method declares
    history.py      History: what a run records
    step.py         one iteration as a static step (eager, or recorded once as a CUDA graph)
    callbacks.py    Callback and FitState (the hooks fit calls), and ready-made ones: sample grids, metrics
    runs.py         a run's folder: which one, its lock, its settings, what is saved and resumed
    checkpoints.py  atomic, resumable checkpoints and exported models
    shipped.py      trained models that ship with the series (finished run records, read-only)

Nothing here knows a particular model: a model is a :class:`tutorial_lib.methods.base.Method`.
"""
from tutorial_lib.training.loop import (DEADLINE_ENV, Callback, DeadlineReached, FitState, History, NonFiniteLoss,
                                        fit, scale_lr)
from tutorial_lib.training.runs import RunInUse

__all__ = ["fit", "History", "Callback", "FitState", "NonFiniteLoss", "RunInUse", "DeadlineReached",
           "DEADLINE_ENV", "scale_lr"]
