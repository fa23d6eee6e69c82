"""What bounds SynthVAD's ceiling (issue 14, item 3): the same world, several tiny CLIPs.

    python benchmarks/probe_ceiling.py --variant base --variant data3x:n_images=18000 \\
        --variant px96:image_size=96,vision.image_size=96 [--work /tmp/ceiling] [--save NAME]

A variant is ``NAME[:key=value,...]``. Keys are fields of :class:`stprompt.tinyclip.PretrainConfig`
(``n_images``, ``epochs``, ``window_share``, ``image_size`` — the side the captioned images are
rendered at —, ``lr``, ``batch_size``) or overrides of the tiny CLIP's architecture
(``stprompt/configs/tiny_clip.json``): ``vision.<field>``, ``text.<field>``, ``embed_dim``. A
variant with an architecture override is pretrained from a config file written to the work folder.
``world.<field>`` changes the SynthVAD world itself (a field of :class:`stprompt.synth.SynthConfig`,
e.g. ``world.clutter=[1,3]``): that variant generates its own world (in ``<work>/data_<hash>``), and
its tiny CLIP is pretrained on captioned scenes of that world.
``precision=bf16`` pretrains the tiny CLIP and extracts the features under CPU autocast to
bfloat16, ``precision=bf16-extract`` only extracts so (the probes, the oracle and STPrompt train in
float32 either way): what faster arithmetic on CPUs with AVX-512 BF16 would cost in accuracy and
save in time.

For each variant, on the default SynthVAD world (generated once): pretrain the tiny CLIP (cached by
its key), extract the default features (3x4 windows of 48 pixels, crops encoded by the CLIP; one
feature folder per variant), then

- the linear probes of :mod:`stprompt.probe` on validation and test (exact labels, a diagnostic);
- the frame-label **oracle** and **STPrompt** with the default profile's training settings, for
  ``--seeds`` seeds: selected on validation (frame AUC), then scored on test (pooled frame AUC and
  within-video AUC; test numbers are reported, never used to choose);
- the tiny CLIP's zero-shot accuracy on held-out crops and grid windows (as ``00_pretrain_vlm``);
- the time each part took on this machine.

A choice between variants is made on the validation columns only. ``--save NAME`` writes
``benchmarks/results/NAME.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stprompt.datasets import load_dataset
from stprompt.features import FeatureConfig, extract_dataset
from stprompt.probe import probe_table
from stprompt.synth import SynthConfig, caption_dataset, generate
from stprompt.tinyclip import PretrainConfig, pretrain_cached, zero_shot_report
from stprompt.vlm import MODEL_CONFIG_DIR

RESULTS = Path(__file__).parent / "results"
PRETRAIN_KEYS = {f.name for f in dataclasses.fields(PretrainConfig)} - {"model"}
RUN_KEYS = {"precision"}  # how the variant computes, not what it is (run_variant)
WORLD_KEYS = {f.name for f in dataclasses.fields(SynthConfig)}


def _split_items(text: str) -> list[str]:
    """``"a=1,b=[1,3]"`` -> ``["a=1", "b=[1,3]"]``: commas inside brackets belong to the value."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    return items + [text[start:]]


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``"name:a=1,b.c=2"`` -> ``("name", {"a": 1, "b.c": 2})`` (values parsed as JSON when they can be)."""
    name, _, rest = text.partition(":")
    out: dict[str, Any] = {}
    for item in filter(None, _split_items(rest)):
        key, eq, value = item.partition("=")
        if not eq:
            raise SystemExit(f"variant '{text}': expected key=value, got '{item}'")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
        if key.startswith("world."):
            if key[len("world."):] not in WORLD_KEYS:
                raise SystemExit(f"variant '{text}': unknown world field '{key}' (fields of SynthConfig: "
                                 f"{sorted(WORLD_KEYS)})")
        elif key not in PRETRAIN_KEYS | RUN_KEYS and not key.startswith(("vision.", "text.")) and key != "embed_dim":
            raise SystemExit(f"variant '{text}': unknown key '{key}' (PretrainConfig fields, vision.*, text.*, "
                             f"embed_dim, precision, world.*)")
    return name, out


def model_config(name: str, overrides: dict[str, Any], work: Path) -> str:
    """The tiny CLIP config with the variant's architecture overrides: ``"tiny_clip"`` when there are
    none, else the path of a config file written to ``work``."""
    arch = {k: v for k, v in overrides.items() if k not in PRETRAIN_KEYS | RUN_KEYS and not k.startswith("world.")}
    if not arch:
        return "tiny_clip"
    cfg = json.loads((MODEL_CONFIG_DIR / "tiny_clip.json").read_text())
    for key, value in arch.items():
        if key == "embed_dim":
            cfg["embed_dim"] = value
        else:
            tower, field = key.split(".", 1)
            cfg[f"{tower}_cfg"][field] = value
    path = work / f"tiny_clip_{name}.json"
    path.write_text(json.dumps(cfg, indent=1))
    return str(path)


def variant_world(overrides: dict[str, Any], work: Path) -> tuple[SynthConfig, Path]:
    """The variant's SynthVAD world (the default one changed by its ``world.*`` keys; lists become
    tuples where the field is a range) and where it is generated: ``<work>/data`` for the default
    world, ``<work>/data_<hash of the changes>`` otherwise."""
    from stprompt.io import stable_hash

    changes = {k[len("world."):]: v for k, v in overrides.items() if k.startswith("world.")}
    base = SynthConfig()
    changes = {k: tuple(v) if isinstance(getattr(base, k), tuple) else v for k, v in changes.items()}
    world = dataclasses.replace(base, **changes)
    return world, work / (f"data_{stable_hash(changes, 8)}" if changes else "data")


def detection(records: list, seeds: list[int], method: str, sets: dict, clip: Any, recipe: dict,
              out_dir: Path) -> dict[str, Any]:
    from stprompt.stats import within_video_auc
    from stprompt.model import ModelConfig
    from stprompt.train import TrainConfig, evaluate, fit_and_score, frame_scores
    from stprompt.datasets import frame_labels

    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        run = fit_and_score(ModelConfig(method=method), TrainConfig(seed=seed, epochs=20, batch_size=16, lr=1e-3),
                            sets, clip, recipe, out_dir, f"{method}_seed{seed}")
        rep = evaluate(run["test_scores"], records)
        scores = frame_scores(run["test_scores"], records)
        within = within_video_auc(scores, {r.id: frame_labels(r) for r in records})
        rows.append({"seed": seed, "epoch": run["best_epoch"], "val_frame_auc": run["val_score"],
                     "test_frame_auc": rep["auc_micro"], "test_within_video_auc": within,
                     "seconds": round(time.perf_counter() - t0, 1)})
    summary = {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows], ddof=1)) if len(rows) > 1 else 0.0)
               for k in ("val_frame_auc", "test_frame_auc", "test_within_video_auc")}
    return {"runs": rows, "mean_std": summary}


def run_variant(name: str, overrides: dict[str, Any], world: SynthConfig, data: Path, work: Path,
                seeds: list[int]) -> dict[str, Any]:
    from stprompt.train import load_sets

    pre = {k: v for k, v in overrides.items() if k in PRETRAIN_KEYS}
    for key in ("window_grid", "window_size"):
        if key in pre:
            pre[key] = tuple(pre[key])
    cfg = PretrainConfig(model=model_config(name, overrides, work), **pre)
    out: dict[str, Any] = {"variant": name, "overrides": overrides, "pretrain": dataclasses.asdict(cfg)}
    precision = overrides.get("precision", "fp32")
    if precision not in ("fp32", "bf16", "bf16-extract"):
        raise SystemExit(f"variant '{name}': precision must be fp32, bf16 or bf16-extract, got {precision!r}")

    def compute(step: str) -> Any:
        if precision == "bf16" or (precision == "bf16-extract" and step == "extract"):
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    t0 = time.perf_counter()
    with compute("pretrain"):
        model, info, meta = pretrain_cached(world, cfg, work / f"vlm_{name}.pt", log=None)
    out["pretrain_seconds"] = round(time.perf_counter() - t0, 1)
    out["pretrain_cached"] = meta["cached"]
    out["caption_data_seconds"], out["train_seconds"] = meta["data_seconds"], meta["train_seconds"]
    out["final_epoch_loss"] = meta["epoch_loss"][-1]
    images, _, infos = caption_dataset(world, 1000, seed=cfg.seed + 1, split="heldout", size=cfg.image_size,
                                       mix=PretrainConfig(window_share=0.5).caption_mix(),
                                       windows=(cfg.window_grid, cfg.window_size))
    zs = zero_shot_report(model, images, infos)
    out["zero_shot"] = {"category_accuracy": zs["category_accuracy"], "by_kind": zs["by_kind"]}

    run_dir = work / f"run_{name}"
    fdir = run_dir / "features" / "synthvad"
    t0 = time.perf_counter()
    with compute("extract"):
        for split in ("train", "val", "test"):
            extract_dataset(load_dataset("synthvad", data, split), fdir, model, FeatureConfig(), info.recipe(),
                            progress=False)
    out["extract_seconds"] = round(time.perf_counter() - t0, 1)
    for split in ("val", "test"):
        out[f"probes_{split}"] = {row["probe"]: row for row in probe_table(load_dataset("synthvad", data, split), fdir)}
    sets = load_sets(run_dir, "synthvad", str(data), oracle_labels=True)
    for method in ("oracle", "stprompt"):
        out[method] = detection(sets["records"]["test"], seeds, method, sets["sets"], model, sets["recipe"], run_dir)
    return out


def brief(rec: dict[str, Any]) -> str:
    def ms(x):
        return f"{x[0]:.3f} ± {x[1]:.3f}"
    p = rec["probes_val"]
    q = rec["probes_test"]
    return (f"{rec['variant']}: pretrain {rec['pretrain_seconds']} s, extract {rec['extract_seconds']} s | "
            f"zero-shot windows {rec['zero_shot']['by_kind'].get('window', {}).get('anomalous_accuracy', float('nan')):.3f} | "
            f"probe val/test frame {p['frame feature']['all']:.3f}/{q['frame feature']['all']:.3f} "
            f"SA2-in {p['frame + top-K motion windows']['all']:.3f}/{q['frame + top-K motion windows']['all']:.3f} "
            f"window {p['anomaly window vs normal windows']['all']:.3f}/{q['anomaly window vs normal windows']['all']:.3f} | "
            f"oracle val {ms(rec['oracle']['mean_std']['val_frame_auc'])} test {ms(rec['oracle']['mean_std']['test_frame_auc'])} | "
            f"stprompt val {ms(rec['stprompt']['mean_std']['val_frame_auc'])} test {ms(rec['stprompt']['mean_std']['test_frame_auc'])}")


def figure(record: dict[str, Any]):
    """Frame AUC of the oracle and STPrompt per variant (validation and test, mean ± std over the
    training seeds), beside each variant's pretraining time."""
    from matplotlib.figure import Figure

    runs = record["runs"]
    names = [r["variant"] + "\n" + (", ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "the default")
             for r in runs]
    y = np.arange(len(runs))
    fig = Figure(figsize=(10, 1.0 + 0.5 * len(runs)), layout="constrained")
    ax, bx = fig.subplots(1, 2, sharey=True, width_ratios=[3, 1])
    styles = {("oracle", "val"): ("tab:green", "o", -0.15), ("oracle", "test"): ("tab:green", "s", -0.05),
              ("stprompt", "val"): ("tab:blue", "o", 0.05), ("stprompt", "test"): ("tab:blue", "s", 0.15)}
    for (method, split), (colour, marker, dy) in styles.items():
        mean = [r[method]["mean_std"][f"{split}_frame_auc"][0] for r in runs]
        std = [r[method]["mean_std"][f"{split}_frame_auc"][1] for r in runs]
        ax.errorbar(mean, y + dy, xerr=std, fmt=marker, color=colour, mfc=colour if split == "val" else "white",
                    label=f"{'frame-label oracle' if method == 'oracle' else 'STPrompt'}, {split}", capsize=2)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"frame AUC (mean ± std over {len(record['seeds'])} training seeds)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
    untimed = [bool(r.get("pretrain_cached") or r.get("pretrain_not_timed")) for r in runs]
    bx.barh(y, [0 if u else r["pretrain_seconds"] / 60 for r, u in zip(runs, untimed)], color="tab:gray")
    for k, r in enumerate(runs):
        if r.get("pretrain_cached"):  # loaded, not trained: its time is not on this run
            bx.text(0.02, k, " loaded from a checkpoint", transform=bx.get_yaxis_transform(), va="center", fontsize=8)
        elif r.get("pretrain_not_timed"):  # set by hand in a record whose run shared the cores
            bx.text(0.02, k, " shared the cores: no timing", transform=bx.get_yaxis_transform(), va="center", fontsize=8)
    bx.set_xlabel("tiny CLIP pretraining (min)")
    fig.suptitle(record.get("title", "SynthVAD default world: what the tiny CLIP's pretraining buys "
                                     "(selection on val; test reported)"), fontsize=10)
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", default=[], help="NAME[:key=value,...]")
    ap.add_argument("--plot", type=Path, metavar="JSON", help="only draw the figure of a saved record (JSON.png)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/stprompt_ceiling"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--save", metavar="NAME", help="write benchmarks/results/NAME.json")
    args = ap.parse_args()
    if args.plot:
        from plots import save

        print("wrote", save(figure(json.loads(args.plot.read_text())), args.plot.with_suffix(".png")))
        return
    if not args.variant:
        ap.error("give at least one --variant (or --plot JSON)")
    args.work.mkdir(parents=True, exist_ok=True)
    record = {"machine": platform.machine(), "cpus": os.cpu_count(), "seeds": args.seeds, "runs": []}
    partial = args.work / "results.json"
    for text in args.variant:
        name, overrides = parse_variant(text)
        world, data = variant_world(overrides, args.work)
        generate(world, data, workers=2, progress=False)
        rec = run_variant(name, overrides, world, data, args.work, args.seeds)
        record["runs"].append(rec)
        print(brief(rec), flush=True)
        partial.write_text(json.dumps(record, indent=1, default=float) + "\n")
    if args.save:
        from plots import save

        out = RESULTS / f"{args.save}.json"
        out.write_text(json.dumps(record, indent=1, default=float) + "\n")
        save(figure(record), out.with_suffix(".png"))


if __name__ == "__main__":
    main()
