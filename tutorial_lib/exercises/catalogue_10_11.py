"""The exercises of 10 (conditional GANs, CVAE-GAN) and 11 (the semi-supervised GAN): each one's cases, the
library function that gives the right answer, its nudge and formula, and the mistakes it recognises."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tutorial_lib import losses
from tutorial_lib.exercises.catalogue_common import CAPPED, gen, randn, real_and_fake_swapped, untrained
from tutorial_lib.exercises.checker import _inputs, add, case
from tutorial_lib.exercises.mistakes import Mistake, capped, like, nonfinite, scaled
from tutorial_lib.methods import cvaegan

Tensor = torch.Tensor


# ============================================================================ 10 conditional GANs

def _class_centre_cases():
    out = []
    for seed, (b, b_fake, k) in enumerate(((12, 10, 4), (9, 9, 3))):
        g = gen(seed)
        out.append(case(torch.randn(b, 5, generator=g), torch.randint(0, k, (b,), generator=g),
                        torch.randn(b_fake, 5, generator=g), torch.randint(0, k, (b_fake,), generator=g), k))
    out.append(case(torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]]), torch.tensor([0, 1, 1]),
                    torch.tensor([[1.0, 2.0], [3.0, 1.0]]), torch.tensor([1, 2]), 3,
                    note="class 2 only among the fakes, class 0 only among the real images"))
    return out


def _class_terms(fr, yr, ff, yf, k, empty_as_zero=False):
    """Each class's squared centre gap, for the classes in both batches (or, empty_as_zero, all classes)."""
    out = []
    for c in range(k):
        r, f = fr[yr == c], ff[yf == c]
        if len(r) and len(f) or empty_as_zero:
            rc = r.mean(0) if len(r) else fr.new_zeros(fr.shape[1])
            fc = f.mean(0) if len(f) else ff.new_zeros(ff.shape[1])
            out.append((rc - fc).pow(2).sum())
    return torch.stack(out)


add("10.1", "CVAE-GAN's per-class feature-centre matching L_GC", cvaegan.class_centre_matching_loss,
    _class_centre_cases,
    nudge="Work class by class: the centre of the real images' features of that class, the centre of the generated "
          "ones', and how far apart the two are; then the classes together. A class must be in both batches to "
          "have two centres.",
    formula="For each class c, average the real features of class c and, separately, the fake features of class c, "
            "then add up ½‖real centre − fake centre‖² over the classes. A class missing from either batch adds "
            "nothing (an empty mean is not zero). Average within a class: not one centre for the whole batch, not the "
            "sum.",
    mistakes=[
        Mistake("one-centre", "Your loss compares one centre of all the real features with one of all the generated "
                "ones: the centres are per class.",
                like(lambda fr, yr, ff, yf, k: 0.5 * (fr.mean(0) - ff.mean(0)).pow(2).sum())),
        Mistake("empty-as-zero", "A class missing from one batch still adds to your loss: its centre there is not "
                "the zero vector; it does not exist. What should such a class add?",
                like(lambda *a: 0.5 * _class_terms(*a, empty_as_zero=True).sum())),
        Mistake("empty-nan", "Your loss is nan: the mean of no features is nan, and a class missing from one batch "
                "has none. What should such a class add?", nonfinite),
        Mistake("averaged-classes", "Your loss averages over the classes: it adds them up.",
                like(lambda *a: 0.5 * _class_terms(*a).mean(), lambda *a: 0.5 * _class_terms(*a).sum() / a[4])),
        Mistake("factor-2", "Your loss is exactly twice the right one: check the constant in front.", scaled(2.0)),
        Mistake("not-squared", "Your class terms are distances between centres, not squared distances.",
                like(lambda *a: 0.5 * _class_terms(*a).sqrt().sum())),
        untrained("the generator", ask="Did you detach, call .item(), or fill a new tensor in place?"),
    ],
    trainable=_inputs(2))            # the generated features; the real ones are constants for G (detaching them is fine)


def _repair(x, mask, iterations, reconstruct, classify, *, reclassify=True, blend_each=True, reverse=False,
            steps=None):
    """The source's iterated repair, and (through the switches) the usual ways to get it wrong."""
    known = x
    c = classify(x).argmax(dim=1)
    for _ in range(iterations if steps is None else steps):
        if reclassify:
            c = classify(x).argmax(dim=1)
        x_generated = reconstruct(x, c)
        if not blend_each:
            x = x_generated
        elif reverse:
            x = torch.where(mask.bool(), x, x_generated)
        else:
            x = cvaegan.inpaint_blend(x, x_generated, mask)
    return x if blend_each else cvaegan.inpaint_blend(known, x, mask)


def _toy_networks(seed: int, pixels: int = 16, classes: int = 3):
    """A fixed 'encoder-decoder' and 'classifier' on 4 × 4 images: small, smooth and class-dependent."""
    g = gen(seed)
    a, b = torch.randn(pixels, pixels, generator=g) / 2, torch.randn(classes, pixels, generator=g)
    w = torch.randn(pixels, classes, generator=g)

    def reconstruct(x, c):
        return torch.tanh(x.flatten(1) @ a + b[c]).view_as(x)

    def classify(x):
        return x.flatten(1) @ w
    return reconstruct, classify


def _repair_cases():
    out = []
    for seed, iterations in ((0, 3), (1, 5), (2, 1)):
        g = gen(10 + seed)
        x = torch.rand(6, 1, 4, 4, generator=g) * 2 - 1
        mask = torch.zeros(1, 1, 4, 4)
        mask[..., 1:3, 1:3] = 1.0
        x = torch.where(mask.bool(), torch.full_like(x, -1.0), x)          # the hole set to background
        out.append(case(x, mask, iterations, *_toy_networks(seed)))
    return out


add("10.2", "the source's iterated repair of a masked image", _repair, _repair_cases,
    nudge="Each iteration is the same three steps as the section above describes: read the class of the image as it "
          "is now, rebuild the image from that class, and keep only what the rebuilt image says about the hole. "
          "The next iteration starts from the repaired image, not from the generated one.",
    formula="Repeat `iterations` times: c = classify(x).argmax(dim=1); x′ = reconstruct(x, c); x ← M ⊙ x′ + (1 − M) ⊙ x "
            "(M = mask, 1 on the missing pixels). The class is read again at every iteration, from the current x; "
            "the known pixels are put back after every step.",
    mistakes=[
        Mistake("mask-reversed", "Your generated pixels went where the image is known: the mask is 1 on the missing "
                "pixels.", like(lambda *a: _repair(*a, reverse=True))),
        Mistake("blend-at-the-end", "You decode the generated image again and again and put the known pixels back "
                "only at the end: each iteration should start from an image whose known pixels are the real ones.",
                like(lambda *a: _repair(*a, blend_each=False))),
        Mistake("class-read-once", "You read the class once, from the masked image: as the hole fills in, the class "
                "C reads can change. Where in the loop should it be read?", like(lambda *a: _repair(*a, reclassify=False))),
        Mistake("one-iteration", "Your answer is one repair step, whatever `iterations` says.",
                like(lambda *a: _repair(*a, steps=1))),
        Mistake("no-blend", "Your known pixels changed: only the missing pixels (mask 1) may take the generated values.",
                like(lambda x, m, k, rec, cls: _repair(x, torch.ones_like(m), k, rec, cls))),
    ])


# ============================================================================ 11 semi-supervised GAN

def _log_p_real(class_logits: Tensor) -> Tensor:
    return F.logsigmoid(losses.real_logit(class_logits))


def _class_logit_cases():
    return ([case(*randn(seed, (6, 10), scale=3.0)) for seed in (0, 1)]
            + [case(torch.tensor([[100.0] * 10, [-120.0] * 10, [0.0] * 10]),
                    note="logits 100, −120 and 0: Z overflows, underflows, is 10")])


_NEVER_Z = ("Z = Σ exp(l_k) overflows to inf at logits 100 and underflows to 0 at −120. Can you keep every step in "
            "logarithms, never forming Z itself?")

add("11.1", "log p(real | x) from the K class logits", _log_p_real, _class_logit_cases,
    nudge="The K real classes and the fake class, whose logit is fixed at 0, share one softmax; 'real' is any of the "
          "K classes. Write log p(real | x) from the logits without ever exponentiating them one by one: one value "
          "per row.",
    formula="With the fake logit fixed at 0, p(real|x) = Z/(Z + 1), Z = Σ_k exp(l_k): that is sigmoid(log Z), so "
            "log p(real|x) = logsigmoid(logsumexp_k l_k), one value per row, shape (B,). Never form Z itself: at "
            "logits 100 it overflows to inf (inf/inf is nan), at −120 it underflows to 0 (log 0 is −inf).",
    mistakes=[
        Mistake("overflow", "Your answer is nan or −inf at extreme logits: " + _NEVER_Z, nonfinite),
        Mistake("log-z", "Your answer is log Z itself, which can be positive: p(real | x) is a probability, so its "
                "log is at most 0. Where does the fake class, with its logit fixed at 0, come in?",
                like(lambda l: torch.logsumexp(l, 1))),
        Mistake("sum-of-logits", "Your numbers use the sum of the logits where Z adds up their exponentials.", like(lambda l: F.logsigmoid(l.sum(1)))),
        Mistake("max-logit", "Your numbers use only the largest class logit: Z adds up every class's exponential.",
                like(lambda l: F.logsigmoid(l.max(1).values))),
        Mistake("fake", "Your numbers are log p(fake | x), the log-probability that x was generated.",
                like(lambda l: F.logsigmoid(-torch.logsumexp(l, 1)))),
        Mistake("axis", "Your answer has one value per class, not one per row: over which axis do the classes run?",
                like(lambda l: F.logsigmoid(torch.logsumexp(l, 0)))),
        untrained("the discriminator", answer="Your answer has the right values"),
    ],
    trainable=_inputs(0))


def _unsupervised_cases():
    return ([case(*randn(seed, (8, 10), (5, 10), scale=3.0)) for seed in (0, 1)]
            + [case(torch.full((2, 10), 100.0), torch.full((3, 10), -120.0), note="D sure, and right"),
               case(torch.full((2, 10), -120.0), torch.full((3, 10), 100.0), note="D sure, and wrong")])


add("11.2", "the semi-supervised GAN's unsupervised loss", losses.ssgan_unsupervised_loss, _unsupervised_cases,
    nudge="The real images should be judged real and the generated ones fake, with p(real | x) from the K class "
          "logits and the fake logit fixed at 0; each expectation is the mean over its own batch. Keep it finite "
          "when D is sure of itself: never exponentiate the logits one by one.",
    formula="L = −E_x log(Z(x)/(Z(x) + 1)) − E_z log(1/(Z(G(z)) + 1)), each expectation the mean over its own batch. "
            "With l = logsumexp of a row's logits: −log(Z/(Z + 1)) = softplus(−l) for the real images and "
            "−log(1/(Z + 1)) = softplus(l) for the generated ones; the first argument holds the real images' logits.",
    mistakes=[
        real_and_fake_swapped("roles-swapped", "the first argument holds the real images' logits.",
                              losses.ssgan_unsupervised_loss),
        Mistake("overflow", "Your loss is inf or nan at extreme logits: " + _NEVER_Z, nonfinite),
        Mistake("capped", CAPPED, capped),
        Mistake("pooled", "You average over both batches pooled together: each expectation is the mean over its own "
                "batch (here the two batches differ in size).",
                like(lambda r, f: torch.cat([F.softplus(-torch.logsumexp(r, 1)),
                                             F.softplus(torch.logsumexp(f, 1))]).mean())),
        Mistake("max-logit", "Your numbers use only each row's largest class logit: Z adds up every class's "
                "exponential.", like(lambda r, f: losses.discriminator_loss(r.max(1).values, f.max(1).values))),
        untrained("the discriminator"),
    ],
    trainable=_inputs(0, 1))
