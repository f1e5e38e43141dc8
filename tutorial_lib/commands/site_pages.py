"""The pages of the course website: its front page and the copies of the executed notebooks that become
its other pages, with the facts of the run they came from (python -m tutorial_lib.commands.site builds
the site from them; see that module).
"""
from __future__ import annotations

import json
import posixpath
import re
import shutil
from datetime import datetime
from pathlib import Path

from tutorial_lib import colab, runtime
from tutorial_lib.commands import results

PROJECT = "Deep generative models, derived and trained"
NOT_RECORDED = "device not recorded"


class SiteError(ValueError):
    """The run folder cannot be made into a site (the message says why and what to do)."""


def colab_url(notebook: str) -> str:
    """The address that opens ``notebooks/<notebook>`` of the repository's main branch in Colab."""
    return (f"https://colab.research.google.com/github/{runtime.REPO_URL.removeprefix('https://github.com/')}"
            f"/blob/main/notebooks/{notebook}")


# ----------------------------------------------------------------------------- what the run holds

def executed_notebooks(run: Path) -> list[Path]:
    """The complete executed copies in ``run`` (``NN_name.ipynb``; not ``.failed`` or partial ones), in order."""
    return sorted(p for p in run.glob("[0-9][0-9]_*.ipynb") if p.suffixes == [".ipynb"])


def read_summary(run: Path) -> dict:
    path = run / "summary.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SiteError(f"{path} is not valid JSON ({err}); run the series again") from err


def format_date(iso: str | None) -> str:
    """``2026-11-30T13:09:48+00:00`` as ``2026-11-30 13:09 UTC``."""
    if not iso:
        return "date not recorded"
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{when:%Y-%m-%d %H:%M} {when.tzname() or ''}".strip()


def run_facts(summary: dict) -> str:
    """One line: which device and when, in which mode (older summaries lack device and date)."""
    device = summary.get("device") or NOT_RECORDED
    date = format_date(summary.get("date"))
    mode = summary.get("mode") or "unknown"
    versions = ", ".join(f"{name} {summary[key]}" for name, key in (("Python", "python"), ("torch", "torch"))
                         if summary.get(key))
    line = f"Executed on {device}, {date}, in {mode} mode"
    return line + (f" ({versions})" if versions else "")


def is_smoke(summary: dict) -> bool:
    return summary.get("mode") == "smoke"


SMOKE_WARNING = ("Smoke run: results are NOT meaningful. These notebooks ran on the small MNIST sample with "
                 "tiny settings, to check that the code runs; build the site from a run at the defaults "
                 "(a GPU) for real results.")


def notebook_title(nb: dict, fallback: str) -> str:
    """The first markdown heading of the notebook."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        for line in "".join(cell.get("source", "")).splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return fallback


def readme_one_liners() -> dict[str, str]:
    """``{file name: what it teaches}`` from the table of notebooks in README.md (empty when not found)."""
    readme = runtime.REPO_ROOT / "README.md"
    if not readme.exists():
        return {}
    row = re.compile(r"^\|\s*\d\d\s*\|\s*\[[^\]]*\]\(notebooks/(?P<file>[^)]+)\)\s*\|\s*(?P<teaches>.*?)\s*\|\s*\[open\]\(")
    return {m["file"]: m["teaches"] for m in map(row.match, readme.read_text().splitlines()) if m}


def first_paragraph(nb: dict) -> str:
    """The notebook's opening paragraph after its heading (a fallback for what it teaches)."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        for paragraph in re.split(r"\n\s*\n", "".join(cell.get("source", ""))):
            text = " ".join(paragraph.split())
            if text and not text.startswith("#") and "Where this fits" not in text:
                return text if len(text) <= 240 else text[:237].rsplit(" ", 1)[0] + " …"
    return ""


def results_section(run: Path, summary: dict, figures_dir: Path) -> str:
    """The results page of this run, rendered by tutorial_lib.commands.results one heading level deeper (its
    figures copied to ``figures_dir``), or a sentence saying why there is none."""
    try:
        _, records = results.read_run(run)
    except results.ResultsError as err:
        return f"No results are available for this run: {err}.\n"
    if not records:
        return "No results are available for this run: its notebooks recorded none.\n"
    figures = results.figures_of(run)
    try:
        text = results.render(run, summary, records, figures)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise SiteError(f"the results page of {run} could not be rendered ({type(err).__name__}: {err}); "
                        f"python -m tutorial_lib.commands.results {run} --out DIR --debug shows where") from err
    if figures:
        figures_dir.mkdir(parents=True, exist_ok=True)
    for name in figures:
        shutil.copyfile(run / "figures" / name, figures_dir / name)
    body = text.split("\n", 1)[1] if text.startswith("# ") else text       # our page has its own heading
    return re.sub(r"^(#+) ", r"#\1 ", body, flags=re.MULTILINE)            # one level deeper


# ----------------------------------------------------------------------------- Sphinx sources

def banner_cell(summary: dict, notebook: str) -> dict:
    import nbformat
    kind = "warning" if is_smoke(summary) else "note"
    text = "**Smoke run: results are NOT meaningful.** " if is_smoke(summary) else ""
    return nbformat.v4.new_markdown_cell(
        f"```{{{kind}}}\n{text}{run_facts(summary)}. [Open this notebook in Colab]({colab_url(notebook)}) "
        f"· [all notebooks](index.md)\n```\n")


LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def relink(markdown: str, pages: set[str]) -> str:
    """Point relative links that leave the site (``../docs/results.md``, a notebook not in this run) at
    the repository on GitHub; links to a notebook of this run stay, and become links to its page."""
    def fix(m: re.Match) -> str:
        target = m[2]
        if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return m[0]
        path, _, fragment = target.partition("#")
        if path in pages:
            return m[0]
        where = posixpath.normpath(posixpath.join("notebooks", path))
        return f"{m[1]}{runtime.REPO_URL}/blob/main/{where}{'#' + fragment if fragment else ''}{m[3]}"
    return LINK.sub(fix, markdown)


def _cell(text: str) -> str:
    """``text`` fit for one cell of a markdown table: one line, its bars escaped (README's already are)."""
    return re.sub(r"(?<!\\)\|", r"\\|", " ".join(text.split()))


def toctree(pages: list[tuple[Path, dict]]) -> list[str]:
    """The hidden toctree of the front page, which makes the side bar: the notebooks in their order, 00 to 11."""
    names = sorted(path.stem for path, _ in pages)
    return ["```{toctree}", ":hidden:", ":maxdepth: 1", ":caption: The notebooks", "", *names, "```"]


def front_page(run: Path, summary: dict, pages: list[tuple[Path, dict]], src: Path) -> str:
    one_liners = readme_one_liners()
    by_name = {n.get("name"): n for n in summary.get("notebooks", [])}
    kind = "warning" if is_smoke(summary) else "note"
    lines = [
        f"# {PROJECT}", "",
        "A series of Jupyter notebooks that goes from maximum likelihood to generative models of images "
        "(a VAE, a DCGAN, a WGAN-GP and an AEGAN, then the conditional CVAE-GAN and IP-GAN and the "
        "semi-supervised GAN), deriving every loss, checking each derivation with numbers, training the models "
        "on MNIST and comparing them. These pages show the notebooks as one run executed them, with all their "
        "outputs.", "",
        f"```{{{kind}}}",
        *([f"**{SMOKE_WARNING}**", ""] if is_smoke(summary) else []),
        f"**{run_facts(summary)}.**",
        *([f"Mode chosen because: {summary['reason']}."] if summary.get("reason") else []),
        *(["With the **lecture preset** (`-p lecture True`): the series' models are the shipped ones where "
           "their settings match, and the extra runs around them are shorter; each page says what it "
           "shortened in its first lines."] if (summary.get("arguments") or {}).get("lecture") else []),
        f"Run folder `{run.name}`" + (f"; the notebooks' times add up to {summary['seconds'] / 60:.1f} minutes."
                                        if isinstance(summary.get("seconds"), (int, float)) else "."),
        "```", "",
        "## The notebooks", "",
        "| notebook | what it teaches | Colab | in this run |",
        "| --- | --- | --- | --- |",
    ]
    for path, nb in pages:
        record = by_name.get(path.stem, {})
        seconds = f"{record['seconds']:.0f} s" if isinstance(record.get("seconds"), (int, float)) else "–"
        teaches = one_liners.get(path.name) or first_paragraph(nb)
        lines.append(f"| [{_cell(notebook_title(nb, path.stem))}]({path.name}) | {_cell(teaches)} | "
                     f"[open in Colab]({colab_url(path.name)}) | {seconds} |")
    shown = {p.stem for p, _ in pages}
    for record in summary.get("notebooks", []):
        if record.get("name") not in shown:
            lines.append(f"| {record.get('name')} | – | [open in Colab]({colab_url(record.get('name', '') + '.ipynb')}) "
                         f"| **failed**: {_cell(record.get('error') or 'no executed copy')} |")
    ran = shown | {r.get("name") for r in summary.get("notebooks", [])}
    for path in sorted(runtime.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")):
        if path.stem not in ran:
            lines.append(f"| {path.stem} | {_cell(one_liners.get(path.name, '–'))} | "
                         f"[open in Colab]({colab_url(path.name)}) | not executed in this run |")
    lines += ["", "## Results of this run", "", results_section(run, summary, src / "figures"), "",
              "## How this site was made", "",
              f"`python -m tutorial_lib.commands.series` executed the notebooks into the run folder, then "
              f"`python -m tutorial_lib.commands.site --run {run.name}` built these pages from the executed copies with "
              "Sphinx, myst-nb and sphinx-book-theme, without running them again. The site needs no network: "
              "MathJax ships with it.",
              "", *toctree(pages), ""]
    return "\n".join(lines)


def page_notebook(nb: dict, summary: dict, name: str, pages: set[str]):
    """The copy of an executed notebook that becomes its page: the banner right under the title, links
    that leave the site sent to the repository, and the Colab set-up cell (the same in every notebook;
    the banner links to Colab and says whether it was a smoke run) left out."""
    import nbformat

    copy = nbformat.from_dict(nb)
    setup = colab.setup_source()
    for cell in copy.cells:
        if cell.cell_type == "markdown":
            cell.source = relink(cell.source, pages)
        elif cell.cell_type == "code" and cell.source == setup:
            cell.metadata.setdefault("tags", []).append("remove-cell")
    banner = banner_cell(summary, name)
    for i, cell in enumerate(copy.cells):
        lines = cell.source.split("\n") if cell.cell_type == "markdown" else []
        heading = next((j for j, line in enumerate(lines) if line.startswith("# ")), None)
        if heading is not None:
            rest = "\n".join(lines[heading + 1:]).strip("\n")
            cell.source = "\n".join(lines[:heading + 1])
            added = [banner] + ([nbformat.v4.new_markdown_cell(rest)] if rest else [])
            copy.cells[i + 1:i + 1] = added
            break
    else:
        copy.cells.insert(0, banner)
    return copy
