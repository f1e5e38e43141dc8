"""The course website (python -m tutorial_lib.commands.site), built from a small smoke run of the series.

The build test reads the smoke run of the whole series 00–11 that conftest's ``smoke_series`` makes once
per session (about 3 minutes on one CPU thread; tests/test_notebook_outputs.py reads the same run) and
builds its site (about 15 s): the front page must then hold every notebook's results, and no page may
show LaTeX that MathJax was not given (site.check_math, run by every build). A build of three tiny
notebooks checks what makes the site a course book (sphinx-book-theme): the notebooks in order in the side
bar, a Colab launch button and a download button on every notebook page, copy buttons on code, long lines
wrapped. Everything lands in the session's temporary folder (tests/conftest.py). The browser test is
opt-in, like tests/test_browser_panel.py::

    TUTORIAL_BROWSER_TESTS=1 TUTORIAL_SITE_FRONT_SCREENSHOT=docs/site_front.png \\
    TUTORIAL_SITE_PAGE_SCREENSHOT=docs/site_05.png python -m pytest -p no:cacheprovider tests/test_site.py

It opens the front page and every notebook page in headless Chromium, checks that MathJax typeset
each page's equations without an error and that no raw LaTeX is left in the typeset page, that code cells
have copy buttons and wrap their long lines, and saves 1280×900 screenshots of the front page and of 05's
page (default docs/site_front.png and docs/site_05.png). Set ``TUTORIAL_SITE_RUN`` to a run folder to build the site of that run instead of
executing 00 and 03 (the run folder is not changed: the site goes to the test's temporary folder).
"""
import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from headless_browser import REQUIREMENTS, browser, wait_for  # noqa: F401 (browser is a fixture)
from tutorial_lib import runtime
from tutorial_lib.commands import site

pytestmark = pytest.mark.filterwarnings("ignore:.*Check CHANGES for Sphinx API modifications")   # myst's, not ours

COLAB = ("https://colab.research.google.com/github/generative-models-tutorial/generative-models-tutorial"
         "/blob/main/notebooks/")


@pytest.fixture(scope="module")
def built(tmp_path_factory, request):
    """(run folder, site folder) of a smoke run of the whole series (or of ``TUTORIAL_SITE_RUN``).

    The smoke run is conftest's ``smoke_series``, which tests/test_notebook_outputs.py reads too."""
    if os.environ.get("TUTORIAL_SITE_RUN"):
        run = Path(os.environ["TUTORIAL_SITE_RUN"])
        return run, site.build(run, tmp_path_factory.mktemp("site") / "html").parent
    run, code = request.getfixturevalue("smoke_series")
    assert code == 0
    index = site.build(run)
    assert index == run / "site" / "index.html"
    return run, index.parent


class Links(HTMLParser):
    """Every href and src in a page, every id, and the script and stylesheet addresses."""

    def __init__(self):
        super().__init__()
        self.links, self.ids, self.scripts, self.styles = [], set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name):
                self.links.append(attrs[name])
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        if tag == "link" and "stylesheet" in (attrs.get("rel") or ""):
            self.styles.append(attrs.get("href", ""))


def parse(page: Path) -> Links:
    links = Links()
    links.feed(page.read_text(encoding="utf-8"))
    return links


def text_of(page: Path) -> str:
    """The page's text without tags, entities resolved, whitespace collapsed."""
    import html
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))).split())


def header_buttons(page: Path) -> dict[str, list[str]]:
    """The links of each drop-down of sphinx-book-theme's header buttons on ``page``, by its name
    (``launch-buttons``, ``download-buttons``)."""
    groups = re.findall(r'<div class="dropdown dropdown-([\w-]+)">(.*?)</ul>', page.read_text(encoding="utf-8"), re.S)
    return {name: re.findall(r'<a href="([^"]+)"', body) for name, body in groups}


def sidebar(page: Path) -> list[str]:
    """The pages the side bar (sphinx-book-theme's primary navigation) links to, in its order."""
    nav = re.search(r'<nav class="bd-links bd-docs-nav"[^>]*>(.*?)</nav>', page.read_text(encoding="utf-8"), re.S)
    assert nav, f"{page.name} has no side bar of sphinx-book-theme"
    hrefs = re.findall(r'<li class="toctree-l1[^"]*"><a class="[^"]*reference internal[^"]*" href="([^"]*)"', nav[1])
    return [page.name if href == "#" else href for href in hrefs]


def test_one_page_per_notebook_with_its_outputs_math_and_banner(built):
    run, out = built
    executed = sorted(p.stem for p in run.glob("[0-9][0-9]_*.ipynb"))
    assert executed
    assert sorted(p.stem for p in out.glob("[0-9][0-9]_*.html")) == executed
    assert (out / "index.html").exists()
    summary = json.loads((run / "summary.json").read_text())

    page = out / f"{executed[-1]}.html"
    source = page.read_text(encoding="utf-8")
    assert 'class="math notranslate nohighlight"' in source             # equations for MathJax to typeset
    links = parse(page)
    assert "_static/mathjax/tex-chtml.js" in links.scripts and (out / "_static/mathjax/tex-chtml.js").exists()
    images = [link for link in links.links if link.startswith("_images/") and link.endswith(".png")]
    assert images, "a figure from the notebook's outputs"
    assert all((out / unquote(i)).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    words = text_of(page)
    assert site.run_facts(summary) in words and summary["device"] in words and summary["date"][:10] in words
    smoke = summary["mode"] == "smoke"          # CI's run is a smoke run; TUTORIAL_SITE_RUN may name a full one
    assert ("Smoke run: results are NOT meaningful" in words) == smoke
    assert COLAB + f"{executed[-1]}.ipynb" in links.links
    for name in executed:                                  # the book's buttons on every notebook page
        buttons = header_buttons(out / f"{name}.html")
        assert buttons["launch-buttons"] == [COLAB + f"{name}.ipynb"], name
        assert f"_sources/{name}.ipynb" in buttons["download-buttons"], name
        assert (out / "_sources" / f"{name}.ipynb").exists()
    assert sidebar(out / "index.html") == [f"{name}.html" for name in executed]


def test_the_front_page_lists_the_notebooks_the_run_and_the_smoke_warning(built):
    run, out = built
    summary = json.loads((run / "summary.json").read_text())
    if not os.environ.get("TUTORIAL_SITE_RUN"):          # what series.py records about the run
        assert summary["device"].startswith("CPU") and summary["python"] and summary["torch"]
        assert summary["arguments"]["only"] is None and "parameters" in summary["notebooks"][0]
        assert len(summary["notebooks"]) == len(list(runtime.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")))
    index = out / "index.html"
    words, links = text_of(index), parse(index)
    for nb in sorted(run.glob("[0-9][0-9]_*.ipynb")):
        title = site.notebook_title(json.loads(nb.read_text()), "")
        assert title and title in words
        assert f"{nb.stem}.html" in links.links and COLAB + nb.name in links.links
    smoke = summary["mode"] == "smoke"
    assert f"Executed on {summary['device']}, {site.format_date(summary['date'])}, in {summary['mode']} mode" in words
    assert ("results are NOT meaningful" in words) == smoke
    assert "No results are available" not in words
    for record in summary["notebooks"]:                     # the results page, a row per notebook
        assert re.search(rf"{record['name']} ok [\d.]+ ", words), record["name"]
    if (run / "08_compare.ipynb").exists():
        assert "The four models compared (08)" in words and "VAE (04)" in words
    if (run / "results" / "10_conditional_gans.json").exists():
        assert "10_conditional_gans: the models it trains" in words and "CVAE-GAN" in words
    if (run / "results" / "11_semi_supervised_gan.json").exists():
        assert "11_semi_supervised_gan: its runs" in words


def test_a_page_with_untypeset_latex_fails_the_build(tmp_path):
    """A ``+`` that starts a line inside ``$…$`` makes a list item in myst-nb (Jupyter keeps it maths)."""
    import nbformat

    run = tmp_path / "run"
    run.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "# 99 · A page\n\nThe sum $a + b\n+ \\lambda c$ spans two lines.\n\nFine: $\\mathcal L$.")])
    nbformat.write(nb, run / "99_page.ipynb")
    with pytest.raises(site.SiteError, match=r"99_page.html: .*\\lambda"):
        site.build(run, tmp_path / "site")
    assert site.raw_latex('<p>ok <span class="math notranslate nohighlight">\\(\\mathcal L\\)</span></p>'
                          '<pre>cost = $5 \\n</pre>') == []
    assert site.raw_latex("<p>price $x$</p>") and site.raw_latex(r"<li>\mathcal L_{GC}</li>")


def test_every_local_link_resolves_and_nothing_comes_from_the_network(built):
    _, out = built
    pages = sorted(out.rglob("*.html"))
    for page in pages:
        links = parse(page)
        for url in links.scripts + links.styles:
            assert not re.match(r"(https?:)?//", url), f"{page.name} loads {url} from the network"
        for link in links.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            assert target.exists(), f"{page.name} links to missing {link}"
            if parts.fragment and target.suffix == ".html" and target.parent == out:
                assert unquote(parts.fragment) in parse(target).ids, f"{page.name}: no #{parts.fragment} in {target.name}"


def test_a_run_without_notebooks_gets_one_clear_message(tmp_path, capsys):
    empty = tmp_path / "empty-run"
    empty.mkdir()
    with pytest.raises(site.SiteError, match="holds no executed notebooks"):
        site.build(empty)
    assert site.main(["--run", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "python -m tutorial_lib.commands.series" in err and "Traceback" not in err
    assert site.main(["--run", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (empty / "site").exists()
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "thesis.tex").write_text("mine")
    with pytest.raises(site.SiteError, match="not a site this command built"):
        site.build(empty, tmp_path / "papers")
    assert (tmp_path / "papers" / "thesis.tex").read_text() == "mine"


def conf_of(src: Path) -> dict:
    """The settings of a generated conf.py."""
    settings: dict = {}
    exec((src / "conf.py").read_text(), settings)
    return settings


def tiny_run(where: Path, names: list[str]) -> Path:
    """A run folder of small executed notebooks: a title, a code cell with a long line and its long output."""
    import nbformat

    run = where / "run"
    run.mkdir()
    long_line = "x = " + " + ".join(f"weight_{i}" for i in range(40))
    for name in names:                                  # written out of order on purpose
        code = nbformat.v4.new_code_cell(f"{long_line}\nprint(x)", execution_count=1, outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="loss " * 60 + "\n")])
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {name[:2]} · Page {name}\n\nText."), code])
        nbformat.write(nb, run / f"{name}.ipynb")
    (run / "summary.json").write_text(json.dumps({"mode": "smoke", "device": "CPU test", "date": "2026-01-02T03:04:05+00:00"}))
    return run


def test_the_sphinx_conf_makes_a_course_book(tmp_path):
    run = tiny_run(tmp_path, ["05_gan", "00_setup_and_data"])
    site.write_sources(run, tmp_path / "src")
    conf = conf_of(tmp_path / "src")
    assert conf["html_theme"] == "sphinx_book_theme"
    assert "sphinx_copybutton" in conf["extensions"] and "myst_nb" in conf["extensions"]
    options = conf["html_theme_options"]
    assert options["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert options["repository_url"] == runtime.REPO_URL and options["repository_branch"] == "main"
    assert options["path_to_docs"] == "notebooks" and options["use_download_button"] is True
    assert conf["html_copy_source"] is True                 # the download button serves _sources/<page>.ipynb
    assert "site.css" in conf["html_css_files"]
    css = (tmp_path / "src" / "_static" / "site.css").read_text()
    assert re.search(r"(^|\n)pre \{[^}]*white-space: pre-wrap;[^}]*word-break: break-word;", css)
    index = (tmp_path / "src" / "index.md").read_text()
    toctree = index.split("```{toctree}", 1)[1].split("```", 1)[0]
    assert [line for line in toctree.splitlines() if line and not line.startswith(":")] == ["00_setup_and_data", "05_gan"]


def test_a_notebook_page_has_the_book_buttons_and_wraps_long_lines(tmp_path):
    """Built for real: side bar in order, launch (Colab) and download buttons, copy buttons, wrapping CSS."""
    names = ["11_semi_supervised_gan", "00_setup_and_data", "05_gan"]
    out = site.build(tiny_run(tmp_path, names), tmp_path / "site").parent
    ordered = sorted(names)
    assert sidebar(out / "index.html") == [f"{name}.html" for name in ordered]
    for name in ordered:
        page = out / f"{name}.html"
        assert sidebar(page) == [f"{n}.html" for n in ordered]
        buttons = header_buttons(page)
        assert buttons["launch-buttons"] == [COLAB + f"{name}.ipynb"]         # the "Colab" launch button
        assert f"_sources/{name}.ipynb" in buttons["download-buttons"]
        download = json.loads((out / "_sources" / f"{name}.ipynb").read_text())
        assert "loss loss" in "".join(download["cells"][-1]["outputs"][0]["text"])   # the executed copy
        links = parse(page)
        assert any(s.startswith("_static/copybutton.js") for s in links.scripts)
        assert any(s.startswith("_static/site.css") for s in links.styles)
        assert any("sphinx-book-theme.css" in s for s in links.styles)
    assert "div.highlight pre" in (out / "_static" / "copybutton.js").read_text()
    assert "white-space: pre-wrap" in (out / "_static" / "site.css").read_text()
    assert "launch-buttons" not in header_buttons(out / "index.html")          # the front page is no notebook


def test_an_older_summary_without_device_or_date_still_makes_a_front_page(tmp_path):
    run = tmp_path / "old-run"
    run.mkdir()
    shutil.copyfile(runtime.REPO_ROOT / "notebooks" / "00_setup_and_data.ipynb", run / "00_setup_and_data.ipynb")
    (run / "summary.json").write_text(json.dumps({"mode": "full", "reason": "x", "seconds": 60, "notebooks": [
        {"name": "00_setup_and_data", "ok": True, "seconds": 60, "error": ""}]}))
    site.write_sources(run, tmp_path / "src")
    index = (tmp_path / "src" / "index.md").read_text()
    assert "device not recorded" in index and "NOT meaningful" not in index
    assert "[open in Colab](" + COLAB + "00_setup_and_data.ipynb)" in index
    assert "nb_execution_mode = 'off'" in (tmp_path / "src" / "conf.py").read_text()


def test_a_run_with_notebook_08_shows_its_results_table(tmp_path):
    from test_results import make_run

    run = make_run(tmp_path, "full")
    shutil.copyfile(runtime.REPO_ROOT / "notebooks" / "04_vae.ipynb", run / "04_vae.ipynb")
    site.write_sources(run, tmp_path / "src")
    index = (tmp_path / "src" / "index.md").read_text()
    assert "| VAE (04) |" in index and "99.5 nats" in index and "### Training time" in index
    assert "![vae_samples.png](figures/vae_samples.png)" in index and (tmp_path / "src/figures/vae_samples.png").exists()
    assert "No results are available" not in index


def test_links_that_leave_the_site_point_at_the_repository():
    text = "see [results](../docs/results.md#top), [05](05_gan.ipynb), [04](04_vae.ipynb), [paper](https://x.org/a)"
    assert site.relink(text, {"05_gan.ipynb"}) == (
        f"see [results]({runtime.REPO_URL}/blob/main/docs/results.md#top), [05](05_gan.ipynb), "
        f"[04]({runtime.REPO_URL}/blob/main/notebooks/04_vae.ipynb), [paper](https://x.org/a)")


def needs_a_browser(test):
    for mark in REQUIREMENTS:
        test = mark(test)
    return test


@needs_a_browser
def test_the_site_in_a_browser(built, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    run, out = built
    front = Path(os.environ.get("TUTORIAL_SITE_FRONT_SCREENSHOT", runtime.REPO_ROOT / "docs" / "site_front.png"))
    second = Path(os.environ.get("TUTORIAL_SITE_PAGE_SCREENSHOT", runtime.REPO_ROOT / "docs" / "site_05.png"))
    pages = sorted(out.glob("[0-9][0-9]_*.html"))
    shown = next((p for p in pages if p.name.startswith("05_")), pages[-1])
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",        # screenshots of 1280×900
                            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})

    browser.get((out / "index.html").as_uri())
    assert site.PROJECT in browser.title
    assert "Executed on" in browser.find_element(By.TAG_NAME, "body").text
    side = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "nav.bd-docs-nav li.toctree-l1 > a")]
    assert [t.split("·")[0].strip() for t in side] == [p.stem[:2] for p in pages]      # 00 … 11, in order
    front.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(front))

    for page in pages:                                    # every page: typeset, no error, no raw LaTeX left
        browser.get(page.as_uri())
        heading = browser.find_element(By.CSS_SELECTOR, "article.bd-article h1").text
        assert heading and heading.split("·")[0].strip() == page.stem[:2]
        wait_for(lambda: browser.execute_script(        # MathJax has replaced every .math element's TeX
            "return [...document.querySelectorAll('.math')].every(e => e.querySelector('mjx-container'));"),
            30, f"MathJax to typeset {page.name}")
        assert not browser.find_elements(By.CSS_SELECTOR, "mjx-merror"), f"{page.name}: an equation MathJax could not typeset"
        typeset = browser.execute_script(
            "const b = document.querySelector('article.bd-article').cloneNode(true);"
            "b.querySelectorAll('mjx-container, pre, code, .highlight, .cell_output, script').forEach(e => e.remove());"
            "return b.innerText;")
        assert not site.LATEX.search(typeset), f"{page.name}: raw LaTeX after typesetting: {site.LATEX.search(typeset)}"
        code = browser.execute_script(                  # copy buttons on code cells, none on outputs; lines wrap
            "const inputs = document.querySelectorAll('div.cell_input');"
            "return {inputs: inputs.length, copy: document.querySelectorAll('div.cell_input button.copybtn').length,"
            " outputs: document.querySelectorAll('div.cell_output button.copybtn').length,"
            " wrap: [...document.querySelectorAll('pre')].every(p => getComputedStyle(p).whiteSpace === 'pre-wrap'),"
            " cut: [...document.querySelectorAll('div.cell_input pre')].filter(p => p.scrollWidth > p.clientWidth + 1).length};")
        assert code["inputs"] and code["copy"] == code["inputs"] and code["outputs"] == 0, (page.name, code)
        assert code["wrap"] and code["cut"] == 0, (page.name, code)

    browser.get(shown.as_uri())
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "mjx-container"), 30, "MathJax to typeset the equations")
    image = browser.find_element(By.CSS_SELECTOR, "img[src^='_images/']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", image)
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0;", image)
    # The screenshot: a code cell with a long (wrapped) line, its copy button showing, and the launch
    # menu open on its Colab button.
    cell = browser.execute_script(
        "const cells = [...document.querySelectorAll('div.cell:not(.tag_colab-setup) div.cell_input')];"
        "return cells.find(c => c.innerText.split('\\n').some(l => l.length > 80)) || cells[0];")
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'}); window.scrollBy(0, -200);", cell)
    browser.find_element(By.CSS_SELECTOR, ".dropdown-launch-buttons button").click()
    colab = wait_for(lambda: [a for a in browser.find_elements(By.CSS_SELECTOR, ".dropdown-launch-buttons a")
                              if a.is_displayed()], 10, "the launch menu to open")
    assert colab[0].get_attribute("href") == COLAB + shown.stem + ".ipynb" and "Colab" in colab[0].text
    ActionChains(browser).move_to_element(cell.find_element(By.CSS_SELECTOR, "pre")).perform()
    copy = cell.find_element(By.CSS_SELECTOR, "button.copybtn")
    wait_for(lambda: float(copy.value_of_css_property("opacity")) > 0.9, 5, "the copy button to show on hover")
    assert browser.find_element(By.CSS_SELECTOR, ".dropdown-download-buttons button").is_displayed()
    second.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(second))
    assert front.stat().st_size > 10_000 and second.stat().st_size > 10_000
