"""Every exercise check accepts its solution, rejects a typical wrong answer, and lets an untouched stub pass."""
import importlib.util
import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import linalg, stats

from tutorial_lib import exercises, runtime

SOLUTIONS = runtime.REPO_ROOT / "solutions"
NOTEBOOKS = runtime.REPO_ROOT / "notebooks"
STUB = {"01.1": "responsibilities", "01.2": "kl", "02.1": "elbo_ppca", "02.2": "kl_diag", "03.1": "d_star",
        "03.2": "gan_value", "04.1": "reparameterise", "04.2": "kl_to_prior", "05.1": "d_loss", "05.2": "g_loss",
        "06.1": "interpolates", "06.2": "penalty", "07.1": "g1_loss", "07.2": "reconstruction", "08.1": "frechet",
        "08.2": "precision", "09.1": "slerp", "09.2": "decorrelate",
        "10.1": "class_centre_loss", "10.2": "inpaint_step",
        "11.1": "log_p_real", "11.2": "unsupervised_loss"}


def _penalty_one_sided(critic, x_hat, weight):
    x_hat = x_hat.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return weight * F.relu(grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


WRONG = {   # the mistakes the hints are written for
    "01.1": lambda x, w, m, v: (lambda j: j / j.sum(1, keepdims=True))(w * stats.norm.pdf(np.asarray(x)[:, None], m, np.sqrt(v))),
    "01.2": lambda p, q: (q * np.log(q / p)).sum(-1),
    "02.1": lambda x, mu, lv, W, b, s2: (-0.5 * x.shape[-1] * np.log(2 * np.pi * s2)
                                         - (x - mu @ W.T - b).pow(2).sum(-1) / (2 * s2)
                                         - 0.5 * (mu.pow(2) + lv.exp() - 1 - lv).sum(-1)),
    "02.2": lambda mq, lq, mp, lp: (lp - lq + (lq.exp() + (mq - mp).pow(2)) / lp.exp() - 1).sum(-1),
    "03.1": lambda pr, pg: np.asarray(pg) / (np.asarray(pr) + pg + 1e-300),
    "03.2": lambda d, pr, pg, x: float(np.sum(pr * np.log(d) + pg * np.log(1 - d))),
    "04.1": lambda mu, lv, eps: mu + lv.exp() * eps,
    "04.2": lambda mu, lv: 0.5 * (mu.pow(2) + lv.exp() - 1 - lv).mean(1),
    "05.1": lambda r, f: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean(),
    "05.2": lambda f: (-F.softplus(f)).mean(),
    "06.1": lambda xr, xf, e: e.view(-1, 1, 1, 1) * xf + (1 - e.view(-1, 1, 1, 1)) * xr,
    "06.2": _penalty_one_sided,
    "07.1": lambda a, b, lam: F.softplus(-a).mean() + F.softplus(-b).mean(),
    "07.2": lambda x, y: ((x - y) ** 2).sum(),
    "08.1": lambda m1, c1, m2, c2: float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * np.sqrt(np.abs(c1 @ c2)))),
    "08.2": lambda r, f, k: (torch.cdist(f, r) <= torch.cdist(r, r).kthvalue(k, dim=1).values[None]).any(1).double().mean().item(),
    "09.1": lambda z1, z2, steps: torch.stack([(1 - a) * z1 + a * z2 for a in torch.linspace(0, 1, steps, dtype=z1.dtype)]),
    "09.2": lambda u, v: u - (u @ (v / v.norm())) * (v / v.norm()),
    "10.1": lambda fr, yr, ff, yf, k: 0.5 * (fr.mean(0) - ff.mean(0)).pow(2).sum(),
    "10.2": lambda x, x_gen, m: m * x + (1 - m) * x_gen,
    "11.1": lambda l: torch.log(l.exp().sum(1) / (l.exp().sum(1) + 1)),
    "11.2": lambda r, f: F.softplus(torch.logsumexp(r, 1)).mean() + F.softplus(-torch.logsumexp(f, 1)).mean(),
}


def solution(key):
    path = next(SOLUTIONS.glob(f"{key[:2]}_*.py"))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, STUB[key])


def test_every_exercise_has_a_solution_and_a_wrong_answer_here():
    assert set(exercises.EXERCISES) == set(STUB) == set(WRONG)


@pytest.mark.parametrize("key", sorted(exercises.EXERCISES))
def test_the_check_accepts_the_solution_and_rejects_the_typical_mistake(key, capsys):
    assert exercises.check(key, solution(key)) is True
    assert "✓" in capsys.readouterr().out
    assert exercises.check(key, WRONG[key]) is False
    out = capsys.readouterr().out
    assert "not yet" in out or "raised" in out
    assert "Hint:" in out


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
    declared = runtime.declared_parameters(NOTEBOOKS / f"{notebook}.ipynb")
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
