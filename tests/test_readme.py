"""The README is the front door: it stays short, its links lead somewhere, and its commands work.

The commands are read from the README's fenced ``bash`` blocks (backslash continuations joined,
comments dropped) and each is classified:

* run here, from the repository root, with ``sys.executable`` and ``TUTORIAL_SMOKE=1`` (seconds each):
    ``python -m tutorial_lib.commands.pretrained list``
    ``python -m tutorial_lib.commands.pretrained sample ...`` (16 samples; ``--out`` and ``--png`` moved to tmp_path)
  and, for every ``python -m <module>`` the README names anywhere (code blocks or prose) and every
  command its layout lists on the ``tutorial_lib/commands/`` line, the module must exist and
  ``python -m <module> --help`` must exit 0;
* skipped, because they take minutes to hours or start something that does not end:
    ``make series``, ``make smoke``, ``make test``, ``make site``, ``make reference`` (the series, the
    test suite, the website; only their targets are checked to exist in the Makefile)
    ``python -m tutorial_lib.commands.pretrained build`` (retrains the models of 04-07)
    ``python -m tutorial_lib.commands.{series,sweep,site,results,bench} <arguments>`` (execute notebooks
    or train; their ``--help`` runs instead)
    ``papermill notebooks/...`` (trains a notebook), ``jupyter lab`` (a server that does not end).

A command that fits neither list fails the test: classify it here when the README gains one.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_LINES = 150
PAGES = [README, ROOT / "docs" / "results.md", ROOT / "docs" / "engineering.md", ROOT / "docs" / "maintainers.md"]
"""The README and the pages it sends readers to: their relative links must resolve."""

EXPENSIVE_MAKE = {"series", "smoke", "test", "site", "reference"}
EXPENSIVE_MODULES = {f"tutorial_lib.commands.{name}" for name in ("series", "sweep", "site", "results", "bench")}
EXPENSIVE_PROGRAMS = {"papermill", "jupyter"}
PRETRAINED = "tutorial_lib.commands.pretrained"
TIMEOUT = 600


# ----------------------------------------------------------------------------- reading the README

def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(info string, body)`` of every fenced code block."""
    return [(m["info"].strip(), m["body"]) for m in
            re.finditer(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", text, re.M | re.S)]


def without_code(text: str) -> str:
    """``text`` without its fenced blocks and inline code spans (whose brackets are not links)."""
    text = re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def commands(text: str) -> list[list[str]]:
    """The command lines of the ``bash`` blocks, each split as the shell would (comments dropped)."""
    found = []
    for info, body in fenced_blocks(text):
        if info not in {"bash", "sh", "shell"}:
            continue
        for line in body.replace("\\\n", " ").splitlines():
            for part in re.split(r"\s&&\s", line):
                tokens = shlex.split(part, comments=True)
                if tokens:
                    found.append(tokens)
    return found


def strip_env(tokens: list[str]) -> tuple[dict[str, str], list[str]]:
    """(``NAME=value`` assignments in front of a command, the command itself)."""
    env = {}
    while tokens and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", tokens[0]):
        name, _, value = tokens[0].partition("=")
        env[name], tokens = value, tokens[1:]
    return env, tokens


def python_module(tokens: list[str]) -> tuple[str, list[str]] | None:
    """(module, its arguments) of ``[.venv/bin/]python[3] -m module ...``, else None."""
    if len(tokens) >= 3 and re.fullmatch(r"python3?", Path(tokens[0]).name) and tokens[1] == "-m":
        return tokens[2], tokens[3:]
    return None


def named_modules(text: str) -> list[str]:
    """Every ``python -m <module>`` of ours the README names, in its code blocks or its prose."""
    return sorted(set(re.findall(r"python3?\s+-m\s+(tutorial_lib(?:\.[A-Za-z_]\w*)*)", text)))


def layout_commands(text: str) -> list[str]:
    """The command modules the README's layout lists on its ``tutorial_lib/commands/`` line
    (``what a user runs: series, sweep, ..., pretrained (list, sample, build)``)."""
    for info, body in fenced_blocks(text):
        for line in body.splitlines():
            if line.startswith("tutorial_lib/commands/"):
                listed = re.sub(r"\([^)]*\)", "", line.split(":", 1)[-1])
                return [f"tutorial_lib.commands.{name.strip()}" for name in listed.split(",") if name.strip()]
    return []


def named_make_targets(text: str) -> list[str]:
    """Every ``make <target>`` the README names: in its code blocks, or as inline code in its prose."""
    in_blocks = [c[1] for c in (strip_env(t)[1] for t in commands(text)) if c[:1] == ["make"] and len(c) > 1]
    in_prose = re.findall(r"`make\s+([A-Za-z][\w-]*)", text)
    return sorted(set(in_blocks + in_prose))


def exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:                                  # a parent package is missing
        return False


def readme() -> str:
    return README.read_text(encoding="utf-8")


def run(argv: list[str], extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(extra_env or {}), "TUTORIAL_SMOKE": "1"}
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def explain(result: subprocess.CompletedProcess) -> str:
    return (f"`{shlex.join(map(str, result.args))}` exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}")


# ----------------------------------------------------------------------------- the tests

def test_the_readme_is_at_most_150_lines():
    lines = len(readme().splitlines())
    assert lines <= MAX_LINES, f"README.md has {lines} lines; at most {MAX_LINES}: move detail to docs/"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```[ \t]*$", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {github_anchor(m[1]) for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_that_exists(page):
    assert page.exists(), f"{page.relative_to(ROOT)} is missing (the README links to it)"
    text = without_code(page.read_text(encoding="utf-8"))
    links = re.findall(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)
    assert links, f"no links found in {page.name}: the link pattern is broken"
    broken = []
    for link in links:
        if re.match(r"[a-z][a-z0-9+.-]*:", link, re.I):              # https:, mailto:, ...
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link} (no such file: {target})")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{link} (no heading with anchor #{anchor} in {target.name})")
    assert not broken, f"{page.relative_to(ROOT)} links to what is not there:\n" + "\n".join(broken)


def test_the_readme_names_only_make_targets_that_exist():
    targets = set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", (ROOT / "Makefile").read_text(), re.M))
    named = named_make_targets(readme())
    assert {"series", "test"} <= set(named), "the README must give `make series` and `make test` first"
    missing = [t for t in named if t not in targets]
    assert not missing, f"the README names make targets the Makefile lacks: {missing}"


@pytest.mark.parametrize("module", sorted(set(named_modules(README.read_text(encoding="utf-8"))
                                              + layout_commands(README.read_text(encoding="utf-8")))))
def test_every_command_module_the_readme_names_exists_and_answers_help(module):
    assert exists(module), f"the README names `python -m {module}`, which does not exist"
    result = run([sys.executable, "-m", module, "--help"])
    assert result.returncode == 0, explain(result)
    assert "usage:" in result.stdout.lower(), explain(result)


def test_the_readme_names_the_command_modules():
    """The parsing above found the README's commands at all (a broken pattern would pass everything)."""
    modules = named_modules(readme())
    assert PRETRAINED in modules, modules
    listed = layout_commands(readme())
    assert PRETRAINED in listed and len(listed) >= 6, f"the layout's tutorial_lib/commands/ line lists {listed}"
    assert any(python_module(strip_env(c)[1]) for c in commands(readme()))


def test_the_cheap_commands_in_the_readme_work(tmp_path):
    ran, skipped, unknown = [], [], []
    for number, tokens in enumerate(commands(readme())):
        env, command = strip_env(tokens)
        if command[0] == "make":
            assert len(command) > 1 and command[1] in EXPENSIVE_MAKE, f"unclassified: {shlex.join(tokens)}"
            skipped.append(tokens)
            continue
        if Path(command[0]).name in EXPENSIVE_PROGRAMS:
            skipped.append(tokens)
            continue
        called = python_module(command)
        if called is None:
            unknown.append(shlex.join(tokens))
            continue
        module, args = called
        assert exists(module), f"the README runs `python -m {module}`, which does not exist"
        if module in EXPENSIVE_MODULES or (module == PRETRAINED and args[:1] == ["build"]):
            skipped.append(tokens)
            continue
        if module == PRETRAINED and args[:1] == ["list"]:
            argv = args
        elif module == PRETRAINED and args[:1] == ["sample"]:
            argv = sample_here(args, tmp_path / f"command{number}")
        else:
            unknown.append(shlex.join(tokens))
            continue
        result = run([sys.executable, "-m", module, *argv], env)
        assert result.returncode == 0, explain(result)
        if args[:1] == ["sample"]:
            written = [Path(a) for a, flag in zip(argv[1:], argv) if flag in ("--out", "--png")]
            assert written and all(p.is_file() and p.stat().st_size > 0 for p in written), (written, explain(result))
        ran.append(tokens)
    assert not unknown, ("README commands this test cannot classify (add them to its cheap or expensive "
                         "lists):\n" + "\n".join(unknown))
    assert ran, "no cheap command found in the README: the parsing is broken, or the README lost its examples"


def sample_here(args: list[str], folder: Path) -> list[str]:
    """``pretrained sample``'s arguments with a small ``--n`` and its files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out, it = [], iter(args)
    for arg in it:
        if arg in ("--out", "--png"):
            out += [arg, str(folder / Path(next(it)).name)]
        elif arg == "--n":
            next(it)
            out += ["--n", "16"]
        else:
            out.append(arg)
    return out
