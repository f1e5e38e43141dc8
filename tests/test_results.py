"""The results page (docs/results.md) is generated from a run folder: every notebook's figures, 10's and
11's per-model tables included; nothing is written unless the whole page rendered; a smoke run never
reaches docs/."""
import json

import pytest

from tutorial_lib.commands import results


def make_run(tmp_path, mode, note=""):
    run = tmp_path / "series-1"
    (run / "results").mkdir(parents=True)
    (run / "figures").mkdir()
    (run / "figures" / "vae_samples.png").write_bytes(b"\x89PNG fake")
    pair = lambda m: [m, m / 10]
    compare = {"date": "2026-11-23", "device": "H100", "dataset": "mnist", "n": 10000, "seeds": [0, 1, 2],
               "floor": {k: pair(1.0) for k in ("FD", "KID", "precision", "recall", "classifier score")},
               "models": {"aegan": {k: pair(4.0) for k in ("FD", "KID", "precision", "recall", "classifier score")},
                          "vae": {k: pair(20.0) for k in ("FD", "KID", "precision", "recall", "classifier score")}},
               "vae_test_nelbo": 99.5, "briefly_trained": [], "inception_fid": {},
               "made_by": {"vae": {"epochs_trained": 10, "device_name": "NVIDIA H100 80GB HBM3",
                                   "finished_at": "2026-11-23T10:20:00"}}}
    (run / "results" / "08_compare.json").write_text(json.dumps(compare))
    (run / "results" / "04_vae.json").write_text(json.dumps({"seconds_per_epoch": 0.5}))
    (run / "summary.json").write_text(json.dumps({"mode": mode, "seconds": 300, "note": note, "notebooks": [
        {"name": "04_vae", "ok": True, "seconds": 30.0, "error": ""}]}))
    return run


def test_results_page_holds_the_table_with_device_date_and_figures(tmp_path):
    run = make_run(tmp_path, "full")
    assert results.main([str(run), "--docs", str(tmp_path / "docs")]) == 0
    page = (tmp_path / "docs" / "results.md").read_text()
    assert "**Date:** 2026-11-23" in page and "**Machine:** H100" in page
    lines = page.splitlines()
    header = next(line for line in lines if line.startswith("| model |"))
    assert header == ("| model | FD | KID | precision | recall | classifier score | FD / floor | epochs trained "
                      "| trained on |")
    vae_row = next(line for line in lines if line.startswith("| VAE (04)"))
    aegan_row = next(line for line in lines if line.startswith("| AEGAN (07)"))
    assert lines.index(vae_row) < lines.index(aegan_row)           # the series' order, not alphabetical
    assert vae_row.endswith("| 20.0 | 10 | NVIDIA H100 80GB HBM3, 2026-11-23T10:20:00 |") and "20 ± 2" in vae_row
    assert aegan_row.endswith("| 4.0 | ? | ?, ? |")                # no record: says so, invents nothing
    assert "99.5 nats" in page and "![vae_samples.png](figures/vae_samples.png)" in page
    assert (tmp_path / "docs" / "figures" / "vae_samples.png").exists()


def test_a_smoke_run_never_reaches_docs_but_renders_elsewhere(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path, "smoke")
    docs = tmp_path / "docs"
    monkeypatch.setattr(results, "DOCS", docs)                  # stands for the repository's docs/
    assert results.main([str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--out" in err and len(err.strip().splitlines()) == 1
    assert not docs.exists()                                     # not even the figures
    assert results.main([str(run), "--out", str(tmp_path / "page")]) == 0
    assert "smoke mode" in (tmp_path / "page" / "results.md").read_text()


def add_conditional_and_semi_supervised(run):
    """Results files shaped as notebooks 10 and 11 write them (per-model dicts, not one number)."""
    (run / "results" / "10_conditional_gans.json").write_text(json.dumps({
        "headline": "top1", "epochs_trained": 3, "seconds_per_epoch": {"CVAE": 1.5, "CVAE-GAN": 2.25},
        "table": {"CVAE": {"top1": 0.75, "top1_std": 0.125, "FD": 40.0},
                  "CVAE-GAN": {"top1": 0.9375, "top1_std": 0.0625, "FD": 20.0}}}))
    (run / "results" / "11_semi_supervised_gan.json").write_text(json.dumps({
        "headline": "ssgan_accuracy_100_mean", "ssgan_accuracy_100_mean": 0.98,
        "seconds_per_epoch": {"ssgan": 30.5, "labels only": 1.25},
        "runs": {"100/0/ssgan": 0.98, "100/0/labels only": 0.75, "200/1/ssgan": 0.99}}))
    summary = json.loads((run / "summary.json").read_text())
    summary["notebooks"] += [{"name": "10_conditional_gans", "ok": True, "seconds": 90.0, "error": ""},
                             {"name": "11_semi_supervised_gan", "ok": False, "seconds": 5.0, "error": "Boom | x"}]
    (run / "summary.json").write_text(json.dumps(summary))


def test_every_notebook_has_a_row_and_10_and_11_their_tables(tmp_path):
    run = make_run(tmp_path, "full")
    add_conditional_and_semi_supervised(run)
    assert results.main([str(run), "--out", str(tmp_path / "page")]) == 0
    lines = (tmp_path / "page" / "results.md").read_text().splitlines()
    assert "| 04_vae | ok | 30 | – | – | – |" in lines               # its file names no headline
    assert "| 10_conditional_gans | ok | 90 | top1: see its table below | 3 | – |" in lines
    assert "| 11_semi_supervised_gan | FAILED: Boom \\| x | 5 | ssgan_accuracy_100_mean = 0.98 | – | – |" in lines
    assert "| model | top1 | FD |" in lines                         # top1_std joins top1
    assert "| CVAE-GAN | 0.9375 ± 0.062 | 20 |" in lines
    assert "| labels / draw | ssgan | labels only |" in lines
    assert "| 100/0 | 0.98 | 0.75 |" in lines and "| 200/1 | 0.99 | – |" in lines
    assert "| 10_conditional_gans | CVAE-GAN | 2.25 |" in lines and "| 04_vae | – | 0.5 |" in lines


def test_a_run_without_notebook_08_still_renders(tmp_path):
    run = make_run(tmp_path, "full")
    (run / "results" / "08_compare.json").unlink()
    assert results.main([str(run), "--out", str(tmp_path / "page")]) == 0
    assert "Notebook 08 did not run" in (tmp_path / "page" / "results.md").read_text()


@pytest.mark.parametrize("damage", ["not json", "record lacks keys", "no run"])
def test_nothing_is_written_when_the_page_cannot_render(tmp_path, capsys, damage):
    run = make_run(tmp_path, "full")
    if damage == "not json":
        (run / "results" / "07_aegan.json").write_text("{truncated")
    elif damage == "record lacks keys":
        (run / "results" / "08_compare.json").write_text(json.dumps({"floor": {}}))
    else:
        run = tmp_path / "missing"
    out = tmp_path / "page"
    assert results.main([str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()                                      # no figure copied before the failure
    with pytest.raises(Exception):
        results.main([str(run), "--out", str(out), "--debug"])


def test_a_note_about_how_the_run_was_made_is_shown(tmp_path):
    run = make_run(tmp_path, "full", note="Executed in two parts.")
    assert results.main([str(run), "--docs", str(tmp_path / "docs")]) == 0
    assert "*Executed in two parts.*" in (tmp_path / "docs" / "results.md").read_text()
