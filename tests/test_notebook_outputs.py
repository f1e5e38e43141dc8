"""What the executed notebooks show a student: readable output, and figures whose axes say what they measure.

Nothing is executed here. The tests read the smoke run of the whole series 00–11 that conftest's
``smoke_series`` makes once per session (test_site.py builds its site from the same run). In that run
``TUTORIAL_FIGURE_AUDIT=1`` was set, so tutorial_lib/figure_audit.py left in every cell that drew a figure
one output listing the figures drawn and the axes without a label (an executed notebook keeps only
PNGs, whose labels cannot be read back). Three checks per notebook:

* no object dumps in the printed output: default reprs (``object at 0x…``), module trees (``Sequential(``),
  matplotlib artists (``Text(0.5, 1.0, …)``), raw dicts, unlabelled matrices, numpy or torch reprs;
* every axis drawn with tick labels has a label (image grids, with their axes off, need none);
* no figure is shown twice (a cell never holds more PNGs than the figures it drew).
"""
import json
import re

import pytest

from tutorial_lib import figure_audit, runtime

NOTEBOOKS = sorted(p.stem for p in (runtime.REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

DUMPS = [
    (re.compile(r"object at 0x[0-9a-fA-F]+"), "an object's default repr"),
    (re.compile(r"\b(Sequential|ModuleList|ModuleDict)\("), "a network printed as a module tree"),
    (re.compile(r"^\s*\(\w+\): [A-Z]\w*\(", re.M), "a module's layers printed"),
    (re.compile(r"^(Text|Line2D|Legend|Annotation)\(|<(matplotlib\.|Figure size)", re.M), "a matplotlib object's repr"),
    (re.compile(r"^\s*\{['\"\d]|: \{['\"\d]", re.M), "a dict printed raw"),
    (re.compile(r"(^|: |\n)\s*\[\[", re.M), "a matrix printed raw, without row and column labels"),
    (re.compile(r"\b(array|tensor)\(\[|\bnp\.(float|int)\d+\("), "a numpy or torch repr"),
]


def _params():
    return [pytest.param(stem, id=stem) for stem in NOTEBOOKS]


def executed(run, stem):
    """The executed copy of notebook ``stem`` in ``run``; fails with the run's error if it did not complete."""
    path = run / f"{stem}.ipynb"
    if not path.exists():
        summary = json.loads((run / "summary.json").read_text())
        record = next((r for r in summary["notebooks"] if r["name"] == stem), {})
        pytest.fail(f"{stem} did not complete in the smoke run: {record.get('status')} {record.get('error', '')}")
    return json.loads(path.read_text())


def code_cells(nb):
    return [(i, c) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


def printed(cell):
    """What a cell printed or returned as text (stdout and text results; warnings on stderr are not the lesson)."""
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream" and out.get("name") == "stdout":
            yield "".join(out["text"])
        elif out["output_type"] == "execute_result" and "image/png" not in out.get("data", {}):
            yield "".join(out["data"].get("text/plain", ""))


def audited(cell):
    """The figure records figure_audit left in a cell (none when the cell drew no figure)."""
    return [fig for out in cell.get("outputs", []) for fig in out.get("data", {}).get(figure_audit.MIME, {})
            .get("figures", [])]


def pngs(cell):
    return sum("image/png" in out.get("data", {}) for out in cell.get("outputs", []))


@pytest.mark.parametrize("stem", _params())
def test_no_object_dumps_in_the_printed_output(smoke_series, stem):
    run, _ = smoke_series
    found = []
    for i, cell in code_cells(executed(run, stem)):
        for text in printed(cell):
            for pattern, what in DUMPS:
                if m := pattern.search(text):
                    line = text[text.rfind("\n", 0, m.start()) + 1:].split("\n")[0]
                    found.append(f"cell {i}: {what}: {line[:100]!r}")
    assert not found, f"{stem} prints objects a student cannot read:\n" + "\n".join(found)


@pytest.mark.parametrize("stem", _params())
def test_every_figure_labels_its_axes(smoke_series, stem):
    run, _ = smoke_series
    nb = executed(run, stem)
    cells = code_cells(nb)
    drawn = sum(pngs(c) for _, c in cells)
    records = [(i, fig) for i, c in cells for fig in audited(c)]
    assert drawn == 0 or records, f"{stem} shows figures but the run holds no figure audit (was {figure_audit.ENV} set?)"
    missing = [f"cell {i}, figure {fig['figure']} ({fig['title'] or 'untitled'}): {problem}"
               for i, fig in records for problem in fig["unlabelled"]]
    assert not missing, f"{stem} has axes without a label:\n" + "\n".join(missing)


@pytest.mark.parametrize("stem", _params())
def test_each_figure_is_shown_once(smoke_series, stem):
    run, _ = smoke_series
    twice = [f"cell {i}: {pngs(c)} pictures of {len(audited(c))} figure(s)"
             for i, c in code_cells(executed(run, stem)) if pngs(c) > len(audited(c))]
    assert not twice, f"{stem} shows a figure more than once:\n" + "\n".join(twice)


def test_the_audit_reads_labels_shared_axes_colour_bars_and_subfigures():
    """figure_audit's rule on figures made here (no kernel needed): what needs a label and what does not."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2)
    a.plot([1, 2])
    a.set(xlabel="x", ylabel="y")
    b.plot([1, 2])
    b.set_title("right")
    b.twinx().set_ylabel("z")                         # the twin's own hidden x axis needs nothing
    fig.canvas.draw()
    assert figure_audit.unlabelled(fig) == ["right: no x label", "right: no y label"]

    fig, axes = plt.subplots(2, 2, sharex=True, sharey=True)   # inner axes carry no tick labels
    for ax in axes[1]:
        ax.set_xlabel("t")
    for ax in axes[:, 0]:
        ax.set_ylabel("v")
    image = axes[0, 1].imshow([[1, 2], [3, 4]])
    bar = fig.colorbar(image, ax=axes[0, 1])
    fig.canvas.draw()
    assert figure_audit.unlabelled(fig) == ["colour bar: no y label"]
    bar.set_label("value")
    axes[1, 1].set_axis_off()
    fig.canvas.draw()
    assert figure_audit.unlabelled(fig) == []

    fig = plt.figure(layout="constrained")
    left, right = fig.subfigures(1, 2)
    left.add_subplot().set_axis_off()                  # an image grid
    ax = right.add_subplot()
    ax.plot([3, 4])
    ax.set_xlabel("q")
    fig.canvas.draw()
    assert figure_audit.unlabelled(fig) == ["panel 2: no y label"]
    right.supylabel("r")
    fig.canvas.draw()
    assert figure_audit.unlabelled(fig) == []
    plt.close("all")
