"""Every exercise check accepts its solution, answers each recognised mistake with its own nudge (never the
formula), gives the formula only when asked, and lets an untouched stub pass."""
import importlib.util
import json
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import integrate, linalg, special, stats

from tutorial_lib import exercises, parameters, runtime

SOLUTIONS = runtime.REPO_ROOT / "solutions"
NOTEBOOKS = runtime.REPO_ROOT / "notebooks"
STUB = {"01.1": "kl", "01.2": "responsibilities", "02.1": "elbo_ppca", "02.2": "kl_diag", "03.1": "gan_value",
        "03.2": "d_star", "04.1": "reparameterise", "04.2": "vae_batch_loss", "05.1": "d_loss", "05.2": "g_loss",
        "06.1": "interpolates", "06.2": "penalty", "07.1": "g1_loss", "07.2": "standardise", "08.1": "frechet",
        "08.2": "precision", "09.1": "slerp", "09.2": "decorrelate",
        "10.1": "class_centre_loss", "10.2": "repair",
        "11.1": "log_p_real", "11.2": "unsupervised_loss"}


# ---------------------------------------------------------------- wrong answers, written as a student would

def _rows(joint, axis=1):
    return joint / joint.sum(axis, keepdims=True)


def _elbo(x, mu, lv, W, b, s2, *, spread=1.0, kl=-1.0, const=1.0):
    sq = (x - mu @ W.T - b).pow(2).sum(-1) + spread * (lv.exp() * W.pow(2).sum(0)).sum(-1)
    loglik = -const * 0.5 * x.shape[-1] * math.log(2 * math.pi * s2) - sq / (2 * s2)
    return loglik + kl * 0.5 * (mu.pow(2) + lv.exp() - 1 - lv).sum(-1)


def _kl_diag(mq, lq, mp, lp, *, half=0.5, one=1.0, reduce=lambda t: t.sum(-1)):
    return half * reduce(lp - lq + (lq.exp() + (mq - mp).pow(2)) / lp.exp() - one)


def _vae(logits, x, mu, lv, w, *, pixels=lambda t: t.sum(1), latents=lambda t: t.sum(1), sign=1.0, target=None,
         on_recon=False, use_w=True, batch=lambda t: t.mean()):
    t = (x + 1) / 2 if target is None else target
    recon = pixels(F.binary_cross_entropy_with_logits(logits, t, reduction="none").flatten(1))
    kl = sign * latents(0.5 * (mu.pow(2) + lv.exp() - 1 - lv))
    w = w if use_w else 1.0
    return batch(w * recon + kl if on_recon else recon + w * kl)


def _vae_probabilities(logits, x, mu, lv, w, *, bce):
    """The batch loss with the cross-entropy taken on ρ = sigmoid(logits), as a student might write it."""
    return bce(torch.sigmoid(logits), (x + 1) / 2) + w * 0.5 * (mu ** 2 + lv.exp() - 1 - lv).sum(1).mean()


def _bn(h, *, dim=0, unbiased=False, delta=1e-5, centre=True, scale=True, root=True):
    h = h - h.mean(dim, keepdim=True) if centre else h
    var = h.var(dim, unbiased=unbiased, keepdim=True) + delta
    return h / (var.sqrt() if root else var) if scale else h


def _penalty(critic, x_hat, weight, *, create_graph=True, norms=lambda g: g.flatten(1).norm(dim=1),
             gap=lambda n: (n - 1).pow(2).mean(), leaf=True, total=True):
    if leaf:
        x_hat = x_hat.detach().requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum() if total else scores, x_hat, create_graph=create_graph)
    return weight * gap(norms(grad))


def _fd(m1, c1, m2, c2, *, mean=lambda sq: sq, factor=2.0, root=lambda c1, c2: linalg.sqrtm(c1 @ c2).real):
    return float(mean(((m1 - m2) ** 2).sum()) + np.trace(c1 + c2) - factor * np.trace(root(c1, c2)))


def _precision(real, fake, k, *, kth=1, count=False):
    radii = torch.cdist(real, real).kthvalue(k + kth, dim=1).values
    inside = (torch.cdist(fake, real) <= radii[None, :]).any(dim=1)
    return inside.sum().item() if count else inside.double().mean().item()


def _precision_nearest_only(real, fake, k):
    radii = torch.cdist(real, real).kthvalue(k + 1, dim=1).values
    d = torch.cdist(fake, real)
    return (d.min(1).values <= radii[d.argmin(1)]).double().mean().item()


def _slerp(z1, z2, steps, *, keep_length=True, alpha=None, fallback=True, clamp=1.0):
    a = (torch.linspace(0, 1, steps, dtype=z1.dtype) if alpha is None else alpha(steps).to(z1.dtype))[:, None]
    u1, u2 = z1 / z1.norm(), z2 / z2.norm()
    omega = torch.arccos(torch.clamp(u1 @ u2, -clamp, clamp))
    if fallback and omega < 1e-4:
        return (1 - a) * z1 + a * z2
    direction = (torch.sin((1 - a) * omega) * u1 + torch.sin(a * omega) * u2) / torch.sin(omega)
    return direction * ((1 - a) * z1.norm() + a * z2.norm()) if keep_length else direction


def _textbook_slerp(z1, z2, steps):
    omega = torch.arccos((z1 / z1.norm()) @ (z2 / z2.norm()))
    a = torch.linspace(0, 1, steps, dtype=z1.dtype)[:, None]
    return (torch.sin((1 - a) * omega) * z1 + torch.sin(a * omega) * z2) / torch.sin(omega)


def _repair(x, m, k, rec, cls, *, swap=False, blend_each=True, read_once=False, keep_known=True):
    """10.2 as a student might write it: a plain loop, the mask used as numbers."""
    start, c = x, cls(x).argmax(1)
    for _ in range(k):
        c = c if read_once else cls(x).argmax(1)
        new = rec(x, c)
        if not keep_known:
            x = new
        elif not blend_each:
            x = new
        else:
            x = m * x + (1 - m) * new if swap else m * new + (1 - m) * x
    return m * x + (1 - m) * start if (keep_known and not blend_each) else x


def _centres(fr, yr, ff, yf, k, *, skip_empty=True, empty_as_zero=False, term=lambda d: 0.5 * d.pow(2).sum(),
             average=False):
    terms = []
    for c in range(k):
        r, f = fr[yr == c], ff[yf == c]
        if skip_empty and not (len(r) and len(f)):
            if not empty_as_zero:
                continue
            r = r if len(r) else fr.new_zeros(1, fr.shape[1])
            f = f if len(f) else ff.new_zeros(1, ff.shape[1])
        terms.append(term(r.mean(0) - f.mean(0)))
    return torch.stack(terms).mean() if average else torch.stack(terms).sum()


def _lse(logits):
    return torch.logsumexp(logits, dim=1)


def _naive_ssgan(r, f):
    zr, zf = r.exp().sum(1), f.exp().sum(1)
    return -torch.log(zr / (zr + 1)).mean() - torch.log(1 / (zf + 1)).mean()


def _bce_on_probabilities(logits, target):
    return F.binary_cross_entropy(torch.sigmoid(logits), torch.full_like(logits, float(target)))


MISTAKES = {   # one wrong answer per recognised mistake (several where a mistake shows two ways)
    "01.1": {
        "swapped": lambda p, q: (q * np.log(q / p)).sum(-1),
        "zero-terms": lambda p, q: (p * np.log(p / q)).sum(-1),
        "upside-down": lambda p, q: (p * np.log(q / p)).sum(-1),
        "axis": lambda p, q: (p * np.log(p / q)).sum(0),
        "bits": lambda p, q: (p * np.log2(p / q)).sum(-1),
    },
    "01.2": {
        "underflow": lambda x, w, m, v: _rows(w * stats.norm.pdf(np.asarray(x)[:, None], m, np.sqrt(v))),
        "std-for-variance": lambda x, w, m, v: _rows(w * stats.norm.pdf(np.asarray(x)[:, None], m, v)),
        "no-weights": lambda x, w, m, v: _rows(stats.norm.pdf(np.asarray(x)[:, None], m, np.sqrt(v))),
        "columns": lambda x, w, m, v: _rows(w * stats.norm.pdf(np.asarray(x)[:, None], m, np.sqrt(v)), axis=0),
        "no-normaliser": lambda x, w, m, v: _rows(w * np.exp(-(np.asarray(x)[:, None] - m) ** 2 / (2 * v))),
    },
    "02.1": {
        "at-the-mean": lambda *a: _elbo(*a, spread=0.0),
        "no-kl": lambda *a: _elbo(*a, kl=0.0),
        "kl-sign": lambda *a: _elbo(*a, kl=1.0),
        "noise-as-std": lambda x, mu, lv, W, b, s2: _elbo(x, mu, lv, W, b, s2 ** 2),
        "no-constant": lambda *a: _elbo(*a, const=0.0),
    },
    "02.2": {
        "factor-2": lambda *a: _kl_diag(*a, half=1.0),
        "swapped": lambda mq, lq, mp, lp: _kl_diag(mp, lp, mq, lq),
        "log-std": lambda mq, lq, mp, lp: _kl_diag(mq, 2 * lq, mp, 2 * lp),
        "averaged": lambda *a: _kl_diag(*a, reduce=lambda t: t.mean(-1)),
        "offset": lambda *a: _kl_diag(*a, one=0.0),
    },
    "03.1": {
        "sum-not-integral": lambda d, pr, pg, x: float(np.sum(pr * np.log(d) + pg * np.log(1 - d))),
        "fake-term": lambda d, pr, pg, x: float(integrate.trapezoid(pr * np.log(d) + pg * np.log(d), x)),
        "swapped": lambda d, pr, pg, x: float(integrate.trapezoid(pg * np.log(d) + pr * np.log(1 - d), x)),
        "zero-times-log-zero": lambda d, pr, pg, x: float(integrate.trapezoid(pr * np.log(d) + pg * np.log(1 - d), x)),
    },
    "03.2": {
        "swapped": lambda pr, pg: np.asarray(pg) / (np.asarray(pr) + pg + 1e-300),
        "zero-over-zero": lambda pr, pg: np.asarray(pr) / (np.asarray(pr) + pg),
        "zero-where-empty": lambda pr, pg: np.asarray(pr) / (np.asarray(pr) + pg + 1e-300),
        "ratio": lambda pr, pg: np.asarray(pr) / pg,
    },
    "04.1": {
        "variance-as-sigma": lambda mu, lv, eps: mu + lv.exp() * eps,
        "logvar-as-sigma": lambda mu, lv, eps: mu + lv * eps,
        "no-mean": lambda mu, lv, eps: (0.5 * lv).exp() * eps,
        "new-noise": lambda mu, lv, eps: mu + (0.5 * lv).exp() * torch.randn_like(mu),
        "no-gradient": lambda mu, lv, eps: (mu + (0.5 * lv).exp() * eps).detach(),
    },
    "04.2": {
        "pixel-mean": lambda *a: _vae(*a, pixels=lambda t: t.mean(1)),
        "latent-mean": lambda *a: _vae(*a, latents=lambda t: t.mean(1)),
        "both-means": lambda *a: _vae(*a, pixels=lambda t: t.mean(1), latents=lambda t: t.mean(1)),
        "target-range": lambda l, x, mu, lv, w: _vae(l, x, mu, lv, w, target=x),
        "kl-sign": lambda *a: _vae(*a, sign=-1.0),
        "weight-on-recon": lambda *a: _vae(*a, on_recon=True),
        "weight-ignored": lambda *a: _vae(*a, use_w=False),
        "summed-batch": lambda *a: _vae(*a, batch=lambda t: t.sum()),
        "unstable": lambda l, x, mu, lv, w: _vae_probabilities(l, x, mu, lv, w, bce=lambda p, t: -(
            t * p.log() + (1 - t) * (1 - p).log()).flatten(1).sum(1).mean()),
        "capped": lambda l, x, mu, lv, w: _vae_probabilities(l, x, mu, lv, w, bce=lambda p, t: F.binary_cross_entropy(
            p, t, reduction="sum") / len(t)),
        "no-gradient": lambda *a: _vae(*a).detach(),
    },
    "05.1": {
        "unstable": lambda r, f: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean(),
        "capped": lambda r, f: _bce_on_probabilities(r, 1) + _bce_on_probabilities(f, 0),
        "labels-swapped": lambda r, f: F.softplus(r).mean() + F.softplus(-f).mean(),
        "summed": lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum(),
        "no-gradient": lambda r, f: torch.tensor((F.softplus(-r).mean() + F.softplus(f).mean()).item()),
    },
    "05.2": {
        "unstable": lambda f: -torch.sigmoid(f).log().mean(),         # the hole: +120 never showed it
        "capped": lambda f: _bce_on_probabilities(f, 1),
        "saturating": lambda f: (-F.softplus(f)).mean(),
        "sign": lambda f: F.logsigmoid(f).mean(),
        "summed": lambda f: F.softplus(-f).sum(),
        "no-gradient": lambda f: F.softplus(-f).mean().detach(),
    },
    "06.1": {
        "weights-swapped": lambda xr, xf, e: e.view(-1, 1, 1, 1) * xf + (1 - e.view(-1, 1, 1, 1)) * xr,
        "no-reshape": (lambda xr, xf, e: e * xr + (1 - e) * xf,                       # raises where B ≠ W
                       lambda xr, xf, e: (e.view(-1, 1, 1, 1) if len(e) != xr.shape[-1] else e) * xr
                       + (1 - (e.view(-1, 1, 1, 1) if len(e) != xr.shape[-1] else e)) * xf),   # silent where B = W
        "one-alpha": lambda xr, xf, a: a[0] * xr + (1 - a[0]) * xf,
        "new-alpha": lambda xr, xf, e: (lambda r: r * xr + (1 - r) * xf)(torch.rand(len(e), 1, 1, 1)),
    },
    "06.2": {
        "not-trainable": lambda *a: _penalty(*a, create_graph=False),                 # the hole: no create_graph
        "one-sided": lambda *a: _penalty(*a, gap=lambda n: F.relu(n - 1).pow(2).mean()),
        "batch-norm": lambda *a: _penalty(*a, norms=lambda g: g.norm(), gap=lambda n: (n - 1) ** 2),
        "squared-norm": lambda *a: _penalty(*a, norms=lambda g: g.flatten(1).pow(2).sum(1)),
        "no-weight": lambda c, x, w: _penalty(c, x, 1.0),
        "not-scalar": lambda *a: _penalty(*a, total=False),
        "no-requires-grad": lambda *a: _penalty(*a, leaf=False),
    },
    "07.1": {
        "lambda-ignored": lambda a, b, lam: F.softplus(-a).mean() + F.softplus(-b).mean(),
        "lambda-on-latent": lambda a, b, lam: lam * F.softplus(-a).mean() + F.softplus(-b).mean(),
        "saturating": lambda a, b, lam: -F.softplus(a).mean() - lam * F.softplus(b).mean(),
        "unstable": lambda a, b, lam: -torch.sigmoid(a).log().mean() - lam * torch.sigmoid(b).log().mean(),
        "capped": lambda a, b, lam: _bce_on_probabilities(a, 1) + lam * _bce_on_probabilities(b, 1),
        "no-gradient": lambda a, b, lam: (F.softplus(-a).mean() + lam * F.softplus(-b).mean()).detach(),
    },
    "07.2": {
        "per-code": lambda h: _bn(h, dim=1),
        "unbiased": (lambda h: _bn(h, unbiased=True), lambda h: (h - h.mean(0)) / (h.std(0) + 1e-5)),
        "no-delta": lambda h: _bn(h, delta=0.0),
        "not-centred": lambda h: h / (h.var(0, unbiased=False) + 1e-5).sqrt(),
        "not-scaled": lambda h: _bn(h, scale=False),
        "variance": lambda h: _bn(h, root=False),
        "no-gradient": lambda h: _bn(h).detach(),
    },
    "08.1": {
        "elementwise-sqrt": lambda *a: _fd(*a, root=lambda c1, c2: np.sqrt(np.abs(c1 @ c2))),
        "mean-not-squared": lambda *a: _fd(*a, mean=np.sqrt),
        "cross-factor": lambda *a: _fd(*a, factor=1.0),
        "square-root": lambda *a: math.sqrt(_fd(*a)),
        "product-of-roots": lambda *a: _fd(*a, root=lambda c1, c2: linalg.sqrtm(c1) @ linalg.sqrtm(c2)),
        "complex": lambda m1, c1, m2, c2: ((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * linalg.sqrtm(c1 @ c2)),
    },
    "08.2": {
        "edge": lambda real, fake, k: float((torch.cdist(fake, real) < torch.sort(torch.cdist(real, real), 1)
                                             .values[:, k][None, :]).any(1).double().mean()),
        "self-neighbour": lambda *a: _precision(*a, kth=0),
        "recall": lambda real, fake, k: _precision(fake, real, k),
        "nearest-only": _precision_nearest_only,
        "count": lambda *a: _precision(*a, count=True),
    },
    "09.1": {
        "straight-line": lambda z1, z2, s: torch.stack([(1 - a) * z1 + a * z2 for a in torch.linspace(0, 1, s, dtype=z1.dtype)]),
        "unit-length": lambda *a: _slerp(*a, keep_length=False),
        "textbook-slerp": _textbook_slerp,
        "same-direction": lambda *a: _slerp(*a, fallback=False),
        "alpha-grid": lambda *a: _slerp(*a, alpha=lambda s: torch.arange(s) / s),
    },
    "09.2": {
        "not-unit": lambda u, v: u - (u @ (v / v.norm())) * (v / v.norm()),
        "v-not-unit": lambda u, v: (lambda w: w / w.norm())(u - (u @ v) * v),
        "kept-the-projection": lambda u, v: (lambda w: w / w.norm())((u @ (v / v.norm())) * (v / v.norm())),
        "swapped": lambda u, v: (lambda w: w / w.norm())(v - (v @ (u / u.norm())) * (u / u.norm())),
    },
    "10.1": {
        "one-centre": lambda fr, yr, ff, yf, k: 0.5 * (fr.mean(0) - ff.mean(0)).pow(2).sum(),
        "empty-as-zero": lambda *a: _centres(*a, empty_as_zero=True),
        "empty-nan": lambda *a: _centres(*a, skip_empty=False),
        "averaged-classes": lambda *a: _centres(*a, average=True),
        "factor-2": lambda *a: _centres(*a, term=lambda d: d.pow(2).sum()),
        "not-squared": lambda *a: _centres(*a, term=lambda d: 0.5 * d.norm()),
        "no-gradient": lambda *a: _centres(*a).detach(),
    },
    "10.2": {
        "mask-reversed": lambda *a: _repair(*a, swap=True),
        "blend-at-the-end": lambda *a: _repair(*a, blend_each=False),
        "class-read-once": lambda *a: _repair(*a, read_once=True),
        "one-iteration": lambda x, m, k, rec, cls: _repair(x, m, 1, rec, cls),
        "no-blend": lambda x, m, k, rec, cls: _repair(x, m, k, rec, cls, keep_known=False),
    },
    "11.1": {
        "overflow": lambda l: torch.log(l.exp().sum(1) / (l.exp().sum(1) + 1)),
        "log-z": _lse,
        "sum-of-logits": lambda l: F.logsigmoid(l.sum(1)),
        "max-logit": lambda l: F.logsigmoid(l.max(1).values),
        "fake": lambda l: F.logsigmoid(-_lse(l)),
        "axis": lambda l: F.logsigmoid(torch.logsumexp(l, dim=0)),
        "no-gradient": lambda l: F.logsigmoid(_lse(l)).detach(),
    },
    "11.2": {
        "roles-swapped": lambda r, f: F.softplus(_lse(r)).mean() + F.softplus(-_lse(f)).mean(),
        "overflow": _naive_ssgan,
        "capped": lambda r, f: _bce_on_probabilities(_lse(r), 1) + _bce_on_probabilities(_lse(f), 0),
        "pooled": lambda r, f: torch.cat([F.softplus(-_lse(r)), F.softplus(_lse(f))]).mean(),
        "max-logit": lambda r, f: F.softplus(-r.max(1).values).mean() + F.softplus(f.max(1).values).mean(),
        "no-gradient": lambda r, f: torch.tensor((F.softplus(-_lse(r)).mean() + F.softplus(_lse(f)).mean()).item()),
    },
}

GIVEAWAYS = {   # pieces of each answer that no nudge may contain (each formula holds at least one)
    "01.1": ["rel_entr", "p_k log", "log(p_k / q_k)", "contributes 0"],
    "01.2": ["logsumexp", "row maximum", "Σ_j π_j", "N(x_i"],
    "02.1": ["σ_k² ‖W", "D/2 log(2π", "‖x − Wμ − b‖²", "‖x − Wz − b‖²"],
    "02.2": ["log(σ_p²/σ_q²)", "(μ_q − μ_p)²)/σ_p²", "σ² = exp(logvar)"],
    "03.1": ["trapezoid", "p_g log(1 − D)", "−2 log 2"],
    "03.2": ["p_r(x) / (p_r(x) + p_g(x))", "uses ½"],
    "04.1": ["exp(½", "0.5", "σ = exp"],
    "04.2": ["(x_j + 1)/2", "with_logits", "summed over the pixels of each image"],
    "05.1": ["softplus", "logsigmoid", "with_logits", "−log sigmoid(a)"],
    "05.2": ["softplus", "logsigmoid", "= −E log D(G(z))"],
    "06.1": ["(B, 1, 1, 1)", "reshape it to", "view("],
    "06.2": ["create_graph", "max(0, norm", "(norm − 1)²"],
    "07.1": ["softplus", "λ_img E log D2", "−E log D1"],
    "07.2": ["unbiased=False", "√(var + δ)", "(dim 0)"],
    "08.1": ["sqrtm", "Tr(Σ1 + Σ2 − 2", "real part"],
    "08.2": ["(k+1)", "k + 1", "kthvalue"],
    "09.1": ["sin((1−α)Ω)", "linspace", "cos Ω"],
    "09.2": ["u − (u·v̂) v̂", "v/‖v‖"],
    "10.1": ["½‖real centre − fake centre‖²", "adds nothing", "empty mean is not zero"],
    "10.2": ["M ⊙ x′", "(1 − M) ⊙ x", "argmax(dim=1)"],
    "11.1": ["logsumexp", "logsigmoid", "sigmoid(log Z)"],
    "11.2": ["softplus", "logsumexp", "−log(1/(Z + 1)) ="],
}

ALSO_RIGHT = {   # other correct answers, which no check may reject (its gradient check included)
    "01.2": lambda x, w, m, v: np.exp((lambda lj: lj - special.logsumexp(lj, 1, keepdims=True))(
        np.log(w) + stats.norm.logpdf(np.asarray(x)[:, None], m, np.sqrt(v)))),
    "04.1": lambda mu, lv, eps: mu + torch.sqrt(torch.exp(lv)) * eps,
    "04.2": lambda l, x, mu, lv, w: (F.binary_cross_entropy_with_logits(l, (x + 1) / 2, reduction="sum")
                                   - w * 0.5 * torch.sum(1 + lv - mu ** 2 - lv.exp())) / len(x),
    "05.1": lambda r, f: (F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
                          + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))),
    "05.2": lambda f: -F.logsigmoid(f).mean(),
    "06.2": lambda critic, x_hat, weight: (lambda x: weight * ((torch.autograd.grad(
        critic(x), x, grad_outputs=torch.ones(len(x)), create_graph=True)[0].pow(2).sum(dim=(1, 2, 3)).sqrt() - 1) ** 2
    ).mean())(x_hat.clone().requires_grad_()),
    "03.1": lambda d, pr, pg, x: integrate.trapezoid(special.xlogy(pr, d) + special.xlogy(pg, 1 - d), x),
    "07.1": lambda a, b, lam: -F.logsigmoid(a).mean() - lam * F.logsigmoid(b).mean(),
    "07.2": lambda h: torch.nn.BatchNorm1d(h.shape[1], affine=False)(h),
    "08.1": (lambda m1, c1, m2, c2: float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2)      # Σ √eigenvalues of Σ1Σ2
                                          - 2 * np.sqrt(np.clip(np.linalg.eigvals(c1 @ c2).real, 0, None)).sum()),
             lambda *a: _fd(*a, root=lambda c1, c2: (lambda s: linalg.sqrtm(s @ c2 @ s).real)(linalg.sqrtm(c1).real))),
    "09.1": lambda *a: _slerp(*a, fallback=False, clamp=1 - 1e-7),   # no branch: a clamp keeps sin Ω > 0
    "10.2": lambda x, m, k, rec, cls: _repair_recursive(x, m, k, rec, cls),
    "11.1": lambda l: _lse(l) - torch.logaddexp(_lse(l), torch.zeros(len(l))),
    "11.2": lambda r, f: (F.binary_cross_entropy_with_logits(_lse(r), torch.ones(len(r)))
                          + F.binary_cross_entropy_with_logits(_lse(f), torch.zeros(len(f)))),
}


def _repair_recursive(x, m, k, rec, cls):
    if k == 0:
        return x
    return _repair_recursive(torch.where(m.bool(), rec(x, cls(x).argmax(1)), x), m, k - 1, rec, cls)


def solution(key):
    path = next(SOLUTIONS.glob(f"{key[:2]}_*.py"))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, STUB[key])


def _hint_line(out):
    return next(line for line in out.splitlines() if line.strip().startswith("Hint:")).split("Hint:", 1)[1].strip()


def _is_nudge(text, template):
    """Whether ``text`` is the nudge ``template``, its {missing} filled in with the inputs a gradient missed."""
    return re.fullmatch(re.escape(template).replace(re.escape("{missing}"), ".+"), text) is not None


def _wrong_answers():
    for key, mistakes in sorted(MISTAKES.items()):
        for name, wrong in mistakes.items():
            for i, fn in enumerate(wrong if isinstance(wrong, tuple) else (wrong,)):
                yield pytest.param(key, name, fn, id=f"{key}-{name}-{i}")


def test_every_exercise_has_a_solution_and_a_wrong_answer_for_each_recognised_mistake():
    assert set(exercises.EXERCISES) == set(STUB) == set(MISTAKES) == set(GIVEAWAYS)
    for key, ex in exercises.EXERCISES.items():
        names = [m.name for m in ex.mistakes]
        assert len(names) >= 3 and len(set(names)) == len(names), key
        assert set(names) == set(MISTAKES[key]), (key, set(names) ^ set(MISTAKES[key]))


@pytest.mark.parametrize("key", sorted(exercises.EXERCISES))
def test_the_check_accepts_the_solution(key, capsys):
    assert exercises.check(key, solution(key)) is True
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("key", sorted(ALSO_RIGHT))
def test_the_check_accepts_other_correct_answers(key, capsys):
    for right in ALSO_RIGHT[key] if isinstance(ALSO_RIGHT[key], tuple) else (ALSO_RIGHT[key],):
        assert exercises.check(key, right) is True, capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")     # the wrong answers divide 0 by 0
@pytest.mark.parametrize("key, name, wrong", list(_wrong_answers()))
def test_each_recognised_mistake_gets_its_own_nudge_and_not_the_formula(key, name, wrong, capsys):
    ex = exercises.EXERCISES[key]
    assert exercises.check(key, wrong) is False
    out = capsys.readouterr().out
    assert "not yet" in out and f'exercises.hint("{key}", level=2)' in out
    nudge = _hint_line(out)
    assert _is_nudge(nudge, ex.mistake(name).nudge), (name, nudge)
    assert ex.formula not in out
    for piece in GIVEAWAYS[key]:
        assert piece not in nudge, (name, piece)


@pytest.mark.parametrize("key", sorted(exercises.EXERCISES))
def test_no_nudge_holds_the_formula_and_level_2_gives_it(key, capsys):
    ex = exercises.EXERCISES[key]
    assert any(piece in ex.formula for piece in GIVEAWAYS[key])          # the list names real pieces of the answer
    for text in [ex.nudge] + [m.nudge for m in ex.mistakes]:
        assert ex.formula not in text
        assert not [piece for piece in GIVEAWAYS[key] if piece in text], text
    exercises.hint(key)
    level_1 = capsys.readouterr().out
    assert ex.nudge in level_1 and ex.formula not in level_1 and "level=2" in level_1
    exercises.hint(key, level=2)
    assert ex.formula in capsys.readouterr().out


@pytest.mark.parametrize("key", sorted(exercises.EXERCISES))
def test_an_unrecognised_wrong_answer_gets_the_general_nudge(key, capsys):
    ex = exercises.EXERCISES[key]

    def off(*args):
        value = ex.reference(*args)
        return value + 0.37 if not torch.is_tensor(value) else value + 0.37 * torch.ones_like(value)
    assert exercises.check(key, off) is False
    assert _hint_line(capsys.readouterr().out) == ex.nudge


def test_05_2_rejects_the_naive_log_sigmoid_where_d_rejects_the_fakes(capsys):
    naive = MISTAKES["05.2"]["unstable"]
    assert exercises.check("05.2", naive) is False
    out = capsys.readouterr().out
    assert "logits −120" in out and "got inf" in out
    assert _hint_line(out) == exercises.EXERCISES["05.2"].mistake("unstable").nudge


def test_06_2_rejects_a_penalty_that_cannot_train_the_critic(capsys):
    assert exercises.check("06.2", MISTAKES["06.2"]["not-trainable"]) is False
    out = capsys.readouterr().out
    assert "no gradient reaches the critic's weights" in out
    assert _is_nudge(_hint_line(out), exercises.EXERCISES["06.2"].mistake("not-trainable").nudge)
    critic, x_hat, weight = exercises.EXERCISES["06.2"].cases()[0]       # the solution's penalty trains the critic
    solution("06.2")(critic, x_hat, weight).backward()
    first, last = critic.net[1], critic.net[3]              # (the last bias cannot change ∇_x f, so it gets none)
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in (first.weight, first.bias, last.weight))


def test_a_gradient_path_is_checked_only_where_the_series_trains():
    trained = {k for k, ex in exercises.EXERCISES.items() if ex.trainable}
    assert trained == {"02.1", "02.2", "04.1", "04.2", "05.1", "05.2", "06.2", "07.1", "07.2", "10.1", "11.1", "11.2"}


def test_generic_mistakes_are_recognised_in_any_exercise(capsys):
    cases = [("04.2", lambda *a: -_vae(*a), "sign"),
             ("07.1", lambda a, b, lam: 0.5 * (F.softplus(-a).mean() + lam * F.softplus(-b).mean()), "half"),
             ("04.1", lambda mu, lv, eps: None, "returns-nothing"),
             ("01.2", lambda *a: exercises.EXERCISES["01.2"].reference(*a).T, "transposed"),
             ("05.2", lambda f: F.softplus(-f).mean().reshape(1), "reshaped"),
             ("02.2", lambda *a: torch.from_numpy(np.log(np.exp(_kl_diag(*a)))), "numpy-on-tensor"),
             ("11.1", lambda l: F.logsigmoid(_lse(l)) * (1 + 2e-4), "imprecise"),
             ("04.2", lambda l, x, mu, lv, w: _vae(l, x, mu, lv.exp_().log(), w), "in-place")]
    for key, wrong, name in cases:
        assert exercises.check(key, wrong) is False
        assert name in {m.name for m in exercises.GENERIC}
        assert _hint_line(capsys.readouterr().out) == exercises.EXERCISES[key].mistake(name).nudge, (key, name)


def test_a_check_never_raises_and_names_the_case_that_failed(capsys):
    assert exercises.check("06.1", lambda *a: 1 / 0) is False
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert exercises.check("09.1", MISTAKES["09.1"]["same-direction"]) is False
    assert "(z1 and z2 point the same way)" in capsys.readouterr().out
    with pytest.raises(KeyError, match="the exercises are"):
        exercises.hint("99.9")


@pytest.mark.parametrize("key", sorted(exercises.EXERCISES))
def test_an_untouched_stub_is_reported_not_attempted(key, capsys):
    def stub(*args):
        raise NotImplementedError
    assert exercises.check(key, stub) is None
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("notebook", sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")
                                             if not p.stem.startswith("00_")))
def test_each_notebook_has_its_exercises_and_predict_then_run_questions(notebook):
    cells = json.loads((NOTEBOOKS / f"{notebook}.ipynb").read_text())["cells"]
    code = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    checked = set(re.findall(r'exercises\.check\("(\d\d\.\d)"', code))
    assert checked == set(exercises.keys_for(notebook)) and len(checked) >= 2
    for key in checked:        # the stub is left for the student: it raises until filled in
        assert re.search(rf"def {STUB[key]}\(.*\):\n(?:    .*\n)*?    raise NotImplementedError", code), key
    assert text.count("**Predict, then run.**") >= 2
    assert f"solutions/{notebook}.py" in text


@pytest.mark.parametrize("notebook", ["04_vae", "05_gan", "06_wgan_gp", "07_aegan", "10_conditional_gans",
                                      "11_semi_supervised_gan"])
def test_what_to_try_next_names_real_parameters(notebook):
    cells = json.loads((NOTEBOOKS / f"{notebook}.ipynb").read_text())["cells"]
    text = next("".join(c["source"]) for c in cells if "".join(c["source"]).startswith("## What to try next"))
    named = re.findall(r"-p (\w+) ", text)
    declared = parameters.declared_parameters(NOTEBOOKS / f"{notebook}.ipynb")
    assert len(named) >= 2 and set(named) <= set(declared), set(named) - set(declared)


def test_prose_quotes_no_figures_from_another_run():
    # a student reads the numbers their own run printed; another run's figures live on docs/results.md
    pattern = re.compile(r"\b(our|an?) (H100|CPU|GPU)[ -]?(run|test)\b[^.]*\d", re.IGNORECASE)
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"])
                assert not pattern.search(text), (path.name, pattern.search(text).group(0))


@pytest.mark.parametrize("notebook, marker", [
    ("04_vae", "reference_mismatch("), ("04_vae", "E[x|z]"), ("05_gan", "train_mode=True"),
    ("06_wgan_gp", "spearmanr("), ("06_wgan_gp", "spread"), ("07_aegan", 'likelihood="mse"'),
    ("07_aegan", "assert torch.allclose(loss_d2"), ("08_compare", "metrics.interpret("),
    ("03_gan_divergences", "v_learned - v_half > 0.9"), ("03_gan_divergences", "shape_clip > 0.9"),
])
def test_the_review_fixes_stay_in_place(notebook, marker):
    source = "".join("".join(c["source"]) for c in json.loads((NOTEBOOKS / f"{notebook}.ipynb").read_text())["cells"])
    assert marker in source


# ---------------------------------------------------------------- 01–03, 08, 09: where each exercise sits

TAUGHT = {   # the library call that computes each exercise's answer: the notebook may use it only after the stub
    "01.1": "theory.kl_categorical(", "01.2": "theory.gmm_responsibilities(", "02.1": "theory.ppca_elbo(",
    "02.2": "theory.kl_diag_gaussians(", "03.1": "theory.gan_value(", "03.2": "theory.optimal_discriminator(",
    "08.1": "metrics.", "08.2": "metrics.", "09.1": "latent.slerp(", "09.2": "features.decorrelate(",
    "04.1": "vae.reparameterize(", "04.2": "losses.vae_loss(", "05.1": "losses.discriminator_loss(",
    "05.2": "losses.generator_loss_nonsaturating(", "06.1": "losses.interpolate(", "06.2": "losses.gradient_penalty(",
    "07.1": "losses.aegan_generator_loss(", "07.2": "probe.encode(",
    "10.1": "cvaegan.class_centre_matching_loss(", "10.2": ".inpaint(",
    "11.1": "losses.real_logit(", "11.2": "losses.ssgan_unsupervised_loss(",
}
SHOWN = {    # the answer written out, in code or in a formula: none of these may stand above the stub
    "01.1": ["np.log(p / q)", "rel_entr", r"\sum_k p_k\log(p_k/q_k)"],
    "01.2": ["logsumexp", r"\big/\sum_j\pi_j"],
    "02.1": ["W.pow(2).sum(0)", r"\sigma_k^2\lVert W"],
    "02.2": [r"\log\frac{\sigma_{p,k}^2}{\sigma_{q,k}^2}", "logvar_p - logvar_q"],
    "03.1": ["trapezoid(", "xlogy("],
    "03.2": [r"\frac{p_r(x)}{p_r(x)+p_g(x)}", "p_r/(p_r+p_g)", "pr / (pr + pg)"],
    "08.1": ["sqrtm"],
    "08.2": ["kthvalue", "cdist("],
    "09.1": [r"\sin((1-\alpha)\Omega)", "sin((1 - alpha)", "torch.arccos"],
    "09.2": [r"(u^\top v)", r"u^\top \hat v", "u - (u @"],
    "04.1": ["(0.5 * logvar).exp()", "exp(0.5 * logvar)", "randn_like(mu)"],
    "04.2": ["bernoulli_nll(", "kl_normal_standard(", "binary_cross_entropy_with_logits", "flatten(1).sum("],
    "05.1": ["softplus(", "binary_cross_entropy_with_logits", "d_real.log()"],
    "05.2": ["softplus(-", "logsigmoid(", "d_fake.log()"],
    "06.1": ["view(-1, 1, 1, 1)", "reshape(-1, 1, 1, 1)", "eps * x_real", "alpha * x_real"],
    "06.2": ["create_graph=True", "autograd.grad("],
    "07.1": ["softplus(", "aegan_generator_loss(", "D1_h_fake.log()"],
    "07.2": ["unbiased=False", "raw.mean(dim=0)", "h_by_hand"],
    "10.1": ["[y == c].mean(", "(y == c).any()", "real_c.mean("],
    "10.2": ["inpaint_blend(", "range(iterations)", "argmax(dim=1) if"],
    "11.1": [r"\frac{Z}{Z + 1}", r"\sigma(\log Z)", "logsigmoid", "Z / (Z + 1)", "Z/(Z+1)"],
    "11.2": [r"\operatorname{softplus}(-\ell)", "softplus(-", "(Z_unl + 1)).log()"],
}


@pytest.mark.parametrize("key", sorted(TAUGHT))
def test_each_stub_sits_before_the_notebook_uses_or_shows_its_answer(key):
    path = next(NOTEBOOKS.glob(f"{key[:2]}_*.ipynb"))
    sources = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]
    kinds = [c["cell_type"] for c in json.loads(path.read_text())["cells"]]
    stub = next(i for i, s in enumerate(sources) if f'exercises.check("{key}"' in s)
    used = next(i for i, (s, k) in enumerate(zip(sources, kinds)) if k == "code" and TAUGHT[key] in s
                and "exercises.check" not in s)
    assert stub < used, f"{path.name}: exercise {key} (cell {stub}) comes after cell {used} computes its answer"
    above = "\n".join(sources[:stub])
    assert not [piece for piece in SHOWN[key] if piece in above], f"{path.name}: cells above {key}'s stub show its answer"


ANSWERED = ["01_maximum_likelihood", "02_elbo", "03_gan_divergences", "04_vae", "05_gan", "06_wgan_gp", "07_aegan",
            "08_compare", "09_latent_exploration", "10_conditional_gans", "11_semi_supervised_gan"]


def _questions(notebook):
    cells = json.loads((NOTEBOOKS / f"{notebook}.ipynb").read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return text, [q.split("\n\n")[0] for q in text.split("**Predict, then run.**")[1:]]


@pytest.mark.parametrize("notebook", ANSWERED)
def test_every_predict_then_run_question_has_a_measured_answer_kept_apart(notebook):
    text, questions = _questions(notebook)
    assert len(questions) >= 2 and f"solutions/answers/{notebook}.md" in text
    answers = (SOLUTIONS / "answers" / f"{notebook}.md").read_text()
    sections = answers.split("\n## ")[1:]
    assert len(sections) == len(questions), f"{len(questions)} questions, {len(sections)} answers"
    for section in sections:
        for part in ("**Direction.**", "**Why.**", "**Measured.**", "**In three minutes.**"):
            assert part in section, (notebook, section[:60], part)
        measured = section.split("**Measured.**")[1].split("**In three minutes.**")[0]
        assert re.search(r"20\d\d-\d\d-\d\d", measured) and "`" in measured, "a measured figure names its run and date"


def _literal(text):
    import ast
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


@pytest.mark.parametrize("notebook", ANSWERED)
def test_the_parameters_a_question_names_exist_and_pass_the_notebooks_checks(notebook, capsys):
    """Each `-p name value` of a question is a declared parameter, and the notebook's own validation accepts it
    (01's question once asked for n_gauss = 5, which its validation cell refuses)."""
    path = NOTEBOOKS / f"{notebook}.ipynb"
    cells = json.loads(path.read_text())["cells"]
    tagged = next(i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    imports, defaults, validation = ("".join(cells[i]["source"]) for i in (tagged - 1, tagged, tagged + 1))
    declared = parameters.declared_parameters(path)
    _, questions = _questions(notebook)
    commands = [span for q in questions for span in re.findall(r"`([^`]*-p [^`]*)`", q)]
    for command in commands:
        overrides = {name: _literal(value) for name, value in re.findall(r"-p (\w+) (\S+)", command)}
        assert set(overrides) <= set(declared), (command, set(overrides) - set(declared))
        namespace = {}
        exec(compile(imports + "\n" + defaults, f"{notebook} parameters", "exec"), namespace)
        namespace.update(overrides)
        exec(compile(validation, f"{notebook} validation", "exec"), namespace)     # raises if it refuses them
    capsys.readouterr()


@pytest.mark.parametrize("key", sorted(TAUGHT))
def test_no_cell_overwrites_the_students_function(key):
    """A stub now sits mid-notebook: a later `d_star = ...` would turn the student's function into an array, and
    re-running the check cell would then report an error that is not the student's."""
    path = next(NOTEBOOKS.glob(f"{key[:2]}_*.ipynb"))
    code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    assert not re.search(rf"^\s*{STUB[key]}\s*(,[^=\n]*)?=[^=]", code, re.M), f"{path.name} assigns to {STUB[key]}"
