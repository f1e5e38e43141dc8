"""Toy GANs trained as one batched model equal the same runs trained one by one with fit()."""
import pytest
import torch

from tutorial_lib import batched, methods, toys, trainer


def separate(config, dataset, seed, epochs, batch_size):
    torch.manual_seed(seed)
    model = (methods.WGAN if isinstance(config, methods.WGANConfig) else methods.GAN)(config)
    trainer.fit(model, dataset, epochs=epochs, batch_size=batch_size, seed=seed, checkpoint_dir=None, progress=False)
    return model


def close(a, b, tol):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and max((sa[k] - sb[k]).abs().max().item() for k in sa) < tol


@pytest.mark.parametrize("config", [
    methods.WGANConfig(arch="mlp", latent_dim=2, width=32, gp_weight=0.1, lr=1e-3, betas=(0.5, 0.9), lr_decay=True),
    methods.GANConfig(arch="mlp", latent_dim=2, width=32, lr=1e-3),
], ids=["wgan-gp", "gan"])
def test_a_batched_run_gives_each_seed_the_parameters_of_its_own_run(config):
    ring, grid = toys.make("ring"), toys.make("grid")
    sets = [ring.sample(640, torch.Generator().manual_seed(0)), ring.sample(640, torch.Generator().manual_seed(1)),
            grid.sample(640, torch.Generator().manual_seed(0))]
    seeds = [0, 1, 0]
    together = batched.fit_toys(config, sets, seeds, epochs=2, batch_size=32, progress=False)
    for model, dataset, seed in zip(together, sets, seeds):
        alone = separate(config, dataset, seed, 2, 32)
        assert close(model, alone, 1e-5), f"seed {seed}: batched and separate runs differ"
    # and the members really are different runs (not one run copied K times)
    assert not close(together[0], together[1], 1e-3) and not close(together[0], together[2], 1e-3)


def test_an_untrained_member_would_be_caught():
    # the comparison above can fail: a run with one step less is not "close"
    config = methods.GANConfig(arch="mlp", latent_dim=2, width=32, lr=1e-3)
    data = toys.make("ring").sample(640, torch.Generator().manual_seed(0))
    (one,) = batched.fit_toys(config, [data], [0], epochs=1, batch_size=32, progress=False)
    assert not close(one, separate(config, data, 0, 2, 32), 1e-5)
    assert close(one, separate(config, data, 0, 1, 32), 1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"seeds": [0]}, "one seed per dataset"),
    ({"config": methods.WGANConfig(arch="mlp", constraint="clip")}, "gradient penalty"),
    ({"config": methods.GANConfig()}, "arch must be 'mlp'"),
])
def test_bad_batched_requests_are_refused(kwargs, message):
    data = toys.make("ring").sample(64)
    args = {"config": methods.GANConfig(arch="mlp"), "datasets": [data, data], "seeds": [0, 1], **kwargs}
    with pytest.raises(ValueError, match=message):
        batched.fit_toys(args["config"], args["datasets"], args["seeds"], epochs=1, batch_size=32, progress=False)
