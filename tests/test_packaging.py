"""pyproject.toml and environment.yml must name the same packages."""
import re
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:                                    # Python 3.10: the same parser, as a package
    import tomli as tomllib

import yaml

from tutorial_lib import runtime

CONDA_TO_PIP = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((runtime.REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    pip_names = {_name(r) for r in project["dependencies"] + extras["lab"] + extras["test"] + extras["sweep"]}
    env = yaml.safe_load((runtime.REPO_ROOT / "environment.yml").read_text())
    conda_names = {CONDA_TO_PIP.get(_name(d), _name(d)) for d in env["dependencies"] if isinstance(d, str)}
    conda_names -= NOT_PACKAGES
    assert pip_names == conda_names, (
        f"only in pyproject: {sorted(pip_names - conda_names)}; only in environment.yml: {sorted(conda_names - pip_names)}")
    assert {"torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "jupyterlab", "nbval",
            "papermill", "tqdm"} <= pip_names

    pip_section = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_section == [{"pip": ["-e ."]}], "the conda environment installs tutorial_lib itself with pip"


def test_a_lesson_needs_no_lab_test_or_cluster_packages():
    # Colab installs only `dependencies`: nothing that pins Colab's own notebook server
    deps = {_name(r) for r in tomllib.loads((runtime.REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert not deps & {"jupyterlab", "nbval", "papermill", "pytest", "notebook", "jupyter-server", "submitit", "ray"}
