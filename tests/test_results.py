"""docs/results.md is generated from a run folder; smoke runs are refused."""
import json

from tutorial_lib import results


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


def test_a_smoke_run_is_refused(tmp_path):
    run = make_run(tmp_path, "smoke")
    assert results.main([str(run), "--docs", str(tmp_path / "docs")]) == 2
    assert not (tmp_path / "docs" / "results.md").exists()


def test_a_note_about_how_the_run_was_made_is_shown(tmp_path):
    run = make_run(tmp_path, "full", note="Executed in two parts.")
    assert results.main([str(run), "--docs", str(tmp_path / "docs")]) == 0
    assert "*Executed in two parts.*" in (tmp_path / "docs" / "results.md").read_text()
