"""The package's layout, read from its own source: floors, no circle, no import back up, small files,
and no module that changes the environment for another to read.

Every import counts, those inside functions too: a lazy import is still a dependency.
"""
from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tutorial_lib"
MAX_LINES = 400

FLOORS = [
    # 0: the basement: where the code runs, checks, files, parameters, the networks and losses
    ("runtime", "checks", "files", "parameters", "cli", "figure_audit", "nets", "losses"),
    # 1: data and what is computed from data alone
    ("data", "theory", "toys", "latent", "features", "metrics"),
    # 2: the models
    ("methods",),
    # 3: the training machinery (a shipped model is a finished run, read-only)
    ("training",),
    # 4: judging, showing and teaching
    ("evaluator", "plots", "widgets", "colab", "homework", "exercises"),
    # 5: the commands a user runs
    ("commands",),
]


def module_name(path: Path) -> str:
    parts = path.with_suffix("").parts
    parts = parts[len(parts) - 1 - parts[::-1].index("tutorial_lib"):]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``path`` imports, anywhere in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                target = f"{module}.{alias.name}"
                found.add(target if target in known else module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(path, set(found)) for name, path in found.items()}


def floor(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:                       # tutorial_lib/__init__.py: the package's front page
        return len(FLOORS)
    return next((i for i, names in enumerate(FLOORS) if parts[1] in names), None)


def test_every_module_has_a_floor():
    assert [m for m in modules() if floor(m) is None] == []


def test_the_imports_have_no_circle():
    try:
        tuple(graphlib.TopologicalSorter(graph()).static_order())
    except graphlib.CycleError as err:
        pytest.fail(f"import circle: {' -> '.join(err.args[1])}")


def test_no_import_runs_back_up():
    upward = [f"{a} (floor {floor(a)}) imports {b} (floor {floor(b)})"
              for a, targets in graph().items() for b in sorted(targets) if floor(b) > floor(a)]
    assert upward == []


def test_the_reader_would_catch_a_circle_and_an_upward_import(tmp_path):
    """The checks above on a made-up package: they are not vacuous."""
    assert floor("tutorial_lib.training.loop") == 3 and floor("tutorial_lib.commands.series") == 5
    fake = {"a": {"b"}, "b": {"a"}}
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter(fake).static_order())
    lazy = tmp_path / "tutorial_lib" / "lazy.py"
    lazy.parent.mkdir()
    lazy.write_text("def f():\n    from tutorial_lib.commands import series\n")
    assert imports(lazy, {"tutorial_lib.commands.series", "tutorial_lib.commands"}) == {"tutorial_lib.commands.series"}


def test_no_file_is_over_400_lines():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def environment_writes(source: str) -> list[int]:
    """Lines that change os.environ (assign, delete, pop, update, setdefault, clear) or call putenv."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            if any(isinstance(t, ast.Subscript) and ast.unparse(t.value) == "os.environ" for t in targets):
                lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            if (owner == "os.environ" and node.func.attr in ("pop", "update", "setdefault", "clear", "popitem")) or \
                    (owner == "os" and node.func.attr in ("putenv", "unsetenv")):
                lines.append(node.lineno)
    return lines


def test_no_module_changes_the_environment_for_another():
    """Settings are passed (as arguments, or as a kernel's own environment), never left in os.environ."""
    writes = {name: lines for name, path in modules().items() if (lines := environment_writes(path.read_text()))}
    assert writes == {}
    assert environment_writes("import os\nos.environ['X'] = '1'\nos.environ.pop('Y', None)\n") == [2, 3]
