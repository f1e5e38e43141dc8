"""tutorial_lib: everything in the generative-models notebook series that is not the lesson itself.

Modules, one job each (import them explicitly: ``from tutorial_lib import data, methods, trainer``):

    runtime      device, seeds, smoke mode, Colab/CI detection, parameter checks
    data         MNIST / Fashion-MNIST / the shipped sample as device-resident tensors
    nets         the networks (conv encoder/decoder, DCGAN, MLP)
    losses       every loss, with its equation and reduction
    methods/     VAE, GAN, WGAN(-GP), AEGAN: each declares its update phases; base.py holds the
                 contract every model keeps (Method, Phase, Batch)
    trainer      fit(): the one training loop; History, callbacks' hooks
    callbacks    fixed-noise sample grids, metrics per epoch or per step
    checkpoints  atomic, resumable checkpoints and exported models
    plots        image grids and training curves
    widgets      interactive figures that fall back to static grids when headless
    homework     build it yourself (04–07): a student's model trained small, judged against the library's
    figure_audit (tests only) which figures each cell shows, and which of their axes lack a label
"""
__version__ = "0.1.0"
