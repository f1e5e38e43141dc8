"""Solutions to the exercises of 11 · semi-supervised GAN."""
import torch
import torch.nn.functional as F


def log_p_real(class_logits):
    """Exercise 11.1: log p(real | x) = log(Z/(Z + 1)) = logsigmoid(logsumexp_k l_k), one value per row."""
    return F.logsigmoid(torch.logsumexp(class_logits, dim=1))


def unsupervised_loss(real_logits, fake_logits):
    """Exercise 11.2: −E log(Z/(Z + 1)) over real images − E log(1/(Z + 1)) over generated ones."""
    return (F.softplus(-torch.logsumexp(real_logits, dim=1)).mean()
            + F.softplus(torch.logsumexp(fake_logits, dim=1)).mean())
