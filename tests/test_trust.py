"""Results name the model that made them; runs never overwrite or corrupt each other; faults get one message.

Each fault here is one a user met: a shorter re-run handed back a longer-trained model, a corrupt
checkpoint ended in torch's own advice to load unsafely, a truncated data file was reported as
"no internet", ``kl_weight=inf`` passed validation, an unusable runs folder gave a bare OSError.
"""
import errno
import os
import pickle
import shutil
import tempfile

import filelock
import pytest
import torch

from tutorial_lib import data, files, methods, parameters, runtime, training
from tutorial_lib.training import checkpoints, shipped

from test_trainer import params, same, tiny  # noqa: F401  (tiny is a fixture)



def vae():
    torch.manual_seed(0)
    return methods.build("vae", latent_dim=4, width=8)


def wgan_with_schedule():
    torch.manual_seed(0)
    return methods.build("wgan", width=8, latent_dim=8, lr_decay=True, critic_steps=1)


FIT = dict(batch_size=64, seed=1, progress=False)


# ----------------------------------------------------------------------------- resume semantics

def test_asking_for_fewer_epochs_than_a_saved_run_trains_that_many(tiny, runs_dir, capsys):
    longer = vae()
    training.fit(longer, tiny, epochs=3, **FIT)
    shorter = vae()
    history = training.fit(shorter, tiny, epochs=1, **FIT)
    out = capsys.readouterr().out
    assert "has trained 3 epochs, more than the 1 asked for" in out
    fresh = vae()
    training.fit(fresh, tiny, epochs=1, checkpoint_dir=None, **FIT)
    assert same(params(shorter), params(fresh))            # exactly a 1-epoch model
    assert not same(params(shorter), params(longer))
    assert history.run["epochs_trained"] == 1 and len(history.epochs) == 1
    assert history.run["epochs_asked"] == 1
    # the longer run is still there, untouched, and a 3-epoch request gets it back
    again = vae()
    h3 = training.fit(again, tiny, epochs=3, **FIT)
    assert same(params(again), params(longer)) and h3.run["epochs_trained"] == 3


def test_asking_for_more_epochs_extends_a_run_exactly(tiny, runs_dir, capsys):
    first = vae()
    training.fit(first, tiny, epochs=1, **FIT)
    extended = vae()
    history = training.fit(extended, tiny, epochs=2, **FIT)
    assert "Resuming vae" in capsys.readouterr().out
    fresh = vae()
    training.fit(fresh, tiny, epochs=2, checkpoint_dir=None, **FIT)
    assert same(params(extended), params(fresh))
    assert history.run["epochs_trained"] == 2 and [r["epoch"] for r in history.epochs] == [1, 2]


def test_a_schedule_over_the_run_is_never_resumed_at_another_length(tiny, runs_dir, capsys):
    # With a learning rate that decays over the run, epoch 1 of a 1-epoch run differs from epoch 1
    # of a 2-epoch run: extending it would not be what one 2-epoch run does.
    training.fit(wgan_with_schedule(), tiny, epochs=1, **FIT)
    two = wgan_with_schedule()
    history = training.fit(two, tiny, epochs=2, **FIT)
    assert "Resuming" not in capsys.readouterr().out
    fresh = wgan_with_schedule()
    training.fit(fresh, tiny, epochs=2, checkpoint_dir=None, **FIT)
    assert same(params(two), params(fresh)) and history.run["epochs_trained"] == 2
    assert len(list((runs_dir / "smoke" / "checkpoints").iterdir())) == 2


def test_a_folder_holding_other_settings_is_refused(tiny, tmp_path):
    training.fit(vae(), tiny, epochs=1, checkpoint_dir=tmp_path / "run", **FIT)
    other = methods.build("vae", latent_dim=4, width=8, kl_weight=2.0)
    with pytest.raises(ValueError, match=r"holds a run with other settings \(method: saved .*kl_weight"):
        training.fit(other, tiny, epochs=1, checkpoint_dir=tmp_path / "run", **FIT)


def test_two_processes_never_train_in_the_same_folder(tiny, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    with filelock.FileLock(str(folder / ".lock"), timeout=0):     # as another process training there would
        with pytest.raises(training.RunInUse, match=f"Another process is training this same run in {folder}"):
            training.fit(vae(), tiny, epochs=1, checkpoint_dir=folder, **FIT)
    assert not (folder / checkpoints.LAST).exists()
    training.fit(vae(), tiny, epochs=1, checkpoint_dir=folder, **FIT)  # free again afterwards
    assert (folder / checkpoints.LAST).exists()


# ----------------------------------------------------------------------------- corrupt files

class NotAllowed:
    """Pickled as a class reference: a safe loader must refuse it."""


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage_pickle(path):
    path.write_bytes(pickle.dumps(NotAllowed()))


def _empty(path):
    path.write_bytes(b"")


def _not_a_dict(path):
    torch.save(torch.zeros(3), path)


@pytest.mark.parametrize("damage", [_truncate, _garbage_pickle, _empty, _not_a_dict])
def test_a_corrupt_checkpoint_is_named_moved_aside_and_training_can_start_fresh(tiny, tmp_path, damage):
    folder = tmp_path / "run"
    training.fit(vae(), tiny, epochs=1, checkpoint_dir=folder, **FIT)
    damage(folder / checkpoints.LAST)
    bad_bytes = (folder / checkpoints.LAST).read_bytes()
    with pytest.raises(checkpoints.CorruptCheckpoint) as err:
        training.fit(vae(), tiny, epochs=2, checkpoint_dir=folder, **FIT)
    message = str(err.value)
    assert str(folder / checkpoints.LAST) in message and "moved aside" in message
    assert "train from scratch" in message and "resume=False" in message
    assert "weights_only" not in message and err.value.__cause__ is None and err.value.__suppress_context__
    kept = list(folder.glob("last.pt.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == bad_bytes           # kept, byte for byte
    history = training.fit(vae(), tiny, epochs=2, checkpoint_dir=folder, **FIT)   # run again: fresh start
    assert history.run["epochs_trained"] == 2


def test_a_checkpoint_of_another_architecture_is_refused_with_one_message(tiny, tmp_path):
    folder = tmp_path / "run"
    training.fit(vae(), tiny, epochs=1, checkpoint_dir=folder, **FIT)
    saved = checkpoints.load(folder / checkpoints.LAST)
    saved["method"] = methods.build("vae", latent_dim=6, width=8).state_dict()   # shapes that do not fit
    checkpoints.save(folder / checkpoints.LAST, saved)
    with pytest.raises(checkpoints.CorruptCheckpoint, match="does not fit this model .*moved aside"):
        training.fit(vae(), tiny, epochs=2, checkpoint_dir=folder, **FIT)


@pytest.mark.parametrize("damage", [_truncate, _garbage_pickle])
def test_a_corrupt_exported_model_names_the_file_and_how_to_remake_it(runs_dir, damage):
    path = checkpoints.export_model(vae(), "vae")
    damage(path)
    with pytest.raises(checkpoints.CorruptCheckpoint) as err:
        shipped.load_model(path)
    assert str(path) in str(err.value) and "running the notebook that trains" in str(err.value)
    assert "weights_only" not in str(err.value)
    assert not path.exists() and len(list(path.parent.glob("vae.pt.corrupt-*"))) == 1
    assert shipped.load_series_model("vae", shipped=False) is None     # the damaged file is out of the way
    assert shipped.load_series_model("vae").record["shipped"]           # 08 falls back to the shipped model


@pytest.mark.parametrize("damage, problem", [
    (lambda p: p.write_bytes(p.read_bytes()[:-1000]), "cut short"),
    (lambda p: p.write_bytes(b"<html>proxy error</html>"), "does not start with an IDX header"),
    (lambda p: p.write_bytes(p.read_bytes() + b"\0" * 10), "extra bytes"),
])
def test_a_corrupt_data_file_is_reported_as_corrupt_not_missing(tmp_path, damage, problem):
    shutil.copytree(data.SAMPLE_ROOT / "MNIST", tmp_path / "MNIST")
    images = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    damage(images)
    with pytest.raises(data.DatasetCorrupt) as err:
        data.load("mnist", "train", root=tmp_path, download=True)
    message = str(err.value)
    assert f"Dataset file {images} is corrupt" in message and problem in message
    assert f"rm '{images}'" in message and "no internet" not in message
    assert len(data.load("mnist", "test", root=tmp_path, download=False)) > 0     # the intact split still loads


# ----------------------------------------------------------------------------- parameters

@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_settings_are_rejected_when_the_model_is_configured(value):
    with pytest.raises(ValueError, match=r"kl_weight=(inf|-inf|nan) must be a number >= 0, and finite"):
        methods.VAEConfig(kl_weight=value)
    with pytest.raises(ValueError, match=r"lr=(inf|-inf|nan) must be a positive number, and finite"):
        methods.GANConfig(lr=value)


# ----------------------------------------------------------------------------- the runs folder

def test_a_runs_folder_under_a_missing_parent_gets_one_message(tiny, monkeypatch, tmp_path):
    missing = tmp_path / "not-mounted" / "runs"
    monkeypatch.setenv("TUTORIAL_RUNS", str(missing))
    with pytest.raises(files.RunsFolderError) as err:
        training.fit(vae(), tiny, epochs=1, **FIT)
    message = str(err.value)
    assert f"TUTORIAL_RUNS={missing}" in message and "does not exist" in message
    assert not missing.exists()


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "No space left on device"),
                                         (errno.EROFS, "Read-only file system"),
                                         (errno.EACCES, "Permission denied")])
def test_a_full_or_read_only_runs_folder_gets_one_message_and_keeps_the_last_checkpoint(
        tiny, runs_dir, monkeypatch, code, words):
    model = vae()
    training.fit(model, tiny, epochs=1, **FIT)
    folder = next((runs_dir / "smoke" / "checkpoints").iterdir())
    before = (folder / checkpoints.LAST).read_bytes()

    def failing_fsync(fd):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(runtime.os, "fsync", failing_fsync)
    with pytest.raises(files.RunsFolderError) as err:
        training.fit(vae(), tiny, epochs=2, **FIT)
    message = str(err.value)
    assert words in message and "TUTORIAL_RUNS" in message and str(folder) in message
    assert (folder / checkpoints.LAST).read_bytes() == before                 # nothing lost
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]        # no half-written file left


# ----------------------------------------------------------------------------- provenance

def test_exported_models_carry_their_record_and_variants_never_replace_the_series_model(tiny, runs_dir, capsys):
    model = vae()
    history = training.fit(model, tiny, epochs=1, **FIT)
    defaults = parameters.NotebookParameters("04_vae", {"kl_weight": 1.0, "epochs": 1})
    own = checkpoints.export_model(model, "vae", history=history, params=defaults)
    own_bytes = own.read_bytes()

    variant_model = methods.build("vae", latent_dim=4, width=8, kl_weight=4.0)
    changed = parameters.NotebookParameters("04_vae", {"kl_weight": 4.0, "epochs": 1}, {"kl_weight": 4.0})
    variant = checkpoints.export_model(variant_model, "vae", history=history, params=changed)
    assert variant != own and variant.parent.name == "variants"
    assert own.read_bytes() == own_bytes
    assert "kept apart" in capsys.readouterr().out

    loaded = shipped.load_series_model("vae")
    line = capsys.readouterr().out
    assert loaded.record["epochs_trained"] == 1 and loaded.record["changed_parameters"] == {}
    assert "04_vae at its default parameters" in line and "1 epoch on mnist-sample/train" in line
    assert "on CPU" in line and "SMOKE MODE" in line


def test_changed_parameters_are_found_against_the_notebook_defaults():
    namespace = {"epochs": runtime.pick(10, 1), "kl_weight": 1, "results_json": "x.json", "device": "cpu"}
    assert parameters.notebook_parameters("04_vae", namespace).changed == {}      # where-only and 1 == 1.0
    namespace["kl_weight"] = 4.0
    assert parameters.notebook_parameters("04_vae", namespace).changed == {"kl_weight": 4.0}


def test_results_files_carry_the_model_and_the_epochs_actually_trained(tiny, tmp_path):
    history = training.fit(vae(), tiny, epochs=2, checkpoint_dir=None, **FIT)
    path = tmp_path / "r.json"
    files.write_results(path, {"headline": "x", "x": 1.0}, model=history.run,
                          params=parameters.NotebookParameters("04_vae", {"epochs": 2}, {"epochs": 2}))
    import json
    record = json.loads(path.read_text())
    assert record["epochs_trained"] == 2 and record["model"]["config"]["latent_dim"] == 4
    assert record["model"]["device"] == "cpu" and record["at_defaults"] is False
    assert record["model"]["finished_at"] >= record["model"]["started_at"]


def test_the_tests_write_nothing_to_the_system_temp_folder():
    # conftest points TMPDIR (and with it pytest's and every kernel's temp files) at one folder
    # that it removes when the session ends.
    assert tempfile.gettempdir() == os.environ["TMPDIR"]
    assert os.environ["TUTORIAL_RUNS"].startswith(os.environ["TMPDIR"])
