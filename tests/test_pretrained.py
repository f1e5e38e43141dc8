"""Shipped models: found for exactly their settings, checked, loaded instead of training; the CLI.

The first tests make a tiny shipped model from a real (one-epoch, sample-data) run in a temporary
folder and check what ``fit(..., shipped=True)`` does with it. The last ones check the models that
actually ship in ``tutorial_lib/shipped/``: files, checksums, size, keys and settings.
"""
import json
import os
import math
from pathlib import Path

import pytest
import torch

from tutorial_lib import data, files, methods, parameters, runtime, training
from tutorial_lib.training import checkpoints, shipped
from tutorial_lib.commands import jobs, pretrained

SMALL = dict(latent_dim=2)


def _fit(model, train, **kwargs):
    return training.fit(model, train, epochs=1, batch_size=64, seed=0, progress=False, **kwargs)


@pytest.fixture
def shipped_folder(tmp_path, monkeypatch, runs_dir, one_thread):
    """A shipped folder holding one tiny VAE, made by ship_run from a real one-epoch run."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    monkeypatch.setenv(shipped.SHIPPED_ENV, str(folder))
    train = data.load("mnist-sample", "train", limit=256)
    torch.manual_seed(0)
    model = methods.VAE(methods.VAEConfig(**SMALL))
    history = _fit(model, train)
    run_dir = Path(history.run["run_dir"])
    record = pretrained.ship_run(run_dir, "04_vae", "vae", folder, torch.device("cpu"), measure=False)
    index = {"models": {record["key"]: record}, "names": {"vae": record["key"]}}
    (folder / shipped.INDEX).write_text(json.dumps(index))
    return folder, train, model, history, record


def test_fit_loads_the_shipped_model_for_its_settings_instead_of_training(shipped_folder, capsys):
    folder, train, trained, history, record = shipped_folder
    assert record["key"] == Path(history.run["run_dir"]).name and record["stored_as"] == "float16"
    torch.manual_seed(1)                                   # other initial weights: loading must replace them
    fresh = methods.VAE(methods.VAEConfig(**SMALL))
    capsys.readouterr()
    loaded = _fit(fresh, train, shipped=True, checkpoint_dir=None)
    out = capsys.readouterr().out
    assert "Loaded the shipped model instead of training" in out and "train_from_scratch=True" in out
    for (name, a), b in zip(trained.state_dict().items(), fresh.state_dict().values()):
        if a.is_floating_point():                           # float16 storage: equal to its rounding
            assert torch.equal(a.half().float(), b), name
    assert loaded.logs == history.logs and loaded.epochs == history.epochs
    assert loaded.run["shipped"] and loaded.run["epochs_trained"] == 1


@pytest.mark.parametrize("change", ["epochs", "batch_size", "config", "data"])
def test_other_settings_never_load_the_shipped_model(shipped_folder, change, capsys):
    folder, train, trained, history, record = shipped_folder
    torch.manual_seed(1)
    config = dict(SMALL, kl_weight=0.5) if change == "config" else SMALL
    fresh = methods.VAE(methods.VAEConfig(**config))
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    kwargs = dict(epochs=2 if change == "epochs" else 1, batch_size=32 if change == "batch_size" else 64)
    split = train.take(192) if change == "data" else train
    hist = training.fit(fresh, split, seed=0, progress=False, checkpoint_dir=None, shipped=True, **kwargs)
    assert "Loaded the shipped" not in capsys.readouterr().out
    assert not hist.run.get("shipped") and hist.run["epochs_trained"] == kwargs["epochs"]
    assert any(not torch.equal(before[k], v) for k, v in fresh.state_dict().items())     # it trained


def test_shipped_false_trains_even_where_a_shipped_model_fits(shipped_folder, capsys):
    folder, train, *_ = shipped_folder
    hist = _fit(methods.VAE(methods.VAEConfig(**SMALL)), train, checkpoint_dir=None)
    assert not hist.run.get("shipped") and "Loaded the shipped" not in capsys.readouterr().out


def test_a_damaged_shipped_file_is_refused_with_one_message(shipped_folder):
    folder, train, _, _, record = shipped_folder
    path = folder / record["file"]
    blob = bytearray(path.read_bytes())
    blob[-100] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(checkpoints.CorruptCheckpoint, match="SHA-256.*train_from_scratch=True"):
        _fit(methods.VAE(methods.VAEConfig(**SMALL)), train, shipped=True, checkpoint_dir=None)


def test_load_series_model_falls_back_to_the_shipped_one(shipped_folder, capsys):
    folder, *_ = shipped_folder
    model = shipped.load_series_model("vae")
    assert model is not None and model.record["shipped"] and "loaded the shipped model" in capsys.readouterr().out
    assert shipped.load_series_model("vae", shipped=False) is None


def test_sample_command_writes_n_images_in_range_and_a_png(shipped_folder, tmp_path, capsys):
    out, png = tmp_path / "x.pt", tmp_path / "grid.png"
    assert pretrained.main(["sample", "vae", "--n", "70", "--out", str(out), "--seed", "3", "--png", str(png)]) == 0
    x = torch.load(out)
    assert x.shape == (70, 1, 28, 28) and x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    assert (x[0] - x[1]).abs().max() > 1e-3 and png.stat().st_size > 0    # distinct samples, not one image
    pretrained.main(["sample", "vae", "--n", "70", "--out", str(tmp_path / "y.pt"), "--seed", "3"])
    assert torch.equal(torch.load(tmp_path / "y.pt"), x)          # the seed fixes the samples


@pytest.mark.parametrize("args, message", [(["sample", "nope", "--n", "5"], "no shipped model named 'nope'"),
                                           (["sample", "vae", "--n", "0"], "--n=0 must be a positive integer"),
                                           (["sample", "vae", "--n", "-3"], "--n=-3 must be a positive integer")])
def test_sample_command_refuses_bad_input_with_one_message(shipped_folder, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        pretrained.main(args + ["--out", str(tmp_path / "x.pt")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.pt").exists()


def test_ship_run_measures_the_stored_weights_fd(shipped_folder, tmp_path):
    folder, train, trained, history, record = shipped_folder
    measured = pretrained.ship_run(Path(history.run["run_dir"]), "04_vae", "vae", tmp_path, torch.device("cpu"))
    test = data.load("mnist-sample", "test")
    assert measured["fd"]["n"] == min(pretrained.FD_N, len(test)) and measured["fd"]["seeds"] == [0, 1, 2]
    assert 0 < measured["fd"]["mean"] < 1e4 and measured["sha256"] == record["sha256"]   # same bytes


def test_ship_run_refuses_an_unfinished_run(tmp_path, runs_dir, one_thread):
    train = data.load("mnist-sample", "train", limit=256)
    model = methods.VAE(methods.VAEConfig(**SMALL))
    history = training.fit(model, train, epochs=1, batch_size=64, seed=0, progress=False)
    run_dir = Path(history.run["run_dir"])
    ckpt = torch.load(run_dir / checkpoints.LAST, weights_only=True)
    ckpt["history"]["run"]["epochs_asked"] = 3                     # as if stopped after 1 of 3 epochs
    checkpoints.save(run_dir / checkpoints.LAST, ckpt)
    with pytest.raises(ValueError, match="not a finished run"):
        pretrained.ship_run(run_dir, "04_vae", None, tmp_path, torch.device("cpu"))


def test_ship_run_files_a_model_with_nothing_to_sample_with_its_test_accuracy(tmp_path, runs_dir, one_thread):
    """11's labels-only baseline has no generator: it ships without an FD, its last test accuracy in the record."""
    from tutorial_lib.methods import ssgan
    train, test = data.load("mnist-sample", "train", limit=300), data.load("mnist-sample", "test")
    torch.manual_seed(0)
    model = methods.SSGAN(methods.SSGANConfig(n_labels=20, gan=False, d_hidden=(32,), polyak_decay=0.0))
    model.attach_labels(train)
    history = training.fit(model, train, epochs=1, batch_size=50, seed=0, progress=False, callbacks=[
        training.callbacks.EpochMetric(lambda m: {"test_accuracy": ssgan.test_accuracy(m, test)})])
    record = pretrained.ship_run(Path(history.run["run_dir"]), "11_semi_supervised_gan", None, tmp_path,
                                 torch.device("cpu"))
    assert record["fd"] is None
    assert record["final_epoch"]["test_accuracy"] == history.epochs[-1]["test_accuracy"]
    assert f"test accuracy {100 * history.epochs[-1]['test_accuracy']:.2f} %" in shipped.summary(record)


# ----------------------------------------------------------------------------- what actually ships

INDEX = shipped.read_index(Path(shipped.__file__).parent.parent / "shipped")
SHIPPED = Path(shipped.__file__).parent.parent / "shipped"      # tutorial_lib/shipped, what the repository ships
needs_shipped = pytest.mark.skipif(not INDEX["models"], reason="no models shipped in this checkout")


@needs_shipped
def test_the_series_models_ship_within_the_size_limit_with_good_checksums():
    assert set(methods.SERIES) <= set(INDEX["names"])     # every model the series trains
    total = sum(p.stat().st_size for p in SHIPPED.iterdir() if p.is_file())
    assert total <= pretrained.MAX_BYTES
    for key, record in INDEX["models"].items():
        path = SHIPPED / record["file"]
        assert shipped.sha256(path) == record["sha256"], key
        run = record["run"]
        assert key == checkpoints.run_key(record["method"], record["run_config"]) == record["key"]
        assert record["run_config"]["method"] == record["config"]
        assert run["epochs_trained"] == run["epochs_asked"] and not record["smoke"]
        assert run["device_name"] and run["train_seconds"] > 0 and run["finished_at"]


@needs_shipped
def test_shipped_records_match_their_notebooks_defaults(monkeypatch):
    """A shipped model's settings are its notebook's defaults (full mode): a recipe change that
    forgot to rebuild the shipped models fails here."""
    monkeypatch.delenv(runtime.SMOKE_ENV, raising=False)
    for name, key in INDEX["names"].items():
        record = INDEX["models"][key]
        defaults = parameters.notebook_defaults(record["notebook"])
        run = record["run"]
        assert run["dataset"] == f"{defaults['dataset']}/train" and run["seed"] == defaults["seed"]
        assert run["batch_size"] == defaults["batch_size"] and defaults["train_limit"] == 0
        for field, value in record["config"].items():
            if field in defaults:
                assert value == defaults[field], (name, field, value, defaults[field])
        assert record["fd"]["n"] == 10_000 and math.isfinite(record["fd"]["mean"])


def test_a_failed_notebook_in_build_keeps_its_old_models_and_the_build_exits_nonzero(tmp_path, monkeypatch):
    """build goes on past a notebook that fails, keeps what that notebook shipped before, and then
    raises BuildFailed with every failure's message (the command line prints it as one line, exit 1)."""
    out = tmp_path / "shipped"
    out.mkdir()
    (out / "old.pt").write_bytes(b"weights")
    old = {"key": "old", "notebook": "04_vae", "name": "vae", "file": "old.pt"}
    (out / shipped.INDEX).write_text(json.dumps({"models": {"old": old}, "names": {"vae": "old"}}))

    def fails(source, output, parameters=None, progress=False, env=None):
        return jobs.Outcome(source.stem, False, 0.0, output, "PapermillExecutionError: boom")
    monkeypatch.setattr(jobs, "run_notebook", fails)
    environment = dict(os.environ)
    with pytest.raises(pretrained.BuildFailed,
                       match=r"04_vae failed \(PapermillExecutionError: boom\).*nothing was shipped"):
        pretrained.build(["04_vae"], runs=tmp_path / "runs", out=out, device="cpu", progress=False)
    assert dict(os.environ) == environment             # the kernels get their settings; this process is unchanged
    assert json.loads((out / shipped.INDEX).read_text())["models"] == {"old": old}
    assert (out / "old.pt").exists()


def test_build_gives_the_kernels_absolute_folders_when_asked_for_relative_ones(tmp_path, monkeypatch):
    """The kernels run in notebooks/: a relative --runs handed on as it was named a folder that does not
    exist there (the first build of 11 stopped at its first checkpoint with RunsFolderError)."""
    out = tmp_path / "shipped"
    out.mkdir()
    seen = {}

    def records(source, output, parameters=None, progress=False, env=None):
        seen.update(env)
        return jobs.Outcome(source.stem, False, 0.0, output, "stopped by the test")
    monkeypatch.setattr(jobs, "run_notebook", records)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pretrained.BuildFailed):
        pretrained.build(["04_vae"], runs=Path("relative-runs"), out=Path("shipped"), device="cpu", progress=False)
    assert Path(seen[files.RUNS_ENV]) == tmp_path / "relative-runs"
    assert Path(seen[shipped.SHIPPED_ENV]).is_absolute()


def test_a_build_keeps_the_models_another_build_shipped_while_it_ran(tmp_path, monkeypatch):
    """Two builds side by side (e.g. 05 and 11): each writes the index as it finds it at its end."""
    out = tmp_path / "shipped"
    out.mkdir()
    (out / shipped.INDEX).write_text(json.dumps({"models": {}, "names": {}}))
    other = {"key": "ssgan-x", "notebook": "11_semi_supervised_gan", "name": None, "file": "ssgan-x.pt"}

    def meanwhile(source, output, parameters=None, progress=False, env=None):
        (out / "ssgan-x.pt").write_bytes(b"weights")      # the other build finishes first
        (out / shipped.INDEX).write_text(json.dumps({"models": {"ssgan-x": other}, "names": {}}))
        return jobs.Outcome(source.stem, False, 0.0, output, "stopped by the test")
    monkeypatch.setattr(jobs, "run_notebook", meanwhile)
    with pytest.raises(pretrained.BuildFailed):
        pretrained.build(["05_gan"], runs=tmp_path / "runs", out=out, device="cpu", progress=False)
    assert json.loads((out / shipped.INDEX).read_text())["models"] == {"ssgan-x": other}
    assert (out / "ssgan-x.pt").exists()


def test_a_shipped_file_keeps_the_image_grids_the_strip_shows_and_every_toy_epoch():
    grids = {e: torch.zeros(64, 1, 28, 28, dtype=torch.uint8) for e in range(1, 31)}
    kept = pretrained.strip_samples(grids)
    from tutorial_lib import plots
    assert sorted(kept) == plots.strip_epochs(range(1, 31)) and len(kept) == plots.STRIP_EPOCHS
    assert 1 in kept and 30 in kept
    few = {e: grids[e] for e in range(1, 6)}
    assert sorted(pretrained.strip_samples(few)) == [1, 2, 3, 4, 5]
    points = {e: torch.zeros(500, 2) for e in range(1, 31)}
    assert sorted(pretrained.strip_samples(points)) == list(range(1, 31))


def test_a_run_that_moved_between_devices_says_where_each_stretch_trained():
    moved = {"device_name": "CPU", "epochs_trained": 100,
             "devices": [{"device": "NVIDIA H100 80GB HBM3", "from_epoch": 0}, {"device": "CPU", "from_epoch": 98}]}
    assert checkpoints.where_trained(moved) == "NVIDIA H100 80GB HBM3 (epochs 1-98), then CPU (epochs 99-100)"
    assert checkpoints.where_trained({"device_name": "CPU", "devices": [{"device": "CPU", "from_epoch": 0}]}) == "CPU"
    assert checkpoints.where_trained({"device": "cpu"}) == "cpu"                 # records older than the list
