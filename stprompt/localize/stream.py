"""The training-free spatial stream of one video (PAPER, "Spatial stream"): window anomaly scores
``s_tg = Σ_j softmax_k(<v_tg, q_k> / τ)[N + j]`` from window features and text queries, heat maps,
boxes, the baselines, every frame's box and heat map from its snippet, and θ chosen by TIoU
(:mod:`stprompt.localize`' module docstring has the equations).
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any, Hashable, Literal, Mapping, Sequence

import numpy as np

from ..metrics import UndefinedMetricError, tiou


SNIPPET_LEN = 16
BoxMode = Literal["best", "union"]
BASELINES = ("motion", "whole_frame", "random")


@dataclasses.dataclass
class LocalizeConfig:
    """The [choice]s of the spatial stream (PAPER, "Spatial stream")."""

    # τ of the softmax over all query similarities; None: the CLIP's own learnt temperature
    # 1/exp(logit_scale) (0.01 for OpenAI's CLIP; ~0.07 for the tiny CLIP, where 0.01 saturates
    # every window at 0 or 1 and the best box falls on ties)
    temperature: float | None = None
    box_mode: BoxMode = "best"  # "best": the top-scoring window; "union": union of windows >= box_threshold
    box_threshold: float = 0.5  # window anomaly score a window needs to join the "union" box
    theta: float | None = None  # temporal score threshold θ; None: choose on validation (choose_theta)
    restrict_to_predicted_class: bool = False  # abnormal queries of the snippet's A-branch class only
    gate_heat_maps: bool = True  # zero heat maps of snippets below θ (the stream does not run there)
    heat_fill: Literal["zero", "min"] = "zero"  # pixels no window covers: 0, or the snippet's min score

    def __post_init__(self) -> None:
        if self.temperature is not None and not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 (or None), got {self.temperature}")
        if self.box_mode not in ("best", "union"):
            raise ValueError(f"box_mode must be 'best' or 'union', got {self.box_mode!r}")
        if self.heat_fill not in ("zero", "min"):
            raise ValueError(f"heat_fill must be 'zero' or 'min', got {self.heat_fill!r}")


@dataclasses.dataclass
class QueryEmbeddings:
    """Encoded text queries: ``normal (N, D)``, ``abnormal (M, D)`` (L2-normalised), the class index
    ``abnormal_class (M,)`` of each abnormal query into ``classes``."""

    normal: np.ndarray
    abnormal: np.ndarray
    abnormal_class: np.ndarray
    classes: list[str]
    temperature: float = 0.01  # the encoding CLIP's learnt temperature 1/exp(logit_scale)


def encode_queries(model: Any, normal: Sequence[str], abnormal: Mapping[str, Sequence[str]]
                   ) -> QueryEmbeddings:
    """Encode the queries of :func:`stprompt.prompts.load_queries` with the CLIP text tower. A class
    with no query (SynthVAD ``running``) stays in ``classes`` but owns no row."""
    from .. import vlm

    classes = list(abnormal)
    texts = [t for c in classes for t in abnormal[c]]
    owner = np.array([i for i, c in enumerate(classes) for _ in abnormal[c]], dtype=np.int64)
    if not normal or not texts:
        raise ValueError(f"encode_queries: need normal and abnormal queries, got {len(normal)} and "
                         f"{len(texts)}")
    scale = getattr(model, "logit_scale", None)
    temperature = 1.0 / float(scale.exp()) if scale is not None else 0.01
    return QueryEmbeddings(vlm.encode_texts(model, list(normal)), vlm.encode_texts(model, texts),
                           owner, classes, temperature)


# --------------------------------------------------------------------------------------------
# Window scores, heat maps, boxes
# --------------------------------------------------------------------------------------------

def window_anomaly_scores(patch_feats: np.ndarray, text_normal: np.ndarray, text_abnormal: np.ndarray,
                          temperature: float = 0.01, abnormal_class: np.ndarray | None = None,
                          snippet_class: np.ndarray | None = None) -> np.ndarray:
    """Window anomaly scores ``s_tg`` ``(T, G)`` in [0, 1]: the softmax mass (temperature τ) on the
    abnormal queries among all ``N + M`` query similarities (module docstring).

    Restriction [choice] ``restrict_to_predicted_class``: given ``abnormal_class (M,)`` (class index
    of each abnormal query) and ``snippet_class (T,)`` (the A-branch's class per snippet, -1 = no
    restriction), snippet ``t`` only competes its class's abnormal queries against all the normal
    ones; a class that owns no query (motion-only ``running``) keeps every abnormal query.
    """
    v = np.asarray(patch_feats, dtype=np.float64)
    n = np.asarray(text_normal, dtype=np.float64)
    a = np.asarray(text_abnormal, dtype=np.float64)
    if v.ndim != 3:
        raise ValueError(f"window_anomaly_scores: patch_feats must be (T, G, D), got shape {v.shape}")
    if n.ndim != 2 or a.ndim != 2 or len(n) == 0 or len(a) == 0 or \
            not (n.shape[1] == a.shape[1] == v.shape[2]):
        raise ValueError(f"window_anomaly_scores: text_normal (N, D) and text_abnormal (M, D) with "
                         f"N, M >= 1 and D = {v.shape[2]} expected, got {n.shape} and {a.shape}")
    if not temperature > 0:
        raise ValueError(f"window_anomaly_scores: temperature must be > 0, got {temperature}")
    logits = np.concatenate([v @ n.T, v @ a.T], axis=-1) / temperature  # (T, G, N+M)
    N, M = len(n), len(a)
    if snippet_class is not None:
        if abnormal_class is None:
            raise ValueError("window_anomaly_scores: snippet_class needs abnormal_class")
        owner = np.asarray(abnormal_class)
        cls = np.asarray(snippet_class).reshape(-1)
        if owner.shape != (M,) or cls.shape != (len(v),):
            raise ValueError(f"window_anomaly_scores: abnormal_class must be ({M},) and snippet_class "
                             f"({len(v)},), got {owner.shape} and {cls.shape}")
        keep = (cls[:, None] < 0) | (owner[None, :] == cls[:, None])  # (T, M)
        keep |= ~keep.any(axis=1, keepdims=True)  # a class without queries keeps them all
        logits[..., N:] = np.where(keep[:, None, :], logits[..., N:], -np.inf)
    logits -= logits.max(axis=-1, keepdims=True)
    p = np.exp(logits)
    return (p[..., N:].sum(-1) / p.sum(-1)).astype(np.float32)


def _pixel_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    b = np.round(b).astype(np.int64)
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    return b


def heat_map(window_scores: np.ndarray, boxes: np.ndarray, height: int, width: int,
             fill: Literal["zero", "min"] = "zero") -> np.ndarray:
    """Pixel heat map ``(H, W)`` float32: each pixel gets the **mean** score of the windows covering
    it (``boxes (G, 4)`` pixels ``x1, y1, x2, y2``, exclusive ends, clipped to the frame). Pixels no
    window covers get 0 (``fill="zero"``) or the lowest window score (``"min"``)."""
    s = np.asarray(window_scores, dtype=np.float64).reshape(-1)
    b = _pixel_boxes(boxes, height, width)
    if len(s) != len(b):
        raise ValueError(f"heat_map: {len(s)} window scores for {len(b)} boxes")
    total = np.zeros((height + 1, width + 1))
    count = np.zeros((height + 1, width + 1))
    for arr, w in ((total, s), (count, np.ones_like(s))):  # 2-D difference arrays, then prefix sums
        np.add.at(arr, (b[:, 1], b[:, 0]), w)
        np.add.at(arr, (b[:, 1], b[:, 2]), -w)
        np.add.at(arr, (b[:, 3], b[:, 0]), -w)
        np.add.at(arr, (b[:, 3], b[:, 2]), w)
    total = total.cumsum(0).cumsum(1)[:height, :width]
    count = np.rint(count.cumsum(0).cumsum(1)[:height, :width])
    empty = float(s.min()) if fill == "min" and len(s) else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 0, total / np.maximum(count, 1), empty)
    return out.astype(np.float32)


def predict_box(window_scores: np.ndarray, boxes: np.ndarray, mode: BoxMode = "best",
                threshold: float = 0.5) -> np.ndarray:
    """The box ``(4,)`` float ``x1, y1, x2, y2`` of one snippet [choice ``mode``]:

    - ``"best"``: the box of the top-scoring window (the first on ties);
    - ``"union"``: the smallest box enclosing every window with score ``>= threshold``.

    NaN when there is no window or (``"union"``) none passes the threshold.
    """
    s = np.asarray(window_scores, dtype=float).reshape(-1)
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    if len(s) != len(b):
        raise ValueError(f"predict_box: {len(s)} window scores for {len(b)} boxes")
    if mode == "best":
        return b[int(np.argmax(s))].copy() if len(s) else np.full(4, np.nan)
    if mode == "union":
        sel = b[s >= threshold]
        if not len(sel):
            return np.full(4, np.nan)
        return np.array([sel[:, 0].min(), sel[:, 1].min(), sel[:, 2].max(), sel[:, 3].max()])
    raise ValueError(f"predict_box: mode must be 'best' or 'union', got {mode!r}")


# --------------------------------------------------------------------------------------------
# Videos
# --------------------------------------------------------------------------------------------

def _result(window_scores: np.ndarray, boxes: np.ndarray, window_boxes: np.ndarray,
            temporal_scores: np.ndarray, theta: float, height: int, width: int, method: str,
            heat_fill: str = "zero", gate_heat_maps: bool = True) -> dict[str, Any]:
    active = temporal_scores >= theta
    boxes = np.where(active[:, None], boxes, np.nan)
    return {"method": method, "window_scores": window_scores.astype(np.float32),
            "boxes": boxes.astype(np.float64), "active": active, "window_boxes": window_boxes,
            "temporal_scores": temporal_scores, "theta": float(theta), "height": int(height),
            "width": int(width), "heat_fill": heat_fill, "gate_heat_maps": bool(gate_heat_maps)}


def _check_video(temporal_scores: Any, T: int, window_boxes: Any, G: int, theta: float | None
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    s = np.asarray(temporal_scores, dtype=float).reshape(-1)
    if len(s) != T:
        raise ValueError(f"localize: {len(s)} temporal scores for {T} snippets")
    wb = np.asarray(window_boxes, dtype=float).reshape(-1, 4)
    if len(wb) != G:
        raise ValueError(f"localize: {len(wb)} window boxes for {G} windows")
    if theta is None:
        raise ValueError("localize: θ is not set; choose it on the validation split with "
                         "choose_theta() and pass theta= (or set LocalizeConfig.theta)")
    return s, wb, float(theta)


def _window_boxes_of(feats: Any, window_boxes: Any) -> np.ndarray:
    if window_boxes is not None:
        return np.asarray(window_boxes, dtype=float)
    recipe = getattr(feats, "recipe", None) or {}
    if "window_boxes" not in recipe:
        raise ValueError("localize: no window boxes (pass window_boxes= or features whose recipe has "
                         "'window_boxes')")
    return np.asarray(recipe["window_boxes"], dtype=float)


def localize_video(feats: Any, temporal_scores: Any, queries: QueryEmbeddings, cfg: LocalizeConfig,
                   height: int, width: int, theta: float | None = None,
                   snippet_class: Any = None, window_boxes: Any = None,
                   method: str = "stprompt") -> dict[str, Any]:
    """The spatial stream on one video.

    Args:
        feats: :class:`stprompt.features.VideoFeatures` (``patch (T, G, D)``, ``recipe["window_boxes"]``)
            or a ``(T, G, D)`` array with ``window_boxes``.
        temporal_scores: ``(T,)`` snippet anomaly scores (the temporal stream's output).
        queries: :func:`encode_queries` output.
        cfg: :class:`LocalizeConfig`.
        height, width: frame size in pixels (of the frames the window boxes refer to).
        theta: overrides ``cfg.theta``; one of them must be set (``-inf`` gives every snippet a box,
            as :func:`choose_theta` needs on validation).
        snippet_class: ``(T,)`` index into ``queries.classes`` per snippet (-1: all classes), used
            when ``cfg.restrict_to_predicted_class``.

    Returns:
        dict with ``window_scores (T, G)``, ``boxes (T, 4)`` (NaN for snippets below θ),
        ``active (T,)`` (score >= θ), ``window_boxes (G, 4)``, ``temporal_scores``, ``theta``,
        ``height``, ``width``, ``heat_fill``, ``gate_heat_maps``, ``method``. Expand to frames with
        :func:`frame_boxes` / :func:`frame_heat_maps`.
    """
    patch = getattr(feats, "patch", feats)
    if patch is None:
        raise ValueError("localize_video: the features have no 'patch' array (extract with patch "
                         "features)")
    patch = np.asarray(patch)
    if patch.ndim != 3:
        raise ValueError(f"localize_video: patch features must be (T, G, D), got {patch.shape}")
    T, G = patch.shape[:2]
    s, wb, th = _check_video(temporal_scores, T, _window_boxes_of(feats, window_boxes), G,
                             cfg.theta if theta is None else theta)
    temperature = cfg.temperature if cfg.temperature is not None else queries.temperature
    if cfg.restrict_to_predicted_class:
        if snippet_class is None:
            raise ValueError("localize_video: restrict_to_predicted_class needs snippet_class (T,)")
        ws = window_anomaly_scores(patch, queries.normal, queries.abnormal, temperature,
                                   queries.abnormal_class, np.asarray(snippet_class))
    else:
        ws = window_anomaly_scores(patch, queries.normal, queries.abnormal, temperature)
    boxes = np.stack([predict_box(w, wb, cfg.box_mode, cfg.box_threshold) for w in ws]) if T else \
        np.zeros((0, 4))
    return _result(ws, boxes, wb, s, th, height, width, method, cfg.heat_fill, cfg.gate_heat_maps)


def localize_class_names(model: Any, feats: Any, temporal_scores: Any, normal: Sequence[str],
                         classes: Sequence[str], cfg: LocalizeConfig, height: int, width: int,
                         **kwargs: Any) -> dict[str, Any]:
    """Baseline: :func:`localize_video` with bare class names ("a picture of fire",
    :func:`stprompt.prompts.class_name_queries`) as abnormal queries instead of descriptions."""
    from ..prompts import class_name_queries

    queries = encode_queries(model, normal, class_name_queries(classes))
    return localize_video(feats, temporal_scores, queries, cfg, height, width,
                          method="class_names", **kwargs)


def baseline_localize(kind: str, feats: Any, temporal_scores: Any, height: int, width: int,
                      theta: float, seed: int = 0, window_boxes: Any = None,
                      video_id: str | None = None) -> dict[str, Any]:
    """Appearance-free baselines, same output as :func:`localize_video` (boxes gated by θ):

    - ``"motion"``: the window of largest motion prior (``feats.motion`` argmax per snippet); window
      scores = motion divided by the video's largest motion (heat map in [0, 1]);
    - ``"whole_frame"``: the box ``(0, 0, width, height)``; a uniform heat map of ones;
    - ``"random"``: one window per snippet drawn uniformly, seeded by ``seed`` and ``video_id``
      (deterministic); its window score 1, the others 0.
    """
    motion = np.asarray(getattr(feats, "motion", feats), dtype=float)
    if motion.ndim != 2:
        raise ValueError(f"baseline_localize: motion must be (T, G), got {motion.shape}")
    T, G = motion.shape
    s, wb, th = _check_video(temporal_scores, T, _window_boxes_of(feats, window_boxes), G, theta)
    fill = "zero"
    if kind == "motion":
        peak = motion.max() if motion.size else 0.0
        ws = motion / peak if peak > 0 else np.zeros_like(motion)
        boxes = wb[motion.argmax(axis=1)] if T else np.zeros((0, 4))
    elif kind == "whole_frame":
        ws = np.ones((T, G))
        boxes = np.tile(np.array([0.0, 0.0, width, height]), (T, 1))
        fill = "min"  # pixels outside every window are part of the frame too
    elif kind == "random":
        rng = np.random.default_rng([seed, zlib.crc32((video_id or "").encode())])
        pick = rng.integers(0, G, size=T)
        ws = np.zeros((T, G))
        ws[np.arange(T), pick] = 1.0
        boxes = wb[pick]
    else:
        raise ValueError(f"baseline_localize: kind must be one of {BASELINES}, got {kind!r}")
    return _result(ws, np.asarray(boxes, dtype=float), wb, s, th, height, width, kind, fill)


# --------------------------------------------------------------------------------------------
# Snippets -> frames
# --------------------------------------------------------------------------------------------

def frame_snippets(n_frames: int, n_snippets: int, snippet_len: int = SNIPPET_LEN) -> np.ndarray:
    """Snippet index of each frame: ``frame // snippet_len`` (the last snippet holds the rest)."""
    if n_snippets <= 0:
        raise ValueError("frame_snippets: no snippet")
    return np.minimum(np.arange(int(n_frames)) // snippet_len, n_snippets - 1)


def frame_boxes(loc: Mapping[str, Any], n_frames: int, snippet_len: int = SNIPPET_LEN) -> np.ndarray:
    """``(n_frames, 4)``: each frame takes its snippet's box (NaN below θ)."""
    return loc["boxes"][frame_snippets(n_frames, len(loc["boxes"]), snippet_len)]


def snippet_heat_map(loc: Mapping[str, Any], t: int) -> np.ndarray:
    """Heat map ``(H, W)`` of snippet ``t``; zeros below θ when ``gate_heat_maps``."""
    if loc.get("gate_heat_maps", True) and not loc["active"][t]:
        return np.zeros((loc["height"], loc["width"]), dtype=np.float32)
    return heat_map(loc["window_scores"][t], loc["window_boxes"], loc["height"], loc["width"],
                    loc.get("heat_fill", "zero"))


def frame_heat_maps(loc: Mapping[str, Any], n_frames: int, frames: Sequence[int] | None = None,
                    snippet_len: int = SNIPPET_LEN) -> np.ndarray:
    """``(len(frames), H, W)`` float32 heat maps of the given frames (default: all ``n_frames``),
    each its snippet's map; each snippet's map is computed once."""
    snip = frame_snippets(n_frames, len(loc["window_scores"]), snippet_len)
    idx = np.arange(n_frames) if frames is None else np.asarray(frames, dtype=np.int64)
    out = np.empty((len(idx), loc["height"], loc["width"]), dtype=np.float32)
    cache: dict[int, np.ndarray] = {}
    for k, f in enumerate(idx):
        t = int(snip[f])
        if t not in cache:
            cache[t] = snippet_heat_map(loc, t)
        out[k] = cache[t]
    return out


# --------------------------------------------------------------------------------------------
# θ on validation
# --------------------------------------------------------------------------------------------

def choose_theta(pred_boxes: Mapping[Hashable, Any], gt_boxes: Mapping[Hashable, Any],
                 frame_scores: Mapping[Hashable, Any], candidates: Sequence[float] | None = None,
                 max_candidates: int = 200, tolerance: float = 0.0, split: str = "val"
                 ) -> tuple[float, dict[str, np.ndarray]]:
    """θ maximising TIoU on the **validation** split [choice]; never call it with test data.

    Fields per video, as :func:`stprompt.metrics.tiou` reads them, for the annotated anomalous
    frames: ``pred_boxes[v] (n, 4)`` the *ungated* boxes (``localize_video(..., theta=-inf)`` then
    :func:`frame_boxes`), ``gt_boxes[v] (n, 4)``, ``frame_scores[v] (n,)``.

    Candidates: the distinct validation frame scores (TIoU only changes there), thinned to
    ``max_candidates`` quantiles. TIoU over annotated frames never rises with θ, so many θ tie; the
    **largest** θ within ``tolerance`` of the best TIoU is returned (the most conservative one, fewest
    boxes on normal frames). Returns ``(theta, {"candidates", "tiou"})``.
    """
    if split == "test":
        raise ValueError("choose_theta: θ must be chosen on the validation split, not on test")
    if candidates is None:
        pooled = np.concatenate([np.asarray(frame_scores[v], dtype=float).reshape(-1)
                                 for v in frame_scores]) if frame_scores else np.zeros(0)
        if not len(pooled):
            raise UndefinedMetricError("choose_theta: no validation frame score")
        cand = np.unique(pooled)
        if len(cand) > max_candidates:
            cand = np.unique(np.quantile(pooled, np.linspace(0, 1, max_candidates)))
    else:
        cand = np.unique(np.asarray(candidates, dtype=float))
    if not len(cand):
        raise ValueError("choose_theta: no candidate threshold")
    values = np.array([tiou(pred_boxes, gt_boxes, frame_scores, float(c)) for c in cand])
    best = values.max()
    theta = float(cand[values >= best - tolerance].max())
    return theta, {"candidates": cand, "tiou": values}
