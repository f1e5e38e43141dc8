"""A notebook's parameters: its cell tagged ``parameters``, their defaults in the current mode,
which of them a run changed, and the lecture preset that shortens the extra runs for a class."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any


from tutorial_lib import runtime
from tutorial_lib.runtime import NOTEBOOKS_DIR

WHERE_ONLY = frozenset({"results_json", "figures_dir", "data_root", "device", "lecture", "train_from_scratch"})
"""Parameters that say where things go or run, or whether the series' model is loaded or trained
here, not how it is trained: changing them keeps a run (and what it exports) the series' own."""


ALL_WHEN_ZERO = frozenset({"train_limit"})
"""Limits where 0 means "no limit": the preset treats 0 as larger than any value it asks for."""


def lecture_preset(namespace: dict, shorter: dict[str, Any], skipped: str = "", models_shrink: bool = False) -> dict:
    """The lecture preset: set the extra runs' settings in ``shorter`` (a notebook's ``globals()``
    is ``namespace``), never making anything longer than it already is (so smoke mode stays
    small), and say in one line what it changed. The series' models are not among them, unless
    ``models_shrink`` (a notebook whose models do not ship yet: then the line says its figures are
    a lecture's, from smaller, shorter-trained models, and not the chapter's)."""
    changed = {}
    for name, value in shorter.items():
        old = namespace[name]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            new = value if (name in ALL_WHEN_ZERO and old == 0) else min(old, value)
        else:
            new = value if isinstance(value, list) and len(value) < len(old) else old
        if new != old:
            namespace[name], changed[name] = new, (old, new)
    what = ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in changed.items())
    same = ("The models are smaller and trained for less than at the defaults: these figures show the method "
            "at work, not its quality (for that, run the defaults on a GPU)." if models_shrink and changed
            else "The series' model is the same as at the defaults.")
    kind = "smaller models and shorter runs" if models_shrink else "shorter extra runs"
    print(f"LECTURE PRESET: {kind} for a live class (" + (what or "nothing to shorten here")
          + ")" + (f"; {skipped}" if skipped else "") + ". " + same)
    return changed


def parameters_cell(notebook: str | os.PathLike) -> str:
    """The source of the notebook's cell tagged ``parameters`` ("" when it has none)."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    return "".join(tagged[0]["source"]) if tagged else ""


def declared_parameters(notebook: str | os.PathLike) -> list[str]:
    """Names assigned in the notebook's cell tagged ``parameters``, in order."""
    import ast
    tree = ast.parse(parameters_cell(notebook))
    return [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
            if isinstance(t, ast.Name)]


@dataclass
class NotebookParameters:
    """A notebook run's parameters, and which of them differ from the notebook's own defaults.

    ``changed`` is empty when the run is at the defaults (those of the current mode, full or
    smoke): then what it trains is the series' own model, which later notebooks load.
    """
    notebook: str
    values: dict
    changed: dict = field(default_factory=dict)

    @property
    def at_defaults(self) -> bool:
        return not self.changed


def notebook_defaults(notebook: str, smoke: bool | None = None) -> dict:
    """The default values of ``notebooks/<notebook>.ipynb``'s parameters, evaluated in the current
    mode (full or smoke), or in the mode ``smoke`` names, e.g. for a script that trains what the
    notebook trains, or a command that plans a run in another mode than its own."""
    path = NOTEBOOKS_DIR / f"{notebook}.ipynb"
    defaults: dict = {}
    mode = runtime if smoke is None else SimpleNamespace(pick=lambda full, small: small if smoke else full)
    exec(compile(parameters_cell(path), str(path), "exec"), {"runtime": mode}, defaults)
    return defaults


def notebook_parameters(notebook: str, namespace: dict) -> NotebookParameters:
    """Compare the parameters in ``namespace`` (a notebook's ``globals()``) with the notebook's defaults.

    The defaults are read from ``notebooks/<notebook>.ipynb``'s parameters cell and evaluated in
    the current mode, so papermill's ``-p`` values (injected after that cell) show up as changes.
    Parameters in :data:`WHERE_ONLY` are recorded but never count as a change.
    """
    names = declared_parameters(NOTEBOOKS_DIR / f"{notebook}.ipynb")
    defaults = notebook_defaults(notebook)
    values = {k: namespace[k] for k in names if k in namespace}
    changed = {k: v for k, v in values.items() if k not in WHERE_ONLY and (k not in defaults or defaults[k] != v)}
    if changed:
        print("Parameters changed from this notebook's defaults: "
              + ", ".join(f"{k}={v!r} (default {defaults.get(k)!r})" for k, v in changed.items())
              + ". Models this run exports are kept apart from the series' own.")
    return NotebookParameters(notebook, values, changed)
