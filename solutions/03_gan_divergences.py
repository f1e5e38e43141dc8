"""Solutions to the exercises of 03 · GAN divergences."""
import numpy as np


def gan_value(d, p_r, p_g, x):
    """Exercise 03.1: V(D, G) = ∫ p_r log D + p_g log(1 − D) dx by the trapezoid rule."""
    d = np.clip(d, 1e-300, 1 - 1e-16)
    integrand = np.where(p_r > 0, p_r * np.log(d), 0.0) + np.where(p_g > 0, p_g * np.log1p(-d), 0.0)
    return float(np.sum((integrand[1:] + integrand[:-1]) / 2 * np.diff(x)))


def d_star(p_r, p_g):
    """Exercise 03.2: D*(x) = p_r / (p_r + p_g), and ½ where both densities vanish."""
    p_r, p_g = np.asarray(p_r, dtype=float), np.asarray(p_g, dtype=float)
    total = p_r + p_g
    return np.where(total > 0, p_r / np.where(total > 0, total, 1.0), 0.5)
