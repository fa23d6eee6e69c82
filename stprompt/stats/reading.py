"""Reading a bootstrapped difference: resolved or not, its claim status, how many test videos would
resolve it, and the ``mean ± std [lo, hi]`` text of estimates and differences in the tables.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np


def reverse(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The difference the other way round (``reference − method`` from ``method − reference``):
    the percentile interval of ``−X`` is the negated interval of ``X``."""
    return {**entry, "value": -entry["value"], "lo": -entry["hi"], "hi": -entry["lo"]}


def claim_status(entry: Mapping[str, Any]) -> str:
    """A claim ``A > B`` read from the difference ``A − B``: ``"holds"`` (interval above 0),
    ``"fails"`` (below 0: resolved the other way, a negative result) or ``"unresolved"``."""
    lo, hi = entry.get("lo", math.nan), entry.get("hi", math.nan)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "unresolved"
    return "holds" if lo > 0 else "fails" if hi < 0 else "unresolved"


def videos_to_resolve(entry: Mapping[str, Any], n_videos: int) -> int | None:
    """About how many test videos would resolve an unresolved difference (module docstring):
    ``n · (h / |d|)²`` with ``h`` the distance from the estimate ``d`` to the interval's bound on
    the side of 0, and more than ``n`` (an interval that ends exactly at 0 is unresolved with the
    ``n`` videos it has). ``None`` when ``d`` is 0 (no effect to resolve) or undefined; for a
    resolved difference, the count at which it would just stay resolved (≤ ``n``)."""
    d, lo, hi = entry.get("value", math.nan), entry.get("lo", math.nan), entry.get("hi", math.nan)
    if not all(np.isfinite(x) for x in (d, lo, hi)) or d == 0:
        return None
    h = d - lo if d > 0 else hi - d
    need = max(1, math.ceil(n_videos * (h / abs(d)) ** 2))
    return max(need, n_videos + 1) if _claim_unresolved(lo, hi) else need


def _claim_unresolved(lo: float, hi: float) -> bool:
    return not (lo > 0 or hi < 0)


def format_interval(entry: Mapping[str, float], digits: int = 3, signed: bool = False) -> str:
    """``"0.671 [0.612, 0.720]"`` (``signed``: ``"+0.072 [-0.023, +0.164]"``). A number that is
    not 0 but rounds to it keeps one significant digit (``"+3e-06"``), so that an interval that
    excludes 0 never reads as one that touches it, nor a tiny difference as none."""
    fmt = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"

    def number(x: float) -> str:
        if x != 0 and round(x, digits) == 0:
            return f"{x:+.0e}" if signed else f"{x:.0e}"
        return fmt.format(x)

    if not np.isfinite(entry.get("value", math.nan)):
        return "—"
    if not (np.isfinite(entry.get("lo", math.nan)) and np.isfinite(entry.get("hi", math.nan))):
        return number(entry["value"])
    return f"{number(entry['value'])} [{number(entry['lo'])}, {number(entry['hi'])}]"


def format_estimate(entry: Mapping[str, Any], digits: int = 3) -> str:
    """A table cell: ``"0.671 ± 0.046 [0.612, 0.720]"`` — mean over seeds ± their sample std
    (left out for one seed) and the 95 % interval of the mean (module docstring)."""
    if not np.isfinite(entry.get("value", math.nan)):
        return "—"
    text = f"{entry['value']:.{digits}f}"
    if len(entry.get("per_seed", ())) > 1:
        text += f" ± {entry.get('std', 0.0):.{digits}f}"
    if np.isfinite(entry.get("lo", math.nan)) and np.isfinite(entry.get("hi", math.nan)):
        text += f" [{entry['lo']:.{digits}f}, {entry['hi']:.{digits}f}]"
    return text


def format_difference(entry: Mapping[str, Any] | None, digits: int = 3) -> str:
    """A table cell: ``"+0.072 [-0.023, +0.164] unresolved"`` (:func:`verdict`); ``"—"`` when not
    measured."""
    if not entry or not np.isfinite(entry.get("value", math.nan)):
        return "—"
    return f"{format_interval(entry, digits, signed=True)} {verdict(entry)}"


def verdict(entry: Mapping[str, Any]) -> str:
    """``"resolved"`` when the difference's interval excludes 0, else ``"unresolved"`` — or
    ``"identical"`` when the difference is exactly 0 on every resample (``0 [0, 0]``): the two
    score every test video alike (a switch that does not act on the metric), which is no result."""
    if entry.get("value") == 0 and entry.get("lo") == 0 and entry.get("hi") == 0:
        return "identical"
    return "resolved" if entry.get("resolved") else "unresolved"
