"""Solutions to the exercises of 06 · WGAN-GP (read them after trying)."""
import torch

from tutorial_lib import methods


def interpolates(x_real, x_fake, alpha):
    """Exercise 06.1: x̂ = α x + (1 − α) x̃, one α per example."""
    alpha = alpha.reshape(-1, *([1] * (x_real.dim() - 1)))
    return alpha * x_real + (1 - alpha) * x_fake


def penalty(critic, x_hat, weight):
    """Exercise 06.2: λ_GP · mean over the batch of (‖∇_x̂ f(x̂)‖₂ − 1)²."""
    x_hat = x_hat.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norms = grad.reshape(len(grad), -1).norm(dim=1)
    return weight * ((norms - 1) ** 2).mean()


class MyWGANGP(methods.WGAN):
    """Build it yourself (06): WGAN-GP's update phases and their losses, written out."""

    def phases(self):
        opt = self.optimizers()
        return [methods.Phase("critic", opt["critic"], self.critic_loss, repeats=self.cfg.critic_steps),
                methods.Phase("generator", opt["generator"], self.generator_loss)]

    def critic_loss(self, batch):
        x_real = batch.x
        x_fake = self.generator(self.noise(len(x_real))).detach()
        alpha = torch.rand(len(x_real), device=x_real.device)          # U[0, 1], one per example
        gp = penalty(self.critic, interpolates(x_real, x_fake, alpha), self.cfg.gp_weight)
        return self.critic(x_fake).mean() - self.critic(x_real).mean() + gp, {}

    def generator_loss(self, batch):
        return -self.critic(self.generator(self.noise(len(batch.x)))).mean(), {}
