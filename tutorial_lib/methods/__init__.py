"""The generative models of the series, each a :class:`tutorial_lib.methods.base.Method`.

The contract every model keeps, and all that ``trainer.fit`` knows of it, is in ``base.py``:
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
for the exported file (``<runs>/models/<name>.pt``, what ``load_series_model`` reads), the sample
grid (``<name>_samples.png``), the results table and the benchmark (:data:`SERIES`):

    vae      method vae                       04_vae
    gan      method gan (the DCGAN)           05_gan
    wgan_gp  method wgan, constraint="gp"     06_wgan_gp   (06's clipped critic is not exported)
    aegan    method aegan, the remedy SERIES_REMEDY (batch-normalised code and G1)   07_aegan

How to add a model: write one new file here, ``methods/<name>.py``, with a config dataclass and a
``Method`` subclass whose ``name`` is its registry key; it declares its ``phases()`` (each loss a
function of a ``Batch``: ``batch.x`` for the images, ``batch.y`` for the labels of a conditional
model) and ``sample``. Add one ``REGISTRY`` entry below, and the notebook that trains it (plus its
:data:`SERIES` entry if the notebook exports it for 08 and 09). ``fit``, checkpoints, resume,
callbacks and exports then work unchanged.
"""
from __future__ import annotations

from pathlib import Path

import torch

from tutorial_lib import checkpoints, pretrained
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
SERIES = {"vae": ("vae", {}, "04_vae"), "gan": ("gan", {}, "05_gan"),
          "wgan_gp": ("wgan", {"constraint": "gp"}, "06_wgan_gp"), "aegan": ("aegan", REMEDIES[SERIES_REMEDY], "07_aegan")}
"""The series' own models: name -> (method, settings that differ from the method's defaults, notebook)."""


def build(name: str, **config) -> Method:
    """A fresh method by name, e.g. ``build("wgan", constraint="gp")``."""
    if name not in REGISTRY:
        raise ValueError(f"method={name!r} is not one of: {', '.join(map(repr, REGISTRY))}")
    cls, cfg_cls = REGISTRY[name]
    return cls(cfg_cls(**config))


def load_model(path: str | Path, device: torch.device | str = "cpu") -> Method:
    """Rebuild a model saved by :func:`tutorial_lib.checkpoints.export_model`, in eval mode.

    ``model.record`` says how it was made (see :func:`tutorial_lib.checkpoints.describe`). A file
    that cannot be read is moved aside with one message saying how to make it again.
    """
    built = {}

    def restore(saved):
        model = build(saved["method"], **saved["config"])
        model.load_state_dict(saved["state_dict"])
        built["model"] = model

    saved = checkpoints.load_or_move_aside(
        path, "Make it again by running the notebook that trains this model (e.g. 04_vae.ipynb for vae.pt).",
        restore=restore)
    model = built["model"]
    model.record = saved.get("record")
    return model.to(device).eval()


def load_series_model(name: str, device: torch.device | str = "cpu", shipped: bool = True) -> Method | None:
    """The series' own model: ``<runs>/models/<name>.pt`` (exported by its notebook at its defaults),
    else (with ``shipped``) the one that ships with the series; None when there is neither.

    Prints which model it loaded: its notebook, settings, epochs, device, and when and where it
    was trained, so a comparison always says what it compares.
    """
    path = checkpoints.models_dir() / f"{name}.pt"
    if path.exists():
        model = load_model(path, device)
        print(f"{name}: loaded {path}\n    {checkpoints.describe(model.record)}")
        return model
    index = pretrained.read_index() if shipped else {"names": {}}
    if name in index["names"]:
        model = pretrained.load(name, device)
        print(f"{name}: no {path} from this machine's runs; loaded the shipped model\n    "
              f"{pretrained.describe(index['models'][index['names'][name]])}")
        return model
    return None


__all__ = ["VAE", "VAEConfig", "GAN", "GANConfig", "WGAN", "WGANConfig", "AEGAN", "AEGANConfig",
           "CVAEGAN", "CVAEGANConfig", "IPGAN", "IPGANConfig",
           "ExPostGMM", "SSGAN", "SSGANConfig", "test_nelbo", "build", "load_model", "load_series_model", "REGISTRY", "SERIES",
           "Batch", "Method", "Phase"]
