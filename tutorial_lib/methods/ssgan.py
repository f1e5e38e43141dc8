"""The semi-supervised GAN: a K+1-class discriminator (Salimans et al. 2016) that is the classifier.

The discriminator D outputs K = 10 logits l_1..l_K, one per digit. Class K+1, "fake", has its
logit fixed at 0 (a softmax is unchanged when one constant is subtracted from every logit, so
this costs nothing). With Z(x) = Σ_k exp(l_k(x)):

    p(y = k | x)    = exp(l_k) / (Z + 1)            k = 1..K
    p(fake | x)     = 1 / (Z + 1)
    p(real | x)     = Z / (Z + 1) = sigmoid(log Z)    log Z = logsumexp_k l_k
    p(y = k | x, real) = exp(l_k) / Z                 (the ordinary K-class softmax)

Each iteration, on a batch of unlabelled images x and a batch drawn from the labelled subset:
  (1) update D: L_supervised + w · L_unsupervised, where
        L_supervised   = −E_(x,y)~labelled log p(y | x, real)        (cross-entropy over K classes)
        L_unsupervised = −E_x log(Z(x)/(Z(x)+1)) − E_z log(1/(Z(G(z))+1))
      [losses.ssgan_supervised_loss, losses.ssgan_unsupervised_loss]
  (2) update G by feature matching: (1/F)‖E f(x) − E f(G(z))‖², f = D's last hidden layer (F units), the
      authors' mean of squares; ``fm_mean=False``: the paper's and the source's ½‖·‖² [losses.feature_matching_loss]

Which labels training sees. ``fit`` hands every loss a Batch (x, y) of the whole training set;
this model never reads ``batch.y``. The labels it may use are a fixed subset of ``n_labels``
training images, balanced over the classes and drawn with ``label_seed``
(:func:`labelled_subset`); :meth:`SSGAN.attach_labels` copies those images and labels into the
model (buffers, so they move to its device and are saved with it), and each D update takes the
next labelled minibatch from a stream of fresh permutations of them (the batches tile the set, as
in the authors' code). The config holds ``n_labels`` and
``label_seed``, so each draw trains in a run folder of its own.

``gan=False`` is the baseline: the same D trained on the labelled subset alone (L_supervised
only, no generator), for the same number of updates.

Networks as in the paper's MNIST model: D an MLP 784-1000-500-250-250-250-10 with ReLU, Gaussian
noise on the input (σ = 0.6 on our [-1, 1] pixels, the paper's 0.3 on [0, 1]) and after each hidden
layer (σ = 0.5) while training, weight normalisation optional, the weights (directions) drawn from
N(0, 0.1²), each layer initialised from data (Salimans & Kingma 2016), with the noise on, so that its
outputs start standardised; G an MLP z-500-500-784 with batch norm (a shift, no scale) and softplus, a
weight-normalised tanh output (our images are in [-1, 1]; the paper's sigmoid served [0, 1]), z uniform
on [0, 1)^100.

As the authors' final MNIST code (openai/improved-gan, train_mnist_feature_matching.py):
  * the hidden layers' weight-norm scales g keep their data-dependent values; only the output
    layer's scale trains (``fixed_scales``);
  * Adam (lr 0.003, β1 = 0.5, δ = 1e-4) at a constant rate (``lr_decay=False``);
  * D is tested with a Polyak average of its weights, decay 0.9999 per update (``polyak_decay``;
    :meth:`SSGAN.update_average`); :meth:`SSGAN.classify` and :func:`test_accuracy` use it.
What still differs, on purpose, is listed in notebook 11 and docs/ssgan_alignment_cpu.md.

Status: 100 labels, draw 0, 50 epochs on a CPU: 98.23 % (averaged weights) at these defaults, against 96.97 % with
PyTorch's default initialisation of D, the series' G and ½‖·‖² feature matching (docs/ssgan_alignment_cpu.md). The
paper's 99 % at 300 epochs is not measured here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from tutorial_lib import checks, data, losses
from tutorial_lib.nets import IMAGE_SHAPE, NUM_CLASSES, GaussianNoise, MLPGenerator, NoisyMLPDiscriminator  # noqa: F401  (11 uses ssgan.GaussianNoise)
from tutorial_lib.methods.base import Batch, Method, Phase, polyak_step

Tensor = torch.Tensor
N_CLASSES = NUM_CLASSES
"""K, the number of real classes (the ten digits)."""


def hold_then_decay(progress: float) -> float:
    """Learning-rate factor: 1 for the first two thirds of the run, then linearly to 0 at the end.

    An option (``lr_decay=True``), not the authors' final schedule: their final MNIST code keeps the
    rate at 0.003 for all 300 epochs. A decay to 0 (from 0.001) appears only in an older commit.
    """
    return max(0.0, min(1.0, 3.0 * (1.0 - progress)))


def labelled_subset(train: data.Split, n_labels: int, seed: int) -> Tensor:
    """Indices (n_labels,) into ``train`` of a labelled set balanced over the 10 classes, sorted.

    One seeded permutation of the training set is walked and the first n_labels/10 images of
    each class are kept, so for one seed a smaller set is contained in a larger one (20 ⊂ 50 ⊂ 100).
    """
    checks.check_positive_int("n_labels", n_labels)
    checks.check_non_negative_int("label_seed", seed)
    if n_labels % N_CLASSES:
        raise ValueError(f"n_labels={n_labels} must be a multiple of {N_CLASSES} (the same number per class)")
    per_class = n_labels // N_CLASSES
    y = train.y.cpu()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    chosen = []
    for k in range(N_CLASSES):
        of_class = order[y[order] == k]
        if len(of_class) < per_class:
            raise ValueError(f"{train.name} has {len(of_class)} images of class {k}, fewer than the "
                             f"{per_class} per class that n_labels={n_labels} needs")
        chosen.append(of_class[:per_class])
    return torch.cat(chosen).sort().values


@dataclass
class SSGANConfig:
    n_labels: int = 100
    """Size of the labelled subset, a multiple of 10 (balanced: n_labels/10 per class)."""
    label_seed: int = 0
    """Which labelled subset (the draw): the seed of :func:`labelled_subset`."""
    gan: bool = True
    """True: the semi-supervised GAN. False: the baseline, the same D on the labelled subset alone."""
    latent_dim: int = 100
    """Size of z (paper: 100)."""
    uniform_noise: bool = True
    """z ~ U[0, 1)^latent_dim as in the authors' code (True), or z ~ N(0, I) as elsewhere in the series."""
    d_hidden: tuple[int, ...] = (1000, 500, 250, 250, 250)
    """D's hidden layer widths (paper: 1000, 500, 250, 250, 250); the last one is f for feature matching."""
    g_hidden: int = 500
    """G's two hidden layers' width (paper: 500)."""
    input_noise: float = 0.6
    """σ of the Gaussian noise added to D's input while training (paper: 0.3 on pixels in [0, 1], which
    is 0.6 on our pixels in [-1, 1])."""
    hidden_noise: float = 0.5
    """σ of the Gaussian noise added after each hidden layer of D while training (paper: 0.5)."""
    weight_norm: bool = True
    """Weight normalisation on D's linear layers (paper: yes)."""
    data_init: bool = True
    """Initialise D's layers from data (paper: yes): each layer's outputs start with mean 0 and variance 1
    over a batch of training images, with the noise on, so the noise σ's mean the same in every layer."""
    fixed_scales: bool = True
    """With weight normalisation: the hidden layers' scales g stay at their data-dependent values and
    only the output layer's scale trains (the authors' code: train_scale=False). False: every g trains."""
    polyak_decay: float = 0.9999
    """β of the Polyak (exponential moving) average of D's weights that testing uses: after each D
    update, average ← average + (1 − β)(weights − average), with a bias correction early on
    (:meth:`SSGAN.update_average`). The authors' code: 0.9999. 0: no average, test the raw weights."""
    unsupervised_weight: float = 0.5
    """w in L_supervised + w · L_unsupervised (the authors' code: 0.5; the paper's text: 1)."""
    lr: float = 3e-3
    """Adam learning rate, both networks (paper: 0.003)."""
    beta1: float = 0.5
    """Adam β1 (paper: 0.5)."""
    adam_eps: float = 1e-4
    """Adam's δ (PyTorch's eps). The authors' Adam divides by √(v + 1e-8), which is about δ = 1e-4 in
    PyTorch's √v + δ; it damps the steps of weights whose gradients are tiny (PyTorch's default: 1e-8)."""
    lr_decay: bool = False
    """False: both learning rates constant throughout, as in the authors' final code. True: constant for
    the first two thirds of the run, then linearly to 0 (:func:`hold_then_decay`, not the authors')."""
    d_init_std: float = 0.1
    """σ of the normal distribution D's weights are drawn from (with weight normalisation: the directions v),
    as the authors' code draws them; 0: PyTorch's Linear default, U(±1/√fan_in). The data-dependent init makes
    the function at the start the same either way, but Adam moves a direction by about lr/‖v‖ per step, and
    PyTorch's default gives ‖v‖ ≈ 0.58 per unit against the authors' 1.6–3.2: a D whose directions turn 3–5×
    faster."""
    authors_generator: bool = True
    """G as the authors' code builds it (:class:`~tutorial_lib.nets.MLPGenerator` with ``as_authors``): Glorot
    weights, batch norm without a scale, a weight-normalised output layer. False: the series' plain MLP."""
    fm_mean: bool = True
    """G's loss as the authors' mean of squares over the F features, (1/F)‖E f(x) − E f(G(z))‖², instead of
    the source's ½‖·‖² (Adam ignores a loss's scale except through δ, which is why it shows)."""

    def __post_init__(self):
        checks.check_positive_int("n_labels", self.n_labels)
        if self.n_labels % N_CLASSES:
            raise ValueError(f"n_labels={self.n_labels} must be a multiple of {N_CLASSES} "
                             f"(a balanced subset: the same number of labels per class)")
        checks.check_non_negative_int("label_seed", self.label_seed)
        if not isinstance(self.gan, bool):
            raise ValueError(f"gan={self.gan!r} must be True (the semi-supervised GAN) or False (the baseline)")
        checks.check_positive_int("latent_dim", self.latent_dim)
        self.d_hidden = tuple(self.d_hidden)
        if not self.d_hidden:
            raise ValueError("d_hidden=() : D needs at least one hidden layer (its last one is f)")
        for width in self.d_hidden:
            checks.check_positive_int("d_hidden width", width)
        checks.check_positive_int("g_hidden", self.g_hidden)
        checks.check_non_negative("input_noise", self.input_noise)
        checks.check_non_negative("hidden_noise", self.hidden_noise)
        checks.check_non_negative("unsupervised_weight", self.unsupervised_weight)
        checks.check_positive("lr", self.lr)
        checks.check_positive("adam_eps", self.adam_eps)
        checks.check_fraction("beta1", self.beta1)
        checks.check_fraction("polyak_decay", self.polyak_decay)    # 0: test the raw weights
        checks.check_non_negative("d_init_std", self.d_init_std)


class SSGAN(Method):
    name = "ssgan"

    def __init__(self, cfg: SSGANConfig = SSGANConfig()):
        super().__init__()
        self.cfg = cfg
        self.noise_dim = cfg.latent_dim
        self.discriminator = NoisyMLPDiscriminator(cfg.d_hidden, cfg.input_noise, cfg.hidden_noise, cfg.weight_norm,
                                                   cfg.fixed_scales, cfg.d_init_std)
        # The Polyak average of D's weights (what testing uses): a second D, never trained by gradients.
        self.averaged = NoisyMLPDiscriminator(cfg.d_hidden, cfg.input_noise, cfg.hidden_noise, cfg.weight_norm)
        self.averaged.requires_grad_(False)
        self.register_buffer("average_steps", torch.zeros((), dtype=torch.float32))
        self.generator = MLPGenerator(cfg.latent_dim, cfg.g_hidden, cfg.authors_generator) if cfg.gan else None
        # The labelled subset, filled by attach_labels; index -1 means "not attached yet".
        self.register_buffer("labelled_index", torch.full((cfg.n_labels,), -1, dtype=torch.long))
        self.register_buffer("labelled_x", torch.zeros(cfg.n_labels, *IMAGE_SHAPE, dtype=torch.uint8))
        self.register_buffer("labelled_y", torch.full((cfg.n_labels,), -1, dtype=torch.long))
        # The labelled stream: the current permutation of the subset and how far into it we are.
        self.register_buffer("label_order", torch.arange(cfg.n_labels))
        self.register_buffer("label_cursor", torch.tensor(cfg.n_labels))

    # ------------------------------------------------------------------ labels
    def attach_labels(self, train: data.Split, n_init: int = 500) -> Tensor:
        """Keep the labelled subset of ``train`` (:func:`labelled_subset` at the config's n_labels
        and label_seed) in the model; the only labels training ever reads. Returns its indices.

        With ``data_init`` it also initialises D from ``n_init`` training images (their pixels
        only; a seeded draw). Call it before ``fit``; a resumed run then restores its saved weights.
        """
        index = labelled_subset(train, self.cfg.n_labels, self.cfg.label_seed)
        if train.x.shape[1:] != IMAGE_SHAPE:
            raise ValueError(f"ssgan trains on 28×28 images; {train.name} has examples of shape {tuple(train.x.shape[1:])}")
        self.labelled_index.copy_(index)
        self.labelled_x.copy_(train.x[index.to(train.x.device)].to(self.labelled_x.device))
        self.labelled_y.copy_(train.y[index.to(train.y.device)].to(self.labelled_y.device))
        if self.cfg.data_init:
            pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(self.cfg.label_seed))[:n_init]
            self.discriminator.init_from_data(data.as_float(train.x[pick.to(train.x.device)]).to(self.labelled_y.device))
        self.restart_labelled_stream()
        self.average_steps.zero_()
        self.averaged.load_state_dict(self.discriminator.state_dict())
        return index

    @property
    def has_labels(self) -> bool:
        return bool((self.labelled_index >= 0).all())

    def restart_labelled_stream(self) -> None:
        """Mark the current permutation as used up: the next labelled batch starts a fresh one."""
        self.label_cursor.fill_(self.cfg.n_labels)

    def labelled_batch(self, n: int) -> tuple[Tensor, Tensor]:
        """The next n images (in [-1, 1]) and labels of the labelled stream: the subset's images in a
        fresh random order, then again in another, and so on, cut into consecutive batches (the
        authors' code). So with n equal to the subset's size each batch is a permutation of it, and
        with 20 labels and n = 100 each image appears exactly 5 times per batch.

        Only tensor operations on the model's device (no Python branch on the cursor, no read of it
        on the host), as a step recorded as a CUDA graph needs. The state is the current permutation
        ``label_order`` (L,) and a cursor c in [1, L] (L: used up); fresh permutations are appended
        and the batch is positions c .. c+n−1 of that stream.
        """
        L = self.cfg.n_labels
        device = self.labelled_y.device
        fresh = torch.rand(-(-n // L), L, device=device).argsort(dim=1)       # (⌈n/L⌉, L) new permutations
        stream = torch.cat([self.label_order[None], fresh])                      # (1 + ⌈n/L⌉, L)
        position = self.label_cursor + torch.arange(n, device=device)           # (n,) into the flat stream
        i = stream.view(-1)[position]
        last = self.label_cursor + (n - 1)                                       # the last position taken
        self.label_order.copy_(stream.index_select(0, (last // L).view(1))[0])  # the permutation it lies in
        self.label_cursor.copy_(last % L + 1)                                    # L: that one is used up
        return data.as_float(self.labelled_x[i]), self.labelled_y[i]

    def update_average(self) -> None:
        """One step of the Polyak average of D's weights (:func:`~tutorial_lib.methods.base.polyak_step`,
        without gradients), after each D update (t = 1, 2, ...):

            average_t = average_{t−1} + α_t (weights_t − average_{t−1}),   α_t = (1 − β) / (1 − β^t)

        The authors start the average at 0 with α = 1 − β = 1e-4 and never correct it; dividing by
        1 − β^t (as Adam corrects its moments) gives exactly their average divided by 1 − β^t, so
        early on it is not pulled towards 0: α_1 = 1 copies the weights, the first updates are
        averaged nearly uniformly, and after ~1/(1 − β) updates α is 1 − β. With β = 0 it is a copy.
        """
        polyak_step(self.averaged, self.discriminator, self.average_steps, self.cfg.polyak_decay)

    # ------------------------------------------------------------------ training
    def make_optimizers(self):
        kw = {"lr": self.cfg.lr, "betas": (self.cfg.beta1, 0.999), "eps": self.cfg.adam_eps}
        trained = [p for p in self.discriminator.parameters() if p.requires_grad]   # not the fixed scales
        opt = {"discriminator": torch.optim.Adam(trained, **kw)}
        if self.generator is not None:
            opt["generator"] = torch.optim.Adam([p for p in self.generator.parameters() if p.requires_grad], **kw)
        return opt

    def phases(self) -> list[Phase]:
        if not self.has_labels:
            raise RuntimeError("ssgan has no labelled subset yet: call model.attach_labels(train) before fit(), "
                               "with the training split fit() will see")
        opt = self.optimizers()
        decay = hold_then_decay if self.cfg.lr_decay else None
        if not self.cfg.gan:
            return [Phase("classifier", opt["discriminator"], self.discriminator_loss, lr_factor=decay,
                          after_step=self.update_average)]
        return [Phase("discriminator", opt["discriminator"], self.discriminator_loss, lr_factor=decay,
                      after_step=self.update_average),
                Phase("generator", opt["generator"], self.generator_loss, lr_factor=decay)]

    def discriminator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """(1) update D: L_supervised on a labelled minibatch [+ w · L_unsupervised on batch.x and G(z)].

        ``batch.y`` is never read: the labels come from the labelled subset only.
        """
        x_unlabelled = batch.x
        x_labelled, y_labelled = self.labelled_batch(len(x_unlabelled))
        labelled_logits = self.discriminator(x_labelled)                       # (B, K)
        supervised = losses.ssgan_supervised_loss(labelled_logits, y_labelled)
        logs = {"supervised": supervised.detach(),
                "train_accuracy": (labelled_logits.argmax(1) == y_labelled).float().mean().detach()}
        if not self.cfg.gan:
            return supervised, logs
        x_fake = self.sample(len(x_unlabelled)).detach()
        real_logits, fake_logits = self.discriminator(x_unlabelled), self.discriminator(x_fake)
        unsupervised = losses.ssgan_unsupervised_loss(real_logits, fake_logits)
        logs.update({"unsupervised": unsupervised.detach(),
                     "p_real(x)": torch.sigmoid(losses.real_logit(real_logits)).mean().detach(),
                     "p_real(G(z))": torch.sigmoid(losses.real_logit(fake_logits)).mean().detach()})
        return supervised + self.cfg.unsupervised_weight * unsupervised, logs

    def generator_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """(2) update G: feature matching on D's last hidden layer, ½‖E f(x) − E f(G(z))‖², times 2/F with
        ``fm_mean`` (the authors' mean of squares over the F features)."""
        real_features = self.discriminator.features(batch.x).detach()
        fake_features = self.discriminator.features(self.sample(len(batch.x)))
        loss = losses.feature_matching_loss(real_features, fake_features)
        return (loss * 2.0 / real_features.shape[1] if self.cfg.fm_mean else loss), {}

    # ------------------------------------------------------------------ use
    def noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z (n, latent_dim) on the model's device: U[0, 1) per coordinate as in the authors' code, or
        N(0, I) with ``uniform_noise=False``."""
        if not self.cfg.uniform_noise:
            return super().noise(n, generator)
        return torch.rand(n, self.noise_dim, generator=generator, device=self.labelled_y.device)

    def sample(self, n: int, z: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """G(z), z from :meth:`noise`. Unconditional: no ``y``. The baseline (gan=False) has no generator."""
        self.check_no_labels(y)
        if self.generator is None:
            raise ValueError("this ssgan is the labels-only baseline (gan=False): it has no generator to sample")
        return self.generator(self.noise(n) if z is None else z)

    def tested_discriminator(self, averaged: bool | None = None) -> NoisyMLPDiscriminator:
        """The D that testing uses: the Polyak average (``averaged=None`` follows the config: the average
        unless ``polyak_decay`` is 0 or nothing has been averaged yet), or the raw weights (False)."""
        if averaged is None:
            averaged = self.cfg.polyak_decay > 0 and bool(self.average_steps > 0)
        return self.averaged if averaged else self.discriminator

    @torch.no_grad()
    def classify(self, x: Tensor, batch_size: int = 1000, averaged: bool | None = None) -> Tensor:
        """Predicted classes (N,) of images x (N, 1, 28, 28) (uint8, or floats in [-1, 1]):
        argmax_k l_k(x), the most probable real class, in eval mode (no noise), with the Polyak
        averaged weights (see :meth:`tested_discriminator`; ``averaged=False``: the raw weights)."""
        was_training = self.training
        self.eval()
        try:
            device = self.labelled_y.device
            net = self.tested_discriminator(averaged)
            return torch.cat([net(data.as_float(x[i:i + batch_size].to(device))).argmax(1)
                              for i in range(0, len(x), batch_size)])
        finally:
            self.train(was_training)


def test_accuracy(model: SSGAN, test: data.Split, batch_size: int = 1000, averaged: bool | None = None) -> float:
    """The fraction of ``test`` (all of it: 10,000 images for MNIST) that ``model.classify`` gets right
    (with the Polyak averaged weights unless ``averaged=False``)."""
    predicted = model.classify(test.x, batch_size=batch_size, averaged=averaged)
    return float((predicted.cpu() == test.y.cpu()).float().mean())


test_accuracy.__test__ = False   # a helper, not a pytest test
