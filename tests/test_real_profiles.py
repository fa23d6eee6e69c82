"""End to end: each real profile (``params/ucf_crime.yaml``, ``shanghaitech.yaml``, ``ubnormal.yaml``)
runs 01 -> 06 through ``stprompt reproduce`` on a tiny tree in its official layout
(:mod:`fixtures_datasets`), with a random tiny CLIP saved to a checkpoint file standing in for
ViT-B/16, and the profile's own reader block. Only sizes change (tiny windows, one method, one seed,
two epochs); every step runs, the tables exist, and the labels and boxes read are the hand-counted
ones."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

import fixtures_datasets as fx
from stprompt.run.pipeline import reproduce

ROOT = Path(__file__).resolve().parents[1]
STEPS = ["01_data_prep", "02_train", "03_evaluate", "04_ablations", "05_localization", "06_report"]


@pytest.fixture(scope="module")
def clip_checkpoint(tmp_path_factory):
    """A random tiny CLIP in a checkpoint file: the profiles' clip_checkpoint route, cheaply."""
    from stprompt import vlm

    model, _ = vlm.build_clip(vlm.ClipSpec("tiny_clip"))
    return vlm.save_checkpoint(model, tmp_path_factory.mktemp("weights") / "tiny_clip_random.pt")


def tiny_profile(name: str, tmp_path: Path, data_root: Path, clip: Path, grids: list[str] = ()) -> Path:
    """The real profile ``name`` with its sizes made tiny and its paths in ``tmp_path``."""
    prof = yaml.safe_load((ROOT / "params" / f"{name}.yaml").read_text())
    assert prof["notebooks"] == STEPS  # the real profiles run every step
    run = tmp_path / "run"
    prof.update(name=f"{name}_e2e", run_dir=str(run), ablations=list(grids))
    prof["common"].update(data_root=str(data_root), clip_model="tiny_clip", clip_checkpoint=str(clip),
                          device="cpu", epochs=2, batch_size=4, max_len=64)
    p = prof["params"]
    p["01_data_prep"].update(grid=[2, 2], window=[12, 12], batch_size=64, samples_per_class=1)
    for step in ("02_train", "03_evaluate"):
        p[step].update(methods=["stprompt"], seeds=[0])
    p["04_ablations"]["result_dir"] = str(run / "ablations" / "default")
    p["05_localization"].update(seeds=[0], localizers=["stprompt", "whole_frame"], examples_per_class=1)
    p["06_report"]["out_dir"] = str(tmp_path / "page")
    path = tmp_path / f"{name}_e2e.yaml"
    path.write_text(yaml.safe_dump(prof))
    return path


def run_profile(path: Path, steps: list[str] = STEPS) -> tuple[Path, dict]:
    results = reproduce(str(path), echo=lambda _: None, html=False)
    assert [(r.name, r.status) for r in results] == [(s, "ran") for s in steps]
    run = Path(yaml.safe_load(path.read_text())["run_dir"])
    return run, json.loads((run / "metrics.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory, clip_checkpoint):
    """The three profiles, run at once (each step is a kernel that mostly waits for imports on one
    core; three chains in parallel keep both cores busy). ``{name: (tmp, run_dir, metrics)}``."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = {}
    tmp = tmp_path_factory.mktemp("ucf_crime")
    jobs["ucf_crime"] = (tmp, tiny_profile("ucf_crime", tmp, fx.make_ucf_crime(tmp / "UCF_Crimes", full=True),
                                           clip_checkpoint))
    tmp = tmp_path_factory.mktemp("shanghaitech")
    jobs["shanghaitech"] = (tmp, tiny_profile("shanghaitech", tmp, fx.make_shanghaitech(tmp / "shanghaitech"),
                                              clip_checkpoint))
    tmp = tmp_path_factory.mktemp("ubnormal")
    jobs["ubnormal"] = (tmp, tiny_profile("ubnormal", tmp, fx.make_ubnormal(tmp / "UBnormal"), clip_checkpoint))
    # UCF-Crime without Liu & Ma's boxes (a user who has not downloaded them): data prep only
    tmp = tmp_path_factory.mktemp("ucf_no_boxes")
    path = tiny_profile("ucf_crime", tmp, fx.make_ucf_crime(tmp / "UCF_Crimes"), clip_checkpoint)
    prof = yaml.safe_load(path.read_text())
    prof.update(reader={}, notebooks=["01_data_prep"], ablations=[])
    for key in ("epochs", "lr", "max_len"):  # declared by the training steps only
        prof["common"].pop(key)
    prof["params"] = {"01_data_prep": prof["params"]["01_data_prep"]}
    path.write_text(yaml.safe_dump(prof))
    jobs["ucf_no_boxes"] = (tmp, path)
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(run_profile, path, ["01_data_prep"] if name == "ucf_no_boxes" else STEPS)
                   for name, (_, path) in jobs.items()}
        done = {name: f.exception() or f.result() for name, f in futures.items()}
    return {name: (jobs[name][0], *result) if isinstance(result, tuple) else result
            for name, result in done.items()}


def outcome(runs, name: str) -> tuple[Path, Path, dict]:
    result = runs[name]
    if isinstance(result, BaseException):
        raise result
    return result


def table(run: Path, name: str) -> list[dict]:
    with open(run / "tables" / f"{name}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def page_text(tmp_path: Path) -> str:
    return (tmp_path / "page" / "README.md").read_text()


def number(cell: str) -> float:
    """The estimate of a table cell ``"m ± s [lo, hi]"`` (or ``"m [lo, hi]"``, ``"m"``)."""
    return float(cell.split(" ")[0])


def assert_resolves_section(text: str, localizer: str = "whole_frame") -> None:
    """The real profile's page says what this benchmark resolves (in generic words), with the
    localizer's difference to the spatial stream; one method trained, so detection compares nothing."""
    section = text.split("## What this benchmark resolves", 1)[1].split("\n## ", 1)[0]
    assert "SynthVAD" not in section and "Only the reference `stprompt` ran with intervals" in section
    assert f"| {localizer} − stprompt | TIoU |" in section


@pytest.mark.slow
def test_ucf_crime_profile_end_to_end_on_the_official_layout(runs):
    tmp_path, run, metrics = outcome(runs, "ucf_crime")
    # labels under the dataset authors' convention (the profile's reader block): hand-counted
    test_all = next(r for r in table(run, "dataset_summary") if r["split"] == "test" and r["class"] == "all")
    assert (test_all["videos"], test_all["anomalous_frames"]) == ("5", str(fx.ucf_anomalous_frames("sultani")))
    assert metrics["data"]["reader"]["frame_convention"] == "sultani"
    # Liu & Ma boxes read (0.1 x 320x240): per-frame areas 100,100,170.05,192,192,192,234,768 of 768 px
    assert metrics["data"]["median_anomaly_area_pct"] == 25.0
    # no validation split: 02 held out training videos (video labels only), θ chose on them
    assert metrics["localization"]["theta_rule"] == "video_labels"
    loc = {r["localizer"]: r for r in table(run, "localization")}
    assert set(loc) == {"stprompt", "whole_frame"} and 0.0 <= number(loc["stprompt"]["tiou"]) <= 1.0
    assert loc["stprompt"]["tiou"].count("[") == 1  # one seed: the estimate and its 95 % interval
    assert "rbdc" not in loc["stprompt"] and "pixel_auc" not in loc["stprompt"]  # sparse boxes only
    # 04's default point trained as 02 did (the profile's common training parameters)
    assert json.loads((run / "ablations" / "default" / "metrics.json").read_text())["ablation"]["best_epoch"] in (0, 1, 2)
    text = page_text(tmp_path)
    assert "synthetic" not in text.lower() and "**UCF-Crime**" in text
    assert "`sultani`" in text and "weights `file:tiny_clip_random.pt#" in text and "held-out training" in text
    assert_resolves_section(text)
    paper = {(r["measure"], r["method"]): r for r in table(tmp_path / "page", "paper_vs_ucf_crime")}
    assert paper[("frame AUC", "STPrompt")]["paper: UCF-Crime"] == "88.08"
    assert paper[("TIoU", "STPrompt")]["paper: UCF-Crime"] == "23.90"
    assert paper[("TIoU", "STPrompt")]["this run: UCF-Crime"].startswith(f"{100 * number(loc['stprompt']['tiou']):.1f} [")


@pytest.mark.slow
def test_shanghaitech_profile_end_to_end_on_the_official_layout(runs):
    tmp_path, run, metrics = outcome(runs, "shanghaitech")
    test_all = next(r for r in table(run, "dataset_summary") if r["split"] == "test" and r["class"] == "all")
    assert (test_all["videos"], test_all["anomalous_frames"]) == ("3", str(5 + 10 + 4 + 2 + 4))
    assert metrics["localization"]["theta_rule"] == "video_labels"
    loc = {r["localizer"]: r for r in table(run, "localization")}
    # regions from the pixel masks: RBDC, TBDC and pixel AUC all defined
    for key in ("tiou", "rbdc", "tbdc", "pixel_auc"):
        assert 0.0 <= number(loc["stprompt"][key]) <= 1.0, key
    assert number(loc["whole_frame"]["pixel_auc"]) == 0.5  # one score per frame: chance
    text = page_text(tmp_path)
    assert "synthetic" not in text.lower() and "**ShanghaiTech**" in text
    assert_resolves_section(text)
    paper = {(r["measure"], r["method"]): r for r in table(tmp_path / "page", "paper_vs_shanghaitech")}
    assert paper[("frame AUC", "STPrompt")]["paper: ShanghaiTech"] == "97.81"
    assert paper[("RBDC", "STPrompt")]["paper: ShanghaiTech"] == "—"
    assert paper[("pixel AUC", "STPrompt")]["this run: ShanghaiTech"].startswith(
        f"{100 * number(loc['stprompt']['pixel_auc']):.1f} [")


@pytest.mark.slow
def test_ubnormal_profile_end_to_end_as_released(runs):
    tmp_path, run, metrics = outcome(runs, "ubnormal")
    summary = {(r["split"], r["class"]): r for r in table(run, "dataset_summary")}
    assert summary[("val", "all")]["anomalous_frames"] == "7"  # track 2, frames 4..10
    assert summary[("test", "all")]["anomalous_frames"] == "8"  # tracks 5..9 and 8..12
    assert metrics["localization"]["theta_rule"] == "frame_labels"  # a validation split with frame labels
    loc = {r["localizer"]: r for r in table(run, "localization")}
    for key in ("tiou", "rbdc", "tbdc", "pixel_auc"):
        assert 0.0 <= number(loc["stprompt"][key]) <= 1.0, key
    text = page_text(tmp_path)
    assert "synthetic" not in text.lower() and "**UBnormal**" in text
    assert_resolves_section(text)
    paper = {(r["measure"], r["method"]): r for r in table(tmp_path / "page", "paper_vs_ubnormal")}
    assert paper[("frame AUC", "STPrompt")]["paper: UBnormal"] == "63.98"
    assert paper[("frame AUC", "OVVAD")]["paper: UBnormal"] == "62.94"


@pytest.mark.slow
def test_data_prep_without_boxes_skips_the_box_figures_and_says_why(runs):
    import nbformat

    tmp_path, run, metrics = outcome(runs, "ucf_no_boxes")
    assert metrics["data"]["median_anomaly_area_pct"] is None
    assert not (run / "figures" / "anomaly_area.png").exists() and not (run / "tables" / "motion_overlap.md").exists()
    assert (run / "figures" / "sample_frames.png").is_file() and (run / "tables" / "dataset_summary.md").is_file()
    nb = nbformat.read(str(run / "notebooks" / "01_data_prep.ipynb"), as_version=4)
    text = "\n".join(o.get("text", "") or o.get("data", {}).get("text/markdown", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert text.count("No anomaly box in the test split(s) of ucf_crime, so this figure is skipped: UCF-Crime's "
                      "boxes are Liu & Ma's, a separate download (reader option boxes_file") == 2
