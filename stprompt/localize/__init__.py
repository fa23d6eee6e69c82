"""The training-free spatial stream: anomaly heat maps and boxes from window features and text
queries (PAPER, "Spatial stream"), with the threshold θ chosen on validation and simple baselines.

For each snippet ``t`` whose temporal anomaly score passes θ [choice], every grid window ``g`` of the
snippet's middle frame (its CLIP image feature ``v_tg``, stored as ``patch (T, G, D)`` by
:mod:`stprompt.features`) is compared with ``N`` normal queries ``n_i`` (background: "a picture of
road", ...) and ``M`` abnormal queries ``a_j`` (LLM-style descriptions of each anomaly class,
:mod:`stprompt.prompts`), all L2-normalised CLIP embeddings:

    p_tg = softmax_k( <v_tg, q_k> / τ ),  q = [n_1..n_N, a_1..a_M]
    s_tg = Σ_{j ≤ M} p_tg[N + j]                       (window anomaly score = abnormal mass)

- heat map: the window scores painted on the frame, averaged where windows overlap
  (:func:`heat_map`);
- box: the best window, or the union of the windows scoring at least ``box_threshold``
  [choice] (:func:`predict_box`);
- snippets below θ get no box (NaN) and, by default, a zero heat map: the spatial stream does not
  run there. TIoU then counts them as 0 (:func:`stprompt.metrics.tiou`).

θ is chosen on the **validation** split, never on test (:func:`choose_val_theta`): Youden's J of the
temporal frame scores against the validation frame labels, or, for datasets whose validation
videos are held-out training videos with video labels only (UCF-Crime, ShanghaiTech), against the
video labels (:func:`video_label_theta`). :func:`choose_theta` (maximising TIoU on validation boxes)
is kept for analysis.
Baselines with the same output (:func:`baseline_localize`): the window of largest motion
(``feats.motion``), the whole frame, a seeded random window; and :func:`localize_class_names`, the
same scoring with bare class names ("a picture of fire") instead of descriptions.

Every frame takes the box and heat map of its snippet (``frame // snippet_len``):
:func:`frame_boxes`, :func:`frame_heat_maps`.

The parts live in submodules, every name importable from here as before: :mod:`.stream` (the
spatial stream of one video: window scores, heat maps, boxes, baselines, snippets to frames, θ by
TIoU) and :mod:`.evaluate` (the stream on a split: θ on validation, the localization metrics, the
example frames; notebook ``05_localization``).
"""

from __future__ import annotations

from .stream import (  # noqa: F401
    baseline_localize, BASELINES, BoxMode, choose_theta, encode_queries, frame_boxes,
    frame_heat_maps, frame_snippets, heat_map, localize_class_names, localize_video,
    LocalizeConfig, predict_box, QueryEmbeddings, snippet_heat_map, SNIPPET_LEN,
    window_anomaly_scores, _check_video, _pixel_boxes, _result, _window_boxes_of)
from .evaluate import (  # noqa: F401
    check_localization_ground_truth, choose_val_theta, example_frames, has_dense_regions,
    localization_metrics, localize_and_score, localize_split, LOCALIZERS, theta_rule_for,
    THETA_RULES, tiou_vs_theta, video_label_theta, youden_theta, _gt_regions)
