"""The ``stprompt`` command.

    stprompt reproduce [--profile P] [--only NB[,NB]] [--force] [--jobs N]   run the notebook chain
    stprompt extract   [--profile P] [--split S] [--workers N] [--check]   extract features (torchrun-aware)
    stprompt infer     VIDEO [--profile P] [--checkpoint C] [--out DIR] [--gif] [--theta T]
                       [--windows relative|pixels]                score + heat maps
    stprompt ablate    GRID [--profile P] [--jobs N] [--shard i/n] [--force]  run an ablation grid
    stprompt report    [--profile P]                             re-render the HTML reports
    stprompt validate  [--profile P]                             check a profile's parameters

A profile ``P`` is ``params/P.yaml``, ``params/P/profile.yaml`` or a path to a YAML file.
Errors in parameters or notebooks are printed as one clear message and exit with status 2 (bad
input) or 1 (a failing notebook).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never spend a minute retrying a download here


def _split_only(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out = []
    for v in values:
        out += [x.strip().removesuffix(".ipynb") for x in v.split(",") if x.strip()]
    return out


def _is_input_error(exc: BaseException) -> bool:
    """A missing file, or a CLIP that cannot be built from what was supplied (``ClipError``, looked
    up only if ``stprompt.vlm`` was imported: nothing else raises it, and importing it means torch)."""
    vlm = sys.modules.get("stprompt.vlm")
    return isinstance(exc, FileNotFoundError) or (vlm is not None and isinstance(exc, vlm.ClipError))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stprompt", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser("reproduce", help="run the numbered notebooks of a profile with papermill")
    rep.add_argument("--profile", default="synthvad",
                     help="params/P.yaml, params/P/profile.yaml or a YAML path (default: synthvad)")
    rep.add_argument("--only", action="append", metavar="NB",
                     help="run only these steps (repeat or comma-separate), e.g. 03_evaluate")
    rep.add_argument("--force", action="store_true", help="rerun steps even if unchanged")
    rep.add_argument("--params-dir", default=None, help="folder of profiles (default: params/)")
    rep.add_argument("--no-html", action="store_true", help="skip the HTML reports")
    rep.add_argument("--jobs", type=int, default=None,
                     help="ablation grid points run at once (default: the profile's ablation_jobs)")

    ext = sub.add_parser("extract", help="extract CLIP features for a profile's dataset; under "
                         "torchrun each rank takes a share of the videos balanced by frames, and rank 0 "
                         "writes a manifest per split that names any video left without features")
    ext.add_argument("--profile", default="synthvad")
    ext.add_argument("--split", action="append", help="only these splits (repeatable)")
    ext.add_argument("--params-dir", default=None)
    ext.add_argument("--no-progress", action="store_true")
    ext.add_argument("--workers", type=int, default=None,
                     help="decode processes feeding each rank's encoder (default: the rank's cores - 1; "
                          "0: decode and encode in one process). The features are the same bytes either way")
    ext.add_argument("--check", action="store_true",
                     help="extract nothing: check that every video of the splits has a valid feature file")

    inf = sub.add_parser("infer", help="score a video and localize anomalies with a trained model")
    inf.add_argument("video", help="an MP4/AVI/... file")
    inf.add_argument("--profile", default="synthvad", help="profile whose CLIP and run folder to use")
    inf.add_argument("--checkpoint", default=None,
                     help="model checkpoint (default: <run_dir>/models/stprompt_seed0.pt)")
    inf.add_argument("--out", default=None, help="output folder (default: <run_dir>/infer/<video name>)")
    inf.add_argument("--theta", type=float, default=None, help="temporal threshold for localization")
    inf.add_argument("--gif", action="store_true", help="also write heatmap.gif")
    inf.add_argument("--windows", choices=("relative", "pixels"), default="relative",
                     help="window sizes: the checkpoint's share of the frame (default) or its pixels")
    inf.add_argument("--no-progress", action="store_true")

    abl = sub.add_parser("ablate", help="run an ablation grid: one executed notebook per point")
    abl.add_argument("grid", help="params/ablations/<name>.yaml")
    abl.add_argument("--profile", default=None,
                     help="run the grid against this profile instead of the one the grid names "
                          "(its data, features and run folder)")
    abl.add_argument("--params-dir", default=None)
    abl.add_argument("--jobs", type=int, default=1, help="points run at once (one kernel each)")
    abl.add_argument("--shard", default=None, help="i/n: run every n-th point from the i-th (1-based)")
    abl.add_argument("--force", action="store_true", help="rerun finished points")

    rpt = sub.add_parser("report", help="re-render the HTML reports of a profile's executed notebooks")
    rpt.add_argument("--profile", default="synthvad")
    rpt.add_argument("--params-dir", default=None)

    val = sub.add_parser("validate", help="check a profile against the notebooks' parameters cells")
    val.add_argument("--profile", default="synthvad")
    val.add_argument("--params-dir", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        if args.command == "reproduce":
            from .pipeline import StepFailed, reproduce

            try:
                reproduce(args.profile, only=_split_only(args.only), force=args.force,
                          params_dir=args.params_dir, html=not args.no_html, jobs=args.jobs)
            except StepFailed as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
        elif args.command == "extract":
            from ..features import check_from_params, extract_from_params
            from .pipeline import resolved_params

            from ..vlm import ClipError

            params = resolved_params(args.profile, "01_data_prep", args.params_dir)
            try:
                if args.check:
                    check_from_params(params, splits=args.split)
                else:
                    extract_from_params(params, splits=args.split, progress=not args.no_progress,
                                        workers=args.workers)
            except (ClipError, FileNotFoundError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        elif args.command == "infer":
            from .infer import infer  # light: infer checks its inputs before importing torch

            try:
                infer(args.video, args.profile, args.checkpoint, args.out, args.theta, args.gif,
                      progress=not args.no_progress, windows=args.windows)
            except Exception as exc:
                if not _is_input_error(exc):
                    raise
                print(f"error: {exc}", file=sys.stderr)
                return 2
        elif args.command == "ablate":
            from .ablate import load_grid, run_grid
            from ..config import load_profile
            from ..reports.tables import table_markdown

            grid = load_grid(args.grid)
            profile = None
            if args.profile:
                profile = load_profile(args.profile, args.params_dir)
                grid.profile = profile.name
            try:
                result = run_grid(grid, jobs=args.jobs, shard=args.shard, force=args.force,
                                  echo=lambda line: print(line, flush=True), profile=profile)
            except RuntimeError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            if result["summary"]:
                print(table_markdown(result["summary"]))
        elif args.command == "report":
            from .pipeline import render_reports

            render_reports(args.profile, args.params_dir)
        elif args.command == "validate":
            from ..config import load_profile
            from .pipeline import validate_profile

            prof = load_profile(args.profile, args.params_dir)
            steps = validate_profile(prof)
            print(f"{prof.source}: OK ({len(steps)} steps: {', '.join(s.name for s in steps)})")
    except (ConfigError, ValueError) as exc:  # bad parameters or bad input data: one clear line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
