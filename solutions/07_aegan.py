"""Solutions to the exercises of 07 · AEGAN."""
import torch.nn.functional as F


def g1_loss(latent_fake_logits, image_fake_logits, image_weight):
    """Exercise 07.1: −E log D1(G1(z)) − λ E log D2(Dec(G1(z)))."""
    return F.softplus(-latent_fake_logits).mean() + image_weight * F.softplus(-image_fake_logits).mean()


def reconstruction(x, x_rec):
    """Exercise 07.2: mean squared error per pixel over the whole batch."""
    return ((x - x_rec) ** 2).mean()
