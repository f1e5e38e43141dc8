"""Networks for 28×28 images and for small vectors (2-D toys, latent codes).

All image networks take and return images in [-1, 1] (or logits), shape (B, 1, 28, 28).
Shapes are written beside each layer as (B, C, H, W).
"""
from __future__ import annotations

import torch
from torch import nn

Tensor = torch.Tensor


class ConvEncoder(nn.Module):
    """x (B, 1, 28, 28) -> (B, out_features). Two strided convolutions and a linear head.

    Used as the VAE's encoder (out_features = 2·d for μ and log σ²) and AEGAN's Enc (d).
    """

    def __init__(self, out_features: int, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),              # (B, w, 14, 14)
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),      # (B, 2w, 7, 7)
            nn.Flatten(),                                                 # (B, 2w·49)
            nn.Linear(2 * width * 49, 256), nn.LeakyReLU(0.2),            # (B, 256)
        )
        self.head = nn.Linear(256, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


class ConvDecoder(nn.Module):
    """z (B, d) -> (B, 1, 28, 28) pre-activation outputs (logits; the method picks sigmoid or tanh)."""

    def __init__(self, latent_dim: int, width: int = 32):
        super().__init__()
        self.width = width
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.ReLU(),
            nn.Linear(256, 2 * width * 49), nn.ReLU(),                    # (B, 2w·49)
        )
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(),     # (B, w, 14, 14)
            nn.ConvTranspose2d(width, 1, 4, 2, 1),                        # (B, 1, 28, 28)
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.fc(z).view(-1, 2 * self.width, 7, 7))


class DCGANGenerator(nn.Module):
    """DCGAN generator for 28×28: z (B, d) -> x̃ (B, 1, 28, 28) in [-1, 1].

    Transposed convolutions + batch norm + ReLU, tanh output (Radford et al. 2016).
    """

    def __init__(self, latent_dim: int, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, 4 * width, 7, 1, 0, bias=False),   # (B, 4w, 7, 7)
            nn.BatchNorm2d(4 * width), nn.ReLU(),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False),    # (B, 2w, 14, 14)
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, 1, 4, 2, 1),                        # (B, 1, 28, 28)
            nn.Tanh(),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Discriminator / critic for 28×28: x (B, 1, 28, 28) -> (B,) logits or critic scores.

    Strided convolutions + LeakyReLU(0.2). ``batchnorm=False`` gives the WGAN-GP critic
    (the gradient penalty is per example, which batch norm would break).
    :meth:`features` returns f_D(x), the last hidden layer (for feature-centre matching).
    """

    def __init__(self, width: int = 64, batchnorm: bool = True):
        super().__init__()
        norm = nn.BatchNorm2d(2 * width) if batchnorm else nn.Identity()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),                   # (B, w, 14, 14)
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=not batchnorm), norm,    # (B, 2w, 7, 7)
            nn.LeakyReLU(0.2),
            nn.Flatten(),                                                      # (B, 2w·49) = f_D(x)
        )
        self.head = nn.Linear(2 * width * 49, 1)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x)).squeeze(1)


class MLP(nn.Module):
    """A plain multilayer perceptron: (B, in) -> (B, out), ``depth`` hidden layers of ``hidden`` units.

    Used for the 2-D toy GANs and for AEGAN's latent generator G1 and latent discriminator D1.
    A 1-wide output is squeezed to (B,) so it can serve directly as logits or critic scores.
    """

    def __init__(self, in_features: int, out_features: int, hidden: int = 256, depth: int = 3,
                 activation: type[nn.Module] = nn.LeakyReLU):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), activation()]
            width = hidden
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)
        self.out_features = out_features

    def forward(self, x: Tensor) -> Tensor:
        y = self.net(x)
        return y.squeeze(1) if self.out_features == 1 else y


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


# ============================================================================ class-conditional networks
# (CVAE-GAN and IP-GAN, notebook 10: the digit's class as an input, or as what a classifier reads)

NUM_CLASSES = 10


def one_hot(y: Tensor) -> Tensor:
    """Labels (B,) -> float one-hot codes (B, 10)."""
    return nn.functional.one_hot(y, NUM_CLASSES).float()


class ConditionalEncoder(nn.Module):
    """E(x, c): x (B, 1, 28, 28), c (B,) -> μ, log σ² each (B, d). The label joins after the convolutions."""

    def __init__(self, latent_dim: int, width: int = 32):
        super().__init__()
        self.body = ConvEncoder(1, width).body                        # (B, 256)
        self.head = nn.Linear(256 + NUM_CLASSES, 2 * latent_dim)      # (B, 2d)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return self.head(torch.cat([self.body(x), one_hot(y)], dim=1)).chunk(2, dim=1)


class ConditionalGenerator(nn.Module):
    """G(z, c): the DCGAN generator on [z, one-hot(c)] (B, d + 10) -> (B, 1, 28, 28) in [-1, 1]."""

    def __init__(self, latent_dim: int, width: int = 64):
        super().__init__()
        self.net = DCGANGenerator(latent_dim + NUM_CLASSES, width)
        dcgan_init(self.net)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        return self.net(torch.cat([z, one_hot(y)], dim=1))


class FeatureDiscriminator(nn.Module):
    """D(x) -> logit (B,) with f_D = :meth:`features` (B, 2w·49), and no batch norm (which would
    normalise a real and a fake batch each by its own statistics, hiding the gap between their
    feature centres). ``conditional=True`` gives D(x, c): ten label planes joined to the image, as
    in Mirza & Osindero's CGAN.
    """

    def __init__(self, width: int = 64, conditional: bool = False):
        super().__init__()
        self.conditional = conditional
        self.net = DCGANDiscriminator(width, batchnorm=False)
        if conditional:
            self.net.body[0] = nn.Conv2d(1 + NUM_CLASSES, width, 4, 2, 1)   # (B, 11, 28, 28) -> (B, w, 14, 14)
        dcgan_init(self.net)

    def _input(self, x: Tensor, y: Tensor | None) -> Tensor:
        if not self.conditional:
            return x
        planes = one_hot(y)[:, :, None, None].expand(-1, -1, *x.shape[2:])   # (B, 10, 28, 28)
        return torch.cat([x, planes], dim=1)

    def features(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net.features(self._input(x, y))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(self._input(x, y))


class Classifier(nn.Module):
    """C(x) -> 10 logits; :meth:`features` is its last hidden layer (B, 256) (CVAE-GAN's f_C, IP-GAN's f_I)."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.net = ConvEncoder(NUM_CLASSES, width)

    def features(self, x: Tensor) -> Tensor:
        return self.net.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


# ----------------------------------------------------------------------------- the semi-supervised GAN's (notebook 11)

IMAGE_SHAPE = (1, 28, 28)


class GaussianNoise(nn.Module):
    """x + σ ε, ε ~ N(0, I), in training mode only (the identity in eval mode)."""

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = sigma

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.sigma > 0:
            return x + self.sigma * torch.randn_like(x)
        return x


class NoisyMLPDiscriminator(nn.Module):
    """Images (B, 1, 28, 28) -> K class logits (B, K); ``features`` is the last hidden layer f (B, F)."""

    def __init__(self, hidden: tuple[int, ...], input_noise: float, hidden_noise: float, weight_norm: bool,
                 fixed_scales: bool = False, init_std: float = 0.0):
        super().__init__()
        def linear(n_in: int, n_out: int) -> nn.Module:
            layer = nn.Linear(n_in, n_out)
            if init_std > 0:            # the weights (with weight norm: the directions v) ~ N(0, init_std²)
                nn.init.normal_(layer.weight, 0.0, init_std)
            return nn.utils.parametrizations.weight_norm(layer) if weight_norm else layer

        layers: list[nn.Module] = [nn.Flatten(), GaussianNoise(input_noise)]   # (B, 784)
        width = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
        for i, h in enumerate(hidden):
            if i:
                layers.append(GaussianNoise(hidden_noise))
            layers += [linear(width, h), nn.ReLU()]                             # (B, h)
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(GaussianNoise(hidden_noise), linear(width, NUM_CLASSES))   # (B, K)
        if weight_norm and fixed_scales:
            for scale in self.hidden_scales():
                scale.requires_grad_(False)        # set by init_from_data, never trained

    def hidden_scales(self) -> list[Tensor]:
        """The weight-norm scales g (out, 1) of the hidden layers (empty without weight normalisation)."""
        return [m.parametrizations.weight.original0 for m in self.body
                if isinstance(m, nn.Linear) and hasattr(m, "parametrizations")]

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    @torch.no_grad()
    def init_from_data(self, x: Tensor) -> None:
        """Data-dependent initialisation: layer by layer, rescale each linear map so that its outputs
        on the batch ``x`` have mean 0 and variance 1 per unit (W ← W/σ, b ← (b − μ)/σ; with weight
        normalisation the scale g is what changes). Run with the noise on, as in training (the
        authors' code), so the statistics are those of the noisy inputs each layer will see."""
        was_training = self.training
        self.train()
        h = x
        for module in [*self.body, *self.head]:
            if isinstance(module, nn.Linear):
                pre = module(h)                                            # (B, out)
                mu, sigma = pre.mean(0), pre.std(0) + 1e-6
                if hasattr(module, "parametrizations"):                    # weight = g · v/‖v‖
                    module.parametrizations.weight.original0.div_(sigma.view(-1, 1))
                else:
                    module.weight.div_(sigma.view(-1, 1))
                module.bias.sub_(mu).div_(sigma)
            h = module(h)
        self.train(was_training)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


class MLPGenerator(nn.Module):
    """z (B, latent) -> images (B, 1, 28, 28) in [-1, 1]: two batch-normalised softplus layers, tanh.

    ``as_authors=True`` builds it as Salimans et al.'s MNIST code does: Glorot-uniform weights, batch norm
    with a shift but no scale, and a weight-normalised output layer whose trained scale starts at ½ (with
    tanh(a) = 2 sigmoid(2a) − 1 that is their sigmoid output with scale 1, on pixels in [-1, 1])."""

    def __init__(self, latent_dim: int, hidden: int, as_authors: bool = False):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.Softplus(),   # (B, h)
            nn.Linear(hidden, hidden, bias=False), nn.BatchNorm1d(hidden), nn.Softplus(),       # (B, h)
            nn.Linear(hidden, IMAGE_SHAPE[1] * IMAGE_SHAPE[2]), nn.Tanh())                     # (B, 784)
        if as_authors:
            for m in self.net:
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                elif isinstance(m, nn.BatchNorm1d):
                    m.weight.requires_grad_(False)            # no scale: stays 1
            out = self.net[6]
            nn.init.zeros_(out.bias)
            self.net[6] = nn.utils.parametrizations.weight_norm(out)
            with torch.no_grad():
                self.net[6].parametrizations.weight.original0.fill_(0.5)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, *IMAGE_SHAPE)
