"""Tables, figures and metrics.json written by stprompt.reports.tables."""

from __future__ import annotations

import csv
import json

import matplotlib.pyplot as plt
import pytest

from stprompt.reports.tables import mean_std, save_figure, save_table, table_latex, table_markdown, update_metrics


ROWS = [{"method": "STPrompt", "AUC": 0.88081, "AP": float("nan")},
        {"method": "MIL_baseline", "AUC": 0.5}]


def test_markdown_csv_latex(tmp_path):
    md = table_markdown(ROWS, digits=2)
    assert md.splitlines() == ["| method | AUC | AP |", "|---|---|---|",
                               "| STPrompt | 0.88 | nan |", "| MIL_baseline | 0.50 |  |"]
    tex = table_latex(ROWS, digits=1, caption="Frame AUC (%)")
    assert r"MIL\_baseline & 0.5 &  \\" in tex and r"\caption{Frame AUC (\%)}" in tex
    paths = save_table(ROWS, tmp_path, "main")
    with open(paths["csv"]) as fh:
        back = list(csv.DictReader(fh))
    assert back[0]["method"] == "STPrompt" and float(back[0]["AUC"]) == 0.88081
    with pytest.raises(ValueError, match="'empty' has no rows"):
        save_table([], tmp_path, "empty")


def test_mean_std_is_sample_std():
    # values 1, 2, 3: mean 2, sample variance ((1)^2 + 0 + 1^2) / 2 = 1
    assert mean_std([1, 2, 3], digits=2) == "2.00 ± 1.00"
    assert mean_std([0.5]) == "0.500"


def test_metrics_merge_and_figure(tmp_path):
    update_metrics(tmp_path, "detection", {"auc": 0.9})
    update_metrics(tmp_path, "detection", {"ap": 0.8})
    update_metrics(tmp_path, "data", {"videos": 3})
    assert json.loads((tmp_path / "metrics.json").read_text()) == {
        "data": {"videos": 3}, "detection": {"ap": 0.8, "auc": 0.9}}
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = save_figure(fig, tmp_path, "curve")
    plt.close(fig)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in (tmp_path / "figures").iterdir()] == ["curve.png"]  # no temp left


def test_atomic_files_get_the_usual_permissions(tmp_path):
    import os

    from stprompt.io import atomic_path, write_text

    umask = os.umask(0)
    os.umask(umask)
    p = write_text(tmp_path / "a.txt", "x")
    with atomic_path(tmp_path / "b.bin") as tmp:
        tmp.write_bytes(b"y")
    for f in (p, tmp_path / "b.bin"):
        assert f.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's owner-only 0600


def test_environment_sets_then_restores_even_on_error(monkeypatch):
    """io.environment (the thread counts of ablation kernels and decoding workers): inside the block
    the variables hold the given values; after it each is back to its old value, or unset."""
    import os

    from stprompt.io import environment

    monkeypatch.setenv("STPROMPT_TEST_SET", "before")
    monkeypatch.delenv("STPROMPT_TEST_UNSET", raising=False)
    with pytest.raises(RuntimeError):
        with environment({"STPROMPT_TEST_SET": "1", "STPROMPT_TEST_UNSET": "2"}):
            assert os.environ["STPROMPT_TEST_SET"] == "1" and os.environ["STPROMPT_TEST_UNSET"] == "2"
            raise RuntimeError("the block fails")
    assert os.environ["STPROMPT_TEST_SET"] == "before"
    assert "STPROMPT_TEST_UNSET" not in os.environ
