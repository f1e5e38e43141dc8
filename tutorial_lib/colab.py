"""What the Colab set-up cell does once ``tutorial_lib`` is installed: GPU report, Drive, widgets.

Every notebook's first cell (:func:`setup_source`) clones the repository, installs
the package *pinned to every version Colab already has* (so nothing Colab ships is upgraded or
downgraded and no runtime restart is needed), and then calls :func:`setup`. Outside Colab the
cell does nothing.

Runs on Colab live on the VM's disk, which a disconnect or an idle timeout throws away. With
``KEEP_RUNS_ON_DRIVE = True`` in the set-up cell, :func:`setup` mounts Google Drive and keeps the
runs there (:func:`tutorial_lib.files.use_runs_folder`), so checkpoints and exported models outlive the VM: re-open the notebook,
run it again, and training resumes where it stopped.
"""
from __future__ import annotations

import atexit
import os
from pathlib import Path

import torch

from tutorial_lib import files, runtime

DRIVE_MOUNT_ENV = "TUTORIAL_DRIVE_MOUNT"
"""Where Drive is mounted: ``/content/drive`` on Colab (the tests point it at a temporary folder)."""
DRIVE_RUNS = Path("MyDrive") / "generative-models-tutorial" / "runs"


def gpu_report() -> str:
    """One line: the GPU (name, compute capability, memory), or how to get a GPU."""
    if not torch.cuda.is_available():
        return ("No GPU in this runtime: Runtime > Change runtime type > T4 GPU, then run this cell again "
                "(notebooks 00-03 run fine on the CPU; 04-09 train for minutes on a GPU, far longer without).")
    device = torch.device("cuda")
    major, minor = torch.cuda.get_device_capability(device)
    memory = torch.cuda.get_device_properties(device).total_memory / 2**30
    return (f"GPU: {torch.cuda.get_device_name(device)} (compute capability {major}.{minor}, "
            f"{memory:.0f} GiB); the series trains in float32.")


def keep_runs_on_drive(mount_point: str | os.PathLike | None = None) -> Path:
    """Mount Google Drive and keep this kernel's runs on it; flush Drive when the kernel shuts down."""
    from google.colab import drive

    mount_point = Path(mount_point or os.environ.get(DRIVE_MOUNT_ENV) or "/content/drive")
    drive.mount(str(mount_point))
    runs = mount_point / DRIVE_RUNS
    files.ensure_dir(runs)
    files.use_runs_folder(runs)
    atexit.register(flush_drive)
    return runs


def flush_drive() -> None:
    """Write everything still buffered to Drive (Colab's client uploads large files lazily).

    Called when the kernel shuts down; call it yourself before closing the tab after a long run.
    """
    try:
        from google.colab import drive
        drive.flush_and_unmount()
    except Exception as err:                   # not mounted, or not in Colab: nothing to flush
        print(f"(Drive not flushed: {err})")


def enable_widgets() -> bool:
    """Let Colab render ipywidgets sliders (its third-party widget manager); False where it cannot."""
    try:
        from google.colab import output
        output.enable_custom_widget_manager()
        return True
    except Exception:
        return False


def setup(keep_runs_on_drive: bool = False) -> dict:
    """Report the GPU, keep runs on Drive if asked, enable widgets; returns what it did."""
    print(gpu_report())
    where = None
    if keep_runs_on_drive:
        where = globals()["keep_runs_on_drive"]()
        print(f"Runs are kept on Google Drive in {where}: checkpoints and trained models survive a disconnect. "
              f"Re-open a notebook and run it again to resume.")
    else:
        print("Runs are kept on this VM's disk (runs/): a disconnect or idle timeout loses checkpoints and "
              "trained models. Set KEEP_RUNS_ON_DRIVE = True in this cell to keep them on Google Drive.")
    widgets = enable_widgets()
    return {"gpu": torch.cuda.is_available(), "runs": str(where) if where else None, "widgets": widgets}


_COLAB_CELL = '''# Set-up for Google Colab: install tutorial_lib without changing any package Colab ships (no restart
# needed), report the GPU, and keep your runs on Google Drive if you wish. Elsewhere it does nothing.
KEEP_RUNS_ON_DRIVE = False   # True: checkpoints and trained models go to your Drive and survive a disconnect
import sys
if "google.colab" in sys.modules:
    import pathlib, subprocess, tempfile
    from importlib import metadata
    repo = pathlib.Path.home() / "generative-models-tutorial"
    if not repo.exists():
        subprocess.run(["git", "clone", "--depth", "1", "{url}", str(repo)], check=True)
    found = {{d.metadata["Name"].lower(): d.version for d in reversed(list(metadata.distributions()))
             if d.metadata["Name"]}}         # the copy Python imports wins
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("\\n".join(f"{{name}}=={{version}}" for name, version in found.items()))
    # -c: every package already installed stays at its version; only missing ones are added
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", str(repo), "-c", constraints.name], check=True)
    sys.path.insert(0, str(repo))
    from tutorial_lib import colab
    colab.setup(keep_runs_on_drive=KEEP_RUNS_ON_DRIVE)
from tutorial_lib import runtime
runtime.announce_mode()      # a banner when the notebook runs in smoke mode'''


def setup_source() -> str:
    """The first code cell of every notebook (tests/test_notebooks.py checks they match)."""
    return _COLAB_CELL.format(url=runtime.REPO_URL)
