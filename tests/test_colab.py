"""Colab as it really is: the set-up cell in a stand-in Colab, and Drive keeping runs across sessions.

The stand-in is a fresh virtual environment holding what Colab preinstalls (torch, torchvision,
numpy, matplotlib, ipywidgets, ipykernel, ... and their dependencies, hard-linked from this
environment so it takes seconds), plus a ``google.colab`` module whose ``drive.mount`` links a
temporary folder. The set-up cell runs there unchanged except for the repository address, which
points at a local copy of this working tree.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement

from tutorial_lib import colab, runtime

COLAB_PREINSTALLED = ["torch", "torchvision", "numpy", "scipy", "scikit-learn", "matplotlib", "ipywidgets",
                     "ipykernel", "tqdm", "pyyaml", "filelock", "pillow", "packaging"]
LESSON_ONLY = {"jupyterlab", "nbval", "papermill", "pytest", "submitit", "ray"}

FAKE_COLAB = {
    "google/colab/__init__.py": "from google.colab import drive, output  # noqa: F401\n",
    "google/colab/drive.py": (
        "import os\n"
        "def mount(mountpoint, force_remount=False):\n"
        "    store = os.environ['FAKE_DRIVE_STORE']\n"
        "    os.makedirs(os.path.join(store, 'MyDrive'), exist_ok=True)\n"
        "    if os.path.islink(mountpoint):\n"
        "        os.unlink(mountpoint)\n"
        "    os.symlink(store, mountpoint)\n"
        "    print('Mounted at', mountpoint)\n"
        "def flush_and_unmount():\n"
        "    open(os.path.join(os.environ['FAKE_DRIVE_STORE'], 'flushed'), 'a').write('x')\n"),
    "google/colab/output.py": "def enable_custom_widget_manager():\n    print('custom widget manager enabled')\n",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(names: list[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need, dependencies included (with the extras asked for)."""
    seen, todo, out = set(), [(n, "") for n in names], {}
    while todo:
        name, extra = todo.pop()
        if (_norm(name), extra) in seen:
            continue
        seen.add((_norm(name), extra))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        out[_norm(name)] = dist
        for req in dist.requires or []:
            r = Requirement(req)
            if r.marker is None or r.marker.evaluate({"extra": extra}):
                todo += [(r.name, "")] + [(r.name, e) for e in r.extras]
    return list(out.values())


def _link_tree(dists, site: Path) -> None:
    """Hard-link each distribution's files into ``site``, or symlink them where the temporary folder is on another
    file system (a copy of torch and its CUDA libraries would take gigabytes of the test machine's disk)."""
    for dist in dists:
        for file in dist.files or []:
            if ".." in file.parts:
                continue                     # console scripts outside site-packages: not needed
            src = Path(dist.locate_file(file))
            dst = site / file
            if not src.is_file() or dst.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                os.symlink(src, dst)


def _freeze(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-c", "import json; from importlib import metadata; print(json.dumps("
                          "{d.metadata['Name']: d.version for d in metadata.distributions()}))"],
                         capture_output=True, text=True, check=True, cwd=python.parent).stdout
    return {_norm(name): version for name, version in json.loads(out).items()}


@pytest.fixture(scope="module")
def fake_colab(tmp_path_factory):
    root = tmp_path_factory.mktemp("colab")
    env = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    python = env / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    _link_tree(_closure(COLAB_PREINSTALLED), site)
    stand_in = root / "stand-in"
    for rel, text in FAKE_COLAB.items():
        (stand_in / rel).parent.mkdir(parents=True, exist_ok=True)
        (stand_in / rel).write_text(text)
    # "GitHub": a repository holding this working tree as it is now (committed or not)
    origin = root / "origin"
    files = subprocess.run(["git", "-C", str(runtime.REPO_ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, files):
        src = runtime.REPO_ROOT / rel
        if src.is_file():
            (origin / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, origin / rel)
    git = ["git", "-C", str(origin), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(origin)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], check=True)
    return {"root": root, "python": python, "stand_in": stand_in, "origin": origin, "before": _freeze(python)}


def run_session(fake, *, drive: bool, epochs: int = 0, fresh_home: bool = True) -> str:
    """One Colab session: a VM with an empty home, the set-up cell, then (optionally) a short training."""
    home = fake["root"] / "home"
    if fresh_home and home.exists():
        shutil.rmtree(home)
    home.mkdir(exist_ok=True)
    cell = colab.setup_source().replace(runtime.REPO_URL, f"file://{fake['origin']}")
    if drive:
        cell = cell.replace("KEEP_RUNS_ON_DRIVE = False", "KEEP_RUNS_ON_DRIVE = True")
    train = "" if not epochs else (
        "from tutorial_lib import data, methods, training\n"
        "import torch; torch.manual_seed(0)\n"
        "h = training.fit(methods.build('vae', latent_dim=4, width=8), data.load('mnist-sample', limit=256),\n"
        f"                epochs={epochs}, batch_size=64, progress=False)\n"
        "print('RUN_DIR', h.run['run_dir']); print('EPOCHS', h.run['epochs_trained'])\n")
    script = fake["root"] / "session.py"
    script.write_text("import google.colab  # Colab's kernel has it imported\n" + cell + "\n" + train)
    env = {k: v for k, v in os.environ.items() if k not in ("TUTORIAL_RUNS", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(home), PYTHONPATH=str(fake["stand_in"]), FAKE_DRIVE_STORE=str(fake["root"] / "drive"),
               TUTORIAL_DRIVE_MOUNT=str(fake["root"] / "content-drive"), PIP_DISABLE_PIP_VERSION_CHECK="1",
               CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([str(fake["python"]), str(script)], cwd=home, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_set_up_cell_installs_only_what_is_missing_and_changes_nothing_colab_ships(fake_colab):
    out = run_session(fake_colab, drive=False)
    assert "No GPU in this runtime: Runtime > Change runtime type > T4 GPU" in out
    assert "Set KEEP_RUNS_ON_DRIVE = True" in out and "custom widget manager enabled" in out
    after = _freeze(fake_colab["python"])
    before = fake_colab["before"]
    changed = {n: (v, after.get(n)) for n, v in before.items() if after.get(n) != v}
    assert changed == {}, f"the set-up cell changed packages Colab ships: {changed}"
    added = set(after) - set(before)
    assert {"tutorial-lib", "torchmetrics"} <= added
    assert not added & LESSON_ONLY, f"installed packages a lesson does not need: {added & LESSON_ONLY}"


def test_with_drive_on_a_run_survives_the_vm_and_resumes_in_a_new_session(fake_colab):
    first = run_session(fake_colab, drive=True, epochs=1)
    runs = fake_colab["root"] / "drive" / "generative-models-tutorial" / "runs"
    assert "Runs are kept on Google Drive" in first and "EPOCHS 1" in first
    run_dir = re.search(r"RUN_DIR (\S+)", first).group(1)
    assert "/MyDrive/generative-models-tutorial/runs/" in run_dir
    assert list((fake_colab["root"] / "drive" / "MyDrive").rglob("last.pt"))
    # a new VM: fresh home (so a fresh clone), same Drive
    second = run_session(fake_colab, drive=True, epochs=2)
    assert "Resuming vae" in second and "at epoch 1" in second and "EPOCHS 2" in second
    assert not runs.exists()                             # everything went under MyDrive, as on Colab


def test_outside_colab_the_set_up_cell_does_nothing(tmp_path):
    source = colab.setup_source()
    namespace = {}
    exec(compile(source, "cell", "exec"), namespace)
    assert namespace["KEEP_RUNS_ON_DRIVE"] is False and "repo" not in namespace
    assert colab.gpu_report().startswith("No GPU") or torch.cuda.is_available()
