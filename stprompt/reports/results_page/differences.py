""""What the benchmark resolves": one row per compared configuration and metric of a paired bootstrap
(difference, 95 % interval, verdict, how many test videos would resolve it), grouped into blocks
for detection, localization and each ablation grid.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence


#: The differences each block of "What … resolves" lists (keys of :data:`stprompt.stats.METRIC_NAMES`):
#: detection in the main table, localization against the spatial stream; an ablation grid lists
#: those of :data:`stprompt.reports.evaluation.COMPARED_IN_ABLATIONS`.
RESOLVE_DETECTION = ("auc_micro", "auc_within_video")
RESOLVE_LOCALIZATION = ("tiou", "rbdc", "tbdc", "pixel_auc")
RESOLVE_COLUMNS = ("comparison", "metric", "difference [95 % interval]", "verdict", "reading",
                   "test videos to resolve")


def comparison_rows(boot: Mapping[str, Any], metrics: Sequence[str], name: Any = str) -> list[dict]:
    """One row per compared configuration and metric of a bootstrap's differences (``boot``: what
    :func:`stprompt.stats.bootstrap` returns, or its copy in ``metrics.json`` / ``summary.json``:
    ``reference``, ``n_videos``, ``differences``), in :data:`RESOLVE_COLUMNS`: the comparison
    (``configuration − reference``, names through ``name``), the metric, the difference with its
    95 % interval, the verdict (``resolved`` when the interval excludes 0, else ``unresolved``),
    its reading (``higher``/``lower`` when resolved) and, for an unresolved difference, about how
    many test videos would resolve it (:func:`stprompt.stats.videos_to_resolve`; "—" otherwise, or
    where the difference is exactly 0). A difference that is exactly 0 on every resample (estimate
    and interval ``0 [0, 0]``) is ``identical``: the configuration scores the test videos exactly as
    the reference does, because its switch does not act on that metric (the spatial-stream queries
    on detection); it is neither a result nor a comparison. Configurations are listed in ``boot``'s
    order, the frame-label oracle last."""
    import math

    from ...stats import METRIC_NAMES, claim_status, format_interval, verdict, videos_to_resolve

    ref = boot.get("reference")
    n_videos = int(boot.get("n_videos") or 0)
    rows = []
    for method in sorted(boot.get("differences", {}), key=lambda k: k == "oracle"):
        diffs = boot["differences"][method]
        for m in metrics:
            d = diffs.get(m)
            if not d or not math.isfinite(d.get("value", math.nan)):
                continue
            word = verdict(d)
            need = videos_to_resolve(d, n_videos) if word == "unresolved" and n_videos else None
            rows.append({"comparison": f"{name(method)} − {name(ref)}", "metric": METRIC_NAMES.get(m, m),
                         "difference [95 % interval]": format_interval(d, signed=True), "verdict": word,
                         "reading": {"holds": "higher", "fails": "lower"}.get(claim_status(d), "—")
                         if word == "resolved" else "—",
                         "test videos to resolve": f"≈ {need:,}" if need else "—"})
    return rows


def resolve_blocks(metrics: Mapping[str, Any], grids: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The blocks of "What … resolves", each ``{"table", "title", "reference", "n_videos", "rows"}``
    (rows of :func:`comparison_rows`): the main table (every method against its reference,
    ``metrics.json`` section ``detection.bootstrap``), the localizers against the spatial stream
    (``localization.bootstrap``) and each ablation grid's configurations against its reference, per
    data group (the grid's summary). A block whose numbers carry no intervals (a run older than
    them) is left out; one without any other configuration than its reference keeps empty rows."""
    from ..evaluation import COMPARED_IN_ABLATIONS, display_name

    blocks = []
    det = metrics.get("detection", {}).get("bootstrap")
    if det and det.get("reference"):
        blocks.append({"table": "main_results", "title": f"Detection: every method against {det['reference']}",
                       "reference": det["reference"], "n_videos": det.get("n_videos"),
                       "rows": comparison_rows(det, RESOLVE_DETECTION, display_name)})
    loc = metrics.get("localization", {}).get("bootstrap")
    if loc and loc.get("reference"):
        blocks.append({"table": "localization",
                       "title": f"Localization: every localizer against the spatial stream ({loc['reference']})",
                       "reference": loc["reference"], "n_videos": loc.get("n_videos"),
                       "rows": comparison_rows(loc, RESOLVE_LOCALIZATION)})
    for g in grids:
        summary = g.get("summary") or {}
        name = g["grid"].name
        for group in summary.get("groups", []):
            if not group.get("reference"):
                continue
            rows = [r for r in summary["rows"] if r.get("data", "") == group["data"] and r.get("difference")]
            boot = {"reference": group["reference"], "n_videos": group["n_videos"],
                    "differences": {r["key"]: r["difference"] for r in rows}}
            title = f"Ablation `{name}`" + (f" on data `{group['data']}`" if group["data"] else "") + \
                f": every configuration against `{group['reference']}`"
            blocks.append({"table": f"ablation_{name}", "title": title, "reference": group["reference"],
                           "n_videos": group["n_videos"], "rows": comparison_rows(boot, COMPARED_IN_ABLATIONS)})
    return blocks


def resolve_section(blocks: Sequence[Mapping[str, Any]], dataset: str = "synthvad") -> list[str]:
    """The lines of the section "What SynthVAD resolves" ("What this benchmark resolves" on a real
    profile): how to read it, how many comparisons are resolved (and which), and one table per
    block of :func:`resolve_blocks`."""
    from ..tables import table_markdown
    from ...stats import BOOT_SEED, N_BOOT

    title = "What SynthVAD resolves" if dataset == "synthvad" else "What this benchmark resolves"
    lines = [f"## {title}", ""]
    if not blocks:
        return lines + ["No table of this run carries intervals yet (rerun `03_evaluate`, `05_localization` and "
                        "the ablation grids).", ""]
    rows = [r for b in blocks for r in b["rows"] if r["verdict"] != "identical"]
    same = sum(r["verdict"] == "identical" for b in blocks for r in b["rows"])
    lines += [f"Every comparison of the page's tables as a difference to its table's reference (`configuration − "
              f"reference`) with its 95 % interval: a paired bootstrap of the test videos ({N_BOOT} resamples drawn "
              f"from seed {BOOT_SEED}, the same resamples for every row of a table; seeds folded in as their mean "
              f"on each resample; percentile interval). **resolved**: the interval excludes 0 (*higher* or "
              f"*lower*); **unresolved**: it holds 0, so the test set cannot tell the two apart — neither a win "
              f"nor a loss. *Test videos to resolve*: about how many test videos an unresolved difference would "
              f"need for its interval to exclude 0, if the effect and the per-video spread stayed as measured "
              f"(`n · (h / |d|)²`, `h` the interval's half-width on the side of 0; `stprompt.stats.videos_to_resolve`).",
              ""]
    n_resolved = sum(r["verdict"] == "resolved" for r in rows)
    text = (f"**{n_resolved} of {len(rows)} comparison{'s' if len(rows) != 1 else ''} "
            f"{'is' if len(rows) == 1 else 'are'} resolved**")
    if same:
        text += (f" ({same} more {'is' if same == 1 else 'are'} *identical*: the configuration scores the test "
                 f"videos exactly as its reference, its switch does not act on that metric)")
    lines += [text + (", by table:" if n_resolved else "."), ""]
    for b in blocks:
        hits = [r for r in b["rows"] if r["verdict"] == "resolved"]
        if hits:
            lines.append(f"- {b['title']}: " + "; ".join(
                f"{r['comparison']} on {r['metric']} {r['difference [95 % interval]']} ({r['reading']})" for r in hits))
    if n_resolved:
        lines.append("")
    for b in blocks:
        lines += [f"### {b['title']}", ""]
        if not b["rows"]:
            lines += [f"Only the reference `{b['reference']}` ran with intervals: nothing to compare.", ""]
            continue
        compared = [r for r in b["rows"] if r["verdict"] != "identical"]
        done = sum(r["verdict"] == "resolved" for r in compared)
        tail = f"; {len(b['rows']) - len(compared)} identical" if len(compared) < len(b["rows"]) else ""
        lines += [f"{b['n_videos']} test videos; {done} of {len(compared)} resolved{tail}.", "",
                  table_markdown([{k: r[k] for k in RESOLVE_COLUMNS} for r in b["rows"]]), ""]
    return lines
