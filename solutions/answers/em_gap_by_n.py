"""How far EM's fit beats the true parameters on its own sample, by sample size (notebook 01, second question).

Draws the mixture of notebook 01 section 3 (weights 0.35/0.65, means −2 and 1.5, standard deviations 0.6 and 1)
for several seeds and sample sizes, runs EM from the notebook's start for 80 iterations, and prints the mean gap
between EM's average log-likelihood and the truth's, next to 5/(2n): the mixture has 5 free parameters, and
for a maximum-likelihood fit 2n times the gap is about χ² with 5 degrees of freedom, whose mean is 5.

    python solutions/answers/em_gap_by_n.py            # 20 s of CPU time (85 s on a busy 2-core machine)
"""
import numpy as np

from tutorial_lib import theory

TRUE_W, TRUE_M, TRUE_V = np.array([0.35, 0.65]), np.array([-2.0, 1.5]), np.array([0.6, 1.0]) ** 2
START = (np.array([0.5, 0.5]), np.array([-0.5, 0.5]), np.array([4.0, 4.0]))


def gap(n: int, seed: int, iters: int = 80) -> float:
    rng = np.random.default_rng(seed)
    first = rng.random(n) < TRUE_W[0]
    x = np.where(first, rng.normal(TRUE_M[0], np.sqrt(TRUE_V[0]), n), rng.normal(TRUE_M[1], np.sqrt(TRUE_V[1]), n))
    _, trace = theory.gmm_em(x, *START, n_iter=iters)
    return trace[-1] - theory.gmm_log_likelihood(x, TRUE_W, TRUE_M, TRUE_V)


if __name__ == "__main__":
    seeds = range(20)
    print("points n | mean gap over 20 seeds (nats per point) | its standard error | 5/(2n)")
    for n in (500, 20_000):
        gaps = np.array([gap(n, s) for s in seeds])
        print(f"{n:>8} | {gaps.mean():39.6f} | {gaps.std(ddof=1) / np.sqrt(len(gaps)):17.6f} | {5 / (2 * n):.6f}")
