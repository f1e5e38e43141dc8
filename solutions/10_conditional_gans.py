"""Solutions to the exercises of 10 · conditional GANs (CVAE-GAN)."""
import torch


def class_centre_loss(real_features, real_labels, fake_features, fake_labels, num_classes):
    """Exercise 10.1: L_GC = ½ Σ_c ‖mean of the real features of class c − mean of the fake ones of class c‖²,
    over the classes present in both batches."""
    loss = real_features.new_zeros(())
    for c in range(num_classes):
        real_c, fake_c = real_features[real_labels == c], fake_features[fake_labels == c]
        if len(real_c) and len(fake_c):
            loss = loss + 0.5 * (real_c.mean(dim=0) - fake_c.mean(dim=0)).pow(2).sum()
    return loss


def repair(x, mask, iterations, reconstruct, classify):
    """Exercise 10.2: the source's iterated repair. Each iteration reads the class of the current image,
    rebuilds it, x′ = reconstruct(x, c), and keeps the known pixels: x ← M ⊙ x′ + (1 − M) ⊙ x (M = 1: missing)."""
    for _ in range(iterations):
        c = classify(x).argmax(dim=1)
        x = mask * reconstruct(x, c) + (1 - mask) * x
    return x
