"""Several small GANs trained as one: the 2-D toy runs (seeds, ring and grid) in a single batched model.

A toy GAN step is a few 256-wide matrix products: on a GPU it is bound by kernel launches, not
arithmetic, so K runs one after another cost K times the launches. Stacked, each weight becomes
a (K, in, out) tensor and each layer one batched matrix product (``torch.baddbmm``): one launch
serves all K runs.

The runs stay exactly the runs :func:`tutorial_lib.trainer.fit` would train, one by one:

- each member k starts from the weights ``torch.manual_seed(seeds[k])`` gives the model;
- its batches come from ``data.epoch_permutation(seed=seeds[k], epoch)``, as in ``fit``;
- its noise z and interpolation ε come from its own generator seeded with ``seeds[k]``, drawn in
  the order ``fit``'s global RNG would give them (per critic step: z, then ε; then the generator's z);
- Adam is elementwise, so one Adam over the stacked tensors is K independent Adams;
- each member's loss is computed by the library's own loss functions on its slice, and the
  losses are summed, so member k's gradient is the gradient of its own loss alone.

``tests/test_batched.py`` checks that a batched run leaves each member with the parameters of its
separate ``fit`` run, to floating-point tolerance (a batched product rounds a little differently).
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from tqdm.auto import tqdm

from tutorial_lib import data, losses, nets, runtime, trainer
from tutorial_lib.methods.base import linear_decay
from tutorial_lib.methods.gan import GAN, GANConfig, WGAN, WGANConfig

Tensor = torch.Tensor


class StackedMLP(nn.Module):
    """K copies of one :class:`tutorial_lib.nets.MLP` as stacked weights: (K, B, in) -> (K, B, out)."""

    def __init__(self, mlps: list[nets.MLP]):
        super().__init__()
        linears = [[m for m in mlp.net if isinstance(m, nn.Linear)] for mlp in mlps]
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack([layers[i].weight.detach().t() for layers in linears]).clone())
             for i in range(len(linears[0]))])
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([layers[i].bias.detach() for layers in linears]).unsqueeze(1).clone())
             for i in range(len(linears[0]))])
        self.activation = copy.deepcopy(next(m for m in mlps[0].net if not isinstance(m, nn.Linear)))
        self.out_features = mlps[0].out_features

    def forward(self, x: Tensor) -> Tensor:
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < len(self.weights) - 1:
                x = self.activation(x)
        return x.squeeze(-1) if self.out_features == 1 else x

    @torch.no_grad()
    def copy_into(self, k: int, mlp: nets.MLP) -> nets.MLP:
        """Write member ``k``'s weights into ``mlp`` (an MLP of the same shape); returns it."""
        for layer, w, b in zip([m for m in mlp.net if isinstance(m, nn.Linear)], self.weights, self.biases):
            layer.weight.copy_(w[k].t())
            layer.bias.copy_(b[k, 0])
        return mlp


def fit_toys(config: GANConfig | WGANConfig, datasets: list[data.Split], seeds: list[int], *, epochs: int,
             batch_size: int, device: torch.device | str = "cpu", progress: bool = True) -> list[GAN | WGAN]:
    """Train one toy GAN or WGAN (``arch="mlp"``) per (dataset, seed) pair, all at once.

    Supports what the series' toys use: a GAN with the non-saturating or saturating generator
    loss, and a WGAN with the gradient penalty (optionally with ``lr_decay``). Returns the trained
    models as ordinary :class:`GAN` / :class:`WGAN` objects in eval mode, in the order given.
    """
    is_wgan = isinstance(config, WGANConfig)
    if config.arch != "mlp":
        raise ValueError("fit_toys trains the 2-D toys: config.arch must be 'mlp'")
    if is_wgan and config.constraint != "gp":
        raise ValueError("fit_toys supports WGAN with the gradient penalty (constraint='gp')")
    if not is_wgan and config.generator_loss == "feature_matching":
        raise ValueError("fit_toys supports the non-saturating and saturating generator losses")
    if len(datasets) != len(seeds) or not seeds:
        raise ValueError(f"give one seed per dataset (got {len(datasets)} datasets, {len(seeds)} seeds)")
    runtime.check_positive_int("epochs", epochs)
    runtime.check_positive_int("batch_size", batch_size)
    sizes = {len(d) for d in datasets}
    if len(sizes) != 1:
        raise ValueError(f"all datasets must have the same size to train together (got {sorted(sizes)})")
    device = torch.device(device)
    n = sizes.pop()
    if batch_size > n:
        raise ValueError(f"batch_size={batch_size} is larger than the dataset ({n} examples)")

    cls = WGAN if is_wgan else GAN
    models = []
    for seed in seeds:                        # the same initial weights as a separate run
        torch.manual_seed(seed)
        models.append(cls(config).to(device))
    second = "critic" if is_wgan else "discriminator"
    G = StackedMLP([m.generator for m in models]).to(device)
    D = StackedMLP([getattr(m, second) for m in models]).to(device)
    points = torch.stack([d.x for d in datasets]).to(device)                  # (K, N, 2)
    gens = [torch.Generator(device).manual_seed(s) for s in seeds]
    if is_wgan:
        opt_d = torch.optim.Adam(D.parameters(), config.lr, betas=config.betas)
        opt_g = torch.optim.Adam(G.parameters(), config.lr, betas=config.betas)
    else:
        betas = (config.beta1, 0.999)
        opt_d = torch.optim.Adam(D.parameters(), config.lr, betas=betas)
        opt_g = torch.optim.Adam(G.parameters(), config.lr, betas=betas)
    decay = linear_decay if is_wgan and config.lr_decay else None
    repeats = config.critic_steps if is_wgan else 1
    n_iter = data.batches_per_epoch(n, batch_size) // repeats
    if n_iter == 0:
        raise ValueError(f"an iteration needs {repeats} batches of {batch_size}, more than the {n} points")
    K = len(seeds)

    def noise() -> Tensor:
        return torch.stack([torch.randn(batch_size, config.latent_dim, generator=g, device=device) for g in gens])

    def batch(perms: Tensor, index: int) -> Tensor:
        idx = perms[:, index * batch_size:(index + 1) * batch_size]                  # (K, B)
        return torch.gather(points, 1, idx.unsqueeze(-1).expand(-1, -1, points.shape[-1]))

    def step(opt, params, loss) -> None:
        grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()

    d_params, g_params = list(D.parameters()), list(G.parameters())
    bar = tqdm(total=epochs, desc=f"{K} toy {cls.name}s", unit="epoch", disable=not progress)
    for epoch in range(epochs):
        perms = torch.stack([data.epoch_permutation(n, seed=s, epoch=epoch, device=device) for s in seeds])
        for it in range(n_iter):
            if decay is not None:
                for opt in (opt_d, opt_g):
                    trainer.scale_lr(opt, decay((epoch + it / n_iter) / epochs))
            for r in range(repeats):
                x_real = batch(perms, it * repeats + r)
                x_fake = G(noise()).detach()
                if is_wgan:
                    eps = torch.stack([torch.rand(batch_size, generator=g, device=device) for g in gens])
                    real, fake = D(x_real), D(x_fake)
                    per_run = torch.stack([losses.critic_loss(real[k], fake[k]) for k in range(K)])
                    per_run = per_run + losses.gradient_penalty(D, losses.interpolate(x_real, x_fake, eps),
                                                                config.gp_weight, batch_dims=2)
                else:
                    real, fake = D(x_real), D(x_fake)
                    per_run = torch.stack([losses.discriminator_loss(real[k], fake[k]) for k in range(K)])
                step(opt_d, d_params, per_run.sum())
            scores = D(G(noise()))
            if is_wgan:
                per_run = torch.stack([losses.wasserstein_generator_loss(scores[k]) for k in range(K)])
            elif config.generator_loss == "saturating":
                per_run = torch.stack([losses.generator_loss_saturating(scores[k]) for k in range(K)])
            else:
                per_run = torch.stack([losses.generator_loss_nonsaturating(scores[k]) for k in range(K)])
            step(opt_g, g_params, per_run.sum())
        bar.update(1)
    bar.close()
    for k, model in enumerate(models):
        G.copy_into(k, model.generator)
        D.copy_into(k, getattr(model, second))
        model.eval()
    return models
