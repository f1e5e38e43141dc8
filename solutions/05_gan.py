"""Solutions to the exercises of 05 · GAN."""
import torch.nn.functional as F


def d_loss(real_logits, fake_logits):
    """Exercise 05.1: −E log D(x) − E log(1 − D(G(z))), from logits (softplus keeps it finite)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss(fake_logits):
    """Exercise 05.2: the non-saturating −E log D(G(z))."""
    return F.softplus(-fake_logits).mean()
