"""Solutions to the exercises of 06 · WGAN-GP."""
import torch


def interpolates(x_real, x_fake, eps):
    """Exercise 06.1: x̂ = ε x_r + (1 − ε) x_g, one ε per example."""
    eps = eps.reshape(-1, *([1] * (x_real.dim() - 1)))
    return eps * x_real + (1 - eps) * x_fake


def penalty(critic, x_hat, weight):
    """Exercise 06.2: λ · mean over the batch of (‖∇_x̂ f(x̂)‖₂ − 1)²."""
    x_hat = x_hat.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norms = grad.reshape(len(grad), -1).norm(dim=1)
    return weight * ((norms - 1) ** 2).mean()
