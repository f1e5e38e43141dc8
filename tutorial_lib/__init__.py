"""tutorial_lib: everything in the generative-models notebook series that is not the lesson itself.

Floors, each importing only from its own floor or those below (tests/test_architecture.py reads it):

    0  runtime (device, flags, seeds, smoke mode), checks (parameter checks), files (runs folder,
       atomic files, results JSON), parameters (a notebook's parameters cell, the lecture preset),
       cli, figure_audit, nets (the networks), losses (every loss, with its equation)
    1  data (datasets as device-resident tensors), theory, toys, latent, features, metrics
    2  methods/    one file per model; base.py holds the contract (Method, Phase, Batch)
    3  training/   fit() and what a run leaves on disk: loop, history, step, callbacks, runs,
                   checkpoints, shipped (the models that ship, read-only)
    4  evaluator, plots, widgets, colab, homework (build it yourself), exercises/ (checked exercises)
    5  commands/   what a user runs: series, sweep, site, results, bench, pretrained

Import what a notebook needs explicitly, e.g. ``from tutorial_lib import data, methods, training``.
"""
__version__ = "0.1.0"
