"""A test aid: which figures a notebook shows, and which of their axes carry no label.

An executed notebook keeps each figure only as a PNG, so a test cannot read its axis labels
afterwards. With ``TUTORIAL_FIGURE_AUDIT=1`` in a kernel's environment, the first cell of every
notebook (:func:`tutorial_lib.runtime.announce_mode`) calls :func:`install`: from then on every
figure that pyplot makes is watched, each time it is drawn its axes are read, and at the end of
each cell one extra output of type :data:`MIME` lists the figures that cell drew. Jupyter shows
no such output and the course website skips it; ``tests/test_notebook_outputs.py`` reads it.
Without the variable nothing is installed and nothing changes.

An axis needs a label when it is drawn with tick labels: image grids (axis off), the hidden x
axis of a ``twinx`` and the inner axes of shared-axis grids need none. A colour bar is an axis
too. ``fig.supxlabel``/``fig.supylabel`` label every panel of their figure.
"""
from __future__ import annotations

import os

ENV = "TUTORIAL_FIGURE_AUDIT"
MIME = "application/vnd.tutorial.figure-audit+json"
HOOK = "tutorial_lib.figure_audit:watch"

_seen: dict[int, dict] = {}          # id(figure) -> its record, for the figures drawn in the current cell
_numbers: dict[int, int] = {}        # id(figure) -> its number in the notebook, in the order first drawn


def enabled() -> bool:
    return os.environ.get(ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _all_axes(fig) -> list:
    axes = list(fig.axes)
    for sub in getattr(fig, "subfigs", []):
        axes += [ax for ax in _all_axes(sub) if ax not in axes]
    return axes


def _label_of(figure, letter: str) -> str:
    text = getattr(figure, f"_sup{letter}label", None)
    return text.get_text().strip() if text is not None else ""


def _has_tick_labels(axis) -> bool:
    return any(t.get_visible() and t.get_text().strip() for t in axis.get_ticklabels())


def unlabelled(fig) -> list[str]:
    """'<panel>: no x label' for every axis of ``fig`` drawn with tick labels but without a label."""
    problems = []
    for i, ax in enumerate(_all_axes(fig), 1):
        if not ax.get_visible() or not ax.axison:
            continue
        holder = ax.get_figure(root=False) if hasattr(ax, "get_figure") else fig
        name = (ax.get_title() or ax.get_title(loc="left") or ax.get_title(loc="right")
                or ("colour bar" if hasattr(ax, "_colorbar") else f"panel {i}"))
        for letter, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            if not axis.get_visible() or not _has_tick_labels(axis):
                continue
            if axis.get_label_text().strip() or _label_of(holder, letter) or _label_of(fig, letter):
                continue
            problems.append(f"{' '.join(name.split())}: no {letter} label")
    return problems


def _on_draw(event) -> None:
    fig = event.canvas.figure
    _numbers.setdefault(id(fig), len(_numbers) + 1)
    title = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    panels = [ax.get_title() for ax in _all_axes(fig) if ax.get_title()]
    _seen[id(fig)] = {"figure": _numbers[id(fig)], "title": title or "; ".join(panels[:3]),
                      "unlabelled": unlabelled(fig)}


def watch(fig) -> None:
    """matplotlib's ``figure.hooks`` entry: read ``fig``'s axes every time it is drawn."""
    fig.canvas.mpl_connect("draw_event", _on_draw)


def _report(*_) -> None:
    """After each cell: one output listing the figures the cell drew (nothing when it drew none)."""
    if not _seen:
        return
    from IPython.display import display
    records = sorted(_seen.values(), key=lambda r: r["figure"])
    _seen.clear()
    display({MIME: {"figures": records}}, raw=True)


def install() -> bool:
    """Watch every pyplot figure and report after each cell; True when installed (an IPython kernel)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    import matplotlib
    hooks = list(matplotlib.rcParams.get("figure.hooks", []))
    if HOOK not in hooks:
        matplotlib.rcParams["figure.hooks"] = hooks + [HOOK]
    if _report not in shell.events.callbacks["post_run_cell"]:
        shell.events.register("post_run_cell", _report)
    return True
