"""Conventions every notebook keeps (nbval executes them; these check their sources)."""
import json
import logging

import papermill
import pytest

from tutorial_lib import colab, runtime
from tutorial_lib.commands import series

NOTEBOOKS = sorted((runtime.REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def cells(path):
    return json.loads(path.read_text())["cells"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_sources_carry_no_outputs_or_widget_state(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name} has outputs"
    assert "widgets" not in nb["metadata"], f"{path.name} stores widget state"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_cell_is_the_colab_setup_cell(path):
    first = cells(path)[0]
    assert first["cell_type"] == "code"
    assert "".join(first["source"]) == colab.setup_source()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_tagged_parameters_cell_followed_by_validation(path):
    cs = cells(path)
    tagged = [i for i, c in enumerate(cs) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one cell tagged 'parameters'"
    following = "".join(cs[tagged[0] + 1]["source"])
    assert "check" in following or "Config(" in following, (
        f"{path.name}: the cell after the parameters must validate them")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_imports_are_explicit(path):
    for cell in cells(path):
        assert "import *" not in "".join(cell["source"]), f"{path.name} uses a star import"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_sees_every_parameter(path, caplog):
    """`papermill --help-notebook` must list them all (it skips lines with two '=' signs)."""
    with caplog.at_level(logging.WARNING, logger="papermill"):
        seen = list(papermill.inspect_notebook(str(path)))
    assert seen == series.declared_parameters(path), caplog.text


def test_readme_lists_exactly_the_notebooks_that_exist():
    import re
    readme = (runtime.REPO_ROOT / "README.md").read_text()
    linked = set(re.findall(r"\(notebooks/(\d\d_[a-z_]+\.ipynb)\)", readme))
    assert linked == {p.name for p in NOTEBOOKS}


def test_readme_colab_links_use_the_one_repository_address():
    import re
    readme = (runtime.REPO_ROOT / "README.md").read_text()
    links = re.findall(r"https://colab\.research\.google\.com/github/([^)\s]+)", readme)
    repo_path = runtime.REPO_URL.removeprefix("https://github.com/")
    assert len(links) == len(NOTEBOOKS)
    assert all(link.startswith(f"{repo_path}/blob/main/notebooks/") for link in links), links
    assert {link.rsplit("/", 1)[1] for link in links} == {p.name for p in NOTEBOOKS}


def test_the_first_cell_shows_a_banner_in_smoke_mode_and_nothing_otherwise(monkeypatch, capsys):
    source = colab.setup_source()
    monkeypatch.setenv(runtime.SMOKE_ENV, "1")
    exec(compile(source, "cell", "exec"), {})
    assert "SMOKE MODE" in capsys.readouterr().out and "NOT meaningful" in runtime.SMOKE_BANNER
    monkeypatch.delenv(runtime.SMOKE_ENV)
    exec(compile(source, "cell", "exec"), {})
    assert capsys.readouterr().out == ""


def test_no_notebook_holds_a_tab_or_calls_the_grey_level_elbo_a_bound():
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        text = "".join("".join(c["source"]) for c in cells)
        assert "\t" not in text, f"{path.name}: a TAB (e.g. '\\cos' stored as TAB + 'os') renders broken"
        assert "a likelihood bound" not in text and "an upper bound on $-\\log p(x)$, measured" not in text, path.name
