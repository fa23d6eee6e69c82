"""Input validation of every metric (one home for every boundary check): per-video mappings with the
same ids, finite 1-D scores, 0/1 labels, matching lengths; :class:`UndefinedMetricError` for a metric
undefined on valid input. The rules are :mod:`stprompt.metrics`' module docstring.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Hashable, Mapping, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score


class UndefinedMetricError(ValueError):
    """Well-formed input on which the metric is not defined (e.g. ROC-AUC with one class)."""


# --------------------------------------------------------------------------------------------
# Input validation (one home for every boundary check)
# --------------------------------------------------------------------------------------------

def _per_video(data: Any, name: str) -> dict[Hashable, Any]:
    """A dict keyed by video id from a dict or a list (list positions become the ids)."""
    if isinstance(data, Mapping):
        return dict(data)
    if isinstance(data, np.ndarray):
        raise ValueError(
            f"{name}: expected per-video data (a dict keyed by video id, or a list with one entry "
            f"per video); got one numpy array of shape {data.shape}. Keep ground truth and scores "
            "per video so that length mismatches are caught per video.")
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return dict(enumerate(data))
    raise ValueError(f"{name}: expected a dict keyed by video id or a list of per-video entries; "
                     f"got {type(data).__name__}")


def _same_videos(named: Sequence[tuple[str, Mapping]]) -> list[Hashable]:
    """The video ids shared by every mapping, in the first mapping's order; error if they differ."""
    (first_name, first), *rest = named
    ids = list(first)
    for other_name, other in rest:
        missing = [v for v in ids if v not in other]
        extra = [v for v in other if v not in first]
        if missing or extra:
            raise ValueError(
                f"{first_name} and {other_name} must hold the same videos; "
                f"missing from {other_name}: {missing[:5]}{' ...' if len(missing) > 5 else ''}; "
                f"only in {other_name}: {extra[:5]}{' ...' if len(extra) > 5 else ''}")
    if not ids:
        raise ValueError(f"{first_name}: no videos given")
    return ids


def _finite_1d(x: Any, where: str) -> np.ndarray:
    """``x`` as a 1-D float array of finite scores; ``where`` names it in errors."""
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: expected numbers, got {type(x).__name__} ({err})") from None
    if a.ndim != 1:
        raise ValueError(f"{where}: expected a 1-D array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        bad = int(np.flatnonzero(~np.isfinite(a))[0])
        raise ValueError(f"{where}: scores must be finite; index {bad} is {a[bad]}")
    return a


def _binary(x: Any, where: str, ndim: int | None = 1) -> np.ndarray:
    """``x`` as a boolean array of 0/1 labels; ``where`` names it in errors."""
    a = np.asarray(x)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{where}: expected a {ndim}-D array, got shape {a.shape}")
    if a.dtype != bool:
        values = np.unique(a)
        if not np.all(np.isin(values, (0, 1))):
            raise ValueError(f"{where}: labels must be 0/1 or bool; got values "
                             f"{values[:6].tolist()}")
    return a.astype(bool)


def _check_len(video: Hashable, a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"video {video!r}: {a_name} has {len(a)} frames but {b_name} has "
                         f"{len(b)}")


def _frames(scores_by_video: Any, labels_by_video: Any
            ) -> tuple[list[Hashable], list[np.ndarray], list[np.ndarray]]:
    """Validated (video ids, per-video scores, per-video boolean labels)."""
    scores = _per_video(scores_by_video, "scores_by_video")
    labels = _per_video(labels_by_video, "labels_by_video")
    ids = _same_videos([("scores_by_video", scores), ("labels_by_video", labels)])
    s_list, y_list = [], []
    for v in ids:
        s = _finite_1d(scores[v], f"scores_by_video[{v!r}]")
        y = _binary(labels[v], f"labels_by_video[{v!r}]")
        _check_len(v, s, "scores", y, "labels")
        s_list.append(s)
        y_list.append(y)
    return ids, s_list, y_list


def _roc_auc(y: np.ndarray, s: np.ndarray, what: str) -> float:
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        only = "anomalous" if n_pos else "normal"
        raise UndefinedMetricError(f"{what}: ROC-AUC is undefined, all {len(y)} frames are {only}")
    return float(roc_auc_score(y, s))


def _nan_with_warning(message: str) -> float:
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    return math.nan


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
