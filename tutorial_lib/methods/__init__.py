"""The generative models of the series, each a :class:`tutorial_lib.methods.base.Method`.

The contract every model keeps, and all that ``training.fit`` knows of it, is in ``base.py``:
``Method`` (phases, ``sample(n, z=None, y=None)``, config), ``Phase`` (one update rule) and
``Batch`` (images x and labels y, as each loss receives them).

Names. A *method* has one name, used as its ``REGISTRY`` key, its class's ``name`` and the prefix
of its run folders (``<runs>/checkpoints/<name>-<hash>``):

    vae    VAE, VAEConfig            (vae.py)
    gan    GAN, GANConfig            (gan.py; DCGAN nets, three generator losses)
    wgan   WGAN, WGANConfig          (gan.py; weight clipping or gradient penalty)
    aegan  AEGAN, AEGANConfig        (aegan.py; plus the ExPostGMM baseline)
    cvaegan  CVAEGAN, CVAEGANConfig  (cvaegan.py; class-conditional; variant='cvae' / 'cgan' its ablations)
    ipgan  IPGAN, IPGANConfig        (ipgan.py; the identity of one digit, the attributes of another)
    ssgan  SSGAN, SSGANConfig        (ssgan.py; the K+1-class semi-supervised GAN, gan=False its baseline)

A *series model* is a method at the settings its notebook trains and exports; its name is used
is its method's name, used for the exported file (``<runs>/models/<name>.pt``, what
:func:`tutorial_lib.training.shipped.load_series_model` reads), the shipped model, the sample grid
(``<name>_samples.png``), the results table and the benchmark (:data:`SERIES`):

    vae      VAE        04_vae
    gan      DCGAN      05_gan
    wgan     WGAN-GP    06_wgan_gp   constraint="gp" (06's clipped critic is not exported)
    aegan    AEGAN      07_aegan     the remedy SERIES_REMEDY (batch-normalised code and G1)

How to add a model: write one new file here, ``methods/<name>.py``, with a config dataclass and a
``Method`` subclass whose ``name`` is its registry key; it declares its ``phases()`` (each loss a
function of a ``Batch``: ``batch.x`` for the images, ``batch.y`` for the labels of a conditional
model) and ``sample``. Add one ``REGISTRY`` entry below, and the notebook that trains it (plus its
:data:`SERIES` entry if the notebook exports it for 08 and 09). ``fit``, checkpoints, resume,
callbacks and exports then work unchanged.
"""
from __future__ import annotations

from tutorial_lib.methods.aegan import AEGAN, REMEDIES, SERIES_REMEDY, AEGANConfig, ExPostGMM
from tutorial_lib.methods.base import Batch, Method, Phase
from tutorial_lib.methods.cvaegan import CVAEGAN, CVAEGANConfig
from tutorial_lib.methods.ipgan import IPGAN, IPGANConfig
from tutorial_lib.methods.gan import GAN, GANConfig, WGAN, WGANConfig
from tutorial_lib.methods.ssgan import SSGAN, SSGANConfig
from tutorial_lib.methods.vae import VAE, VAEConfig, test_nelbo

REGISTRY = {"vae": (VAE, VAEConfig), "gan": (GAN, GANConfig), "wgan": (WGAN, WGANConfig),
            "aegan": (AEGAN, AEGANConfig), "cvaegan": (CVAEGAN, CVAEGANConfig),
            "ipgan": (IPGAN, IPGANConfig), "ssgan": (SSGAN, SSGANConfig)}
SERIES = {"vae": ({}, "04_vae", "VAE"), "gan": ({}, "05_gan", "DCGAN"),
          "wgan": ({"constraint": "gp"}, "06_wgan_gp", "WGAN-GP"), "aegan": (REMEDIES[SERIES_REMEDY], "07_aegan", "AEGAN")}
"""The series' own models, the one list of them: method name -> (settings that differ from the method's
defaults, the notebook that trains and exports it, its title). Everything else that names the four
(shipped models, the series' dependencies, the results page, the benchmark) is derived from it."""


def series_notebook(name: str) -> str:
    """The notebook that trains the series model ``name`` (``"gan"`` -> ``"05_gan"``)."""
    return SERIES[name][1]


def build(name: str, **config) -> Method:
    """A fresh method by name, e.g. ``build("wgan", constraint="gp")``."""
    if name not in REGISTRY:
        raise ValueError(f"method={name!r} is not one of: {', '.join(map(repr, REGISTRY))}")
    cls, cfg_cls = REGISTRY[name]
    return cls(cfg_cls(**config))


__all__ = ["VAE", "VAEConfig", "GAN", "GANConfig", "WGAN", "WGANConfig", "AEGAN", "AEGANConfig",
           "CVAEGAN", "CVAEGANConfig", "IPGAN", "IPGANConfig",
           "ExPostGMM", "SSGAN", "SSGANConfig", "test_nelbo", "build", "REGISTRY", "SERIES", "series_notebook",
           "Batch", "Method", "Phase"]
