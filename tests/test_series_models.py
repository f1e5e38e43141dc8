"""A re-run with other parameters never replaces the model later notebooks use, and 08 says what it loaded."""
import hashlib
import json

import pytest

from tutorial_lib import files, runtime
from tutorial_lib.commands import jobs

NOTEBOOKS = runtime.REPO_ROOT / "notebooks"


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def outputs(notebook_path):
    cells = json.loads(notebook_path.read_text())["cells"]
    return "".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                   for c in cells if c["cell_type"] == "code" for o in c.get("outputs", []))


def test_a_p_rerun_keeps_its_model_apart_and_08_compares_the_series_own(runs_dir, tmp_path):
    own = jobs.run_notebook(NOTEBOOKS / "04_vae.ipynb", tmp_path / "04.ipynb", {})     # at its defaults
    assert own.ok, own.error
    series_vae = files.runs_dir() / "models" / "vae.pt"
    before = digest(series_vae)

    rerun = jobs.run_notebook(NOTEBOOKS / "04_vae.ipynb", tmp_path / "04-l4.ipynb", {"kl_weight": 4.0})
    assert rerun.ok, rerun.error
    text = outputs(rerun.output)
    assert "Parameters changed from this notebook's defaults: kl_weight=4.0 (default 1.0)" in text
    assert "kept apart" in text
    assert digest(series_vae) == before                       # the series' model is untouched
    assert len(list((files.runs_dir() / "models" / "variants").glob("vae-*.pt"))) == 1

    compare = jobs.run_notebook(NOTEBOOKS / "08_compare.ipynb", tmp_path / "08.ipynb", {})
    assert compare.ok, compare.error
    text = outputs(compare.output)
    vae_line = text[text.index("vae: loaded"):].splitlines()
    assert str(series_vae) in vae_line[0]
    assert "04_vae at its default parameters" in vae_line[1] and "kl_weight=1.0" in vae_line[1]
    assert "What each row measures:" in text


@pytest.mark.parametrize("notebook", ["05_gan", "06_wgan_gp", "07_aegan", "09_latent_exploration", "10_conditional_gans",
                                      "11_semi_supervised_gan"])
def test_the_lecture_preset_runs_says_what_it_shortened_and_keeps_the_series_model(runs_dir, tmp_path, notebook):
    """-p lecture True: the notebook runs through (07 without its variants), its first lines say what
    the preset changed, and what it exports is still the series' own model (lecture is not a setting
    of the model). 10, whose models do not ship yet, shrinks them and says so."""
    run = jobs.run_notebook(NOTEBOOKS / f"{notebook}.ipynb", tmp_path / "out.ipynb", {"lecture": True})
    assert run.ok, run.error
    text = outputs(run.output)
    kind = "smaller models and shorter runs" if notebook == "10_conditional_gans" else "shorter extra runs"
    assert f"LECTURE PRESET: {kind} for a live class (" in text
    assert "kept apart" not in text and "Parameters changed" not in text   # smoke settings: already smaller
    if notebook == "07_aegan":
        assert "not trained in this run (lecture preset)" in text
