"""The command lines end in one line: every failure they expect (bad input, a damaged or missing
file, no data, a folder they cannot write, a missing package, a failed notebook or run) prints
exactly one ``error: ...`` line on stderr and exits non-zero, with no traceback; ``--debug`` shows
the traceback instead. Also: ``pretrained sample`` writes its file one batch at a time.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
import torchvision

from tutorial_lib import runtime
from tutorial_lib.training import checkpoints, shipped
from tutorial_lib.commands import jobs, pretrained, sweep

SHIPPED = Path(shipped.__file__).parent.parent / "shipped"      # tutorial_lib/shipped, what the repository ships
needs_shipped = pytest.mark.skipif(not shipped.read_index(SHIPPED)["models"], reason="no models ship here")


def run(main, argv, capsys) -> tuple[int, str]:
    """``main(argv)``'s exit status (returned, or raised as SystemExit as argparse does) and its stderr."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def assert_one_error_line(code, err: str, says: str = "", status: int = 2) -> None:
    assert code == status, (code, err)
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and says in err, err


@pytest.fixture
def shipped_vae(tmp_path, monkeypatch):
    """A copy of the shipped index and VAE in a folder of its own, which the package then reads."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    index = shipped.read_index(SHIPPED)
    shutil.copy(SHIPPED / shipped.INDEX, folder)
    file = folder / index["models"][index["names"]["vae"]]["file"]
    shutil.copy(SHIPPED / file.name, file)
    monkeypatch.setenv(shipped.SHIPPED_ENV, str(folder))
    return file


def damage(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


def sample_args(out: Path, *extra: str) -> list[str]:
    return ["sample", "vae", "--n", "5", "--out", str(out), *extra]


# ----------------------------------------------------------------------------- pretrained: sample, list


@needs_shipped
def test_sample_with_a_damaged_shipped_file_is_one_line(shipped_vae, tmp_path, capsys):
    damage(shipped_vae)
    code, err = run(pretrained.main, sample_args(tmp_path / "x.pt"), capsys)
    assert_one_error_line(code, err, "does not match the SHA-256")
    assert not (tmp_path / "x.pt").exists()


@needs_shipped
def test_sample_with_a_damaged_shipped_file_prints_no_traceback_in_a_real_process(shipped_vae, tmp_path):
    damage(shipped_vae)
    done = subprocess.run([sys.executable, "-m", "tutorial_lib.commands.pretrained", *sample_args(tmp_path / "x.pt")],
                          capture_output=True, text=True, cwd=runtime.REPO_ROOT, env=os.environ.copy())
    assert_one_error_line(done.returncode, done.stderr, "git checkout")


@needs_shipped
def test_debug_shows_the_traceback_instead(shipped_vae, tmp_path, capsys):
    damage(shipped_vae)
    with pytest.raises(checkpoints.CorruptCheckpoint):
        pretrained.main(sample_args(tmp_path / "x.pt", "--debug"))
    done = subprocess.run([sys.executable, "-m", "tutorial_lib.commands.pretrained", "--debug",
                           *sample_args(tmp_path / "x.pt")],
                          capture_output=True, text=True, cwd=runtime.REPO_ROOT, env=os.environ.copy())
    assert done.returncode != 0 and "Traceback" in done.stderr and "CorruptCheckpoint" in done.stderr


@needs_shipped
def test_sample_with_a_missing_shipped_file_is_one_line(shipped_vae, tmp_path, capsys):
    shipped_vae.unlink()
    assert_one_error_line(*run(pretrained.main, sample_args(tmp_path / "x.pt"), capsys), "is listed in")


@needs_shipped
def test_an_unknown_model_is_one_line_naming_the_choices(shipped_vae, tmp_path, capsys):
    code, err = run(pretrained.main, ["sample", "vea", "--n", "5", "--out", str(tmp_path / "x.pt")], capsys)
    assert_one_error_line(code, err, "choose one of aegan, gan, vae, wgan")


@pytest.mark.parametrize("argv, says", [
    ([], "required: command"),
    (["sample", "vae"], "required: --n, --out"),
    (["sample", "vae", "--n", "x", "--out", "x.pt"], "invalid int value: 'x'"),
    (["sample", "vae", "--n", "2.5", "--out", "x.pt"], "invalid int value: '2.5'"),
    (["sample", "vae", "--n", "5", "--seed", "one", "--out", "x.pt"], "invalid int value: 'one'"),
    (["sample", "vae", "--n", "5", "--out", "x.pt", "--device", "tpu"], "--device='tpu'"),
    (["list", "--all"], "unrecognized arguments: --all"),
    (["build", "--device", "tpu"], "--device='tpu'"),
])
def test_bad_arguments_are_one_line(argv, says, capsys):
    assert_one_error_line(*run(pretrained.main, argv, capsys), says)


@needs_shipped
@pytest.mark.parametrize("where", ["under a file", "a folder", "png under a file"])
def test_an_output_it_cannot_write_is_refused_before_sampling(shipped_vae, tmp_path, capsys, where):
    (tmp_path / "file").write_text("in the way")
    out, png = tmp_path / "x.pt", []
    if where == "under a file":
        out = tmp_path / "file" / "x.pt"
    elif where == "a folder":
        out = tmp_path
    else:
        png = ["--png", str(tmp_path / "file" / "grid.png")]
    code, err = run(pretrained.main, sample_args(out, *png), capsys)
    assert_one_error_line(code, err, "--png" if png else "--out")
    assert not (tmp_path / "x.pt").exists()


@needs_shipped
def test_more_samples_than_memory_holds_are_refused_with_the_size(shipped_vae, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pretrained, "available_memory", lambda: 10**7)              # 10 MB available
    code, err = run(pretrained.main, ["sample", "vae", "--n", "2000", "--out", str(tmp_path / "x.pt")], capsys)
    assert_one_error_line(code, err, "2,000 samples take 6.3 MB (2,000 × 784 × 4 bytes) but this machine has 10.0 MB")
    assert "at most 1,594 per file" in err
    assert list(tmp_path.iterdir()) == [tmp_path / "shipped"]          # no file, no partial file


def test_list_with_a_damaged_index_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / shipped.INDEX).write_text('{"models": {')
    monkeypatch.setenv(shipped.SHIPPED_ENV, str(tmp_path))
    assert_one_error_line(*run(pretrained.main, ["list"], capsys), "is not readable JSON")


@needs_shipped
def test_sample_writes_in_batches_what_sample_returns(shipped_vae, tmp_path):
    """2,500 samples cross two batch boundaries: the file holds exactly ``sample(name, n, seed)``."""
    out = tmp_path / "x.pt"
    assert pretrained.main(["sample", "vae", "--n", "2500", "--seed", "4", "--out", str(out)]) == 0
    expected = shipped.sample("vae", 2500, seed=4)
    x = torch.load(out)
    assert x.shape == (2500, 1, 28, 28) and x.dtype == torch.float32 and torch.equal(x, expected)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []     # no partial file left


PEAK_MEMORY = """
import resource, sys
import torch
from tutorial_lib import metrics, plots
from tutorial_lib.commands import pretrained
from tutorial_lib.training import shipped

class Noise(torch.nn.Module):                    # a model that costs nothing to sample
    def sample(self, n):
        return torch.rand(n, 1, 28, 28) * 2 - 1

shipped.load = lambda name, device="cpu": Noise()
shipped.resolve = lambda name: name
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pretrained.main(["sample", "noise", "--n", sys.argv[2], "--out", sys.argv[1]])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_sample_holds_the_tensor_and_one_batch_in_memory(tmp_path):
    """100,000 samples are a 314 MB tensor; writing them raises the peak memory by that and one batch
    (1,000 samples, 3 MB). Collecting the batches, then ``torch.cat`` and ``torch.save``, as the old
    code did, raised it by twice the tensor (670 MB measured)."""
    out = tmp_path / "x.pt"
    done = subprocess.run([sys.executable, "-c", PEAK_MEMORY, str(out), "100000"], capture_output=True, text=True,
                          cwd=runtime.REPO_ROOT, env=os.environ.copy(), check=True)
    grown_mb = int(done.stdout.split()[-1]) / 1024
    tensor_mb = 100_000 * 784 * 4 / 2**20
    assert out.stat().st_size > 100_000 * 784 * 4 and grown_mb < 1.25 * tensor_mb, grown_mb


# ----------------------------------------------------------------------------- pretrained: build


@pytest.fixture
def build_argv(tmp_path, monkeypatch):
    """``build`` of notebook 04 into a temporary shipped folder and runs folder."""
    monkeypatch.setenv(shipped.SHIPPED_ENV, str(tmp_path / "shipped"))
    (tmp_path / "file").write_text("in the way")
    return ["build", "--only", "04", "--runs", str(tmp_path / "runs"), "--device", "cpu"]


@pytest.fixture
def build_env(build_argv, monkeypatch):
    """As ``build_argv``, with every notebook failing at once (a stub, no kernel)."""
    def fails(source, output, parameters=None, progress=False, env=None):
        return jobs.Outcome(source.stem, False, 0.0, output.with_name(f"{output.stem}.failed.ipynb"),
                              "PapermillExecutionError: boom")
    monkeypatch.setattr(jobs, "run_notebook", fails)
    return build_argv


def test_a_notebook_that_fails_in_build_is_one_line_naming_its_log(build_env, tmp_path, capsys):
    code, err = run(pretrained.main, build_env, capsys)
    assert_one_error_line(code, err, "04_vae failed (PapermillExecutionError: boom)", status=1)
    assert str(tmp_path / "runs" / "build" / "04_vae.failed.ipynb") in err


def test_build_without_the_data_is_one_line(build_env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(runtime.SMOKE_ENV, "0")                   # full mode: MNIST itself
    monkeypatch.setenv("DATA_ROOT", str(tmp_path / "no-data"))
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [])   # offline, whatever the machine
    assert_one_error_line(*run(pretrained.main, build_env, capsys), "Dataset 'mnist' is not under")


def test_build_without_papermill_is_one_line(build_argv, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "papermill", None)          # the real run_notebook imports it: it fails
    assert_one_error_line(*run(pretrained.main, build_argv, capsys), "pip install")


@pytest.mark.parametrize("folder", ["shipped", "runs"])
def test_build_into_a_folder_it_cannot_write_is_one_line(build_env, tmp_path, capsys, monkeypatch, folder):
    argv = list(build_env)
    if folder == "shipped":
        monkeypatch.setenv(shipped.SHIPPED_ENV, str(tmp_path / "file" / "shipped"))
    else:
        argv[argv.index("--runs") + 1] = str(tmp_path / "file" / "runs")
    code, err = run(pretrained.main, argv, capsys)
    assert_one_error_line(code, err, shipped.SHIPPED_ENV if folder == "shipped" else "--runs")


# ----------------------------------------------------------------------------- sweep


def tiny_notebook(path: Path) -> Path:
    """A notebook with parameters x and seed that fails for x < 0 and records y = 10 x + seed."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1\nseed = 0\nresults_json = ''\nfigures_dir = ''")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "from tutorial_lib import checks, files\nchecks.check_positive('x', x)\n"
        "files.write_results(results_json, {'headline': 'y', 'y': x * 10 + seed})")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def notebook(tmp_path):
    return tiny_notebook(tmp_path / "tiny.ipynb")


@pytest.mark.parametrize("argv, says", [
    ([], "required: notebook"),
    (["missing.ipynb", "--grid", "x=1"], "no such notebook"),
    (["{nb}"], "give at least one --grid"),
    (["{nb}", "--grid", "x=1,,2"], "has an empty value"),
    (["{nb}", "--grid", "x=1", "--executor", "pbs"], "invalid choice: 'pbs'"),
    (["{nb}", "--grid", "x=1", "--jobs", "0"], "must be at least 1"),
    (["{nb}", "--grid", "x=1", "--jobs", "two"], "invalid int value: 'two'"),
    (["{nb}", "--grid", "x=1", "--grid", "x=2"], "x is given twice"),
    (["{nb}", "--grid", "x=1", "-p", "x=2"], "x is given twice"),
    (["{nb}", "--grid", "lr=1,2"], "no parameter lr: choose from those it declares, x, seed"),
])
def test_a_bad_sweep_spec_is_one_line(notebook, tmp_path, capsys, argv, says):
    argv = [a.replace("{nb}", str(notebook)) for a in argv] + ["--out", str(tmp_path / "out")]
    assert_one_error_line(*run(sweep.main, argv, capsys), says)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("executor, missing", [("local", "papermill"), ("submitit-local", "submitit")])
def test_a_missing_package_is_one_line_naming_the_install(notebook, tmp_path, capsys, monkeypatch, executor, missing):
    monkeypatch.setitem(sys.modules, missing, None)
    argv = [str(notebook), "--grid", "x=1", "--executor", executor, "--out", str(tmp_path / "out")]
    assert_one_error_line(*run(sweep.main, argv, capsys), f"needs {missing}, which is not installed here: pip install")


def test_slurm_without_a_slurm_cluster_is_one_line(notebook, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    argv = [str(notebook), "--grid", "x=1", "--executor", "slurm", "--out", str(tmp_path / "out")]
    assert_one_error_line(*run(sweep.main, argv, capsys), "--executor submitit-local")


def test_an_out_folder_it_cannot_write_is_one_line_naming_out(notebook, tmp_path, capsys):
    (tmp_path / "file").write_text("in the way")
    argv = [str(notebook), "--grid", "x=1", "--out", str(tmp_path / "file" / "out")]
    assert_one_error_line(*run(sweep.main, argv, capsys), "give --out a folder you can write to")


def test_failed_runs_end_in_one_line_with_status_1(notebook, tmp_path, capsys):
    code, err = run(sweep.main, [str(notebook), "--grid", "x=1,-1", "--out", str(tmp_path / "out")], capsys)
    assert_one_error_line(code, err, "1 of 2 runs failed", status=1)
    assert str(tmp_path / "out" / "notebooks") in err


def test_sweep_debug_shows_the_traceback_and_a_real_process_shows_one_line(notebook, tmp_path):
    with pytest.raises(ValueError, match="no such notebook"):
        sweep.main([str(tmp_path / "missing.ipynb"), "--grid", "x=1", "--debug"])
    done = subprocess.run([sys.executable, "-m", "tutorial_lib.commands.sweep", str(notebook), "--grid", "x=1",
                           "--executor", "slurm", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=runtime.REPO_ROOT,
                          env={**os.environ, "PATH": str(Path(sys.executable).parent)})
    assert_one_error_line(done.returncode, done.stderr, "needs a Slurm cluster")
